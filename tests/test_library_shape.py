"""The library stays readable: no function of course_lib (checks/ aside) or of course_tools over
80 lines, and the library the notebooks import never reaches up into the course command."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import course_lib
import course_tools

LIBRARY = Path(course_lib.__file__).parent
TOOLS = Path(course_tools.__file__).parent
MAX_FUNCTION_LINES = 80


def _long_functions(source: str, name: str, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    return [f"{name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > limit]


def test_no_library_function_is_over_80_lines():
    found = []
    for path in sorted(LIBRARY.rglob("*.py")):
        if "checks" not in path.relative_to(LIBRARY).parts:
            found += _long_functions(path.read_text(encoding="utf-8"), path.name)
    for path in sorted(TOOLS.rglob("*.py")):
        found += _long_functions(path.read_text(encoding="utf-8"), f"course_tools/{path.name}")
    assert not found, f"split these into named steps (at most {MAX_FUNCTION_LINES} lines): {found}"


def test_the_length_rule_sees_a_long_function():
    def function(n_body_lines: int) -> str:
        return "def f():\n" + "".join(f"    x{i} = {i}\n" for i in range(n_body_lines))

    assert _long_functions(function(80), "probe.py") == ["probe.py:1 f (81 lines)"]
    assert _long_functions(function(79), "probe.py") == []


def _imports_of(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_course_lib_never_imports_the_course_command():
    offenders = sorted(f"{path.relative_to(LIBRARY)} imports {name}"
                       for path in LIBRARY.rglob("*.py")
                       for name in _imports_of(path.read_text(encoding="utf-8"))
                       if name.split(".")[0] == "course_tools")
    assert not offenders, ("course_lib is the layer below the `course` command; move the code "
                           f"the library needs into course_lib: {offenders}")


def test_the_import_rule_sees_an_upward_import():
    assert _imports_of("from course_tools.grade import grade_notebook\nimport os\n") == {
        "course_tools.grade", "os"}
    assert _imports_of("def f():\n    import course_tools.cli\n") == {"course_tools.cli"}


NOTEBOOK_NAME = re.compile(r"\b(\d\d_[a-z][a-z0-9_]*[a-z0-9])")
TAUGHT_IN = re.compile(r"Taught (?:to \w+ )?in (\d\d_[a-z][a-z0-9_]*[a-z0-9])")
#: Modules every notebook uses; their docstrings name no single notebook.
EVERY_NOTEBOOK = {"__init__.py", "paper.py", "viz.py"}


def test_every_library_module_names_a_notebook_that_exists():
    notebooks = {path.stem for path in (LIBRARY.parent / "solutions").glob("*.ipynb")}
    if not notebooks:
        pytest.skip("no solutions/ beside the library (an installed copy)")
    unnamed, stale = [], []
    for path in sorted(LIBRARY.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        named = NOTEBOOK_NAME.findall(ast.get_docstring(ast.parse(source)) or "")
        if path.name not in EVERY_NOTEBOOK and "checks" not in path.parts and not named:
            unnamed.append(str(path.relative_to(LIBRARY)))
        stale += [f"{path.relative_to(LIBRARY)}: {name}"
                  for name in named + TAUGHT_IN.findall(source) if name not in notebooks]
    assert not unnamed, f"say which notebook teaches these (its NN_topic name): {unnamed}"
    assert not stale, f"these name a notebook that does not exist: {stale}"


def test_the_notebook_rules_read_the_name():
    assert TAUGHT_IN.findall('"""Plots.\n\nTaught in 06_unet_segmentation (Table X)."""') == [
        "06_unet_segmentation"]
    assert TAUGHT_IN.findall("Taught in 08_visualisation; and 07_fusion") == ["08_visualisation"]
    assert NOTEBOOK_NAME.findall("the demo of 08_visualisation_and_demo: x") == [
        "08_visualisation_and_demo"]
    assert NOTEBOOK_NAME.findall("no pointer here, 3_x or 123_abc") == []
