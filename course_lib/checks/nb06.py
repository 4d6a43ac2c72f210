"""Checks for the exercises of 06_unet_segmentation.

6.1 compares the student's per-image Dice loss with hand-computed values (each case's comment
shows S1, S2, S3) and with ``course_lib.losses.dice_loss``; 6.2 builds the student's decoder
block on symbolic inputs and compares its output shape, parameter count and layer kinds with
``course_lib.models.unet.decoder_block``.
"""
from __future__ import annotations

import numpy as np

from . import (CheckFailed, describe, expect_close, expect_equal, expect_shape, expect_true,
               register)

# Three 2x2 images: truth Y and probabilities P.
_Y = np.array([[[1, 1], [0, 0]],
               [[0, 0], [0, 0]],
               [[1, 1], [1, 1]]], dtype=np.float32)
_P = np.array([[[0.9, 0.6], [0.2, 0.1]],
               [[0.5, 0.5], [0.0, 0.0]],
               [[1.0, 1.0], [1.0, 1.0]]], dtype=np.float32)
# A: S1 = 1.5, S2 = 2, S3 = 1.8 -> 1 - (2*1.5 + 1) / (2 + 1.8 + 1) = 1 - 4/4.8 = 1/6
# B: S1 = 0,   S2 = 0, S3 = 1   -> 1 - 1 / 2 = 0.5
# C: S1 = 4,   S2 = 4, S3 = 4   -> 1 - 9 / 9 = 0
_DICE = (1 - 4 / 4.8, 0.5, 0.0)


def _per_image_values(result, n_images: int, what: str) -> np.ndarray:
    try:
        values = np.asarray(result, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"{what} returned {describe(result)}, expected {n_images} numbers "
                          "(one loss per image)") from None
    if values.ndim == 0:
        raise CheckFailed(f"{what} returned one number ({describe(float(values))}), expected "
                          f"{n_images} (one loss per image): sum over each image's own pixels, "
                          "not over the whole batch")
    values = values.reshape(-1) if values.size == n_images else values
    if values.shape != (n_images,):
        raise CheckFailed(f"{what} returned an array of shape {values.shape}, expected "
                          f"({n_images},): one loss per image")
    return values


def _call(fn, what, *arrays, **kwargs):
    before = [a.copy() for a in arrays]
    result = fn(*arrays, **kwargs)
    for original, after in zip(before, arrays):
        expect_true(np.array_equal(original, after),
                    f"{what} changed its input arrays; compute on new arrays instead")
    return result


@register("6.1", title="the Dice loss per image (Eq. 10)",
          hint="for each image sum over ITS pixels only: S1 = sum(P*Y), S2 = sum(Y), "
               "S3 = sum(P); loss = 1 - (2*S1 + eps) / (S2 + S3 + eps), one value per image")
def check_dice_loss(dice_loss_value):
    what = "dice_loss_value(y_true, y_pred) on three 2x2 images"
    values = _per_image_values(_call(dice_loss_value, what, _Y.copy(), _P.copy()), 3, what)
    for index, (value, expected) in enumerate(zip(values, _DICE)):
        expect_close(value, expected, f"{what}: image {index}", rtol=1e-5, atol=1e-6)

    what = "dice_loss_value(y_true, y_pred) with masks of shape (3, 2, 2, 1)"
    values = _per_image_values(_call(dice_loss_value, what, _Y[..., None].copy(),
                                     _P[..., None].copy()), 3, what)
    for index, (value, expected) in enumerate(zip(values, _DICE)):
        expect_close(value, expected, f"{what}: image {index}", rtol=1e-5, atol=1e-6)

    # eps = 0 on image A: 1 - 3 / 3.8
    what = "dice_loss_value(y_true, y_pred, eps=0.0) on image A"
    values = _per_image_values(_call(dice_loss_value, what, _Y[:1].copy(), _P[:1].copy(),
                                     eps=0.0), 1, what)
    expect_close(values[0], 1 - 3 / 3.8, what, rtol=1e-5, atol=1e-6)

    # Against the library on random masks and probabilities.
    import keras

    from course_lib import losses

    rng = np.random.default_rng(6)
    y_true = (rng.uniform(size=(4, 5, 6, 1)) > 0.6).astype(np.float32)
    y_pred = rng.uniform(size=(4, 5, 6, 1)).astype(np.float32)
    reference = keras.ops.convert_to_numpy(losses.dice_loss(y_true, y_pred))
    what = "dice_loss_value(y_true, y_pred) on four random 5x6 images"
    values = _per_image_values(_call(dice_loss_value, what, y_true.copy(), y_pred.copy()), 4,
                               what)
    for index, (value, expected) in enumerate(zip(values, reference)):
        expect_close(value, float(expected), f"{what}: image {index}", rtol=1e-4, atol=1e-6)
    return ("3 hand-computed images (two mask shapes), eps = 0, and 4 random images match "
            "course_lib.losses.dice_loss")


def _block_model(fn, x_shape, skip_shape, filters, what):
    import keras

    x = keras.Input(x_shape)
    skip = None if skip_shape is None else keras.Input(skip_shape)
    output = fn(x, skip, filters)
    if not hasattr(output, "shape") or len(getattr(output, "shape", ())) != 4:
        raise CheckFailed(f"{what} returned {describe(output)}, expected the block's output "
                          "tensor (batch, height, width, filters)")
    inputs = x if skip is None else [x, skip]
    try:
        model = keras.Model(inputs, output)
    except Exception as err:  # noqa: BLE001 - explained to the student
        raise CheckFailed(f"{what}: the output does not come from the inputs through Keras "
                          f"layers ({type(err).__name__}); build the block with keras layers "
                          "applied to x and skip") from None
    return model


def _layer_kinds(model) -> dict:
    kinds: dict[str, int] = {}
    for layer in model.layers:
        kinds[type(layer).__name__] = kinds.get(type(layer).__name__, 0) + 1
    return kinds


@register("6.2", title="one decoder block (Fig. 6c)",
          hint="UpSampling2D(2) on x, Concatenate()([x, skip]) when skip is not None, then "
               "twice Conv2D(filters, 3, padding='same', use_bias=False) -> "
               "BatchNormalization() -> ReLU()")
def check_decoder_block(decoder_block):
    import keras

    from course_lib.models import unet

    cases = [((4, 4, 8), (8, 8, 4), 6), ((8, 8, 8), None, 6), ((2, 2, 16), (4, 4, 8), 4)]
    for x_shape, skip_shape, filters in cases:
        skip_text = "None" if skip_shape is None else f"Input{skip_shape}"
        what = f"decoder_block(Input{x_shape}, {skip_text}, {filters})"
        student = _block_model(decoder_block, x_shape, skip_shape, filters, what)
        reference = _block_model(lambda x, s, f: unet.decoder_block(x, s, f, name="reference"),
                                 x_shape, skip_shape, filters, "the library's block")
        expected_shape = (None, 2 * x_shape[0], 2 * x_shape[1], filters)
        expect_shape(student.output, expected_shape, what)
        got, expected = student.count_params(), reference.count_params()
        if got != expected:
            why = (" — the two convolutions carry a bias (use_bias=False: BatchNorm's beta "
                   "already shifts each channel)" if got - expected == 2 * filters else "")
            raise CheckFailed(f"{what} has {got} parameters, expected {expected} like "
                              f"course_lib's decoder_block{why}")
        kinds = _layer_kinds(student)
        for kind, count in (("UpSampling2D", 1), ("Conv2D", 2), ("BatchNormalization", 2)):
            expect_equal(kinds.get(kind, 0), count, f"{what}: the number of {kind} layers")
        # ReLU last: the output is never negative.
        rng = np.random.default_rng(0)
        arrays = [rng.normal(size=(2,) + x_shape).astype(np.float32)]
        if skip_shape is not None:
            arrays.append(rng.normal(size=(2,) + skip_shape).astype(np.float32))
        values = keras.ops.convert_to_numpy(student(arrays if len(arrays) > 1 else arrays[0]))
        expect_true(values.min() >= 0 and values.max() > 0,
                    f"{what} gives negative outputs (minimum {values.min():.3g}): end with ReLU")
    return ("output shapes, parameter counts (1020 with a skip, 804 without, ...) and layers "
            "match course_lib.models.unet.decoder_block in 3 cases")
