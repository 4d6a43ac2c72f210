"""Checks for the exercises of 07_fusion.

Expected values are computed by hand (each case's comment shows the arithmetic); the last case of
each check compares with the library's reference (course_lib.fusion) on random inputs.
"""
from __future__ import annotations

import numpy as np

from . import CheckFailed, describe, expect_close, expect_shape, expect_true, register


def _call_unchanged(fn, what, arrays, *args):
    """Call ``fn(arrays, *args)`` and fail if it modified the arrays in place."""
    before = [np.array(a, copy=True) for a in arrays]
    result = fn(arrays, *args)
    for original, after in zip(before, arrays):
        expect_true(np.array_equal(original, after),
                    f"{what} changed its input arrays; compute a new array instead")
    return result


def _expect_array(actual, expected, what, atol=1e-9):
    expected = np.asarray(expected, dtype=float)
    if not isinstance(actual, (np.ndarray, list, tuple, float, int, np.generic)):
        raise CheckFailed(f"{what} returned {describe(actual)}, expected an array "
                          f"{describe(expected)}")
    actual = np.asarray(actual, dtype=float)
    expect_shape(actual, expected.shape, what)
    if not np.allclose(actual, expected, rtol=1e-6, atol=atol):
        if expected.size <= 12:
            raise CheckFailed(f"{what} returned {describe(actual)}, expected "
                              f"{describe(expected)}")
        where = np.unravel_index(int(np.argmax(np.abs(actual - expected))), expected.shape)
        raise CheckFailed(f"{what} differs from the expected values by up to "
                          f"{describe(float(np.abs(actual - expected).max()))}: at index "
                          f"{tuple(int(i) for i in where)} it returned "
                          f"{describe(float(actual[where]))}, expected "
                          f"{describe(float(expected[where]))}")


# --------------------------------------------------------------------------- 7.1
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
        # integer inputs still give fractions: (0 + 1) / 2, (1 + 1) / 2
        ("fuse([[0, 1], [1, 1]], (1, 1)) with integer arrays", [np.array([0, 1]), np.array([1, 1])],
         (1, 1), [0.5, 1.0]),
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


# --------------------------------------------------------------------------- 7.2
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
    # fused = [w]; the score peaks at both 0.4 and 0.6 (equally close to 0.5): the smaller one
    cases.append(("pick_weight([1], [0], y, metric) where w = 0.4 and w = 0.6 tie for the best",
                  (np.array([1.0]), np.array([0.0]), np.array([0]),
                   lambda y, p: -round(abs(abs(float(p[0]) - 0.5) - 0.1), 9)), 0.4))
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


# --------------------------------------------------------------------------- 7.3
def _jaccard_cases():
    """Two 4x4 images: truths as 0/255 uint8, predictions as probability maps."""
    truth = np.zeros((2, 4, 4), dtype=np.uint8)
    truth[0, :2, :2] = 255          # 4 lesion pixels
    truth[1, :, :3] = 255           # 12 lesion pixels
    prob = np.zeros((2, 4, 4))
    prob[0, :2, :3] = 0.9           # 6 predicted: TP 4, FP 2 -> JA 4 / 6
    prob[0, 3, 3] = 0.5             # exactly 0.5 is background (strict >)
    prob[1, :, :2] = 0.7            # 8 predicted, all inside: TP 8, FN 4 -> JA 8 / 12
    prob[1, 0, 2] = 0.51            # one more: TP 9 -> JA 9 / 12
    return truth, prob, (4 / 6 + 9 / 12) / 2   # per image, then the mean (pooled would be 13/18)


@register("7.3", title="mean Jaccard index of probability maps",
          hint="per image: lesion = truth > 0.5 (works for 0/255 and for 0/1 masks), predicted "
               "= prob > 0.5 (strict), JA = |lesion AND predicted| / |lesion OR predicted|, 1 "
               "when both are empty; then the mean over the images (not pooled over all pixels)")
def check_mean_jaccard(mean_jaccard):
    truth, prob, expected = _jaccard_cases()
    cases = [
        ("mean_jaccard(truth, prob) with 0/255 uint8 truth masks", truth, prob, expected),
        ("mean_jaccard(truth, prob) with the same truth as 0/1 floats",
         (truth > 0).astype(np.float64), prob, expected),
        ("mean_jaccard(truth, prob) with the same truth as a list of 0/1 float masks",
         [t for t in (truth > 0).astype(np.float32)], list(prob), expected),
    ]
    empty_truth = np.zeros((2, 3, 3), dtype=np.uint8)
    empty_prob = np.zeros((2, 3, 3))
    empty_prob[1, 0, 0] = 0.8        # image 0: both empty -> 1; image 1: 0 / 1 -> 0
    cases.append(("mean_jaccard(empty truths, maps) where image 0 predicts nothing and image 1 "
                  "one pixel", empty_truth, empty_prob, 0.5))
    rng = np.random.default_rng(21)
    random_truth = (rng.uniform(size=(5, 6, 7)) > 0.6).astype(np.uint8) * 255
    random_prob = np.clip(0.5 * (random_truth > 0) + rng.uniform(0, 0.6, (5, 6, 7)), 0, 1)
    from course_lib.fusion import mean_jaccard as reference

    cases.append(("mean_jaccard(5 random 6x7 0/255 masks, random maps)", random_truth,
                  random_prob, reference(random_truth, random_prob)))
    for what, masks, maps, value in cases:
        before = np.array(maps, copy=True)
        result = mean_jaccard(masks, maps)
        expect_true(np.array_equal(before, np.asarray(maps)), f"{what} changed its input maps")
        expect_close(result, value, what, rtol=1e-6, atol=1e-9)
    return (f"{len(cases)} cases match: 0/255 and 0/1 masks, the strict 0.5 rule, empty masks "
            "and course_lib.fusion.mean_jaccard")


# --------------------------------------------------------------------------- 7.4
def _as_map_list(result, n, what):
    if isinstance(result, np.ndarray) and result.ndim >= 3:
        result = list(result)
    if not isinstance(result, (list, tuple)) or len(result) != n:
        raise CheckFailed(f"{what} returned {describe(result)}, expected a list of {n} maps, "
                          "one per image, each of its original (height, width)")
    return [np.asarray(r) for r in result]


@register("7.4", title="fused probability maps at the original size",
          hint="squeeze a trailing channel axis, average the maps pixel by pixel with the "
               "normalised weights, THEN resize each fused map bilinearly to sizes[i] = (height, "
               "width) with unet.upsample_probabilities; return probabilities, not thresholded "
               "masks")
def check_fuse_at_original_size(fuse_at_original_size):
    maps_a = np.zeros((2, 2, 2))
    maps_a[0] = [[0.0, 1.0], [0.4, 0.8]]
    maps_a[1] = 0.2
    maps_b = np.zeros((2, 2, 2, 1))          # a U-Net's (N, h, w, 1) output
    maps_b[0, ..., 0] = [[1.0, 0.2], [0.0, 0.4]]
    maps_b[1, ..., 0] = 0.6
    # weights [3, 1] -> 0.75 / 0.25; image 0 keeps its 2x2 size: exact values
    expected_0 = [[0.25, 0.8], [0.3, 0.7]]
    what = ("fuse_at_original_size([maps_a (2, 2, 2), maps_b (2, 2, 2, 1)], [3, 1], "
            "[(2, 2), (3, 5)])")
    result = _as_map_list(_call_unchanged(fuse_at_original_size, what, [maps_a, maps_b], [3, 1],
                                          [(2, 2), (3, 5)]), 2, what)
    _expect_array(np.squeeze(result[0]), expected_0, what + " for image 0", atol=1e-6)
    # image 1 is constant 0.75 * 0.2 + 0.25 * 0.6 = 0.3: any resize keeps it; shape (3, 5)
    _expect_array(np.squeeze(result[1]), np.full((3, 5), 0.3), what + " for image 1", atol=1e-6)
    # the library's reference, enlarging to non-square sizes (height != width)
    from course_lib.fusion import fuse_at_original_size as reference

    rng = np.random.default_rng(4)
    maps = [rng.uniform(size=(3, 4, 4, 1)), rng.uniform(size=(3, 4, 4))]
    sizes = [(6, 9), (9, 6), (8, 8)]
    expected = reference(maps, [1, 2], sizes)
    what = "fuse_at_original_size(two random (3, 4, 4) maps, [1, 2], [(6, 9), (9, 6), (8, 8)])"
    result = _as_map_list(_call_unchanged(fuse_at_original_size, what, maps, [1, 2], sizes),
                          3, what)
    for index, (got, want) in enumerate(zip(result, expected)):
        got = np.squeeze(got).astype(float)
        if got.dtype == bool or set(np.unique(got)) <= {0.0, 1.0}:
            raise CheckFailed(f"{what} returned 0/1 masks for image {index}, expected fused "
                              "probabilities (the caller thresholds them)")
        _expect_array(got, want, f"{what} for image {index} (size {sizes[index]})", atol=1e-5)
    return ("3 cases match: (N, h, w, 1) maps, normalised weights, non-square original sizes "
            "and course_lib.fusion.fuse_at_original_size")


# --------------------------------------------------------------------------- 7.5
def _expect_pair(result, expected, what):
    if not isinstance(result, (tuple, list, np.ndarray)) or len(result) != 2:
        raise CheckFailed(f"{what} returned {describe(result)}, expected a pair (SE, SP) = "
                          f"{describe(tuple(expected))}")
    for name, got, want in zip(("SE", "SP"), result, expected):
        expect_close(got, want, f"{what} (its {name})", rtol=1e-9, atol=1e-12)


@register("7.5", title="sensitivity and specificity at a threshold",
          hint="predicted melanoma = score > threshold (strict); SE = caught melanomas / all "
               "melanomas, SP = benign lesions called benign / all benign lesions; return (SE, "
               "SP) in that order, 1.0 when a class is absent")
def check_sensitivity_specificity(sensitivity_specificity):
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    scores = np.array([0.9, 0.6, 0.3, 0.6, 0.5, 0.2, 0.1, 0.0])
    cases = [
        # > 0.5: melanomas 0.9, 0.6 caught (2 / 3); benign 0.6 called melanoma, 0.5 is not (4 / 5)
        ("sensitivity_specificity(labels, scores, 0.5)", (labels, scores, 0.5), (2 / 3, 4 / 5)),
        # > 0.25: 3 / 3 melanomas; benign 0.6 and 0.5 above -> 3 / 5
        ("sensitivity_specificity(labels, scores, 0.25)", (labels, scores, 0.25), (1.0, 3 / 5)),
        # > 0.95: nothing called melanoma
        ("sensitivity_specificity(labels, scores, 0.95)", (labels, scores, 0.95), (0.0, 1.0)),
        # bool labels, list scores
        ("sensitivity_specificity(bool labels, scores as a list, 0.55)",
         (labels.astype(bool), list(scores), 0.55), (2 / 3, 4 / 5)),
        # no melanoma: SE is 1 (nothing to miss); 1 of 2 benign above 0.4
        ("sensitivity_specificity([0, 0], [0.3, 0.7], 0.4) without melanoma",
         (np.array([0, 0]), np.array([0.3, 0.7]), 0.4), (1.0, 0.5)),
    ]
    from course_lib.fusion import sensitivity_specificity as reference

    rng = np.random.default_rng(9)
    random_labels = rng.integers(0, 2, 30)
    random_scores = rng.uniform(size=30)
    cases.append(("sensitivity_specificity(30 random cases, 0.35)",
                  (random_labels, random_scores, 0.35),
                  reference(random_labels, random_scores, 0.35)))
    for what, args, expected in cases:
        _expect_pair(sensitivity_specificity(*args), expected, what)
    return (f"{len(cases)} cases match, including a score equal to the threshold, a set "
            "without melanoma and course_lib.fusion.sensitivity_specificity")


# --------------------------------------------------------------------------- 7.6
@register("7.6", title="the threshold for a target sensitivity",
          hint="sort the MELANOMA scores from high to low, k = ceil(target * n_melanoma) (mind "
               "float rounding: 0.56 * 25 is 14.000000000000002, so subtract 1e-9 first), s = "
               "the k-th of them; return the midpoint between s and the highest score of ANY "
               "image below s (np.nextafter(s, -np.inf) when none is lower)")
def check_tune_threshold(tune_threshold):
    labels = np.array([1, 0, 1, 0, 1, 0, 1, 0, 0, 0])
    scores = np.array([0.9, 0.85, 0.7, 0.6, 0.4, 0.35, 0.2, 0.1, 0.05, 0.0])
    # melanoma scores 0.9, 0.7, 0.4, 0.2
    cases = [
        # k = ceil(0.75 * 4) = 3 -> s = 0.4; highest score below: 0.35 -> 0.375
        ("tune_threshold(labels, scores, 0.75)", (labels, scores, 0.75), 0.375),
        # k = ceil(0.6 * 4) = 3 too (2.4 rounds UP) -> 0.375
        ("tune_threshold(labels, scores, 0.6)", (labels, scores, 0.6), 0.375),
        # k = 1 -> s = 0.9; next lower score is the BENIGN 0.85 -> 0.875
        ("tune_threshold(labels, scores, 0.25)", (labels, scores, 0.25), 0.875),
        # k = 4 -> s = 0.2; next lower 0.1 -> 0.15
        ("tune_threshold(labels, scores, 1.0)", (labels, scores, 1.0), 0.15),
        # scores in any order, labels as a list: the same as the first case
        ("tune_threshold(shuffled labels, shuffled scores, 0.75)",
         (list(labels[::-1]), scores[::-1].copy(), 0.75), 0.375),
        # k = 1 -> s = 0.8; the next lower score is a MELANOMA's, 0.7 -> 0.75
        ("tune_threshold([1, 1, 0, 1, 0], [0.8, 0.7, 0.65, 0.3, 0.1], 0.3)",
         (np.array([1, 1, 0, 1, 0]), np.array([0.8, 0.7, 0.65, 0.3, 0.1]), 0.3), 0.75),
        # 25 melanomas scored 0.99, 0.98, ..., 0.75, target 0.56: k = 14 (but 0.56 * 25 is
        # 14.000000000000002 in floating point) -> s = 0.86, next lower 0.85 -> 0.855
        ("tune_threshold(25 melanomas scored 0.99, 0.98, ..., 0.75 and 2 benign, 0.56)",
         (np.array([1] * 25 + [0, 0]),
          np.array([round(0.99 - 0.01 * i, 2) for i in range(25)] + [0.5, 0.0]), 0.56), 0.855),
    ]
    from course_lib.fusion import threshold_for_sensitivity

    rng = np.random.default_rng(13)
    random_labels = rng.integers(0, 2, 40)
    random_scores = np.round(rng.uniform(size=40), 3)
    cases.append(("tune_threshold(40 random cases, 0.9)", (random_labels, random_scores, 0.9),
                  threshold_for_sensitivity(random_labels, random_scores, 0.9)))
    for what, args, expected in cases:
        expect_close(tune_threshold(*args), expected, what, rtol=1e-9, atol=1e-12)
    # the lowest score belongs to a melanoma that must be caught: just below it
    lowest = tune_threshold(np.array([1, 0, 1]), np.array([0.8, 0.5, 0.1]), 1.0)
    what = "tune_threshold([1, 0, 1], [0.8, 0.5, 0.1], 1.0) (no score below the last melanoma)"
    expect_close(lowest, float(np.nextafter(0.1, -np.inf)), what, rtol=0, atol=1e-9)
    expect_true(float(lowest) < 0.1, f"{what} returned {describe(lowest)}, which does not catch "
                "the melanoma scored 0.1 (the rule is score > threshold); expected just below 0.1")
    return (f"{len(cases) + 1} cases match, including rounding k up, a benign score next to "
            "the k-th melanoma and course_lib.fusion.threshold_for_sensitivity")
