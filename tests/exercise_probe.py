"""Shared by the per-notebook exercise tests (tests/test_exercises_nbNN.py).

Each of those modules declares two tables, read again by tests/test_exercise_coverage.py:

- ``RIGHT_ANSWERS = {"4.2": fn, ...}`` — a correct answer per exercise (written independently
  of the solution notebook, which nbval checks through its stored ✓ line);
- ``WRONG_ANSWERS = {"4.2": [fn, fn, fn], ...}`` — at least three plausible wrong answers per
  exercise, each one a mistake a student makes (a swapped argument, a forgotten step, a wrong
  constant, an answer right in shape but not in value). Its check must reject every one.

and runs them through :func:`accepted` / :func:`rejected`.
"""
from __future__ import annotations

from course_lib import checks


def outcome(exercise_id: str, fn) -> "checks.CheckResult":
    """The check's verdict on ``fn`` (what ``checks.run`` would print), without printing."""
    return checks._evaluate(exercise_id, fn)


def accepted(exercise_id: str, fn) -> str:
    result = outcome(exercise_id, fn)
    assert result.passed, result.message
    return result.message


def rejected(exercise_id: str, fn) -> str:
    """Assert the check rejects ``fn`` as wrong (not as a bug of the check itself)."""
    result = outcome(exercise_id, fn)
    assert result.status in ("failed", "error"), (
        f"Exercise {exercise_id}: the wrong answer {fn.__name__} passed: {result.message}")
    assert "the check itself failed" not in result.message, result.message
    return result.message
