"""load_splits (split by source image) and the evaluation helpers that record table rows."""
from __future__ import annotations

import json

import numpy as np
import pytest

from course_lib import data, evaluation


@pytest.fixture()
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def test_load_splits_partitions_training_set_by_source(isolated):
    from course_lib import config

    profile = config.get_profile("smoke", n_train=40, n_test=12, synth_image_size=32,
                                 image_size=32)
    splits = data.load_splits(profile)
    assert len(splits.y_train) + len(splits.y_val) == 40 and len(splits.y_test) == 12
    assert not set(splits.ids_train) & set(splits.ids_val)
    assert not set(splits.ids_test) & (set(splits.ids_train) | set(splits.ids_val))
    assert splits.x_train.shape[1:] == (32, 32, 3) and splits.x_train.dtype == np.uint8
    assert splits.m_val.shape == (len(splits.y_val), 32, 32)
    assert splits.y_val.sum() >= 1, "stratified: the validation split keeps melanomas"
    again = data.load_splits(profile)
    assert again.ids_val == splits.ids_val
    np.testing.assert_array_equal(again.x_val, splits.x_val)


def test_evaluate_classification_records_metrics_and_intervals(isolated):
    y = np.array([0, 0, 0, 0, 1, 1, 0, 1])
    score = np.array([0.1, 0.2, 0.6, 0.3, 0.9, 0.4, 0.05, 0.8])
    out = evaluation.evaluate_classification(y, score, notebook="03_x", model="m",
                                             profile="smoke", n_boot=200, verbose=False)
    assert out["metrics"]["AC"] == pytest.approx(6 / 8)
    for name in ("AC", "AUC", "AP"):
        low, high = out["ci"][name]
        assert low <= out["metrics"][name] <= high
    record = json.loads(next((isolated / "runs" / "smoke" / "results").glob("*.json")).read_text())
    assert record["model"] == "m" and record["task"] == "classification"
    assert record["ci"]["AUC"] == out["ci"]["AUC"]


def test_evaluate_segmentation_thresholds_probabilities_per_image(isolated):
    truth = np.zeros((2, 4, 4), np.uint8)
    truth[0, :2, :2] = 255
    truth[1, 1:3, 1:3] = 255
    prob = np.zeros((2, 4, 4), np.float32)
    prob[0, :2, :2] = 0.9          # perfect on image 0
    prob[1, 1:3, 1:2] = 0.7        # half of image 1's lesion
    prob[1, 3, 3] = 0.5            # exactly 0.5 is background (strict > 0.5)
    out = evaluation.evaluate_segmentation(truth, prob, notebook="06_x", model="u",
                                           profile="smoke", n_boot=100, verbose=False,
                                           record=False)
    assert out["metrics"]["JA"] == pytest.approx((1.0 + 0.5) / 2)
    assert list(out["per_image"]["JA"]) == pytest.approx([1.0, 0.5])


def test_degenerate_predictions_are_named_with_cause_and_fix():
    assert evaluation.degenerate_predictions("classification", [0.3, 0.3, 0.3]).startswith(
        "every image gets the same melanoma score (0.3000)")
    assert evaluation.degenerate_predictions("classification", [[0.6, 0.4]] * 3) is not None
    assert evaluation.degenerate_predictions("classification", [0.3, 0.31, 0.3]) is None
    empty = [np.zeros((4, 4), bool)] * 3
    full = [np.ones((4, 4), bool)] * 3
    one = [np.zeros((4, 4), bool), np.eye(4, dtype=bool)]
    assert "predicted background" in evaluation.degenerate_predictions("segmentation", empty)
    assert "predicted lesion" in evaluation.degenerate_predictions("segmentation", full)
    assert evaluation.degenerate_predictions("segmentation", one) is None
    assert "train.recalibrate_batchnorm" in evaluation.degenerate_predictions("segmentation", empty)


def test_guard_fires_for_a_tiny_model_with_stale_batchnorm(isolated, capsys):
    """A tiny segmenter whose BatchNorm was never calibrated to the data: in inference mode it
    predicts background on every pixel; the evaluation prints the warning, and recalibrating
    (no weight changed) makes it go away."""
    import keras
    from keras import layers

    from course_lib import train

    rng = np.random.default_rng(0)
    images = rng.uniform(100, 200, (6, 8, 8, 1)).astype("float32")   # far from BN's mean 0
    truth = [im[..., 0] > 150 for im in images]
    inputs = keras.Input((8, 8, 1))
    x = layers.BatchNormalization(name="bn")(inputs)
    outputs = layers.Conv2D(1, 1, activation="sigmoid",       # lesion where x is below its mean
                            kernel_initializer=keras.initializers.Constant(-1.0))(x)
    model = keras.Model(inputs, outputs)

    def evaluate():
        prob = model.predict(images, verbose=0)
        evaluation.evaluate_segmentation(truth, prob, notebook="99", model="tiny",
                                         profile="smoke", n_boot=10, record=False)
        return capsys.readouterr().out

    assert "Warning (tiny): every pixel of every image is predicted background" in evaluate()
    weights = [w.copy() for w in model.get_weights()[-2:]]
    train.recalibrate_batchnorm(model, images, max_batches=1)
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()[-2:]))
    assert "Warning" not in evaluate()
