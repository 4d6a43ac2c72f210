"""Exercises of 00_setup_and_metrics: a right answer per exercise passes its check, plausible
wrong answers (the mistakes students make) are rejected, stubs report "not implemented", and the
library references in course_lib.metrics pass the same checks."""
from __future__ import annotations


import numpy as np
import pytest
from exercise_probe import rejected

from course_lib import metrics


# --------------------------------------------------------------------------- helpers
def lesion(mask):
    mask = np.asarray(mask)
    if mask.dtype == bool:
        return mask
    if np.issubdtype(mask.dtype, np.integer):
        return mask > 128
    return mask > 0.5


def counts(true_mask, pred_mask):
    t, p = lesion(true_mask), lesion(pred_mask)
    tp, fp, fn = np.sum(t & p), np.sum(~t & p), np.sum(t & ~p)
    return tp, fp, fn, t.size - tp - fp - fn


def ratio(a, b):
    return 1.0 if b == 0 else float(a / b)


# --------------------------------------------------------------------------- 0.1 jaccard
def jaccard(true_mask, pred_mask):
    tp, fp, fn, _ = counts(true_mask, pred_mask)
    return ratio(tp, tp + fp + fn)


def jaccard_equals_one(true_mask, pred_mask):      # the known bug: 0/255 masks are never == 1
    t, p = np.asarray(true_mask) == 1, np.asarray(pred_mask) == 1
    union = np.sum(t | p)
    return 1.0 if union == 0 else float(np.sum(t & p) / union)


def jaccard_astype_bool(true_mask, pred_mask):     # any non-zero value counts as lesion
    t, p = np.asarray(true_mask).astype(bool), np.asarray(pred_mask).astype(bool)
    union = np.sum(t | p)
    return 1.0 if union == 0 else float(np.sum(t & p) / union)


def jaccard_128_for_all(true_mask, pred_mask):     # the uint8 rule applied to float masks too
    t, p = np.asarray(true_mask) > 128, np.asarray(pred_mask) > 128
    union = np.sum(t | p)
    return 1.0 if union == 0 else float(np.sum(t & p) / union)


def jaccard_ge_128(true_mask, pred_mask):          # >= 128 / >= 0.5: the boundary is wrong
    def binary(mask):
        mask = np.asarray(mask)
        if mask.dtype == bool:
            return mask
        return mask >= (128 if np.issubdtype(mask.dtype, np.integer) else 0.5)
    t, p = binary(true_mask), binary(pred_mask)
    union = np.sum(t | p)
    return 1.0 if union == 0 else float(np.sum(t & p) / union)


def jaccard_dice(true_mask, pred_mask):
    tp, fp, fn, _ = counts(true_mask, pred_mask)
    return ratio(2 * tp, 2 * tp + fp + fn)


def jaccard_empty_zero(true_mask, pred_mask):
    tp, fp, fn, _ = counts(true_mask, pred_mask)
    return 0.0 if tp + fp + fn == 0 else float(tp / (tp + fp + fn))


# --------------------------------------------------------------------------- 0.2 SE, SP
def sensitivity_specificity(y_true, y_score, threshold=0.5):
    truth, predicted = np.asarray(y_true) > 0.5, np.asarray(y_score) > threshold
    return (ratio(np.sum(truth & predicted), np.sum(truth)),
            ratio(np.sum(~truth & ~predicted), np.sum(~truth)))


def se_sp_greater_equal(y_true, y_score, threshold=0.5):
    truth, predicted = np.asarray(y_true) > 0.5, np.asarray(y_score) >= threshold
    return (ratio(np.sum(truth & predicted), np.sum(truth)),
            ratio(np.sum(~truth & ~predicted), np.sum(~truth)))


def se_sp_swapped(y_true, y_score, threshold=0.5):
    se, sp = sensitivity_specificity(y_true, y_score, threshold)
    return sp, se


def se_sp_fixed_threshold(y_true, y_score, threshold=0.5):
    return sensitivity_specificity(y_true, y_score, 0.5)


def se_sp_precision(y_true, y_score, threshold=0.5):  # TP / (TP + FP) instead of TP / (TP + FN)
    truth, predicted = np.asarray(y_true) > 0.5, np.asarray(y_score) > threshold
    return (ratio(np.sum(truth & predicted), np.sum(predicted)),
            ratio(np.sum(~truth & ~predicted), np.sum(~truth)))


# --------------------------------------------------------------------------- 0.3 threshold
def threshold_segmentation(image):
    grey = np.asarray(image, dtype=float).mean(axis=2)
    t = grey.mean()
    while True:
        low, high = grey[grey < t], grey[grey >= t]
        if not low.size or not high.size:
            break
        new_t = 0.5 * (low.mean() + high.mean())
        done = abs(new_t - t) < 0.5
        t = new_t
        if done:
            break
    return ((grey < t) * 255).astype(np.uint8)


def threshold_one_step(image):
    grey = np.asarray(image, dtype=float).mean(axis=2)
    t = grey.mean()
    t = 0.5 * (grey[grey < t].mean() + grey[grey >= t].mean())
    return ((grey < t) * 255).astype(np.uint8)


def threshold_inverted(image):
    return (255 - threshold_segmentation(image)).astype(np.uint8)


def threshold_red_channel(image):
    return threshold_segmentation(np.repeat(np.asarray(image)[..., :1], 3, axis=2))


def threshold_zero_one(image):
    return (threshold_segmentation(image) // 255).astype(np.uint8)


def threshold_at_mean(image):
    grey = np.asarray(image, dtype=float).mean(axis=2)
    return ((grey < grey.mean()) * 255).astype(np.uint8)


# --------------------------------------------------------------------------- 0.4 image scores
def image_scores(true_mask, pred_mask):
    tp, fp, fn, tn = counts(true_mask, pred_mask)
    return {"AC": ratio(tp + tn, tp + fp + fn + tn), "DC": ratio(2 * tp, 2 * tp + fp + fn),
            "JA": ratio(tp, tp + fp + fn), "SE": ratio(tp, tp + fn), "SP": ratio(tn, tn + fp)}


def scores_arguments_swapped(true_mask, pred_mask):
    return image_scores(pred_mask, true_mask)


def scores_se_sp_swapped(true_mask, pred_mask):
    scores = image_scores(true_mask, pred_mask)
    scores["SE"], scores["SP"] = scores["SP"], scores["SE"]
    return scores


def scores_empty_zero(true_mask, pred_mask):
    tp, fp, fn, tn = counts(true_mask, pred_mask)

    def safe(a, b):
        return 0.0 if b == 0 else float(a / b)
    return {"AC": safe(tp + tn, tp + fp + fn + tn), "DC": safe(2 * tp, 2 * tp + fp + fn),
            "JA": safe(tp, tp + fp + fn), "SE": safe(tp, tp + fn), "SP": safe(tn, tn + fp)}


def scores_dice_wrong(true_mask, pred_mask):        # DC = 2 TP / (TP + FP + FN)
    scores = image_scores(true_mask, pred_mask)
    tp, fp, fn, _ = counts(true_mask, pred_mask)
    scores["DC"] = ratio(2 * tp, tp + fp + fn)
    return scores


def scores_astype_bool(true_mask, pred_mask):
    return image_scores(np.asarray(true_mask).astype(bool), np.asarray(pred_mask).astype(bool))


# --------------------------------------------------------------------------- 0.5 aggregation
def challenge_scores(true_masks, pred_masks, score_image):
    per_image = [score_image(t, p) for t, p in zip(true_masks, pred_masks)]
    return {key: float(np.mean([s[key] for s in per_image])) for key in per_image[0]}


def challenge_pooled(true_masks, pred_masks, score_image):
    totals = np.sum([counts(t, p) for t, p in zip(true_masks, pred_masks)], axis=0)
    tp, fp, fn, tn = totals
    return {"AC": ratio(tp + tn, totals.sum()), "DC": ratio(2 * tp, 2 * tp + fp + fn),
            "JA": ratio(tp, tp + fp + fn), "SE": ratio(tp, tp + fn), "SP": ratio(tn, tn + fp)}


def challenge_median(true_masks, pred_masks, score_image):
    per_image = [score_image(t, p) for t, p in zip(true_masks, pred_masks)]
    return {key: float(np.median([s[key] for s in per_image])) for key in per_image[0]}


def challenge_swapped(true_masks, pred_masks, score_image):
    return challenge_scores(pred_masks, true_masks, score_image)


def challenge_size_weighted(true_masks, pred_masks, score_image):
    per_image = [score_image(t, p) for t, p in zip(true_masks, pred_masks)]
    weights = [np.asarray(t).size for t in true_masks]
    return {key: float(np.average([s[key] for s in per_image], weights=weights))
            for key in per_image[0]}


def challenge_fixed_keys(true_masks, pred_masks, score_image):
    per_image = [score_image(t, p) for t, p in zip(true_masks, pred_masks)]
    return {key: float(np.mean([s[key] for s in per_image])) for key in metrics.SEGMENTATION_METRICS}


# --------------------------------------------------------------------------- tables
RIGHT_ANSWERS = {
    "0.1": jaccard,
    "0.2": sensitivity_specificity,
    "0.3": threshold_segmentation,
    "0.4": image_scores,
    "0.5": challenge_scores,
}

WRONG_ANSWERS = {
    "0.1": [jaccard_equals_one, jaccard_astype_bool, jaccard_128_for_all, jaccard_ge_128,
            jaccard_dice, jaccard_empty_zero],
    "0.2": [se_sp_greater_equal, se_sp_swapped, se_sp_fixed_threshold, se_sp_precision],
    "0.3": [threshold_one_step, threshold_inverted, threshold_red_channel, threshold_zero_one,
            threshold_at_mean],
    "0.4": [scores_arguments_swapped, scores_se_sp_swapped, scores_empty_zero, scores_dice_wrong,
            scores_astype_bool],
    "0.5": [challenge_pooled, challenge_median, challenge_swapped, challenge_size_weighted,
            challenge_fixed_keys],
}

REFERENCES = {
    "0.1": metrics.jaccard,
    "0.2": metrics.sensitivity_specificity,
    "0.3": metrics.threshold_segmentation,
    "0.4": metrics.image_scores,
    "0.5": metrics.challenge_scores,
}


def test_the_known_equals_one_bug_is_named():
    message = rejected("0.1", jaccard_equals_one)
    assert "0/255" in message and "returned 1, expected 0.5" in message


def test_references_agree_with_the_course_metrics():
    rng = np.random.default_rng(0)
    truths = [(rng.random((9, 11)) < 0.4).astype(np.uint8) * 255 for _ in range(4)]
    preds = [(rng.random((9, 11)) < 0.5).astype(np.uint8) * 255 for _ in range(4)]
    official = metrics.segmentation_scores(truths, preds)
    for fn in (metrics.challenge_scores, lambda t, p: challenge_scores(t, p, image_scores)):
        ours = fn(truths, preds) if fn is metrics.challenge_scores else fn(truths, preds)
        assert ours == pytest.approx(official)
    assert [metrics.jaccard(t, p) for t, p in zip(truths, preds)] == pytest.approx(
        metrics.segmentation_scores_per_image(truths, preds)["JA"])
    y, s = np.array([1, 0, 1, 0, 0]), np.array([0.9, 0.5, 0.5, 0.2, 0.7])
    scores = metrics.classification_scores(y, s)
    assert metrics.sensitivity_specificity(y, s) == pytest.approx((scores["SE"], scores["SP"]))


def test_threshold_segmentation_finds_a_dark_square():
    image = np.full((20, 20, 3), 200, np.uint8)
    image[5:10, 5:12] = 40
    mask = metrics.threshold_segmentation(image)
    assert mask.dtype == np.uint8 and mask.shape == (20, 20)
    assert np.array_equal(mask == 255, image[..., 0] == 40)
    assert not metrics.threshold_segmentation(np.full((4, 4, 3), 9, np.uint8)).any()
    with pytest.raises(ValueError, match="height, width, 3"):
        metrics.threshold_segmentation(np.zeros((4, 4)))


def test_challenge_scores_rejects_mismatched_lists():
    with pytest.raises(ValueError, match="one prediction per truth mask"):
        metrics.challenge_scores([np.zeros((2, 2), bool)], [])
