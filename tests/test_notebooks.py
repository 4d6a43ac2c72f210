"""The course's own notebooks: structure, exercise copies in sync, exercise copies executed.

Solutions are EXECUTED by nbval (pyproject addopts: --nbval-lax; testpaths include solutions/),
which also compares the cells marked ``# NBVAL_CHECK_OUTPUT``; here we only read their stored
outputs. Exercise copies are executed with papermill in the smoke profile (slow tests).
Parametrizations are empty while a folder holds no notebooks.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_tools import cli, notebook_lint
from course_tools.exercises import EXERCISES_DIR, SOLUTIONS_DIR, sync_exercises

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / SOLUTIONS_DIR).glob("*.ipynb"))
EXERCISES = sorted((ROOT / EXERCISES_DIR).glob("*.ipynb"))


def _ids(paths):
    return [p.stem for p in paths]


def _check_cells(nb):
    return [(index, cell) for index, cell in enumerate(nb.cells)
            if notebook_lint.check_cell_ids(cell)]


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_solution_notebook_lint(path):
    problems = notebook_lint.lint_notebook(path, root=ROOT, kind="solution")
    assert not problems, "\n".join(problems)


def test_exercise_copies_are_in_sync():
    report = sync_exercises(ROOT, check=True)
    assert report.in_sync, "\n".join(
        report.errors + [f"stale: {p}" for p in report.stale]
        + [f"missing: {p}" for p in report.missing] + [f"extra: {p}" for p in report.extra]
        + ["Fix: run `course exercises` and commit notebooks/."])


@pytest.mark.parametrize("path", EXERCISES, ids=_ids(EXERCISES))
def test_exercise_copy_has_no_outputs_and_no_solutions(path):
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [] and cell.execution_count is None, f"cell {index + 1}"
        assert "### BEGIN SOLUTION" not in cell.source, f"cell {index + 1}"
    assert notebook_lint.lint_notebook(path, root=ROOT, kind="exercise") == []
    assert len(_check_cells(nb)) >= 2


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_stored_check_outputs_pass(path):
    nb = nbformat.read(path, as_version=4)
    cells = _check_cells(nb)
    assert cells, "no check cells (checks.run(...)) found"
    for index, cell in cells:
        text = notebook_lint.cell_output_text(cell)
        assert "✓" in text and "✗" not in text, (
            f"{path.name}, cell {index + 1}: stored output {text!r}; refresh with "
            "`course run --store`")


@pytest.mark.slow
@pytest.mark.parametrize("path", EXERCISES, ids=_ids(EXERCISES))
def test_exercise_copy_runs_to_the_end(path, tmp_path):
    output = tmp_path / path.name
    result = cli.execute_notebook(path, output, profile="smoke", root=ROOT, timeout=600)
    assert result.ok, f"{path.name} failed: {result.error} (executed copy: {output})"
    nb = nbformat.read(output, as_version=4)
    cells = _check_cells(nb)
    assert len(cells) >= 2
    for index, cell in cells:
        text = notebook_lint.cell_output_text(cell)
        assert "✗" in text and "not implemented" in text, (
            f"{path.name}, cell {index + 1}: expected ✗ not implemented, got {text!r}")


# --------------------------------------------------------------------------- sanitize file
def _sanitize_patterns():
    from nbval.plugin import get_sanitize_patterns

    return get_sanitize_patterns((ROOT / "tests" / "nbval_sanitize.cfg").read_text())


def _sanitize(text):
    for regex, replace in _sanitize_patterns():
        text = re.sub(regex, replace, text)
    return text


def test_sanitize_file_parses_and_compiles():
    patterns = _sanitize_patterns()
    assert len(patterns) >= 8
    for regex, _ in patterns:
        re.compile(regex)


@pytest.mark.parametrize("first, second", [
    ("10/10 - 3s - 298ms/step - accuracy: 0.5000 - loss: 0.6931",
     "10/10 - 12s - 1s/step - accuracy: 0.5000 - loss: 0.6931"),
    ("<Functional name=f, built=True> at 0x7f3c2a1b9d50",
     "<Functional name=f, built=True> at 0x7fd1002b4e10"),
    ("trained in 12.3 s", "trained in 0.52s"),
    ("CPU times: user 1 s, sys: 2 ms\nWall time: 3.1 s", "CPU times: user 9 s\nWall time: 7 s"),
    ("I0000 00:00:1795631993.701537    9609 port.cc:153] oneDNN custom operations are on.\nok",
     "I0000 00:00:1795631999.000001    1234 cpu_feature_guard.cc:227] This TensorFlow binary.\nok"),
    ("100%|██████████| 9/9 [00:03<00:00,  2.51it/s]", "100%|██████████| 9/9 [00:01<00:00, 7.10it/s]"),
])
def test_sanitize_removes_timings_and_addresses(first, second):
    assert first != second
    assert _sanitize(first) == _sanitize(second)


@pytest.mark.parametrize("text", [
    "Total params: 3,228,864 (12.32 MB)",
    "Jaccard 0.7500, Dice 0.8571, sensitivity 0.6667",
    "(None, 7, 7, 1280)",
    "✓ Exercise 0.1 (per-image Jaccard): passed — 7 hand-computed cases match.",
    "Epoch 1/5",
    "32 samples, 3 steps",
])
def test_sanitize_keeps_values(text):
    assert _sanitize(text) == text
