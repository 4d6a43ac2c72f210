"""Segmentation losses of 06_unet_segmentation: Dice, BCE + Dice (Eq. 6-11) and the focal
variant of Table X, on hand-computed arrays."""
from __future__ import annotations

import math

import course_lib  # noqa: F401  (quiet TensorFlow before it is imported)
import numpy as np
import pytest

import keras
from course_lib import losses

# Three 2x2 images (N, H, W). Truth Y and predicted probabilities P.
Y = np.array([
    [[1, 1], [0, 0]],        # A: lesion in the top row
    [[0, 0], [0, 0]],        # B: no lesion
    [[1, 1], [1, 1]],        # C: all lesion
], dtype=np.float32)
P = np.array([
    [[0.9, 0.6], [0.2, 0.1]],
    [[0.5, 0.5], [0.0, 0.0]],
    [[1.0, 1.0], [1.0, 1.0]],
], dtype=np.float32)

# Eq. 6-8 and 10 per image, epsilon = 1:
#   A: S1 = 0.9 + 0.6 = 1.5, S2 = 2, S3 = 0.9 + 0.6 + 0.2 + 0.1 = 1.8
#      L = 1 - (2 * 1.5 + 1) / (2 + 1.8 + 1) = 1 - 4 / 4.8 = 1/6
#   B: S1 = 0, S2 = 0, S3 = 1       L = 1 - 1 / (0 + 1 + 1) = 0.5
#   C: S1 = 4, S2 = 4, S3 = 4       L = 1 - 9 / 9 = 0
DICE = np.array([1 - 4 / 4.8, 1 - 1 / 2, 0.0])
# Eq. 9 per image (mean over the 4 pixels; P clipped to [1e-7, 1 - 1e-7]):
#   A: -(ln 0.9 + ln 0.6 + ln 0.8 + ln 0.9) / 4
#   B: -(ln 0.5 + ln 0.5 + ln(1 - 1e-7) + ln(1 - 1e-7)) / 4
#   C: -4 ln(1 - 1e-7) / 4
BCE = np.array([
    -(math.log(0.9) + math.log(0.6) + math.log(0.8) + math.log(0.9)) / 4,
    -(2 * math.log(0.5) + 2 * math.log(1 - 1e-7)) / 4,
    -math.log(1 - 1e-7),
])


def _focal_pixel(y, p, alpha=0.75, gamma=1.25):
    """Lin et al.: -alpha (1-p)^gamma ln p (lesion), -(1-alpha) p^gamma ln(1-p) (background)."""
    p = min(max(p, 1e-7), 1 - 1e-7)
    if y == 1:
        return -alpha * (1 - p) ** gamma * math.log(p)
    return -(1 - alpha) * p ** gamma * math.log(1 - p)


# Image A by hand, alpha = 0.75, gamma = 1.25:
#   y=1, p=0.9: 0.75 * 0.1^1.25 * -ln 0.9   y=1, p=0.6: 0.75 * 0.4^1.25 * -ln 0.6
#   y=0, p=0.2: 0.25 * 0.2^1.25 * -ln 0.8   y=0, p=0.1: 0.25 * 0.1^1.25 * -ln 0.9
FOCAL_A = (0.75 * 0.1 ** 1.25 * -math.log(0.9) + 0.75 * 0.4 ** 1.25 * -math.log(0.6)
           + 0.25 * 0.2 ** 1.25 * -math.log(0.8) + 0.25 * 0.1 ** 1.25 * -math.log(0.9)) / 4


def as_numpy(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor), dtype=np.float64)


def test_focal_hand_value_of_image_a():
    assert FOCAL_A == pytest.approx(0.0338149, abs=1e-6)  # 0.1352597 / 4
    pixels = [_focal_pixel(y, p) for y, p in zip(Y[0].ravel(), P[0].ravel())]
    assert np.mean(pixels) == pytest.approx(FOCAL_A, rel=1e-6)  # P is float32


def test_dice_loss_per_image_hand_computed():
    values = as_numpy(losses.dice_loss(Y, P))
    assert values.shape == (3,)
    np.testing.assert_allclose(values, DICE, atol=1e-6)
    assert values[0] == pytest.approx(1 / 6, abs=1e-6)


def test_dice_epsilon_is_one_and_adjustable():
    # epsilon = 0 on image A: 1 - 3 / 3.8
    values = as_numpy(losses.dice_loss(Y[:1], P[:1], epsilon=0.0))
    assert values[0] == pytest.approx(1 - 3 / 3.8, abs=1e-6)
    assert losses.DICE_EPSILON == 1.0


def test_bce_per_image_hand_computed():
    values = as_numpy(losses.binary_crossentropy_per_image(Y, P))
    np.testing.assert_allclose(values, BCE, atol=1e-5)
    assert values[0] == pytest.approx(0.2361726, abs=1e-5)


def test_bce_dice_is_the_sum_per_image():
    values = as_numpy(losses.bce_dice_loss(Y, P))
    assert values.shape == (3,)
    np.testing.assert_allclose(values, DICE + BCE, atol=1e-5)
    assert values[0] == pytest.approx(1 / 6 + 0.2361726, abs=1e-5)


@pytest.mark.parametrize("true_shape, pred_shape", [
    ((3, 2, 2), (3, 2, 2)), ((3, 2, 2, 1), (3, 2, 2, 1)),
    ((3, 2, 2), (3, 2, 2, 1)), ((3, 2, 2, 1), (3, 2, 2)),
])
def test_shapes_with_and_without_channel_axis(true_shape, pred_shape):
    for loss, expected in ((losses.dice_loss, DICE), (losses.bce_dice_loss, DICE + BCE)):
        values = as_numpy(loss(Y.reshape(true_shape), P.reshape(pred_shape)))
        assert values.shape == (3,)
        np.testing.assert_allclose(values, expected, atol=1e-5)


def test_per_image_is_not_the_pooled_dice():
    # Pooled over A and B: S1 = 1.5, S2 = 2, S3 = 2.8 -> 1 - 4 / 5.8 = 0.3103;
    # per image: (1/6 + 1/2) / 2 = 0.3333.
    values = as_numpy(losses.dice_loss(Y[:2], P[:2]))
    assert values.mean() == pytest.approx((1 / 6 + 0.5) / 2, abs=1e-6)
    assert values.mean() != pytest.approx(1 - 4 / 5.8, abs=1e-3)


def test_integer_masks_are_cast():
    values = as_numpy(losses.dice_loss(Y.astype(np.uint8), P))
    np.testing.assert_allclose(values, DICE, atol=1e-6)


def test_segmentation_focal_loss_per_image():
    loss = losses.segmentation_focal_loss()
    assert (loss.alpha, loss.gamma) == (0.75, 1.25)
    values = as_numpy(loss.call(keras.ops.convert_to_tensor(Y[..., None]),
                                keras.ops.convert_to_tensor(P[..., None])))
    expected = [np.mean([_focal_pixel(y, p) for y, p in zip(Y[i].ravel(), P[i].ravel())])
                for i in range(3)]
    assert values.shape == (3,)
    np.testing.assert_allclose(values, expected, rtol=1e-4, atol=1e-7)
    assert values[0] == pytest.approx(FOCAL_A, rel=1e-4)
    # The Keras call averages the three images.
    assert float(loss(Y, P)) == pytest.approx(np.mean(expected), rel=1e-4)
    # Same numbers as the classification formula per pixel, averaged per image.
    np.testing.assert_allclose(
        values, losses.focal_loss_numpy(Y, P, alpha=0.75, gamma=1.25).mean(axis=(1, 2)),
        rtol=1e-4, atol=1e-9)


def test_focal_loss_arguments_are_validated():
    with pytest.raises(ValueError, match="alpha"):
        losses.segmentation_focal_loss(alpha=1.5)
    with pytest.raises(ValueError, match="gamma"):
        losses.segmentation_focal_loss(gamma=-1)


def test_a_single_image_without_batch_axis_is_refused():
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        losses.dice_loss(np.ones(4, np.float32), np.ones(4, np.float32))


def _tiny_model():
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(inputs)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("make_loss", [lambda: losses.bce_dice_loss,
                                       lambda: losses.dice_loss,
                                       lambda: losses.segmentation_focal_loss()],
                         ids=["bce_dice", "dice", "focal"])
def test_compile_fit_one_step_and_keras_averages_per_image_values(make_loss, tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (4, 8, 8, 3)).astype(np.float32)
    masks = (rng.uniform(size=(4, 8, 8, 1)) > 0.5).astype(np.float32)
    model = _tiny_model()
    loss = make_loss()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    history = model.fit(images, masks, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    evaluated = model.evaluate(images, masks, batch_size=4, verbose=0)
    per_image = as_numpy(loss(masks, model.predict(images, verbose=0))
                         if not hasattr(loss, "call") else
                         loss.call(keras.ops.convert_to_tensor(masks),
                                   keras.ops.convert_to_tensor(model.predict(images, verbose=0))))
    assert per_image.shape == (4,)
    assert evaluated == pytest.approx(per_image.mean(), rel=1e-5)
    # Saved with its loss, the model loads back compiled (the losses are registered).
    path = tmp_path / "tiny.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.evaluate(images, masks, batch_size=4, verbose=0) == pytest.approx(
        evaluated, rel=1e-5)
