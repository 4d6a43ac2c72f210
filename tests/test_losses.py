"""Tests of course_lib.losses: focal loss (05_focal_loss)."""
from __future__ import annotations

import math

import course_lib  # noqa: F401  (quiet TensorFlow before it is imported)
import numpy as np
import pytest

import keras
from course_lib import losses as L


def value(loss, y_true, y_pred) -> float:
    return float(keras.ops.convert_to_numpy(loss(y_true, y_pred)))


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (64, 1)).astype("float32")
    p = rng.uniform(0.001, 0.999, (64, 1)).astype("float32")
    logits = rng.normal(0, 3, (64, 1)).astype("float32")
    return y, p, logits


# ------------------------------------------------------------------- the verified numbers

def test_paper_example_correct_and_as_printed():
    # y = 0, p = 0.7, alpha = 0.25, gamma = 0.75
    correct = 0.75 * 0.7 ** 0.75 * -math.log(0.3)
    assert round(correct, 3) == 0.691
    assert round(correct * 0.3, 3) == 0.207
    y, p = np.array([0.0]), np.array([0.7])
    assert round(float(L.focal_loss_numpy(0, 0.7)), 3) == 0.691
    assert round(float(L.focal_loss_numpy(0, 0.7, paper_eq4=True)), 3) == 0.207
    assert value(L.focal_loss(), y, p) == pytest.approx(correct, rel=1e-5)
    assert value(L.paper_eq4_focal_loss(), y, p) == pytest.approx(correct * 0.3, rel=1e-5)


def test_typo_only_touches_the_benign_branch():
    y, p = np.array([1.0, 1.0]), np.array([0.2, 0.9])
    assert value(L.paper_eq4_focal_loss(), y, p) == pytest.approx(value(L.focal_loss(), y, p),
                                                                  rel=1e-6)


def test_hand_computed_melanoma_value():
    # y = 1, p = 0.9, alpha = 0.25, gamma = 2: 0.25 * 0.1**2 * -ln(0.9)
    expected = 0.25 * 0.01 * 0.10536051565782628
    assert value(L.focal_loss(0.25, 2.0), np.array([1.0]), np.array([0.9])) == pytest.approx(
        expected, rel=1e-5)


# ------------------------------------------------------------------- against Keras' own

@pytest.mark.parametrize("alpha, gamma", [(0.25, 0.75), (0.6, 2.0), (0.25, 0.0), (0.9, 1.25)])
def test_binary_matches_keras(batch, alpha, gamma):
    y, p, logits = batch
    reference = keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=alpha,
                                                     gamma=gamma)
    ours = L.focal_loss(alpha, gamma)
    assert value(ours, y, p) == pytest.approx(value(reference, y, p), abs=1e-6)
    assert value(ours, y[:, 0], p[:, 0]) == pytest.approx(value(reference, y, p), abs=1e-6)
    assert value(ours, y[:, 0], p) == pytest.approx(value(reference, y, p), abs=1e-6)
    assert float(L.focal_loss_numpy(y, p, alpha, gamma).mean()) == pytest.approx(
        value(reference, y, p), abs=1e-6)


@pytest.mark.parametrize("alpha, gamma", [(0.25, 0.75), (0.6, 2.0)])
def test_binary_from_logits_matches_keras(batch, alpha, gamma):
    y, _, logits = batch
    reference = keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=alpha,
                                                     gamma=gamma, from_logits=True)
    ours = L.focal_loss(alpha, gamma, from_logits=True)
    assert value(ours, y, logits) == pytest.approx(value(reference, y, logits), abs=1e-6)
    # and equals the probability form on sigmoid(logits)
    probabilities = 1 / (1 + np.exp(-logits.astype("float64")))
    assert value(ours, y, logits) == pytest.approx(
        float(L.focal_loss_numpy(y, probabilities, alpha, gamma).mean()), abs=1e-5)


@pytest.mark.parametrize("alpha, gamma", [(0.25, 0.75), (0.6, 2.0), (0.25, 0.0)])
def test_categorical_matches_keras_and_binary(batch, alpha, gamma):
    y, p, _ = batch
    probabilities = np.concatenate([1 - p, p], axis=1)
    one_hot = np.concatenate([1 - y, y], axis=1)
    reference = keras.losses.CategoricalFocalCrossentropy(alpha=[1 - alpha, alpha], gamma=gamma)
    ours = L.categorical_focal_loss(alpha, gamma)
    expected = value(reference, one_hot, probabilities)
    assert value(ours, one_hot, probabilities) == pytest.approx(expected, abs=1e-6)
    assert value(ours, y, probabilities) == pytest.approx(expected, abs=1e-6)            # (N, 1) ids
    assert value(ours, y[:, 0].astype(int), probabilities) == pytest.approx(expected, abs=1e-6)
    assert value(L.focal_loss(alpha, gamma), y, p) == pytest.approx(expected, abs=1e-6)


def test_categorical_from_logits_matches_keras():
    rng = np.random.default_rng(1)
    one_hot = np.eye(2, dtype="float32")[rng.integers(0, 2, 32)]
    logits = rng.normal(0, 2, (32, 2)).astype("float32")
    reference = keras.losses.CategoricalFocalCrossentropy(alpha=[0.75, 0.25], gamma=0.75,
                                                          from_logits=True)
    ours = L.categorical_focal_loss(0.25, 0.75, from_logits=True)
    assert value(ours, one_hot, logits) == pytest.approx(value(reference, one_hot, logits),
                                                         abs=1e-6)


def test_gamma_zero_is_alpha_weighted_cross_entropy(batch):
    y, p, _ = batch
    weighted = np.where(y == 1, 0.25, 0.75) * L.cross_entropy_numpy(y, p)
    assert value(L.focal_loss(0.25, 0.0), y, p) == pytest.approx(float(weighted.mean()), abs=1e-6)
    # alpha = 0.5: half of Keras' plain binary cross-entropy
    bce = value(keras.losses.BinaryCrossentropy(), y, p)
    assert value(L.focal_loss(0.5, 0.0), y, p) == pytest.approx(0.5 * bce, abs=1e-6)


def test_focusing_shrinks_easy_examples_more():
    y = np.array([1.0, 1.0])
    p = np.array([0.95, 0.3])      # an easy and a hard melanoma
    ce = L.cross_entropy_numpy(y, p)
    fl = L.focal_loss_numpy(y, p, alpha=1.0, gamma=2.0)
    ratio = fl / ce
    np.testing.assert_allclose(ratio, (1 - p) ** 2)
    assert ratio[0] < ratio[1]


def test_clipping_keeps_loss_finite():
    y, p = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert np.isfinite(value(L.focal_loss(), y, p))
    assert np.isfinite(value(L.categorical_focal_loss(), np.eye(2), np.array([[0.0, 1.0],
                                                                               [1.0, 0.0]])))


# ------------------------------------------------------------------- arguments and Keras use

@pytest.mark.parametrize("alpha, gamma", [(1.5, 0.75), (-0.1, 0.75), (0.25, -1.0), ("a", 1)])
def test_bad_alpha_gamma(alpha, gamma):
    with pytest.raises(ValueError):
        L.focal_loss(alpha, gamma)


def test_categorical_needs_two_columns():
    with pytest.raises(ValueError, match="2-way"):
        L.categorical_focal_loss()(np.array([[1.0]]), np.array([[0.7]]))


def test_names_and_config_round_trip():
    loss = L.focal_loss(0.3, 1.5, from_logits=True)
    assert loss.name == "focal_loss"
    assert L.categorical_focal_loss().name == "categorical_focal_loss"
    assert L.paper_eq4_focal_loss().name == "paper_eq4_focal_loss"
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, L.BinaryFocalLoss)
    assert (restored.alpha, restored.gamma, restored.from_logits) == (0.3, 1.5, True)


def test_usable_in_compile_and_fit():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    binary = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    binary.compile(optimizer="sgd", loss=L.focal_loss())
    history = binary.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    expected = L.focal_loss_numpy(y, binary.predict(x, verbose=0)[:, 0]).mean()
    assert binary.evaluate(x, y, verbose=0) == pytest.approx(float(expected), rel=1e-4)

    softmax = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    softmax.compile(optimizer="sgd", loss=L.categorical_focal_loss())
    history = softmax.fit(x, np.eye(2, dtype="float32")[y.astype(int)], epochs=1, batch_size=16,
                          verbose=0)
    assert np.isfinite(history.history["loss"][0])


# ------------------------------------------------------------------ helpers of 05's exercises
def test_inverse_frequency_alpha_and_gradient_helpers():
    from course_lib import losses as L

    assert L.inverse_frequency_alpha([0, 0, 0, 0, 1]) == 0.8
    assert L.inverse_frequency_alpha(np.array([[1, 0], [1, 1]])) == 0.25
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    before = x.copy()
    gradient = L.numerical_gradient(lambda v: float(np.sum(v ** 3)), x, h=1e-4)
    np.testing.assert_allclose(gradient, 3 * x ** 2, atol=1e-6)
    assert np.array_equal(x, before)
    import keras

    logits = np.array([[0.3, -1.2], [2.0, 0.5]])
    y_true = np.eye(2)[[1, 0]]
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        L.autodiff_gradient(keras.losses.CategoricalCrossentropy(), y_true, logits),
        (softmax - y_true) / 2, atol=1e-7)
    assert L.relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert abs(L.relative_error([1.0], [1.1]) - 0.1 / 1.1) < 1e-12
