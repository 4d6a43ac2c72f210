"""course_lib.metrics: ISIC 2016 scoring on hand-worked examples."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from course_lib import metrics

# --------------------------------------------------------------------------------------------
# A 4x4 example worked out by hand (0/255 uint8, as the ISIC PNGs are)
#
#   truth            prediction        cell by cell
#   . . . .          . . . .           TN TN TN TN
#   . X X .          . X X X           TN TP TP FP
#   . X X .          . X . .           TN TP FN TN
#   . . . .          . . . .           TN TN TN TN
#
#   TP = 3, FP = 1, FN = 1, TN = 16 - 5 = 11
#   JA = 3 / (3 + 1 + 1) = 0.6        DC = 2*3 / (2*3 + 1 + 1) = 6/8 = 0.75
#   SE = 3 / (3 + 1) = 0.75           SP = 11 / (11 + 1) = 11/12
#   AC = (3 + 11) / 16 = 0.875
# --------------------------------------------------------------------------------------------
TRUTH_4x4 = np.array([[0, 0, 0, 0],
                      [0, 255, 255, 0],
                      [0, 255, 255, 0],
                      [0, 0, 0, 0]], dtype=np.uint8)
PRED_4x4 = np.array([[0, 0, 0, 0],
                     [0, 255, 255, 255],
                     [0, 255, 0, 0],
                     [0, 0, 0, 0]], dtype=np.uint8)
HAND_4x4 = {"AC": 14 / 16, "DC": 0.75, "JA": 0.6, "SE": 0.75, "SP": 11 / 12}


def test_confusion_counts_by_hand():
    assert metrics.confusion_counts(TRUTH_4x4, PRED_4x4) == (3, 1, 1, 11)
    counts = metrics.confusion_counts(TRUTH_4x4, PRED_4x4)
    assert all(type(c) is int for c in counts)


def test_segmentation_scores_4x4_by_hand():
    scores = metrics.segmentation_scores([TRUTH_4x4], [PRED_4x4])
    assert set(scores) == {"AC", "DC", "JA", "SE", "SP"}
    for key, expected in HAND_4x4.items():
        assert scores[key] == pytest.approx(expected), key
        assert isinstance(scores[key], float)


def test_same_result_for_bool_and_float_versions_of_the_masks():
    as_bool = metrics.segmentation_scores([TRUTH_4x4 > 0], [PRED_4x4 > 0])
    as_float = metrics.segmentation_scores([TRUTH_4x4 / 255.0], [PRED_4x4 / 255.0])
    stacked = metrics.segmentation_scores(TRUTH_4x4[None, ..., None], PRED_4x4[None])
    for key, expected in HAND_4x4.items():
        assert as_bool[key] == pytest.approx(expected)
        assert as_float[key] == pytest.approx(expected)
        assert stacked[key] == pytest.approx(expected)


# --------------------------------------------------------------------------------------------
# Per image vs pooled: one big lesion segmented perfectly + one tiny lesion missed
#
#   image A: 20x20, truth = 10x10 block (100 px), prediction identical
#            TP 100, FP 0, FN 0, TN 300 -> JA 1, DC 1, SE 1, SP 1, AC 1
#   image B: 4x4, truth = 1 pixel, prediction empty
#            TP 0, FP 0, FN 1, TN 15   -> JA 0, DC 0, SE 0, SP 1, AC 15/16
#   per image (official): JA = (1 + 0)/2 = 0.5, DC 0.5, SE 0.5, SP 1, AC (1 + 15/16)/2
#   pooled: TP 100, FP 0, FN 1, TN 315 -> JA = 100/101, DC = 200/201, SE = 100/101,
#           SP 1, AC = 415/416
# --------------------------------------------------------------------------------------------
def _big_and_tiny():
    truth_a = np.zeros((20, 20), np.uint8)
    truth_a[5:15, 5:15] = 255
    truth_b = np.zeros((4, 4), np.uint8)
    truth_b[2, 1] = 255
    return [truth_a, truth_b], [truth_a.copy(), np.zeros((4, 4), np.uint8)]


def test_per_image_mean_differs_from_pooled():
    truths, predictions = _big_and_tiny()
    official = metrics.segmentation_scores(truths, predictions)
    pooled = metrics.segmentation_scores(truths, predictions, pooled=True)
    assert official["JA"] == pytest.approx(0.5)
    assert official["DC"] == pytest.approx(0.5)
    assert official["SE"] == pytest.approx(0.5)
    assert official["SP"] == pytest.approx(1.0)
    assert official["AC"] == pytest.approx((1 + 15 / 16) / 2)
    assert pooled["JA"] == pytest.approx(100 / 101)
    assert pooled["DC"] == pytest.approx(200 / 201)
    assert pooled["SE"] == pytest.approx(100 / 101)
    assert pooled["SP"] == pytest.approx(1.0)
    assert pooled["AC"] == pytest.approx(415 / 416)
    assert pooled["JA"] > official["JA"] + 0.45


def test_per_image_arrays():
    truths, predictions = _big_and_tiny()
    per_image = metrics.segmentation_scores_per_image(truths, predictions)
    assert set(per_image) == {"AC", "DC", "JA", "SE", "SP"}
    np.testing.assert_allclose(per_image["JA"], [1.0, 0.0])
    np.testing.assert_allclose(per_image["AC"], [1.0, 15 / 16])
    assert per_image["JA"].shape == (2,)
    assert int(np.argmin(per_image["JA"])) == 1  # the "hard case"


# --------------------------------------------------------------------------------------------
# Empty denominators: the official scorer scores them 1.0
# --------------------------------------------------------------------------------------------
def test_empty_truth_and_empty_prediction_is_perfect():
    empty = np.zeros((4, 4), np.uint8)
    scores = metrics.segmentation_scores([empty], [empty])
    # TP = FP = FN = 0, TN = 16: JA, DC, SE denominators are 0 -> 1.0; SP = 16/16; AC = 16/16
    assert scores == {"AC": 1.0, "DC": 1.0, "JA": 1.0, "SE": 1.0, "SP": 1.0}


def test_empty_truth_with_false_positives():
    empty = np.zeros((4, 4), np.uint8)
    prediction = empty.copy()
    prediction[0, :2] = 255
    scores = metrics.segmentation_scores([empty], [prediction])
    # TP 0, FP 2, FN 0, TN 14: JA = 0/2 = 0, DC = 0/2 = 0, SE: no lesion pixel -> 1.0,
    # SP = 14/16, AC = 14/16
    assert scores["JA"] == 0.0
    assert scores["DC"] == 0.0
    assert scores["SE"] == 1.0
    assert scores["SP"] == pytest.approx(14 / 16)
    assert scores["AC"] == pytest.approx(14 / 16)


def test_all_lesion_truth_gives_specificity_one():
    full = np.full((4, 4), 255, np.uint8)
    prediction = full.copy()
    prediction[0, 0] = 0
    scores = metrics.segmentation_scores([full], [prediction])
    # TP 15, FP 0, FN 1, TN 0: SP denominator 0 -> 1.0; SE = 15/16; JA = 15/16; DC = 30/31
    assert scores["SP"] == 1.0
    assert scores["SE"] == pytest.approx(15 / 16)
    assert scores["JA"] == pytest.approx(15 / 16)
    assert scores["DC"] == pytest.approx(30 / 31)


# --------------------------------------------------------------------------------------------
# Against scikit-learn on flattened masks, image by image
# --------------------------------------------------------------------------------------------
def test_matches_scikit_learn_per_image():
    from sklearn.metrics import accuracy_score, f1_score, jaccard_score, recall_score

    rng = np.random.default_rng(3)
    truths, predictions = [], []
    for height, width in [(7, 9), (12, 5), (16, 16)]:
        truth = (rng.random((height, width)) < 0.4).astype(np.uint8) * 255
        prediction = rng.random((height, width))  # float probabilities
        truth[0, 0], prediction[0, 0] = 255, 0.9  # ensure a TP and non-empty masks
        truth[0, 1], prediction[0, 1] = 0, 0.1    # and a TN
        truths.append(truth)
        predictions.append(prediction)
    expected = {key: [] for key in ("AC", "DC", "JA", "SE", "SP")}
    for truth, prediction in zip(truths, predictions):
        t, p = (truth > 128).ravel(), (prediction > 0.5).ravel()
        expected["JA"].append(jaccard_score(t, p))
        expected["DC"].append(f1_score(t, p))
        expected["SE"].append(recall_score(t, p))
        expected["SP"].append(recall_score(t, p, pos_label=0))
        expected["AC"].append(accuracy_score(t, p))
    per_image = metrics.segmentation_scores_per_image(truths, predictions)
    scores = metrics.segmentation_scores(truths, predictions)
    for key, values in expected.items():
        np.testing.assert_allclose(per_image[key], values, err_msg=key)
        assert scores[key] == pytest.approx(np.mean(values)), key


# --------------------------------------------------------------------------------------------
# Binarisation rules
# --------------------------------------------------------------------------------------------
def test_binarize_uint8_threshold_is_strictly_above_128():
    out = metrics.binarize(np.array([[0, 128], [129, 255]], np.uint8))
    assert out.dtype == bool
    assert out.tolist() == [[False, False], [True, True]]


def test_binarize_other_integer_types_use_128():
    out = metrics.binarize(np.array([[128, 129], [0, 65535]], np.uint16))
    assert out.tolist() == [[False, True], [False, True]]
    out = metrics.binarize(np.array([[128, 200]], np.int64))
    assert out.tolist() == [[False, True]]


def test_binarize_float_threshold_is_strictly_above_half():
    out = metrics.binarize(np.array([[0.5, 0.5001], [0.0, 1.0]], np.float32))
    assert out.tolist() == [[False, True], [False, True]]


def test_binarize_bool_unchanged_and_channel_squeezed():
    mask = np.array([[True, False], [False, True]])
    assert metrics.binarize(mask).tolist() == mask.tolist()
    out = metrics.binarize(np.array([[[255], [0]], [[0], [255]]], np.uint8))
    assert out.shape == (2, 2)
    assert out.tolist() == mask.tolist()


def test_binarize_warns_on_zero_one_integer_mask():
    with pytest.warns(UserWarning, match="only 0 and 1"):
        out = metrics.binarize(np.array([[0, 1], [1, 1]], np.uint8))
    assert not out.any()  # the official > 128 rule: all background


@pytest.mark.parametrize("shape", [(4,), (4, 4, 3), (2, 4, 4, 1)])
def test_binarize_rejects_non_2d(shape):
    with pytest.raises(ValueError, match="2-D"):
        metrics.binarize(np.zeros(shape, np.uint8))


# --------------------------------------------------------------------------------------------
# Segmentation errors
# --------------------------------------------------------------------------------------------
def test_shape_mismatch_names_index_and_both_shapes():
    truths = [TRUTH_4x4, np.zeros((5, 6), np.uint8)]
    predictions = [PRED_4x4, np.zeros((6, 5), np.uint8)]
    with pytest.raises(ValueError) as info:
        metrics.segmentation_scores(truths, predictions)
    message = str(info.value)
    assert "index 1" in message
    assert "(5, 6)" in message and "(6, 5)" in message


def test_length_mismatch_and_empty_and_single_mask():
    with pytest.raises(ValueError, match="2 truth masks but 1"):
        metrics.segmentation_scores([TRUTH_4x4, TRUTH_4x4], [PRED_4x4])
    with pytest.raises(ValueError, match="empty"):
        metrics.segmentation_scores([], [])
    with pytest.raises(ValueError, match="single 2-D mask"):
        metrics.segmentation_scores(TRUTH_4x4, PRED_4x4)


# --------------------------------------------------------------------------------------------
# Classification, 6 samples worked out by hand
#
#   i  truth  score   > 0.5 ?   outcome
#   0    0    0.10    no        TN
#   1    0    0.60    yes       FP
#   2    1    0.35    no        FN
#   3    1    0.80    yes       TP
#   4    1    0.50    no (strict) FN   (with >= it would be a TP)
#   5    0    0.20    no        TN
#   TP 1, FP 1, FN 2, TN 2 -> AC = 3/6, SE = 1/3, SP = 2/3
#
#   AUC: positive/negative pairs ranked correctly, out of 3 x 3 = 9:
#        0.35 beats 0.10, 0.20 (2); 0.80 beats all three (3); 0.50 beats 0.10, 0.20 (2) -> 7/9
#   Ranked by score: 0.8 P, 0.6 N, 0.5 P, 0.35 P, 0.2 N, 0.1 N
#     cut after   precision  recall
#       0.80        1/1       1/3
#       0.60        1/2       1/3
#       0.50        2/3       2/3
#       0.35        3/4       3/3
#   AP (step-wise, sklearn) = sum (R_k - R_{k-1}) P_k = 1/3*1 + 0*1/2 + 1/3*2/3 + 1/3*3/4
#                           = 12/36 + 8/36 + 9/36 = 29/36
#   AP_interp (trapezoids from (R=0, P=1)) = 1/3*(1+1)/2 + 0 + 1/3*(1/2+2/3)/2 + 1/3*(2/3+3/4)/2
#                           = 24/72 + 14/72 + 17/72 = 55/72
# --------------------------------------------------------------------------------------------
Y_TRUE = [0, 0, 1, 1, 1, 0]
Y_SCORE = [0.10, 0.60, 0.35, 0.80, 0.50, 0.20]
HAND_CLASSIFICATION = {"AC": 0.5, "SE": 1 / 3, "SP": 2 / 3, "AUC": 7 / 9, "AP": 29 / 36,
                       "AP_interp": 55 / 72}


def test_classification_by_hand():
    scores = metrics.classification_scores(Y_TRUE, Y_SCORE)
    assert list(scores) == ["AC", "SE", "SP", "AUC", "AP", "AP_interp"]
    for key, expected in HAND_CLASSIFICATION.items():
        assert scores[key] == pytest.approx(expected), key
    assert scores["AP"] != pytest.approx(scores["AP_interp"])


def test_strict_threshold_score_half_is_negative():
    strict = metrics.classification_scores(Y_TRUE, Y_SCORE)
    # Lowering the threshold just below 0.5 turns sample 4 (score 0.50, melanoma) into a TP.
    loose = metrics.classification_scores(Y_TRUE, Y_SCORE, threshold=0.4999)
    assert strict["SE"] == pytest.approx(1 / 3)
    assert loose["SE"] == pytest.approx(2 / 3)
    assert loose["AC"] == pytest.approx(4 / 6)
    assert loose["AUC"] == strict["AUC"]  # threshold-free


def test_float_truth_column_and_softmax_inputs():
    as_float = metrics.classification_scores(np.array(Y_TRUE, float), Y_SCORE)
    column = metrics.classification_scores(np.array(Y_TRUE)[:, None], np.array(Y_SCORE)[:, None])
    score = np.array(Y_SCORE)
    softmax = metrics.classification_scores(Y_TRUE, np.stack([1 - score, score], axis=1))
    for key, expected in HAND_CLASSIFICATION.items():
        assert as_float[key] == pytest.approx(expected), key
        assert column[key] == pytest.approx(expected), key
        assert softmax[key] == pytest.approx(expected), key


def test_matches_scikit_learn_on_random_scores():
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    truth = (rng.random(200) < 0.2).astype(int)
    score = np.clip(0.3 * truth + 0.7 * rng.random(200), 0, 1)
    scores = metrics.classification_scores(truth, score)
    precision, recall, _ = precision_recall_curve(truth, score)
    assert scores["AUC"] == pytest.approx(roc_auc_score(truth, score))
    assert scores["AP"] == pytest.approx(average_precision_score(truth, score))
    assert scores["AP_interp"] == pytest.approx(auc(recall, precision))


def test_single_class_gives_nan_and_warning():
    with pytest.warns(UserWarning, match="only benign"):
        scores = metrics.classification_scores([0, 0, 0], [0.2, 0.7, 0.4])
    assert math.isnan(scores["AUC"]) and math.isnan(scores["AP"])
    assert math.isnan(scores["AP_interp"])
    # 0.7 > 0.5 is a false positive: AC = 2/3, SP = 2/3, SE has no melanoma -> 1.0 (official)
    assert scores["AC"] == pytest.approx(2 / 3)
    assert scores["SP"] == pytest.approx(2 / 3)
    assert scores["SE"] == 1.0


@pytest.mark.parametrize("y_true, y_score, match", [
    ([0, 1, 1], [0.2, 0.9], "3 entries but y_score has 2"),
    ([0, 1], [0.2, float("nan")], "NaN"),
    ([0, 1], np.zeros((2, 3)), "shape"),
    ([0, 0.5], [0.2, 0.9], "0/1 labels"),
    ([0, 1], [-0.2, 1.3], r"\[0, 1\]"),
    (["benign", "malignant"], [0.2, 0.9], "numeric"),
    ([], [], "empty"),
])
def test_classification_errors(y_true, y_score, match):
    with pytest.raises(ValueError, match=match):
        metrics.classification_scores(y_true, y_score)


# --------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------
def _toy_scores(size=120, seed=1):
    rng = np.random.default_rng(seed)
    truth = (rng.random(size) < 0.3).astype(int)
    score = np.clip(0.35 * truth + 0.65 * rng.random(size), 0, 1)
    return truth, score


def test_bootstrap_is_deterministic_and_contains_point():
    truth, score = _toy_scores()
    first = metrics.bootstrap_ci("AUC", truth, score, n=300, seed=7)
    second = metrics.bootstrap_ci("AUC", truth, score, n=300, seed=7)
    other = metrics.bootstrap_ci("AUC", truth, score, n=300, seed=8)
    assert tuple(first) == tuple(second)
    assert tuple(first) != tuple(other)
    point, low, high = first
    assert point == pytest.approx(metrics.classification_scores(truth, score)["AUC"])
    assert low < point < high
    assert 0.0 <= low and high <= 1.0
    assert first.n_used == 300 and first.n_skipped == 0


def test_bootstrap_string_and_callable_agree_and_skips_single_class():
    from sklearn.metrics import roc_auc_score

    # 6 samples: a resample draws a single class with probability 2 * 0.5**6 = 1/32.
    with pytest.warns(UserWarning, match="skipped"):
        by_name = metrics.bootstrap_ci("AUC", Y_TRUE, Y_SCORE, n=400, seed=0)
    with pytest.warns(UserWarning, match="skipped"):
        by_callable = metrics.bootstrap_ci(roc_auc_score, Y_TRUE, Y_SCORE, n=400, seed=0)
    assert tuple(by_name) == pytest.approx(tuple(by_callable))
    # Replay the same random draws to count the single-class resamples independently.
    rng = np.random.default_rng(0)
    labels = np.array(Y_TRUE)
    expected_skips = sum(np.unique(labels[rng.integers(0, 6, 6)]).size < 2 for _ in range(400))
    assert expected_skips > 0
    assert by_name.n_skipped == by_callable.n_skipped == expected_skips
    assert by_name.n_used == 400 - expected_skips
    assert by_name.point == pytest.approx(7 / 9)


def test_bootstrap_level_changes_width():
    truth, score = _toy_scores()
    wide = metrics.bootstrap_ci("AC", truth, score, n=300, level=0.95)
    narrow = metrics.bootstrap_ci("AC", truth, score, n=300, level=0.5)
    assert (wide.high - wide.low) > (narrow.high - narrow.low)


def test_bootstrap_mean_ci():
    values = np.array([0.9, 0.8, 0.85, 0.1, 0.95, 0.7, 0.75, 0.88])
    point, low, high = metrics.bootstrap_mean_ci(values, n=500, seed=3)
    assert point == pytest.approx(values.mean())
    assert low < point < high
    assert tuple(metrics.bootstrap_mean_ci(values, n=500, seed=3)) == (point, low, high)
    # A constant has a zero-width interval.
    assert tuple(metrics.bootstrap_mean_ci([0.5] * 10, n=50)) == pytest.approx((0.5, 0.5, 0.5))


def test_bootstrap_errors():
    with pytest.raises(ValueError, match="Unknown metric"):
        metrics.bootstrap_ci("F1", Y_TRUE, Y_SCORE)
    with pytest.raises(ValueError, match="positive integer"):
        metrics.bootstrap_ci("AUC", Y_TRUE, Y_SCORE, n=0)
    with pytest.raises(ValueError, match="level"):
        metrics.bootstrap_ci("AUC", Y_TRUE, Y_SCORE, level=95)
    with pytest.raises(ValueError, match="single class"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics.bootstrap_ci("AUC", [0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        metrics.bootstrap_mean_ci([0.5, float("nan")])


# --------------------------------------------------------------------------------------------
# Display
# --------------------------------------------------------------------------------------------
def test_format_scores():
    text = metrics.format_scores({"AC": 0.8654, "AUC": 0.8321},
                                 ci={"AUC": metrics.BootstrapCI(0.8321, 0.78, 0.88, level=0.95,
                                                                n_used=10, n_skipped=0)})
    assert text == "AC 0.865  AUC 0.832 [0.780, 0.880]"
    assert metrics.format_scores({"JA": 0.5}, ci={"JA": (0.25, 0.75)}, digits=2) == \
        "JA 0.50 [0.25, 0.75]"
