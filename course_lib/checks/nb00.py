"""Checks for the exercises of 00_setup_and_metrics.

Expected values are computed by hand (each case's comment shows the counts) or by a few lines
written out here, so these checks do not depend on course_lib.metrics. Masks are tested in every
encoding the course meets: uint8 0/255 (the ISIC PNGs; lesion means > 128, with 128 and 129 on
both sides of the rule), float 0/1 and probabilities (lesion means > 0.5) and bool.
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


def _lesion(mask):
    """The official binarisation, written out here so the checks do not use course_lib.metrics."""
    mask = np.asarray(mask)
    if mask.dtype == bool:
        return mask
    return mask > (128 if np.issubdtype(mask.dtype, np.integer) else 0.5)


def _show(mask) -> str:
    array = np.asarray(mask)
    rows = array.astype(int) if array.dtype == bool else array
    return f"{rows.tolist()} ({array.dtype})"


@register("0.1", title="per-image Jaccard",
          hint="binarise both masks the official way first (integer 0/255 masks: lesion where "
               "> 128; float masks: lesion where > 0.5; boolean masks as they are), then "
               "JA = TP / (TP + FP + FN) over pixels; when both masks are empty the answer is 1.0")
def check_jaccard(jaccard):
    f32 = np.float32
    cases = [
        # 0/255 PNG masks: TP=1 (top-left), FP=0, FN=1 -> 1 / 2
        ("two 2x2 uint8 masks of 0/255", *_masks([[255, 255], [0, 0]], [[255, 0], [0, 0]]), 0.5),
        # TP=1, FP=2, FN=1 -> 1 / 4 (Dice would give 2/5 = 0.4)
        ("two 2x3 uint8 masks of 0/255",
         *_masks([[255, 255, 0], [0, 0, 0]], [[0, 255, 255], [0, 0, 255]]), 0.25),
        # the official rule is > 128: 129 is lesion, 128 is not -> truth {0, 1}, pred {0}: 1 / 2
        ("uint8 masks with values 200, 129, 128 (lesion means > 128)",
         *_masks([[200, 129, 128]], [[255, 128, 0]]), 0.5),
        # 0/1 float masks (a model's thresholded output): TP=1, FP=2, FN=1 -> 1 / 4
        ("two 2x3 float masks of 0/1",
         *_masks([[1, 1, 0], [0, 0, 0]], [[0, 1, 1], [0, 0, 1]], dtype=f32), 0.25),
        # probabilities: lesion where > 0.5, so 0.5 and 0.3 are background -> TP=1 FP=1 FN=1
        ("a 0/1 float truth and a float prediction of probabilities 0.9, 0.5, 0.3, 0.7",
         *_masks([[1, 1, 0, 0]], [[0.9, 0.5, 0.3, 0.7]], dtype=f32), 1 / 3),
        # identical non-empty masks -> 1
        ("identical uint8 masks",
         *_masks([[0, 255, 255], [0, 255, 0]], [[0, 255, 255], [0, 255, 0]]), 1.0),
        # no overlap: TP=0, FP=2, FN=2 -> 0
        ("disjoint uint8 masks", *_masks([[255, 255], [0, 0]], [[0, 0], [255, 255]]), 0.0),
        # empty ground truth, one predicted pixel: TP=0, FP=1, FN=0 -> 0
        ("an empty uint8 truth and a one-pixel prediction",
         *_masks([[0, 0], [0, 0]], [[0, 255], [0, 0]]), 0.0),
        # boolean masks: TP=2, FP=1, FN=0 -> 2 / 3
        ("boolean masks", *_masks([[True, True, False]], [[True, True, True]], dtype=bool),
         2 / 3),
        ("two empty uint8 masks", *_masks([[0, 0, 0]] * 3, [[0, 0, 0]] * 3), 1.0),
        ("two empty float masks", *_masks([[0.0, 0.2]], [[0.4, 0.0]], dtype=f32), 1.0),
    ]
    for description, true_mask, pred_mask, expected in cases:
        what = (f"jaccard(true_mask, pred_mask) on {description}, true_mask = "
                f"{_show(true_mask)}, pred_mask = {_show(pred_mask)},")
        expect_close(_call_unchanged(jaccard, what, true_mask, pred_mask), expected, what)
    return (f"{len(cases)} hand-computed cases match: 0/255 uint8, 0/1 and probability float, "
            "boolean masks, and both masks empty → 1.0")


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


# --------------------------------------------------------------------------- 0.3 baseline
def _test_image(height, width, lesion, bluish=None, seed=0):
    """A uint8 image: skin whose brightness rises from 170 to 230 across the columns, a dark
    lesion block (mean brightness ~53) and optionally a bluish skin block (red channel low, but
    bright on average). Returns the image and the lesion's boolean map."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), dtype=np.float64)
    ramp = np.linspace(170, 230, width)
    image[...] = ramp[None, :, None] + np.array([20.0, 0.0, -20.0])   # warm skin, mean = ramp
    if bluish is not None:
        image[bluish] = [60, 230, 250]                                 # mean 180, red only 60
    image[lesion] = [90, 40, 30]                                       # mean 53
    image += rng.integers(-3, 4, image.shape)
    truth = np.zeros((height, width), bool)
    truth[lesion] = True
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), truth


def _where(mask_bool) -> str:
    rows, cols = np.nonzero(mask_bool)
    pixels = [f"({r}, {c})" for r, c in zip(rows[:3].tolist(), cols[:3].tolist())]
    return ", ".join(pixels) + (" ..." if rows.size > 3 else "")


@register("0.3", title="threshold baseline",
          hint="grey = the mean of the three channels; start at t = grey.mean() and REPEAT "
               "t = (mean of grey < t + mean of grey >= t) / 2 until t moves by less than 0.5 "
               "(stop early when one side is empty); lesion = grey < t, returned as uint8 0/255")
def check_threshold_segmentation(threshold_segmentation):
    cases = [
        ("an 8x10 image with a dark 3x3 lesion",
         *_test_image(8, 10, (slice(2, 5), slice(3, 6)), seed=1)),
        ("a 9x9 image with a dark 3x4 lesion and a bluish skin patch (red channel 60)",
         *_test_image(9, 9, (slice(5, 8), slice(1, 5)), bluish=(slice(0, 3), slice(5, 9)),
                      seed=2)),
        ("a 6x6 image whose lesion covers 20 of 36 pixels",
         *_test_image(6, 6, (slice(0, 4), slice(0, 5)), seed=3)),
    ]
    constant = np.full((4, 5, 3), 120, np.uint8)
    cases.append(("a constant 4x5 image (every pixel 120)", constant, np.zeros((4, 5), bool)))
    for description, image, truth in cases:
        what = f"threshold_segmentation(image) on {description}"
        result = _call_unchanged(threshold_segmentation, what, image)
        if not isinstance(result, np.ndarray):
            raise CheckFailed(f"{what} returned {describe(result)}, expected a uint8 mask of "
                              f"shape {truth.shape}")
        if result.shape != truth.shape:
            raise CheckFailed(f"{what} returned a mask of shape {result.shape}, expected "
                              f"{truth.shape} (one value per pixel, no channel axis)")
        if result.dtype != np.uint8 or not np.isin(result, (0, 255)).all():
            values = np.unique(result)[:4].tolist()
            raise CheckFailed(f"{what} returned dtype {result.dtype} with values {values}, "
                              "expected uint8 with 255 = lesion and 0 = skin, like the ISIC PNGs")
        found = result == 255
        if not np.array_equal(found, truth):
            extra, missed = found & ~truth, truth & ~found
            detail = []
            if extra.any():
                detail.append(f"{int(extra.sum())} skin pixel(s) marked lesion, e.g. at "
                              f"{_where(extra)}")
            if missed.any():
                detail.append(f"{int(missed.sum())} lesion pixel(s) missed, e.g. at "
                              f"{_where(missed)}")
            raise CheckFailed(f"{what} marked {int(found.sum())} pixels, expected exactly the "
                              f"{int(truth.sum())} lesion pixels: " + "; ".join(detail))
    return (f"{len(cases)} images: the iterated threshold finds exactly the dark lesion, "
            "including a bluish skin patch and a constant image")


# --------------------------------------------------------------------------- 0.4 one image
_KEYS = ("AC", "DC", "JA", "SE", "SP")


def _grid(shape, pixels, value=255, dtype=np.uint8):
    mask = np.zeros(shape, dtype)
    for row, col in pixels:
        mask[row, col] = value
    return mask


def _counts_metrics(tp, fp, fn, tn):
    def ratio(a, b):
        return 1.0 if b == 0 else a / b
    return {"AC": ratio(tp + tn, tp + fp + fn + tn), "DC": ratio(2 * tp, 2 * tp + fp + fn),
            "JA": ratio(tp, tp + fp + fn), "SE": ratio(tp, tp + fn), "SP": ratio(tn, tn + fp)}


def _expect_scores(result, expected, what):
    if not isinstance(result, dict):
        raise CheckFailed(f"{what} returned {describe(result)}, expected a dict with the keys "
                          f"{', '.join(expected)}")
    missing = [key for key in expected if key not in result]
    if missing:
        raise CheckFailed(f"{what} returned a dict with the keys {sorted(result)}, missing "
                          f"{', '.join(missing)}")
    for key, value in expected.items():
        expect_close(result[key], value, f"{what}: result[{key!r}]")


@register("0.4", title="the five metrics of one image",
          hint="binarise both masks as in 0.1, count TP, FP, FN, TN, then AC = (TP+TN)/all, "
               "DC = 2TP/(2TP+FP+FN), JA = TP/(TP+FP+FN), SE = TP/(TP+FN), SP = TN/(TN+FP); "
               "a zero denominator gives 1.0; the first argument is the TRUTH")
def check_image_scores(image_scores):
    truth_a = _grid((4, 4), [(0, 0), (0, 1), (1, 0), (1, 1)])            # 4 lesion pixels
    pred_a = _grid((4, 4), [(0, 0), (0, 1), (1, 0), (2, 2), (3, 3)])     # 3 found, 2 extra
    cases = [
        ("4x4 uint8 0/255 masks with TP=3, FP=2, FN=1, TN=10", truth_a, pred_a, (3, 2, 1, 10)),
        ("an empty 3x3 uint8 truth and a prediction of 2 pixels (TP=0, FP=2, FN=0, TN=7)",
         np.zeros((3, 3), np.uint8), _grid((3, 3), [(0, 0), (2, 1)]), (0, 2, 0, 7)),
        ("a 2x2 float truth that is all lesion and probabilities [[0.9, 0.2], [0.6, 0.5]] "
         "(TP=2, FP=0, FN=2, TN=0)", np.ones((2, 2), np.float32),
         np.array([[0.9, 0.2], [0.6, 0.5]], np.float32), (2, 0, 2, 0)),
        ("two empty 2x3 float masks", np.zeros((2, 3), np.float32),
         np.zeros((2, 3), np.float32), (0, 0, 0, 6)),
        ("boolean masks [[True, False, True]] vs [[True, True, False]] (TP=1, FP=1, FN=1, TN=0)",
         np.array([[True, False, True]]), np.array([[True, True, False]]), (1, 1, 1, 0)),
    ]
    for description, truth, prediction, counts in cases:
        what = f"image_scores(true_mask, pred_mask) on {description}"
        result = _call_unchanged(image_scores, what, truth, prediction)
        _expect_scores(result, _counts_metrics(*counts), what)
    return (f"{len(cases)} hand-counted images match on AC, DC, JA, SE and SP, including empty "
            "denominators → 1.0")


# --------------------------------------------------------------------------- 0.5 aggregation
@register("0.5", title="the challenge's per-image average",
          hint="call score_image(true_mask, pred_mask) once per image, in that argument order, "
               "and return, for every key of its result, the plain mean over the images; do not "
               "pool pixels and do not stack masks (images may differ in size)")
def check_challenge_scores(challenge_scores):
    def score_image(truth, prediction):          # a correct per-image scorer, written out
        t, p = _lesion(truth), _lesion(prediction)
        tp, fp, fn = int(np.sum(t & p)), int(np.sum(~t & p)), int(np.sum(t & ~p))
        return _counts_metrics(tp, fp, fn, t.size - tp - fp - fn)

    big_truth = np.zeros((12, 12), np.uint8); big_truth[1:11, 1:11] = 255      # 100 px lesion
    big_pred = np.zeros((12, 12), np.uint8); big_pred[1:11, 2:12] = 255        # shifted by one
    small_truth = np.zeros((6, 8), np.uint8); small_truth[2:4, 2:4] = 255      # 4 px lesion
    small_pred = np.zeros((6, 8), np.uint8); small_pred[2:4, 3:6] = 255        # 2 found, 4 extra
    empty = np.zeros((5, 5), np.uint8)
    third_pred = empty.copy(); third_pred[0, 0] = 255
    truths, predictions = [big_truth, small_truth, empty], [big_pred, small_pred, third_pred]
    per_image = [score_image(t, p) for t, p in zip(truths, predictions)]
    expected = {key: float(np.mean([s[key] for s in per_image])) for key in _KEYS}
    what = ("challenge_scores(true_masks, pred_masks, score_image) on three images of "
            "different sizes (12x12, 6x8, 5x5)")
    calls = []

    def spy(truth, prediction):
        calls.append(None)
        return score_image(truth, prediction)

    _expect_scores(challenge_scores(truths, predictions, spy), expected, what)
    expect_true(len(calls) >= 3, f"{what} called score_image {len(calls)} times; call it for "
                                 "every image (3 times here)")
    # a stacked array of equal-size masks, and a scorer with other keys: use what it returns
    stack_t = np.stack([big_truth, big_pred, np.zeros_like(big_truth)])
    stack_p = np.stack([big_pred, big_pred, big_pred])

    def lesion_sizes(truth, prediction):
        return {"true pixels": float(_lesion(truth).sum()),
                "predicted pixels": float(_lesion(prediction).sum())}

    what = ("challenge_scores(true_masks, pred_masks, score_image) on arrays of shape "
            "(3, 12, 12) with a score_image returning {'true pixels': ..., 'predicted pixels': ...}")
    result = challenge_scores(stack_t, stack_p, lesion_sizes)
    if not isinstance(result, dict) or set(result) != {"true pixels", "predicted pixels"}:
        raise CheckFailed(f"{what} returned {describe(result) if not isinstance(result, dict) else 'the keys ' + str(sorted(result))}, "
                          "expected the keys that score_image returns: ['predicted pixels', "
                          "'true pixels']; average whatever score_image gives, for every key")
    expect_close(result["true pixels"], 200 / 3, f"{what}['true pixels']")
    expect_close(result["predicted pixels"], 100.0, f"{what}['predicted pixels']")
    return ("the per-image mean of score_image's results over images of different sizes, "
            "and over a stacked array with other keys")
