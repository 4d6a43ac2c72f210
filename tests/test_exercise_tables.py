"""The four tests every exercise gets, over the tables of tests/test_exercises_nbNN.py:

- ``RIGHT_ANSWERS[id]`` (written in the test file, independently of the solution notebook)
  passes its check;
- every function of ``WRONG_ANSWERS[id]`` (the mistakes students make; at least three per
  exercise, tests/test_exercise_coverage.py) is rejected, as wrong, never as a bug of the check;
- ``REFERENCES[id]``, the course_lib implementation the notebook falls back on, passes its own
  check (the solutions and the library are equal where the checks can tell);
- a stub that raises NotImplementedError, as the exercise copies do, is reported "not
  implemented" (``STUBS[id]`` where the exercise is a class, e.g. a Keras layer or loss).
"""
from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import pytest

from exercise_probe import accepted, outcome, rejected

MODULES = [importlib.import_module(path.stem)
           for path in sorted(Path(__file__).parent.glob("test_exercises_nb*.py"))]


def _table(name):
    return [(module, exercise_id, value) for module in MODULES
            for exercise_id, value in sorted(getattr(module, name, {}).items())]


def _id(value):
    return getattr(value, "__name__", str(value))


@pytest.mark.parametrize("module, exercise_id, fn", _table("RIGHT_ANSWERS"), ids=_id)
def test_right_answer_passes(module, exercise_id, fn):
    accepted(exercise_id, fn)


@pytest.mark.parametrize("module, exercise_id, fn",
                         [(m, i, fn) for m, i, fns in _table("WRONG_ANSWERS") for fn in fns],
                         ids=_id)
def test_wrong_answer_is_rejected(module, exercise_id, fn):
    rejected(exercise_id, fn)


@pytest.mark.parametrize("module, exercise_id, reference", _table("REFERENCES"), ids=_id)
def test_library_reference_passes_its_own_check(module, exercise_id, reference):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. metrics.binarize on 0/1 integer masks
        accepted(exercise_id, reference)


def _stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write the body of this function")


@pytest.mark.parametrize("module, exercise_id, fn", _table("RIGHT_ANSWERS"), ids=_id)
def test_stub_is_not_implemented(module, exercise_id, fn):
    stub = getattr(module, "STUBS", {}).get(exercise_id, _stub)
    assert outcome(exercise_id, stub).status == "not_implemented"
