"""course_lib.fusion: weighted averages, the weight search, thresholds, sizes, members."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib import fusion


# --------------------------------------------------------------------------- weighted_average
def test_equal_weights_by_default_are_the_mean():
    a, b = np.array([0.2, 0.8]), np.array([0.6, 0.4])
    np.testing.assert_allclose(fusion.weighted_average([a, b]), [0.4, 0.6])
    np.testing.assert_allclose(fusion.weighted_average([a, b], [1, 1]), [0.4, 0.6])


def test_weights_are_normalised():
    a, b = np.array([0.0, 1.0]), np.array([1.0, 0.0])
    # [1, 3] -> 0.25 / 0.75: 0.25 * 0 + 0.75 * 1 = 0.75 and 0.25 * 1 + 0.75 * 0 = 0.25
    np.testing.assert_allclose(fusion.weighted_average([a, b], [1, 3]), [0.75, 0.25])
    np.testing.assert_allclose(fusion.weighted_average([a, b], [0.25, 0.75]), [0.75, 0.25])


def test_three_models_and_probability_maps_keep_their_shape():
    maps = [np.full((2, 3, 3), v) for v in (0.0, 0.3, 0.9)]
    fused = fusion.weighted_average(maps, [2, 1, 1])   # 0.5 * 0 + 0.25 * 0.3 + 0.25 * 0.9
    assert fused.shape == (2, 3, 3)
    np.testing.assert_allclose(fused, 0.3)


def test_a_zero_weight_ignores_that_model_and_inputs_stay_unchanged():
    a, b = np.array([0.1, 0.9]), np.array([0.7, 0.3])
    before = (a.copy(), b.copy())
    np.testing.assert_allclose(fusion.weighted_average([a, b], [0, 2]), b)
    np.testing.assert_array_equal(a, before[0])
    np.testing.assert_array_equal(b, before[1])


@pytest.mark.parametrize("probabilities, weights, message", [
    ([], None, "empty"),
    ([np.zeros(3), np.zeros(4)], None, "same shape"),
    ([np.zeros(3), np.zeros(3)], [1.0], "one weight per model"),
    ([np.zeros(3), np.zeros(3)], [1.0, -0.5], "non-negative"),
    ([np.zeros(3), np.zeros(3)], [0.0, 0.0], "sum to 0"),
    ([np.zeros(3), np.zeros(3)], [np.nan, 1.0], "finite"),
    (np.zeros((2, 3)), None, "list of arrays"),
])
def test_weighted_average_rejects_bad_input(probabilities, weights, message):
    with pytest.raises(ValueError, match=message):
        fusion.weighted_average(probabilities, weights)


# --------------------------------------------------------------------------- search_weight
def _negative_squared_error(target, fused):
    return -float(np.mean((np.asarray(fused) - np.asarray(target)) ** 2))


def test_search_weight_finds_the_known_optimum():
    # fused = [w, 1 - w]; the target [0.3, 0.7] is reached at w = 0.3 exactly.
    w = fusion.search_weight(np.array([1.0, 0.0]), np.array([0.0, 1.0]),
                             np.array([0.3, 0.7]), _negative_squared_error)
    assert w == pytest.approx(0.3)


def test_ties_go_to_the_weight_closest_to_one_half():
    constant = lambda y, p: 1.0  # noqa: E731 - every weight ties
    assert fusion.search_weight(np.zeros(2), np.ones(2), None, constant) == 0.5
    # 0.4 and 0.6 are equally close: the smaller wins
    assert fusion.search_weight(np.zeros(2), np.ones(2), None, constant,
                                grid=[0.0, 0.4, 0.6, 1.0]) == 0.4

    def two_peaks(y, fused):  # fused = [w]: best at w = 0.2 and w = 0.7
        return 1.0 if round(float(fused[0]), 6) in (0.2, 0.7) else 0.0

    assert fusion.search_weight(np.array([1.0]), np.array([0.0]), None, two_peaks) == 0.7


def test_search_weight_with_average_precision():
    # a ranks perfectly, b inversely. fused = b + w (a - b) ranks the two melanomas first once
    # 0.05 + 0.85 w > 0.95 - 0.85 w etc., i.e. for w > 0.538: AP 1 for w = 0.55 ... 1.0, and the
    # tie rule picks 0.55. Below, the ranking is inverted: AP = (1/3 + 2/4) / 2.
    y = np.array([0, 0, 1, 1])
    a = np.array([0.1, 0.2, 0.8, 0.9])
    b = np.array([0.95, 0.85, 0.15, 0.05])
    metric = fusion.classification_metric("AP")
    assert metric(y, a) == pytest.approx(1.0)
    assert fusion.search_weight(a, b, y, metric) == pytest.approx(0.55)
    grid, scores = fusion.weight_scores(a, b, y, metric)
    assert len(grid) == 21
    np.testing.assert_allclose(scores[grid < 0.48], 0.5 * (1 / 3 + 2 / 4))  # distinct scores
    np.testing.assert_allclose(scores[grid > 0.54], 1.0)


def test_search_weight_for_segmentation_with_mean_jaccard():
    truth = np.zeros((2, 4, 4), dtype=np.uint8)
    truth[0, :2, :2] = 255
    truth[1, 1:3, 1:4] = 255
    a = (truth > 0).astype(float)      # a perfect map
    b = np.zeros_like(a)               # predicts no lesion
    # fused = w * truth: > 0.5 (perfect, JA 1) only when w > 0.5; else empty (JA 0).
    metric = fusion.segmentation_metric("JA")
    assert metric(truth, a) == 1.0 and metric(truth, b) == 0.0
    assert fusion.search_weight(a, b, truth, metric) == pytest.approx(0.55)


def test_search_weight_errors():
    a, b = np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match="function"):
        fusion.search_weight(a, b, None, "AP")
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        fusion.search_weight(a, b, None, lambda y, p: 0.0, grid=[0.5, 1.5])
    with pytest.raises(ValueError, match="same images"):
        fusion.search_weight(a, np.ones(4), None, lambda y, p: 0.0)
    with pytest.raises(ValueError, match="NaN for every weight"):
        fusion.search_weight(a, b, np.zeros(3), fusion.classification_metric("AP"))


def test_metric_factories_validate_names():
    with pytest.raises(ValueError, match="Unknown classification metric"):
        fusion.classification_metric("F1")
    with pytest.raises(ValueError, match="Unknown segmentation metric"):
        fusion.segmentation_metric("IoU")


# --------------------------------------------------------------------------- thresholds
Y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
S = np.array([0.9, 0.8, 0.4, 0.3, 0.35, 0.2, 0.1, 0.05])


@pytest.mark.parametrize("target, expected", [
    (0.5, 0.6),      # 2 melanomas needed: 2nd highest 0.8, next lower score 0.4 -> midpoint 0.6
    (0.75, 0.375),   # 3 needed: 0.4, next lower 0.35 -> 0.375
    (0.7, 0.375),    # ceil(2.8) = 3 as well
    (1.0, 0.25),     # all 4: 0.3, next lower 0.2 -> 0.25
])
def test_threshold_for_sensitivity(target, expected):
    threshold = fusion.threshold_for_sensitivity(Y, S, target)
    assert threshold == pytest.approx(expected)
    curve = fusion.sensitivity_specificity_curve(Y, S, [threshold])
    assert curve["SE"][0] >= target


def test_threshold_below_the_lowest_score():
    threshold = fusion.threshold_for_sensitivity([1, 0], [0.1, 0.6], 1.0)
    assert threshold < 0.1 and threshold == pytest.approx(0.1)
    assert fusion.sensitivity_specificity_curve([1, 0], [0.1, 0.6], [threshold])["SE"][0] == 1.0


def test_threshold_errors():
    with pytest.raises(ValueError, match="no melanoma"):
        fusion.threshold_for_sensitivity([0, 0], [0.1, 0.2], 0.9)
    with pytest.raises(ValueError, match="target"):
        fusion.threshold_for_sensitivity(Y, S, 0.0)
    with pytest.raises(ValueError, match="target"):
        fusion.threshold_for_sensitivity(Y, S, 1.5)


def test_sensitivity_specificity_curve_is_strict():
    curve = fusion.sensitivity_specificity_curve([1, 1, 0, 0], [0.5, 0.8, 0.5, 0.2], [0.5, 0.1])
    # at 0.5: only 0.8 is above -> SE 1/2, SP 2/2; at 0.1: everything above -> SE 1, SP 0
    np.testing.assert_allclose(curve["SE"], [0.5, 1.0])
    np.testing.assert_allclose(curve["SP"], [1.0, 0.0])


# --------------------------------------------------------------------------- sizes
def _tiny_models():
    import keras
    from keras import layers

    inputs = keras.Input((4,))
    dense = keras.Model(inputs, layers.Dense(3)(inputs))                  # 4 * 3 + 3 = 15
    normed = keras.Model(inputs, layers.BatchNormalization()(inputs))     # 4 * 4 = 16, 8 trainable
    return dense, normed


def test_model_size_and_fusion_size():
    dense, normed = _tiny_models()
    assert fusion.model_size(dense) == {"params": 15, "trainable": 15,
                                        "megabytes": 15 * 4 / 2**20}
    sizes = fusion.fusion_size({"dense": dense, "normed": normed})
    assert sizes["normed"]["params"] == 16 and sizes["normed"]["trainable"] == 8
    assert sizes["total"]["params"] == 31 and sizes["total"]["trainable"] == 23
    assert sizes["total"]["megabytes"] == pytest.approx(31 * 4 / 2**20)
    with pytest.raises(ValueError):
        fusion.fusion_size({})


def test_paper_member_sizes_match_the_papers_megabytes():
    # Counted with Keras: U-MobileNetV1 8,336,337 params = 32.1 MiB; the paper prints 32M.
    assert 8_336_337 * 4 / 2**20 == pytest.approx(31.8, abs=0.05)


# --------------------------------------------------------------------------- members
def _save(model, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return model


def _tiny_classifier(seed=0):
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(2, 3, padding="same", activation="relu")(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(2, activation="softmax")(x))


def _tiny_segmenter(seed=0):
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 3))
    return keras.Model(inputs, layers.Conv2D(1, 3, padding="same", activation="sigmoid")(inputs))


IMAGES = np.random.default_rng(0).uniform(0, 255, (5, 8, 8, 3)).astype("float32")


def test_get_member_loads_saved_models_and_substitutes_in_smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path))
    models_dir = tmp_path / "smoke" / "models"
    _save(_tiny_classifier(0), models_dir / "dc-mobilenet.keras")
    member = fusion.get_member("smoke", "dc-mobilenet", train_if_missing=False)
    assert member.source == "dc-mobilenet" and "loaded" in member.note
    assert not member.is_dc and not member.stand_in and member.task == "classification"
    probabilities = fusion.member_probabilities(member, IMAGES)
    np.testing.assert_allclose(probabilities, np.asarray(member.model(IMAGES))[:, 1],
                               rtol=1e-5, atol=1e-6)

    # outside smoke there is no stand-in
    with pytest.raises(FileNotFoundError, match="dc-densenet121"):
        fusion.get_member("lab", "dc-densenet121", train_if_missing=False)
    # smoke, nothing else saved: the MobileNet member on the mirrored image
    mirrored = fusion.get_member("smoke", "dc-densenet121", train_if_missing=False)
    assert mirrored.stand_in and "mirrored" in mirrored.note
    assert mirrored.base.name == "dc-mobilenet"
    np.testing.assert_allclose(fusion.member_probabilities(mirrored, IMAGES),
                               fusion.member_probabilities(member, IMAGES[:, :, ::-1]),
                               rtol=1e-5, atol=1e-6)
    # a saved substitute from an earlier notebook is preferred
    _save(_tiny_classifier(1), models_dir / "mobilenet.keras")
    substitute = fusion.get_member("smoke", "dc-densenet121", train_if_missing=False)
    assert substitute.source == "mobilenet" and "STAND-IN" in substitute.note


def test_segmentation_members_and_predict_members(tmp_path, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path))
    _save(_tiny_segmenter(), tmp_path / "smoke" / "models" / "unet-mobilenet.keras")
    first = fusion.get_member("smoke", "unet-mobilenet", train_if_missing=False)
    second = fusion.get_member("smoke", "unet-densenet121", train_if_missing=False)
    assert first.task == "segmentation" and second.stand_in
    splits = SimpleNamespace(x_train=IMAGES[:1], x_val=IMAGES[:2], x_test=IMAGES[2:])
    predictions = fusion.predict_members({"a": first, "b": second}, splits)
    assert predictions["a"]["val"].shape == (2, 8, 8)
    assert predictions["a"]["test"].shape == (3, 8, 8)
    np.testing.assert_allclose(predictions["a"]["test"],
                               np.asarray(first.model(IMAGES[2:]))[..., 0], rtol=1e-5, atol=1e-6)
    # the mirrored stand-in mirrors its map back: it equals the map of the mirrored image, mirrored
    expected = np.asarray(first.model(IMAGES[2:, :, ::-1]))[:, :, ::-1, 0]
    np.testing.assert_allclose(predictions["b"]["test"], expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="parts"):
        fusion.predict_members({"a": first}, splits, parts=("validation",))


def test_get_member_needs_splits_to_train(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="splits"):
        fusion.get_member("smoke", "unet-mobilenet")


def test_chosen_weight_reads_the_07_record(tmp_path, monkeypatch):
    from course_lib import results

    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path))
    assert fusion.chosen_weight("smoke", "fusion") is None
    results.record_result("07_fusion", "classification", "fusion", {"AC": 0.5}, "smoke",
                          extra={"weight": 0.35})
    assert fusion.chosen_weight("smoke", "fusion") == 0.35
    assert fusion.chosen_weight("smoke", "unet-fusion") is None


# --------------------------------------------------------------------------- exercise references
def test_mean_jaccard_reads_any_mask_encoding_and_averages_per_image():
    truth = np.zeros((2, 2, 3), dtype=np.uint8)
    truth[0, 0, :2] = 255                       # 2 lesion pixels
    prob = np.zeros((2, 2, 3))
    prob[0, 0, :] = 0.9                         # 3 predicted, 2 right -> 2 / 3
    prob[1, 0, 0] = 0.5                         # 0.5 is background: both empty -> 1
    assert fusion.mean_jaccard(truth, prob) == pytest.approx((2 / 3 + 1) / 2)
    assert fusion.mean_jaccard(truth > 0, prob) == pytest.approx((2 / 3 + 1) / 2)
    assert fusion.mean_jaccard((truth > 0).astype(float)[..., None], prob[..., None]) == \
        pytest.approx((2 / 3 + 1) / 2)
    with pytest.raises(ValueError):
        fusion.mean_jaccard(truth, prob[:1])


def test_fuse_at_original_size_fuses_first_then_resizes_each_map():
    a = np.zeros((2, 2, 2, 1))
    a[0, 0, 0, 0] = 1.0
    b = np.full((2, 2, 2), 0.4)
    out = fusion.fuse_at_original_size([a, b], [1, 3], [(2, 2), (4, 6)])
    assert [m.shape for m in out] == [(2, 2), (4, 6)]
    np.testing.assert_allclose(out[0], [[0.55, 0.3], [0.3, 0.3]], atol=1e-6)
    np.testing.assert_allclose(out[1], np.full((4, 6), 0.3), atol=1e-6)


def test_sensitivity_specificity_is_strict_and_one_without_a_class():
    assert fusion.sensitivity_specificity([1, 1, 0, 0], [0.9, 0.5, 0.6, 0.1], 0.5) == (0.5, 0.5)
    assert fusion.sensitivity_specificity([0, 0], [0.3, 0.7], 0.4) == (1.0, 0.5)
    assert fusion.sensitivity_specificity([1, 1], [0.3, 0.7], 0.4) == (0.5, 1.0)


def test_weight_scores_use_an_injected_fuse():
    grid, scores = fusion.weight_scores(np.array([1.0, 0.0]), np.array([0.0, 1.0]),
                                        np.array([1, 0]), lambda y, p: float(p[0]),
                                        grid=[0.0, 1.0], fuse=lambda arrays, w: arrays[1])
    np.testing.assert_array_equal(scores, [0.0, 0.0])   # the injected fuse ignores prob_a
