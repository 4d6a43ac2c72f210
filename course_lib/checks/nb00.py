"""Checks for the exercises of 00_setup_and_metrics.

Expected values are computed by hand (each case's comment shows the counts), so these checks do
not depend on course_lib.metrics.
"""
from __future__ import annotations

import numpy as np

from . import CheckFailed, describe, expect_close, expect_true, register


def _masks(true_rows, pred_rows, dtype=np.uint8):
    return np.array(true_rows, dtype=dtype), np.array(pred_rows, dtype=dtype)


def _call_unchanged(fn, what, *arrays, **kwargs):
    """Call ``fn(*arrays, **kwargs)`` and fail if it modified its input arrays in place."""
    before = [a.copy() for a in arrays]
    result = fn(*arrays, **kwargs)
    for original, after in zip(before, arrays):
        expect_true(np.array_equal(original, after),
                    f"{what} changed its input arrays; compute on new arrays instead of "
                    "modifying the ones passed in")
    return result


@register("0.1", title="per-image Jaccard",
          hint="JA = TP / (TP + FP + FN) counted over pixels, with TP = true AND predicted; "
               "when both masks are empty the union is empty and the answer is 1.0")
def check_jaccard(jaccard):
    cases = [
        # TP=1 (top-left), FP=0, FN=1 (top-right) -> 1 / 2
        ("two 2x2 masks", *_masks([[1, 1], [0, 0]], [[1, 0], [0, 0]]), 0.5),
        # TP=1, FP=2, FN=1 -> 1 / 4 (Dice would give 2/5 = 0.4)
        ("two 2x3 masks", *_masks([[1, 1, 0], [0, 0, 0]], [[0, 1, 1], [0, 0, 1]]), 0.25),
        # identical non-empty masks -> 1
        ("identical masks", *_masks([[0, 1, 1], [0, 1, 0]], [[0, 1, 1], [0, 1, 0]]), 1.0),
        # no overlap: TP=0, FP=2, FN=2 -> 0
        ("disjoint masks", *_masks([[1, 1], [0, 0]], [[0, 0], [1, 1]]), 0.0),
        # empty ground truth, one predicted pixel: TP=0, FP=1, FN=0 -> 0
        ("an empty true mask and a non-empty prediction",
         *_masks([[0, 0], [0, 0]], [[0, 1], [0, 0]]), 0.0),
        # boolean masks: TP=2, FP=1, FN=0 -> 2 / 3
        ("boolean masks", *_masks([[True, True, False]], [[True, True, True]], dtype=bool),
         2 / 3),
    ]
    for description, true_mask, pred_mask, expected in cases:
        what = f"jaccard(true_mask, pred_mask) on {description}"
        expect_close(_call_unchanged(jaccard, what, true_mask, pred_mask), expected, what)
    empty = np.zeros((3, 3), dtype=np.uint8)
    what = "jaccard(true_mask, pred_mask) with both masks empty"
    expect_close(_call_unchanged(jaccard, what, empty, empty.copy()), 1.0, what)
    return f"{len(cases) + 1} hand-computed cases match, including both masks empty → 1.0"


@register("0.2", title="sensitivity and specificity",
          hint="predict malignant when score > threshold (strictly greater); "
               "SE = TP / (TP + FN), SP = TN / (TN + FP)")
def check_sensitivity_specificity(sensitivity_specificity):
    y_true = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    y_score = np.array([0.9, 0.6, 0.3, 0.7, 0.2, 0.1, 0.4, 0.05])
    cases = [
        # threshold 0.5: predictions 1 1 0 1 0 0 0 0 -> TP=2 FN=1 TN=4 FP=1
        ("sensitivity_specificity(y_true, y_score)", y_true, y_score, {}, (2 / 3, 4 / 5)),
        # threshold 0.25: predictions 1 1 1 1 0 0 1 0 -> TP=3 FN=0 TN=3 FP=2
        ("sensitivity_specificity(y_true, y_score, threshold=0.25)", y_true, y_score,
         {"threshold": 0.25}, (1.0, 3 / 5)),
        # scores exactly 0.5 are NOT above 0.5: predictions 0 1 0 0 -> TP=1 FN=1 TN=2 FP=0
        ("sensitivity_specificity([1, 1, 0, 0], [0.5, 0.8, 0.5, 0.2])",
         np.array([1, 1, 0, 0]), np.array([0.5, 0.8, 0.5, 0.2]), {}, (0.5, 1.0)),
        # perfect separation
        ("sensitivity_specificity([0, 1], [0.1, 0.9])", np.array([0, 1]),
         np.array([0.1, 0.9]), {}, (1.0, 1.0)),
    ]
    for what, labels, scores, kwargs, (expected_se, expected_sp) in cases:
        result = _call_unchanged(sensitivity_specificity, what, labels, scores, **kwargs)
        if isinstance(result, np.ndarray):
            result = tuple(result.tolist()) if result.ndim == 1 else result
        expected = (expected_se, expected_sp)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise CheckFailed(f"{what} returned {describe(result)}, expected a pair "
                              f"(sensitivity, specificity) = {describe(expected)}")
        try:
            expect_close(result[0], expected_se, "sensitivity")
            expect_close(result[1], expected_sp, "specificity")
        except CheckFailed:
            raise CheckFailed(f"{what} returned {describe(tuple(result))}, expected "
                              f"(sensitivity, specificity) = {describe(expected)}") from None
    return (f"{len(cases)} hand-computed cases match, including a score exactly at the "
            "threshold counted as benign")
