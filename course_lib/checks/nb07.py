"""Checks for the exercises of 07_fusion.

Expected values are computed by hand (each case's comment shows the arithmetic); the last case of
each check compares with the library's reference (course_lib.fusion) on random inputs.
"""
from __future__ import annotations

import numpy as np

from . import CheckFailed, describe, expect_close, expect_shape, expect_true, register


def _call_unchanged(fn, what, arrays, *args):
    """Call ``fn(arrays, *args)`` and fail if it modified the arrays in place."""
    before = [a.copy() for a in arrays]
    result = fn(arrays, *args)
    for original, after in zip(before, arrays):
        expect_true(np.array_equal(original, after),
                    f"{what} changed its input arrays; compute a new array instead")
    return result


def _expect_array(actual, expected, what):
    expected = np.asarray(expected, dtype=float)
    if not isinstance(actual, (np.ndarray, list, tuple, float, int, np.generic)):
        raise CheckFailed(f"{what} returned {describe(actual)}, expected an array "
                          f"{describe(expected)}")
    actual = np.asarray(actual, dtype=float)
    expect_shape(actual, expected.shape, what)
    if not np.allclose(actual, expected, rtol=1e-6, atol=1e-9):
        raise CheckFailed(f"{what} returned {describe(actual)}, expected {describe(expected)}")


@register("7.1", title="weighted fusion",
          hint="divide the weights by their sum, then add weight_i * probabilities[i] over the "
               "models; the result has the shape of each input array")
def check_fuse(fuse):
    a = np.array([0.2, 0.8, 0.4])
    b = np.array([0.6, 0.4, 0.0])
    cases = [
        # equal weights: the mean
        ("fuse([a, b], [1, 1])", [a, b], [1, 1], [0.4, 0.6, 0.2]),
        # [1, 3] -> 0.25 / 0.75: 0.05 + 0.45, 0.2 + 0.3, 0.1 + 0
        ("fuse([a, b], [1, 3])", [a, b], [1, 3], [0.5, 0.5, 0.1]),
        ("fuse([a, b], [0.25, 0.75])", [a, b], [0.25, 0.75], [0.5, 0.5, 0.1]),
        # a zero weight ignores that model
        ("fuse([a, b], [0, 5])", [a, b], [0, 5], b),
        # three models, [2, 1, 1] -> 0.5 / 0.25 / 0.25
        ("fuse([a, b, c], [2, 1, 1]) with c = [1, 1, 1]", [a, b, np.ones(3)], [2, 1, 1],
         [0.5 * 0.2 + 0.25 * 0.6 + 0.25, 0.5 * 0.8 + 0.25 * 0.4 + 0.25, 0.5 * 0.4 + 0.25]),
    ]
    for what, arrays, weights, expected in cases:
        _expect_array(_call_unchanged(fuse, what, arrays, weights), expected, what)
    # probability maps: pixel by pixel, shape kept
    map_a = np.array([[0.0, 1.0], [0.5, 0.2]])
    map_b = np.array([[1.0, 1.0], [0.1, 0.6]])
    what = "fuse([map_a, map_b], [3, 1]) on two 2x2 probability maps"
    _expect_array(_call_unchanged(fuse, what, [map_a, map_b], [3, 1]),
                  [[0.25, 1.0], [0.4, 0.3]], what)
    # the library's reference on random maps
    from course_lib.fusion import weighted_average

    rng = np.random.default_rng(7)
    maps = [rng.uniform(size=(2, 4, 4)) for _ in range(3)]
    weights = [0.2, 1.3, 0.5]
    what = "fuse(three random (2, 4, 4) maps, [0.2, 1.3, 0.5])"
    _expect_array(_call_unchanged(fuse, what, maps, weights), weighted_average(maps, weights),
                  what)
    return (f"{len(cases) + 2} cases match, including 2-D probability maps and "
            "course_lib.fusion.weighted_average")


def _negative_squared_error(target, fused):
    return -float(np.mean((np.asarray(fused, dtype=float) - np.asarray(target)) ** 2))


def _average_precision(y_true, y_score):
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y_true, y_score))


def _mean_jaccard(true_masks, prob_maps):
    scores = []
    for truth, prob in zip(true_masks, prob_maps):
        truth, predicted = np.asarray(truth) > 0, np.asarray(prob) > 0.5
        union = np.sum(truth | predicted)
        scores.append(1.0 if union == 0 else np.sum(truth & predicted) / union)
    return float(np.mean(scores))


@register("7.2", title="picking the fusion weight on validation",
          hint="try every w of np.linspace(0, 1, 21), score metric(y_true, w * prob_a + "
               "(1 - w) * prob_b), keep the best; among equal scores take the w closest to 0.5")
def check_pick_weight(pick_weight):
    cases = []
    # fused = [w, 1 - w] is closest to [0.3, 0.7] at w = 0.3
    cases.append(("pick_weight([1, 0], [0, 1], [0.3, 0.7], negative squared error)",
                  (np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([0.3, 0.7]),
                   _negative_squared_error), 0.3))
    # every weight scores the same: equal weights
    cases.append(("pick_weight(a, b, y, metric) with a metric that is constant",
                  (np.array([0.1, 0.9]), np.array([0.8, 0.3]), np.array([0, 1]),
                   lambda y, p: 1.0), 0.5))
    # AP: a ranks the two melanomas first, b last; the fused scores rank them first (AP = 1)
    # for every w > 0.538, so the best weights are 0.55 ... 1 and the closest to 0.5 is 0.55
    cases.append(("pick_weight(a, b, [0, 0, 1, 1], average precision) with a = [0.1, 0.2, "
                  "0.8, 0.9], b = [0.95, 0.85, 0.15, 0.05]",
                  (np.array([0.1, 0.2, 0.8, 0.9]), np.array([0.95, 0.85, 0.15, 0.05]),
                   np.array([0, 0, 1, 1]), _average_precision), 0.55))
    # segmentation: a is the true mask, b predicts nothing; w * truth > 0.5 only for w > 0.5
    truth = np.zeros((2, 4, 4))
    truth[0, :2, :2] = 1
    truth[1, 1:3, 1:] = 1
    cases.append(("pick_weight(true maps, empty maps, masks, mean Jaccard)",
                  (truth, np.zeros_like(truth), truth, _mean_jaccard), 0.55))
    for what, args, expected in cases:
        expect_close(pick_weight(*args), expected, what, atol=1e-9)
    # the library's reference on random validation data
    from sklearn.metrics import roc_auc_score

    from course_lib.fusion import search_weight

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 40)
    prob_a = np.clip(0.3 * labels + rng.uniform(0, 0.7, 40), 0, 1)
    prob_b = np.clip(0.2 * labels + rng.uniform(0, 0.8, 40), 0, 1)
    expected = search_weight(prob_a, prob_b, labels, roc_auc_score)
    expect_close(pick_weight(prob_a, prob_b, labels, roc_auc_score), expected,
                 "pick_weight(prob_a, prob_b, labels, roc_auc_score) on 40 random cases")
    return (f"{len(cases) + 1} cases match, including ties (→ closest to 0.5), a "
            "segmentation metric and course_lib.fusion.search_weight")
