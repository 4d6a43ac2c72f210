"""The graded check cells: course_lib.checks and the checks of notebook 00."""
from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

from course_lib import checks


# --------------------------------------------------------------------------- reference answers
def _lesion(mask):
    mask = np.asarray(mask)
    if mask.dtype == bool:
        return mask
    return mask > (128 if np.issubdtype(mask.dtype, np.integer) else 0.5)


def jaccard(true_mask, pred_mask):
    true_mask = _lesion(true_mask)
    pred_mask = _lesion(pred_mask)
    union = np.logical_or(true_mask, pred_mask).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(true_mask, pred_mask).sum() / union)


def sensitivity_specificity(y_true, y_score, threshold=0.5):
    y_true = np.asarray(y_true).astype(bool)
    predicted = np.asarray(y_score) > threshold
    se = np.sum(predicted & y_true) / np.sum(y_true)
    sp = np.sum(~predicted & ~y_true) / np.sum(~y_true)
    return float(se), float(sp)


def run_and_capture(capsys, exercise_id, fn):
    returned = checks.run(exercise_id, fn)
    assert returned is None  # the check cell shows only the printed line
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out  # exactly one line
    return out.strip()


@pytest.fixture
def scratch_exercise():
    """Register a throw-away exercise 99.1 and remove it afterwards."""
    ids = []

    def make(check, title="toy", hint="think again"):
        checks.register("99.1", title=title, hint=hint)(check)
        ids.append("99.1")

    yield make
    for exercise_id in ids:
        checks._REGISTRY.pop(exercise_id, None)


# --------------------------------------------------------------------------- exercise 0.1
def test_correct_jaccard_passes(capsys):
    out = run_and_capture(capsys, "0.1", jaccard)
    assert out == ("✓ Exercise 0.1 (per-image Jaccard): passed — 11 hand-computed cases match: "
                   "0/255 uint8, 0/1 and probability float, boolean masks, and both masks "
                   "empty → 1.0.")
    assert checks.last_result.passed and checks.last_result.status == "passed"


def test_not_implemented_jaccard(capsys):
    def jaccard(true_mask, pred_mask):
        raise NotImplementedError("Exercise 0.1: write the body of jaccard()")

    out = run_and_capture(capsys, "0.1", jaccard)
    assert out == ("✗ Exercise 0.1 (per-image Jaccard): not implemented yet — write the body of "
                   "jaccard() and run this cell again.")
    assert checks.last_result.status == "not_implemented"
    assert not checks.last_result.passed


def test_dice_instead_of_jaccard_is_explained(capsys):
    def jaccard(true_mask, pred_mask):  # Dice: 2 TP / (2 TP + FP + FN)
        t, p = _lesion(true_mask), _lesion(pred_mask)
        return 2 * (t & p).sum() / (t.sum() + p.sum())

    out = run_and_capture(capsys, "0.1", jaccard)
    assert out.startswith("✗ Exercise 0.1 (per-image Jaccard): jaccard(true_mask, pred_mask) on "
                          "two 2x2 uint8 masks of 0/255, true_mask = [[255, 255], [0, 0]] "
                          "(uint8), pred_mask = [[255, 0], [0, 0]] (uint8), returned 0.666667, "
                          "expected 0.5. Hint: binarise both masks the official way first")
    assert out.endswith(".")
    assert checks.last_result.status == "failed"


def test_both_empty_nan_is_caught(capsys):
    def jaccard(true_mask, pred_mask):
        t, p = _lesion(true_mask), _lesion(pred_mask)
        with np.errstate(invalid="ignore"):
            return (t & p).sum() / (t | p).sum()

    out = run_and_capture(capsys, "0.1", jaccard)
    assert "on two empty uint8 masks" in out and "returned nan, expected 1" in out


def test_error_in_student_code_is_reported(capsys):
    def jaccard(true_mask, pred_mask):
        raise ValueError("masks must be boolean")

    out = run_and_capture(capsys, "0.1", jaccard)
    assert out.startswith("✗ Exercise 0.1 (per-image Jaccard): your function raised "
                          "ValueError: masks must be boolean. Hint: ")
    assert checks.last_result.status == "error"


def test_in_place_modification_is_caught(capsys):
    def jaccard(true_mask, pred_mask):
        true_mask[...] = 0
        return 0.5

    out = run_and_capture(capsys, "0.1", jaccard)
    assert "changed its input arrays" in out and out.startswith("✗")


def test_array_instead_of_number(capsys):
    out = run_and_capture(capsys, "0.1", lambda t, p: np.array([0.5, 0.5]))
    assert "expected a single number" in out


# --------------------------------------------------------------------------- exercise 0.2
def test_correct_sensitivity_specificity_passes(capsys):
    out = run_and_capture(capsys, "0.2", sensitivity_specificity)
    assert out.startswith("✓ Exercise 0.2 (sensitivity and specificity): passed — 4 ")


def test_greater_or_equal_threshold_fails_on_the_tie(capsys):
    def sensitivity_specificity(y_true, y_score, threshold=0.5):
        y_true = np.asarray(y_true).astype(bool)
        predicted = np.asarray(y_score) >= threshold
        return (np.sum(predicted & y_true) / np.sum(y_true),
                np.sum(~predicted & ~y_true) / np.sum(~y_true))

    out = run_and_capture(capsys, "0.2", sensitivity_specificity)
    assert ("sensitivity_specificity([1, 1, 0, 0], [0.5, 0.8, 0.5, 0.2]) returned (1, 0.5), "
            "expected (sensitivity, specificity) = (0.5, 1). Hint: predict malignant when "
            "score > threshold (strictly greater)") in out


def test_ignoring_the_threshold_argument_fails(capsys):
    def sensitivity_specificity(y_true, y_score, threshold=0.5):
        y_true = np.asarray(y_true).astype(bool)
        predicted = np.asarray(y_score) > 0.5  # bug: hard-coded
        return (np.sum(predicted & y_true) / np.sum(y_true),
                np.sum(~predicted & ~y_true) / np.sum(~y_true))

    out = run_and_capture(capsys, "0.2", sensitivity_specificity)
    assert "threshold=0.25) returned (0.666667, 0.8), expected" in out


def test_single_number_instead_of_pair(capsys):
    out = run_and_capture(capsys, "0.2", lambda y_true, y_score, threshold=0.5: 0.5)
    assert "returned 0.5, expected a pair (sensitivity, specificity)" in out


# --------------------------------------------------------------------------- framework
def test_unknown_and_malformed_ids_never_raise(capsys):
    out = run_and_capture(capsys, "0.9", jaccard)
    assert out.startswith("✗ Exercise 0.9: no check is registered under this id.")
    assert "0.1, 0.2" in out
    assert checks.last_result.status == "unknown"
    out = run_and_capture(capsys, "zero", jaccard)
    assert out == "✗ Exercise 'zero': not an exercise id; ids look like '0.1'."
    out = run_and_capture(capsys, "7.99", jaccard)  # an id nobody registers: still a message
    assert out.startswith("✗ Exercise 7.99: ")


def test_passing_a_value_instead_of_the_function(capsys):
    out = run_and_capture(capsys, "0.1", 0.5)
    assert out == ('✗ Exercise 0.1 (per-image Jaccard): expected your function, got 0.5. Pass the '
                   'function itself, without calling it: checks.run("0.1", my_function).')


def test_bug_in_a_check_is_not_blamed_on_the_student(capsys, scratch_exercise):
    def check(fn):
        fn(1)
        return {}["missing"]

    scratch_exercise(check)
    out = run_and_capture(capsys, "99.1", lambda x: x)
    assert "the check itself failed (KeyError: 'missing')" in out


def test_confirmation_and_hint_format(capsys, scratch_exercise):
    def check(fn):
        checks.expect_equal(fn(2), 4, "square(2)")
        return "2 squared is 4"

    scratch_exercise(check, title="square", hint="multiply x by itself.")
    assert run_and_capture(capsys, "99.1", lambda x: x * x) == (
        "✓ Exercise 99.1 (square): passed — 2 squared is 4.")
    assert run_and_capture(capsys, "99.1", lambda x: x + 1) == (
        "✗ Exercise 99.1 (square): square(2) returned 3, expected 4. Hint: multiply x by itself.")


def test_output_is_deterministic(capsys):
    first = run_and_capture(capsys, "0.1", lambda t, p: object())
    second = run_and_capture(capsys, "0.1", lambda t, p: object())
    assert first == second
    assert "0x" not in first  # no memory addresses


def test_keyboard_interrupt_is_not_swallowed():
    def jaccard(true_mask, pred_mask):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        checks.run("0.1", jaccard)


def test_register_validates_ids_and_owners(scratch_exercise):
    with pytest.raises(ValueError, match="not of the form 'N.M'"):
        checks.register("1", title="x")
    with pytest.raises(ValueError, match="short title"):
        checks.register("1.1", title="")
    scratch_exercise(lambda fn: None)
    other = type(lambda: None)((lambda fn: None).__code__, {"__name__": "elsewhere"})
    with pytest.raises(ValueError, match="already registered"):
        checks.register("99.1", title="again")(other)


def test_lazy_import_by_prefix(capsys, monkeypatch):
    assert checks.module_name_for("3.2") == "course_lib.checks.nb03"
    assert checks.module_name_for("0.12") == "course_lib.checks.nb00"
    saved = {k: v for k, v in checks._REGISTRY.items() if k.startswith("0.")}
    monkeypatch.delitem(sys.modules, "course_lib.checks.nb00", raising=False)
    for key in saved:
        monkeypatch.delitem(checks._REGISTRY, key)
    try:
        out = run_and_capture(capsys, "0.1", jaccard)
        assert out.startswith("✓")
        assert "course_lib.checks.nb00" in sys.modules
    finally:
        checks._REGISTRY.update(saved)
        importlib.import_module("course_lib.checks.nb00")


def test_registered_ids_are_sorted_numerically(scratch_exercise):
    scratch_exercise(lambda fn: None)
    ids = checks.registered_ids()
    assert ids[:2] == ["0.1", "0.2"] and ids[-1] == "99.1"
    assert checks.registered_ids(notebook=0)[:2] == ["0.1", "0.2"]
    assert all(i.startswith("0.") for i in checks.registered_ids(notebook=0))


# --------------------------------------------------------------------------- expectations
def test_expect_close_messages():
    checks.expect_close(np.float32(0.25), 0.25, "f()")
    checks.expect_close(np.array(0.5), 0.5, "f()")
    with pytest.raises(checks.CheckFailed, match=r"^f\(\) returned 0.3, expected 0.25$"):
        checks.expect_close(0.3, 0.25, "f()")
    with pytest.raises(checks.CheckFailed, match="expected a single number"):
        checks.expect_close("0.25", 0.25, "f()")
    with pytest.raises(checks.CheckFailed, match="expected a single number"):
        checks.expect_close(True, 1.0, "f()")
    with pytest.raises(checks.CheckFailed, match="returned nan"):
        checks.expect_close(float("nan"), 1.0, "f()")


def test_expect_shape_and_equal_messages():
    checks.expect_shape(np.zeros((3, 2)), (3, 2), "x")
    with pytest.raises(checks.CheckFailed, match=r"^x's shape \(2, 3\) != expected \(3, 2\)$"):
        checks.expect_shape(np.zeros((2, 3)), (3, 2), "x")
    with pytest.raises(checks.CheckFailed, match="expected an array of shape"):
        checks.expect_shape([1, 2], (2,), "x")
    checks.expect_equal(np.array([1, 2]), np.array([1, 2]), "g()")
    with pytest.raises(checks.CheckFailed, match=r"g\(\) returned \[1, 3\]"):
        checks.expect_equal(np.array([1, 3]), np.array([1, 2]), "g()")
    with pytest.raises(checks.CheckFailed):
        checks.expect_equal(np.array([1, 2, 3]), np.array([1, 2]), "g()")
    with pytest.raises(checks.CheckFailed, match="^nope$"):
        checks.expect_true(False, "nope")


# --------------------------------------------------------------------------- checks.use
def reference_jaccard(true_mask, pred_mask):
    return jaccard(true_mask, pred_mask)


def test_use_returns_the_students_function_when_its_check_passed(capsys):
    checks.run("0.1", jaccard)
    capsys.readouterr()
    assert checks.use("0.1", jaccard, reference=reference_jaccard) is jaccard
    assert capsys.readouterr().out == (
        "→ Exercise 0.1 solved: the notebook goes on with your jaccard().\n")


def test_use_falls_back_to_the_reference_and_says_so(capsys):
    def jaccard_stub(true_mask, pred_mask):
        raise NotImplementedError("Exercise 0.1: write the body of jaccard()")

    def wrong(true_mask, pred_mask):  # Dice
        t, p = np.asarray(true_mask, bool), np.asarray(pred_mask, bool)
        return 2 * (t & p).sum() / max(t.sum() + p.sum(), 1)

    from course_lib import metrics
    for fn in (jaccard_stub, wrong):
        assert checks.use("0.1", fn, reference=metrics.binarize) is metrics.binarize
        out = capsys.readouterr().out
        assert out == ("→ Exercise 0.1 not solved yet: the notebook goes on with the course's "
                       "reference, course_lib.metrics.binarize().\n")


def test_use_checks_a_function_that_was_never_run(capsys, monkeypatch):
    calls = []
    original = checks.get_exercise("0.1")
    monkeypatch.setitem(checks._REGISTRY, "0.1", checks.Exercise(
        "0.1", original.title, original.hint,
        lambda fn: (calls.append(fn), original.check(fn))[1]))

    def my_jaccard(a, b):
        return jaccard(a, b)

    assert checks.use("0.1", my_jaccard, reference=reference_jaccard) is my_jaccard
    assert calls == [my_jaccard]              # checked silently, once
    assert checks.use("0.1", my_jaccard, reference=reference_jaccard) is my_jaccard
    assert calls == [my_jaccard]              # the outcome is remembered for the same function
    with pytest.raises(TypeError, match="reference must be the course's function"):
        checks.use("0.1", my_jaccard, reference=None)
