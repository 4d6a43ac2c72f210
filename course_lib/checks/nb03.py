"""Checks for the exercises of 03_lightweight_cnns.

Expected values come from real Keras layers (``SeparableConv2D.count_params()`` and the blocks of
``keras.applications.MobileNet``), with the hand-computed counts in the comments, so the checks
hold the student's answer against the library the course builds on.
"""
from __future__ import annotations

import numpy as np

from . import CheckFailed, describe, expect_close, expect_true, register

#: (K, N, M) cases of exercise 3.1 with their hand-computed K²N + NM.
_PARAM_CASES = [
    (3, 32, 64, 9 * 32 + 32 * 64),        # 288 + 2,048 = 2,336 (MobileNet's first block)
    (3, 512, 512, 9 * 512 + 512 * 512),   # 4,608 + 262,144 = 266,752 (its middle blocks)
    (5, 3, 7, 25 * 3 + 3 * 7),            # 75 + 21 = 96
    (1, 8, 8, 1 * 8 + 8 * 8),             # 8 + 64 = 72 (K = 1: the depthwise part is a scaling)
    (7, 16, 1, 49 * 16 + 16 * 1),         # 784 + 16 = 800
]


@register("3.1", title="depthwise separable parameter count",
          hint="the depthwise part has one K x K filter per input channel (K^2 * N weights), the "
               "pointwise part is a 1 x 1 convolution from N to M channels (N * M weights); no "
               "biases")
def check_depthwise_separable_params(depthwise_separable_params):
    from keras import layers

    for k, n, m, by_hand in _PARAM_CASES:
        layer = layers.SeparableConv2D(m, k, use_bias=False)
        layer.build((None, 16, 16, n))
        expected = layer.count_params()
        if expected != by_hand:  # the check's own sanity: Keras and the formula agree
            raise RuntimeError(f"SeparableConv2D({m}, {k}) on {n} channels has {expected} "
                               f"parameters, not {by_hand}")
        what = f"depthwise_separable_params(k={k}, n={n}, m={m})"
        result = depthwise_separable_params(k, n, m)
        number = result.item() if isinstance(result, np.generic) else result
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            if number == k * k * n * m and k * k * n * m != expected:
                raise CheckFailed(f"{what} returned {describe(number)} = K^2 * N * M, the count "
                                  f"of a STANDARD convolution; expected {expected}")
            if number == expected + m:
                raise CheckFailed(f"{what} returned {describe(number)}, expected {expected} "
                                  "(you added M biases; count without bias)")
        expect_close(result, expected, what, rtol=0.0, atol=1e-9)
    return (f"{len(_PARAM_CASES)} cases match SeparableConv2D(use_bias=False).count_params(), "
            "from 72 to 266,752 parameters")


def _is_tensor(value) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, np.ndarray)


def _block_model(block, input_shape, filters, stride, what):
    import keras

    inputs = keras.Input(shape=input_shape)
    outputs = block(inputs, filters, stride)
    expect_true(_is_tensor(outputs),
                f"{what} returned {describe(outputs)}, expected the output tensor of the block "
                "(x after the last ReLU6)")
    try:
        return keras.Model(inputs, outputs)
    except Exception as err:  # noqa: BLE001 - a graph not built from the given input
        raise CheckFailed(f"{what}: could not build a model from the input to your output "
                          f"({type(err).__name__}); build every layer on x") from None


def _reference_block(x, filters, stride):
    """MobileNet's block (keras.applications' _depthwise_conv_block, 'same' padding)."""
    from keras import layers

    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    x = layers.Conv2D(filters, 1, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU(6.0)(x)


def _mobilenet_block_params(mobilenet, block_id: int) -> int:
    names = [f"conv_dw_{block_id}", f"conv_dw_{block_id}_bn", f"conv_pw_{block_id}",
             f"conv_pw_{block_id}_bn"]
    return sum(mobilenet.get_layer(name).count_params() for name in names)


@register("3.2", title="MobileNet depthwise separable block",
          hint="DepthwiseConv2D(3, strides=stride, padding='same', use_bias=False) -> "
               "BatchNormalization() -> ReLU(6.0) -> Conv2D(filters, 1, use_bias=False) -> "
               "BatchNormalization() -> ReLU(6.0), each layer called on the previous output")
def check_depthwise_separable_block(depthwise_separable_block):
    import keras

    # 1. Output shapes: stride 1 keeps 32 x 32, stride 2 halves it; the channels become `filters`.
    for stride, expected in ((1, (None, 32, 32, 64)), (2, (None, 16, 16, 64))):
        what = f"depthwise_separable_block(x, filters=64, stride={stride}) on a 32x32x32 input"
        model = _block_model(depthwise_separable_block, (32, 32, 32), 64, stride, what)
        shape = tuple(model.output.shape)
        expect_true(shape == expected, f"{what} gives an output of shape {shape}, expected "
                                       f"{expected}")

    # 2. Exact parameter counts against keras.applications.MobileNet's blocks 1 and 2:
    #    block 1, 32 -> 64, stride 1: 9*32 + 4*32 (BN) + 32*64 + 4*64 (BN) = 2,720;
    #    block 2, 64 -> 128, stride 2: 9*64 + 4*64 + 64*128 + 4*128 = 9,536.
    mobilenet = keras.applications.MobileNet(input_shape=(64, 64, 3), include_top=False,
                                             weights=None)
    for block_id, channels, filters, stride, by_hand in ((1, 32, 64, 1, 2720),
                                                         (2, 64, 128, 2, 9536)):
        expected = _mobilenet_block_params(mobilenet, block_id)
        if expected != by_hand:
            raise RuntimeError(f"MobileNet block {block_id} has {expected} parameters, "
                               f"not {by_hand}")
        what = (f"depthwise_separable_block(x, filters={filters}, stride={stride}) on "
                f"{channels} channels")
        model = _block_model(depthwise_separable_block, (16, 16, channels), filters, stride, what)
        count = model.count_params()
        if count != expected:
            detail = ""
            if count - expected in (channels, filters, channels + filters):
                detail = " (the difference is a bias vector: use_bias=False)"
            raise CheckFailed(f"{what} has {count} parameters, expected {expected} like "
                              f"MobileNet's conv_dw_{block_id} + conv_pw_{block_id} with their "
                              f"BatchNormalization layers{detail}")

    # 3. Same weights, same output: layer order and ReLU6 (values above 6 are capped).
    rng = np.random.default_rng(3)
    inputs = rng.uniform(-10.0, 10.0, size=(2, 8, 8, 4)).astype("float32")
    for stride in (1, 2):
        what = f"depthwise_separable_block(x, filters=6, stride={stride}) on an 8x8x4 input"
        reference_input = keras.Input(shape=(8, 8, 4))
        reference = keras.Model(reference_input, _reference_block(reference_input, 6, stride))
        model = _block_model(depthwise_separable_block, (8, 8, 4), 6, stride, what)
        shapes = [tuple(w.shape) for w in model.get_weights()]
        expected_shapes = [tuple(w.shape) for w in reference.get_weights()]
        expect_true(shapes == expected_shapes,
                    f"{what}: its weights have shapes {shapes}, expected {expected_shapes} "
                    "(depthwise kernel, 4 BatchNormalization vectors, 1x1 kernel, 4 "
                    "BatchNormalization vectors, in this order)")
        weights = []
        for index, shape in enumerate(expected_shapes):
            if index in (3, 8):        # moving means
                weights.append(rng.normal(0.0, 0.2, shape))
            elif index in (1, 4, 6, 9):  # gammas and moving variances: positive
                weights.append(rng.uniform(0.5, 1.5, shape))
            else:                      # kernels (0, 5) and betas (2, 7)
                weights.append(rng.normal(0.0, 1.0, shape))
        weights = [w.astype("float32") for w in weights]
        reference.set_weights(weights)
        model.set_weights(weights)
        expected = np.asarray(reference(inputs, training=False))
        if not (expected.max() == 6.0 and expected.min() == 0.0):  # the check's own sanity
            raise RuntimeError("the reference block does not reach both ReLU6 limits")
        result = np.asarray(model(inputs, training=False))
        if not np.allclose(result, expected, atol=1e-4):
            raise CheckFailed(
                f"{what}: with the same weights as MobileNet's block its output differs (largest "
                f"value {float(result.max()):.4g}, expected {float(expected.max()):.4g}; "
                f"smallest {float(result.min()):.4g}, expected {float(expected.min()):.4g}). "
                "ReLU6 caps activations at 6; BatchNormalization comes before each ReLU6")
    return ("output shapes for stride 1 and 2, parameter counts equal to MobileNet's blocks 1 "
            "(2,720) and 2 (9,536), and outputs equal to the reference block with the same "
            "weights")
