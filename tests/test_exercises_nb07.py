"""The checks of 07_fusion accept a right answer, the library's references, and reject the
mistakes students make (tables read by tests/test_exercise_coverage.py)."""
from __future__ import annotations

import math

import numpy as np


from course_lib import fusion


# --------------------------------------------------------------------------- right answers
def fuse(probabilities, weights):
    total = float(np.sum(weights))
    return np.sum([w / total * np.asarray(p, dtype=float)
                   for w, p in zip(weights, probabilities)], axis=0)


def pick_weight(prob_a, prob_b, y_true, metric):
    best_w, best_score = None, -np.inf
    for w in sorted(np.round(np.linspace(0, 1, 21), 10), key=lambda v: (abs(v - 0.5), v)):
        score = metric(y_true, w * np.asarray(prob_a) + (1 - w) * np.asarray(prob_b))
        if score > best_score + 1e-12:
            best_w, best_score = w, score
    return float(best_w)


def mean_jaccard(true_masks, prob_maps):
    values = []
    for truth, prob in zip(true_masks, prob_maps):
        a = np.asarray(truth).astype(float).squeeze() > 0.5
        b = np.asarray(prob).squeeze() > 0.5
        union = (a | b).sum()
        values.append((a & b).sum() / union if union else 1.0)
    return float(np.mean(values))


def fuse_at_original_size(prob_maps, weights, sizes):
    import tensorflow as tf

    fused = fuse([np.asarray(p).reshape(np.shape(p)[:3]) for p in prob_maps], weights)
    return [tf.image.resize(m[..., None], size, method="bilinear").numpy()[..., 0]
            for m, size in zip(fused, sizes)]


def sensitivity_specificity(y_true, y_score, threshold):
    y_true = np.asarray(y_true).astype(bool)
    called = np.asarray(y_score) > threshold
    se = (called & y_true).sum() / y_true.sum() if y_true.any() else 1.0
    sp = (~called & ~y_true).sum() / (~y_true).sum() if (~y_true).any() else 1.0
    return float(se), float(sp)


def tune_threshold(y_true, y_score, target):
    y_true, y_score = np.asarray(y_true).astype(bool), np.asarray(y_score, dtype=float)
    melanoma = np.sort(y_score[y_true])[::-1]
    s = melanoma[math.ceil(target * len(melanoma) - 1e-9) - 1]
    below = y_score[y_score < s]
    return float((s + below.max()) / 2) if below.size else float(np.nextafter(s, -np.inf))


RIGHT_ANSWERS = {"7.1": fuse, "7.2": pick_weight, "7.3": mean_jaccard,
                 "7.4": fuse_at_original_size, "7.5": sensitivity_specificity,
                 "7.6": tune_threshold}


# --------------------------------------------------------------------------- wrong answers
def fuse_unnormalised(probabilities, weights):
    return sum(w * np.asarray(p, dtype=float) for w, p in zip(weights, probabilities))


def fuse_plain_mean(probabilities, weights):
    return np.mean([np.asarray(p, dtype=float) for p in probabilities], axis=0)


def fuse_weights_reversed(probabilities, weights):
    return fuse(probabilities, list(weights)[::-1])


def fuse_in_place(probabilities, weights):
    weights = np.asarray(weights, dtype=float) / np.sum(weights)
    out = probabilities[0]
    out *= weights[0]
    for w, p in zip(weights[1:], probabilities[1:]):
        out += w * p
    return out


def pick_first_best(prob_a, prob_b, y_true, metric):
    grid = np.linspace(0, 1, 21)
    return float(grid[int(np.argmax([metric(y_true, w * prob_a + (1 - w) * prob_b)
                                     for w in grid]))])


def pick_weight_of_b(prob_a, prob_b, y_true, metric):
    return 1.0 - pick_weight(prob_a, prob_b, y_true, metric)


def pick_coarse_grid(prob_a, prob_b, y_true, metric):
    best_w, best_score = None, -np.inf
    for w in sorted(np.round(np.linspace(0, 1, 11), 10), key=lambda v: (abs(v - 0.5), v)):
        score = metric(y_true, w * prob_a + (1 - w) * prob_b)
        if score > best_score + 1e-12:
            best_w, best_score = w, score
    return float(best_w)


def pick_ties_to_larger(prob_a, prob_b, y_true, metric):
    best_w, best_score = None, -np.inf
    for w in sorted(np.round(np.linspace(0, 1, 21), 10), key=lambda v: (abs(v - 0.5), -v)):
        score = metric(y_true, w * np.asarray(prob_a) + (1 - w) * np.asarray(prob_b))
        if score > best_score + 1e-12:
            best_w, best_score = w, score
    return float(best_w)


def pick_minimum(prob_a, prob_b, y_true, metric):
    return pick_weight(prob_a, prob_b, y_true, lambda y, p: -metric(y, p))


def jaccard_truth_equals_one(true_masks, prob_maps):
    return mean_jaccard([np.asarray(t) == 1 for t in true_masks], prob_maps)


def jaccard_truth_over_128(true_masks, prob_maps):
    return mean_jaccard([(np.asarray(t) > 128).astype(float) for t in true_masks], prob_maps)


def jaccard_pooled(true_masks, prob_maps):
    a = np.asarray(true_masks).astype(float) > 0.5
    b = np.asarray(prob_maps) > 0.5
    return float((a & b).sum() / (a | b).sum())


def jaccard_not_strict(true_masks, prob_maps):
    return mean_jaccard(true_masks, [np.where(np.asarray(p) == 0.5, 0.6, p) for p in prob_maps])


def jaccard_empty_is_zero(true_masks, prob_maps):
    values = []
    for truth, prob in zip(true_masks, prob_maps):
        a, b = np.asarray(truth).astype(float) > 0.5, np.asarray(prob) > 0.5
        union = (a | b).sum()
        values.append((a & b).sum() / union if union else 0.0)
    return float(np.mean(values))


def dice_instead(true_masks, prob_maps):
    values = []
    for truth, prob in zip(true_masks, prob_maps):
        a, b = np.asarray(truth).astype(float) > 0.5, np.asarray(prob) > 0.5
        total = a.sum() + b.sum()
        values.append(2 * (a & b).sum() / total if total else 1.0)
    return float(np.mean(values))


def fuse_then_threshold_then_resize(prob_maps, weights, sizes):
    return [(m > 0.5).astype(float) for m in fuse_at_original_size(prob_maps, weights, sizes)]


def fuse_resize_nearest(prob_maps, weights, sizes):
    import tensorflow as tf

    fused = fuse([np.asarray(p).reshape(np.shape(p)[:3]) for p in prob_maps], weights)
    return [tf.image.resize(m[..., None], size, method="nearest").numpy()[..., 0]
            for m, size in zip(fused, sizes)]


def fuse_maps_size_swapped(prob_maps, weights, sizes):
    return fuse_at_original_size(prob_maps, weights, [(w, h) for h, w in sizes])


def fuse_maps_equal_weights(prob_maps, weights, sizes):
    return fuse_at_original_size(prob_maps, [1] * len(prob_maps), sizes)


def fuse_maps_not_resized(prob_maps, weights, sizes):
    return list(fuse([np.asarray(p).reshape(np.shape(p)[:3]) for p in prob_maps], weights))


def se_sp_not_strict(y_true, y_score, threshold):
    return sensitivity_specificity(y_true, np.asarray(y_score) + 1e-12, threshold)


def se_sp_swapped(y_true, y_score, threshold):
    se, sp = sensitivity_specificity(y_true, y_score, threshold)
    return sp, se


def se_sp_over_all_images(y_true, y_score, threshold):
    y_true = np.asarray(y_true).astype(bool)
    called = np.asarray(y_score) > threshold
    return float((called & y_true).sum() / len(y_true)), float((~called & ~y_true).sum()
                                                                / len(y_true))


def se_precision(y_true, y_score, threshold):
    y_true = np.asarray(y_true).astype(bool)
    called = np.asarray(y_score) > threshold
    precision = (called & y_true).sum() / called.sum() if called.any() else 1.0
    return float(precision), sensitivity_specificity(y_true, y_score, threshold)[1]


def se_sp_no_melanoma_nan(y_true, y_score, threshold):
    y_true = np.asarray(y_true).astype(bool)
    called = np.asarray(y_score) > threshold
    with np.errstate(invalid="ignore", divide="ignore"):
        return (float((called & y_true).sum() / y_true.sum()),
                float((~called & ~y_true).sum() / (~y_true).sum()))


def threshold_kth_score(y_true, y_score, target):
    y_true, y_score = np.asarray(y_true).astype(bool), np.asarray(y_score, dtype=float)
    melanoma = np.sort(y_score[y_true])[::-1]
    return float(melanoma[math.ceil(target * len(melanoma)) - 1])


def threshold_floor(y_true, y_score, target):
    y_true, y_score = np.asarray(y_true).astype(bool), np.asarray(y_score, dtype=float)
    melanoma = np.sort(y_score[y_true])[::-1]
    s = melanoma[max(int(target * len(melanoma)), 1) - 1]
    below = y_score[y_score < s]
    return float((s + below.max()) / 2) if below.size else float(np.nextafter(s, -np.inf))


def threshold_next_melanoma(y_true, y_score, target):
    y_true, y_score = np.asarray(y_true).astype(bool), np.asarray(y_score, dtype=float)
    melanoma = np.sort(y_score[y_true])[::-1]
    k = math.ceil(target * len(melanoma) - 1e-9)
    s = melanoma[k - 1]
    below = melanoma[k:]
    return float((s + below.max()) / 2) if below.size else float(np.nextafter(s, -np.inf))


def threshold_all_scores(y_true, y_score, target):
    y_score = np.asarray(y_score, dtype=float)
    ranked = np.sort(y_score)[::-1]
    s = ranked[math.ceil(target * len(ranked) - 1e-9) - 1]
    below = y_score[y_score < s]
    return float((s + below.max()) / 2) if below.size else float(np.nextafter(s, -np.inf))


def threshold_next_benign(y_true, y_score, target):
    y_true, y_score = np.asarray(y_true).astype(bool), np.asarray(y_score, dtype=float)
    melanoma = np.sort(y_score[y_true])[::-1]
    s = melanoma[math.ceil(target * len(melanoma) - 1e-9) - 1]
    below = y_score[~y_true & (y_score < s)]
    return float((s + below.max()) / 2) if below.size else float(np.nextafter(s, -np.inf))


def threshold_ceil_without_care(y_true, y_score, target):
    y_true, y_score = np.asarray(y_true).astype(bool), np.asarray(y_score, dtype=float)
    melanoma = np.sort(y_score[y_true])[::-1]
    s = melanoma[math.ceil(target * len(melanoma)) - 1]
    below = y_score[y_score < s]
    return float((s + below.max()) / 2) if below.size else float(np.nextafter(s, -np.inf))


def threshold_sorted_ascending(y_true, y_score, target):
    y_true, y_score = np.asarray(y_true).astype(bool), np.asarray(y_score, dtype=float)
    melanoma = np.sort(y_score[y_true])
    s = melanoma[math.ceil(target * len(melanoma) - 1e-9) - 1]
    below = y_score[y_score < s]
    return float((s + below.max()) / 2) if below.size else float(np.nextafter(s, -np.inf))


WRONG_ANSWERS = {
    "7.1": [fuse_unnormalised, fuse_plain_mean, fuse_weights_reversed, fuse_in_place],
    "7.2": [pick_first_best, pick_weight_of_b, pick_coarse_grid, pick_minimum,
            pick_ties_to_larger],
    "7.3": [jaccard_truth_equals_one, jaccard_truth_over_128, jaccard_pooled, jaccard_not_strict,
            jaccard_empty_is_zero, dice_instead],
    "7.4": [fuse_then_threshold_then_resize, fuse_resize_nearest, fuse_maps_size_swapped,
            fuse_maps_equal_weights, fuse_maps_not_resized],
    "7.5": [se_sp_not_strict, se_sp_swapped, se_sp_over_all_images, se_precision,
            se_sp_no_melanoma_nan],
    "7.6": [threshold_kth_score, threshold_floor, threshold_next_melanoma, threshold_all_scores,
            threshold_sorted_ascending, threshold_next_benign, threshold_ceil_without_care],
}


# --------------------------------------------------------------------------- the tests
REFERENCES = {"7.1": fusion.weighted_average, "7.2": fusion.search_weight,
              "7.3": fusion.mean_jaccard, "7.4": fusion.fuse_at_original_size,
              "7.5": fusion.sensitivity_specificity, "7.6": fusion.threshold_for_sensitivity}


def test_weight_search_uses_an_injected_fuse():
    calls = []

    def spy(probabilities, weights):
        calls.append(tuple(weights))
        return fusion.weighted_average(probabilities, weights)

    a, b, y = np.array([0.9, 0.1, 0.8]), np.array([0.2, 0.7, 0.6]), np.array([1, 0, 1])
    metric = fusion.classification_metric("AUC")
    assert fusion.search_weight(a, b, y, metric, fuse=spy) == fusion.search_weight(a, b, y, metric)
    assert len(calls) == len(fusion.DEFAULT_GRID)
