"""course bundle: the student zip holds the exercises and the library, never a solution."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import nbformat
import pytest

from course_tools import bundle, cli, exercises

ROOT = Path(__file__).resolve().parent.parent
MIN_LINE = 25  # shorter solution lines ("return x", "pass") may appear anywhere


def _solution_lines() -> dict[str, str]:
    """{stripped line of a solution region (>= MIN_LINE chars): where it comes from}, without
    the lines that the solution notebooks also show OUTSIDE their regions (code students are
    given anyway, e.g. ``inputs = keras.Input(shape=input_shape)`` in a provided cell)."""
    lines, given = {}, set()
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        nb = exercises.read_notebook(path)
        for index, cell in enumerate(nb.cells):
            source = cell.source.splitlines()
            regions = (exercises.find_regions(cell.source, f"{path.name} cell {index + 1}")
                       if cell.cell_type == "code" else [])
            inside = {n for r in regions for n in range(r.begin, r.end + 1)}
            for number, line in enumerate(source):
                if number not in inside:
                    given.add(line.strip())
                elif len(line.strip()) >= MIN_LINE:
                    lines.setdefault(line.strip(), f"{path.name}, cell {index + 1}")
    return {line: where for line, where in lines.items() if line not in given}


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "dermalite-student.zip"
    # notebooks/ may be mid-regeneration while the course is edited; the content checks below
    # are what matters here (course bundle itself refuses stale copies by default)
    path, names = bundle.make_bundle(ROOT, out, check_sync=False)
    assert path == out and names
    return out


def _notebooks(zf):
    return {name: json.loads(zf.read(name)) for name in zf.namelist()
            if name.endswith(".ipynb")}


def test_bundle_has_what_students_need(zip_path):
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
    top = bundle.TOP + "/"
    assert all(name.startswith(top) for name in names)
    inside = {name[len(top):] for name in names}
    for required in ("README.md", "pyproject.toml", "environment.yml", "LICENSE",
                     "data/README.md", "course_lib/__init__.py", "course_lib/checks/__init__.py",
                     "course_tools/cli.py"):
        assert required in inside, required
    expected = {f"notebooks/{p.name}" for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert expected and {n for n in inside if n.startswith("notebooks/")} == expected
    for name in inside:
        assert not name.startswith(("solutions/", "tests/", "runs/", ".")), name
        assert "__pycache__" not in name and not name.endswith(".pyc"), name
        assert not name.startswith("data/") or name == "data/README.md", name


def _leaks(nb: dict, solution_lines: dict[str, str]) -> list[str]:
    """The lines of a notebook (as JSON) that come from a solution region."""
    found = []
    for index, cell in enumerate(nb["cells"]):
        source = cell["source"]
        source = "".join(source) if isinstance(source, list) else source
        for line in source.splitlines():
            if line.strip() in solution_lines:
                found.append(f"cell {index + 1}: {line.strip()!r} (from "
                             f"{solution_lines[line.strip()]})")
    return found


def test_the_scan_finds_a_solution_line():
    solution_lines = _solution_lines()
    line = sorted(solution_lines)[0]
    nb = {"cells": [{"cell_type": "code", "source": ["x = 1\n", "    " + line + "\n"]}]}
    assert len(_leaks(nb, solution_lines)) == 1
    assert _leaks({"cells": [{"cell_type": "code", "source": "return x"}]}, solution_lines) == []


def test_no_solution_answer_or_output_in_the_notebooks(zip_path):
    solution_lines = _solution_lines()
    assert solution_lines, "the scan found no solution lines: it would prove nothing"
    with zipfile.ZipFile(zip_path) as zf:
        notebooks = _notebooks(zf)
        for name in zf.namelist():
            if name.endswith(".ipynb") or name.endswith(".md"):
                text = zf.read(name).decode("utf-8")
                assert exercises.BEGIN_MARKER not in text, name
                assert exercises.END_MARKER not in text, name
    assert len(notebooks) >= 9
    for name, nb in notebooks.items():
        assert not nb["metadata"].get("papermill") and not nb["metadata"].get("widgets"), name
        for index, cell in enumerate(nb["cells"]):
            where = f"{name}, cell {index + 1}"
            tags = cell.get("metadata", {}).get("tags", [])
            assert not set(tags) & set(bundle.ANSWER_TAGS), where
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, where
        assert _leaks(nb, solution_lines) == [], name


def test_student_readme(zip_path):
    with zipfile.ZipFile(zip_path) as zf:
        text = zf.read(f"{bundle.TOP}/README.md").decode("utf-8")
    assert 'pip install -e ".[cpu]"' in text and "jupyter lab notebooks/" in text
    assert "checks.run" in text and "Not a diagnostic tool" in text
    assert "solutions/" not in text
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        assert f"notebooks/{path.name}" in text


def test_student_notebook_strips_answers_outputs_and_refuses_solutions():
    new = nbformat.v4
    nb = new.new_notebook(cells=[
        new.new_markdown_cell("# Title"),
        new.new_code_cell("x = 1", execution_count=3,
                          outputs=[new.new_output("stream", name="stdout", text="1\n")]),
        new.new_code_cell("answer = 42", metadata={"tags": ["answers"]}),
        new.new_markdown_cell("The answer is 42.", metadata={"tags": ["answers"]}),
        new.new_code_cell("secret = 1", metadata={"tags": [exercises.REMOVE_TAG]}),
    ])
    nb.metadata["papermill"] = {"duration": 1.0}
    out = json.loads(bundle.student_notebook(nb))
    assert ["".join(c["source"]) for c in out["cells"]] == ["# Title", "x = 1"]
    assert out["cells"][1]["outputs"] == [] and out["cells"][1]["execution_count"] is None
    assert "papermill" not in out["metadata"]
    nb.cells.append(new.new_code_cell("# Exercise 0.1 — x\ndef f():\n    ### BEGIN SOLUTION\n"
                                      "    return 1\n    ### END SOLUTION"))
    with pytest.raises(bundle.BundleError, match="solution region"):
        bundle.student_notebook(nb, "notebooks/x.ipynb")


def test_cli_bundle(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake(root, out, check_sync=True):
        seen.update(root=root, out=out, check_sync=check_sync)
        return Path(out), ["a", "b"]

    monkeypatch.setattr(bundle, "make_bundle", fake)
    out = tmp_path / "s.zip"
    assert cli.main(["--root", str(ROOT), "bundle", "--out", str(out)]) == 0
    assert seen == {"root": ROOT, "out": str(out), "check_sync": True}
    assert "2 files" in capsys.readouterr().out
    assert cli.main(["--root", str(ROOT), "bundle", "--no-sync-check"]) == 0
    assert seen["check_sync"] is False and seen["out"] == "dermalite-student.zip"

    def stale(root, out, check_sync=True):
        raise bundle.BundleError("notebooks/ is not in sync")

    monkeypatch.setattr(bundle, "make_bundle", stale)
    assert cli.main(["--root", str(ROOT), "bundle"]) == 2
    assert "not in sync" in capsys.readouterr().err
