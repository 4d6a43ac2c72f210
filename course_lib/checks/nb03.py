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


# --------------------------------------------------------------------------- shared helpers
def _randomise(model, rng) -> None:
    """Random kernels (He scale) and random BatchNorm gammas, betas and moving statistics
    (small variances, so every BN rescales and every ReLU6 clips at both ends)."""
    from keras import layers

    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0.0, 0.5, c),
                               rng.normal(0.0, 0.5, c), rng.uniform(0.05, 0.3, c)])
        elif isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D, layers.Dense)):
            values = []
            for weight in layer.weights:
                shape = tuple(weight.shape)
                if weight.path.endswith("kernel"):
                    fan_in = (np.prod(shape[:2]) if isinstance(layer, layers.DepthwiseConv2D)
                              else np.prod(shape[:-1]))
                    values.append(rng.normal(0.0, np.sqrt(2.0 / fan_in), shape))
                else:
                    values.append(rng.normal(0.0, 0.3, shape))
            layer.set_weights(values)


def _weight_shapes(model):
    return [tuple(w.shape) for w in model.get_weights()]


# --------------------------------------------------------------------------- 3.3
_MOBILENET_EXTRACTOR_PARAMS = 3_228_864  # keras.applications.MobileNet(include_top=False), counted


@register("3.3", title="MobileNetV1's feature extractor",
          hint="Input -> Rescaling(1 / 127.5, offset=-1) -> Conv2D(32, 3, strides=2, "
               "padding='same', use_bias=False) -> BatchNormalization -> ReLU(6.0) -> the 13 "
               "blocks of Howard et al. (2017), Table 1, each block(x, filters, stride) -> "
               "GlobalAveragePooling2D; return keras.Model(inputs, features)")
def check_mobilenet_extractor(mobilenet_extractor):
    import keras

    from course_lib.models import backbones

    calls = []

    def block(x, filters, stride):
        calls.append((int(filters), int(stride)))
        return _reference_block(x, filters, stride)

    shape = (64, 64, 3)
    what = "mobilenet_extractor((64, 64, 3), block)"
    model = mobilenet_extractor(shape, block)
    expect_true(isinstance(model, keras.Model),
                f"{what} returned {describe(model)}, expected a keras.Model (images -> features)")
    expected_calls = list(backbones.MOBILENET_BLOCKS)
    expect_true(len(calls) == len(expected_calls),
                f"{what} called block {len(calls)} times, expected {len(expected_calls)} (the 13 "
                "depthwise separable rows of Table 1; build every block with the block argument)")
    for index, (got, want) in enumerate(zip(calls, expected_calls), start=1):
        expect_true(got == want,
                    f"{what}: block {index} was built with (filters, stride) = {got}, expected "
                    f"{want} (Table 1 of Howard et al.: 'Conv dw / s' rows give the stride, the "
                    "next 'Conv / s1' row the filters)")
    out_shape = tuple(model.output.shape)
    expect_true(out_shape == (None, 1024),
                f"{what}: the output has shape {out_shape}, expected (None, 1024): one feature "
                "vector per image (global average pooling after the last block)")
    count = model.count_params()
    if count != _MOBILENET_EXTRACTOR_PARAMS:
        detail = ""
        if count - _MOBILENET_EXTRACTOR_PARAMS == 32:
            detail = " (32 more: the first convolution has a bias; use_bias=False)"
        elif _MOBILENET_EXTRACTOR_PARAMS - count == 128:
            detail = " (128 fewer: the first convolution's BatchNormalization is missing)"
        raise CheckFailed(f"{what} has {count:,} parameters, expected "
                          f"{_MOBILENET_EXTRACTOR_PARAMS:,} like keras.applications.MobileNet("
                          f"include_top=False){detail}")
    reference = backbones.build_backbone("mobilenet", shape)
    expect_true(_weight_shapes(model) == _weight_shapes(reference),
                f"{what}: its weights are not in MobileNet's order (first convolution, its "
                "BatchNormalization, then the blocks); build the layers in the order of Table 1")
    rng = np.random.default_rng(33)
    _randomise(reference, rng)
    model.set_weights(reference.get_weights())
    images = rng.uniform(0.0, 255.0, size=(2, *shape)).astype("float32")
    images[1, :32] = 255.0 * (images[1, :32] > 127.0)   # hard edges: values far from 127.5
    expected = np.asarray(reference(images, training=False))
    if float(expected.std()) < 0.1:  # the check's own sanity
        raise RuntimeError("the reference MobileNet gives nearly constant features")
    result = np.asarray(model(images, training=False))
    if not np.allclose(result, expected, atol=1e-3, rtol=1e-3):
        raise CheckFailed(
            f"{what}: with keras.applications.MobileNet's weights copied in (BatchNorm statistics "
            f"randomised) its features differ on two images in [0, 255] (largest difference "
            f"{float(np.abs(result - expected).max()):.4g}; first features "
            f"{describe(np.round(result[0, :4], 4))}, expected "
            f"{describe(np.round(expected[0, :4], 4))}). Check the input scaling (x / 127.5 - "
            "1), the first layer's order (conv -> BN -> ReLU6) and padding='same'")
    return ("13 blocks with the filters and strides of Table 1, 3,228,864 parameters, and the "
            "same features as keras.applications.MobileNet with identical (randomised) weights")


# --------------------------------------------------------------------------- 3.4
@register("3.4", title="a dense block (Eq. 1 with concatenation)",
          hint="keep a list [x]; for each layer: concatenate the list (x alone for the first "
               "layer), BatchNormalization -> ReLU -> Conv2D(growth_rate, 3, padding='same', "
               "use_bias=False), append the result; return the concatenation of the whole list")
def check_dense_block(dense_block):
    import keras

    from course_lib.models import backbones

    rng = np.random.default_rng(34)
    for k0, n_layers, growth in ((4, 3, 2), (3, 2, 5), (6, 1, 4)):
        what = f"dense_block(x, n_layers={n_layers}, growth_rate={growth}) on 8x8x{k0}"
        inputs = keras.Input(shape=(8, 8, k0))
        model = _block_model(lambda x, n, g: dense_block(x, n, g), (8, 8, k0), n_layers, growth,
                             what)
        channels = model.output.shape[-1]
        expected_channels = k0 + n_layers * growth
        expect_true(channels == expected_channels,
                    f"{what} has {channels} output channels, expected k0 + L * k = "
                    f"{expected_channels}: the block's output concatenates x and every layer's "
                    "new feature maps")
        reference = keras.Model(inputs, backbones.dense_block(inputs, n_layers, growth))
        expect_true(_weight_shapes(model) == _weight_shapes(reference),
                    f"{what}: its weights have shapes {_weight_shapes(model)}, expected "
                    f"{_weight_shapes(reference)} (per layer: BatchNormalization on the "
                    "concatenated input, then the 3x3 kernel)")
        _randomise(reference, rng)
        model.set_weights(reference.get_weights())
        images = rng.normal(0.0, 2.0, size=(2, 8, 8, k0)).astype("float32")
        expected = np.asarray(reference(images, training=False))
        result = np.asarray(model(images, training=False))
        if not np.allclose(result, expected, atol=1e-4):
            bad = np.flatnonzero(np.abs(result - expected).max(axis=(0, 1, 2)) > 1e-4)
            raise CheckFailed(f"{what}: with the same weights its output differs in channels "
                              f"{describe(bad)}; channels 0..{k0 - 1} must be x itself, then "
                              "each layer's output in order; H_l is BN -> ReLU -> conv")
    return "3 dense blocks: k0 + L * k channels and the reference's output for the same weights"


# --------------------------------------------------------------------------- 3.5
def _mac_cases():
    import keras
    from keras import layers

    def chain(input_shape, *chain_layers):
        inputs = keras.Input(shape=input_shape)
        x = inputs
        for layer in chain_layers:
            x = layer(x)
        return keras.Model(inputs, x)

    return [
        ("Conv2D(8, 3, strides=2, padding='same') with bias on 16x16x4", 8 * 8 * 3 * 3 * 4 * 8,
         chain((16, 16, 4), layers.Conv2D(8, 3, strides=2, padding="same"))),
        ("DepthwiseConv2D(3) ('valid') on 10x12x6", 8 * 10 * 3 * 3 * 6,
         chain((10, 12, 6), layers.DepthwiseConv2D(3))),
        ("SeparableConv2D(5, 3, padding='same') on 6x6x3", 6 * 6 * (3 * 3 * 3 + 3 * 5),
         chain((6, 6, 3), layers.SeparableConv2D(5, 3, padding="same"))),
        ("Conv2D(4, 3) on 12x20x2 -> BatchNormalization -> ReLU -> MaxPooling2D -> Conv2D(6, 1) "
         "-> GlobalAveragePooling2D -> Dense(3)",
         10 * 18 * 3 * 3 * 2 * 4 + 5 * 9 * 4 * 6 + 6 * 3,
         chain((12, 20, 2), layers.Conv2D(4, 3), layers.BatchNormalization(), layers.ReLU(),
               layers.MaxPooling2D(), layers.Conv2D(6, 1), layers.GlobalAveragePooling2D(),
               layers.Dense(3))),
        ("Flatten -> Dense(7) on 3x3x2", 18 * 7,
         chain((3, 3, 2), layers.Flatten(), layers.Dense(7))),
    ]


@register("3.5", title="counting multiply-accumulates",
          hint="for Conv2D, DepthwiseConv2D and SeparableConv2D: OUTPUT height x OUTPUT width x "
               "the layer's kernel weights (weights whose path ends with 'kernel', no bias); for "
               "Dense: its kernel weights; every other layer: 0")
def check_count_macs(count_macs):
    from course_lib.models import backbones

    cases = _mac_cases()
    for name, by_hand, model in cases:
        expected = backbones.count_macs(model)
        if expected != by_hand:
            raise RuntimeError(f"count_macs disagrees with the hand count on {name}")
        expect_close(count_macs(model), expected, f"count_macs(model) on {name}", rtol=0.0,
                     atol=1e-9)
    return (f"{len(cases)} models (strided, depthwise, separable, non-square, dense, with BN and "
            "pooling) match the hand counts")


# --------------------------------------------------------------------------- 3.6
def _savings_model():
    import keras
    from keras import layers

    inputs = keras.Input(shape=(12, 12, 3))
    x = layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    x = layers.Conv2D(10, 1, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.DepthwiseConv2D(5, strides=2, padding="same")(x)     # 5x5, with bias
    x = layers.ReLU(6.0)(x)
    x = layers.Conv2D(7, 1)(x)                                       # with bias
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(2)(x)
    return keras.Model(inputs, x)


@register("3.6", title="what the separable blocks save",
          hint="walk through the DepthwiseConv2D layers; the next Conv2D after each is its "
               "pointwise step. N = the depthwise kernel's channels, M = the pointwise filters, "
               "stride = the depthwise stride, standard = K*K*N*M with the depthwise kernel size "
               "K, separable = the two layers' count_params()")
def check_separable_savings(separable_savings):
    from course_lib.models import backbones

    model = _savings_model()
    expected = backbones.separable_savings(model)
    by_hand = [(4, 10, 1, 9 * 4 * 10, 36 + 40), (10, 7, 2, 25 * 10 * 7, 250 + 10 + 70 + 7)]
    if expected != by_hand:  # the check's own sanity
        raise RuntimeError(f"separable_savings disagrees with the hand count: {expected}")
    what = ("separable_savings(model) on conv 3x3 -> dw 3x3 -> 1x1 (4 -> 10) -> dw 5x5 stride 2 "
            "with bias -> 1x1 with bias (10 -> 7) -> Dense")
    result = separable_savings(model)
    try:
        rows = [tuple(int(v) for v in row) for row in result]
    except (TypeError, ValueError):
        raise CheckFailed(f"{what} returned {describe(result)}, expected a list of tuples "
                          "(N, M, stride, standard, separable)") from None
    expect_true(len(rows) == len(expected),
                f"{what} returned {len(rows)} rows, expected {len(expected)}: one per "
                "DepthwiseConv2D layer")
    fields = ("N", "M", "stride", "standard K*K*N*M", "separable parameters")
    for index, (got, want) in enumerate(zip(rows, expected)):
        expect_true(len(got) == 5, f"{what}: row {index} is {got}, expected 5 numbers "
                                   "(N, M, stride, standard, separable)")
        for field, a, b in zip(fields, got, want):
            expect_true(a == b, f"{what}: row {index} ({want[0]} -> {want[1]} channels) has "
                                f"{field} = {a}, expected {b}")
    return ("2 depthwise + pointwise pairs (3x3 and 5x5, stride 1 and 2, without and with bias) "
            "match the hand counts")
