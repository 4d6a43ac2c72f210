"""The course-wide promises of the exercises, measured on solutions/ and the exercise tests:
four to six exercises per notebook, at least 400 student-written lines, at least 75 % of the
exercises used downstream, and at least three wrong answers per exercise that its check rejects."""
from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from course_lib import checks
from course_tools import exercises, notebook_lint

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def _code_cells(path):
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]
            if c["cell_type"] == "code"]


def student_lines(source: str) -> int:
    """Non-blank, non-comment lines inside ``### BEGIN/END SOLUTION`` regions."""
    count, inside = 0, False
    for line in source.splitlines():
        text = line.strip()
        if text == exercises.BEGIN_MARKER:
            inside = True
        elif text == exercises.END_MARKER:
            inside = False
        elif inside and text and not text.startswith("#"):
            count += 1
    return count


def test_four_to_six_exercises_per_notebook():
    for path in SOLUTIONS:
        ids = [h[0] for h in map(exercises.exercise_header, _code_cells(path)) if h]
        assert 4 <= len(ids) <= 6, f"{path.name}: {len(ids)} exercises ({ids})"


def test_students_write_at_least_400_lines():
    total = sum(student_lines(s) for p in SOLUTIONS for s in _code_cells(p))
    assert total >= 400, f"{total} student-written lines in solutions/"


def test_three_quarters_of_the_exercises_are_used_downstream():
    used = total = 0
    for path in SOLUTIONS:
        cells = _code_cells(path)
        for index, source in enumerate(cells):
            header = exercises.exercise_header(source)
            if not header:
                continue
            total += 1
            names = [name for i, c in enumerate(cells) if i > index
                     for eid, name in notebook_lint.CHECKED_FUNCTION.findall(c) if eid == header[0]]
            if names and any(re.search(rf"\b{names[0]}\b", c) and "checks.run(" not in c
                             for c in cells[index + 1:]):
                used += 1
    assert total and used / total >= 0.75, f"{used} of {total} exercises used downstream"


def _probe_modules():
    for path in sorted(Path(__file__).parent.glob("test_exercises_nb*.py")):
        yield importlib.import_module(path.stem)


def test_every_exercise_has_a_right_answer_and_three_wrong_ones():
    right, wrong = {}, {}
    for module in _probe_modules():
        right.update(getattr(module, "RIGHT_ANSWERS", {}))
        for exercise_id, answers in getattr(module, "WRONG_ANSWERS", {}).items():
            wrong.setdefault(exercise_id, []).extend(answers)
    missing = [i for i in checks.registered_ids() if i not in right or len(wrong.get(i, [])) < 3]
    assert not missing, f"exercises without a right answer or three wrong ones: {missing}"
