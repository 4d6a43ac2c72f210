"""The library stays readable: no function of course_lib (checks/ aside) over 80 lines."""
from __future__ import annotations

import ast
from pathlib import Path

import course_lib

LIBRARY = Path(course_lib.__file__).parent
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
    assert not found, f"split these into named steps (at most {MAX_FUNCTION_LINES} lines): {found}"


def test_the_length_rule_sees_a_long_function():
    def function(n_body_lines: int) -> str:
        return "def f():\n" + "".join(f"    x{i} = {i}\n" for i in range(n_body_lines))

    assert _long_functions(function(80), "probe.py") == ["probe.py:1 f (81 lines)"]
    assert _long_functions(function(79), "probe.py") == []
