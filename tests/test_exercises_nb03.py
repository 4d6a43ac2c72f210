"""Exercises of 03_lightweight_cnns: a correct answer per exercise passes its check, and at least
three plausible wrong answers are rejected; the stubs report "not implemented"; the library
references pass their own checks."""
from __future__ import annotations

import course_lib  # noqa: F401  (quiet TensorFlow before it is imported)
import numpy as np

import keras
from keras import layers

from course_lib.models import backbones
from exercise_probe import rejected

TABLE_1 = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [
    (1024, 2), (1024, 1)]


# ------------------------------------------------------------------------------ right answers
def params_right(k, n, m):
    return n * (k * k + m)


def block_right(x, filters, stride):
    x = layers.DepthwiseConv2D((3, 3), strides=(stride, stride), padding="same",
                               use_bias=False)(x)
    x = layers.ReLU(max_value=6)(layers.BatchNormalization()(x))
    x = layers.Conv2D(filters, (1, 1), use_bias=False)(x)
    return layers.ReLU(max_value=6)(layers.BatchNormalization()(x))


def extractor(input_shape, block, *, scale=1 / 127.5, offset=-1.0, table=TABLE_1,
              first_stride=2, bn_first=False, bias=False, pool=True, relu_max=6.0,
              padding="same"):
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(scale, offset=offset)(inputs)
    x = layers.Conv2D(32, 3, strides=first_stride, padding=padding, use_bias=bias)(x)
    if bn_first:
        x = layers.BatchNormalization()(layers.ReLU(relu_max)(x))
    else:
        x = layers.ReLU(relu_max)(layers.BatchNormalization()(x))
    for filters, stride in table:
        x = block(x, filters, stride)
    x = layers.GlobalAveragePooling2D()(x) if pool else layers.GlobalMaxPooling2D()(x)
    return keras.Model(inputs, x)


def dense_right(x, n_layers, growth_rate):
    outputs = [x]
    for _ in range(n_layers):
        h = outputs[0] if len(outputs) == 1 else layers.Concatenate(axis=-1)(outputs)
        h = layers.Activation("relu")(layers.BatchNormalization()(h))
        outputs.append(layers.Conv2D(growth_rate, 3, padding="same", use_bias=False)(h))
    return layers.Concatenate(axis=-1)(outputs)


def macs_right(model):
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Dense):
            total += int(np.prod(layer.kernel.shape))
        elif isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D)):
            h, w = layer.output.shape[1], layer.output.shape[2]
            kernels = [v for v in layer.weights if "kernel" in v.path.split("/")[-1]]
            total += h * w * sum(int(np.prod(v.shape)) for v in kernels)
    return total


# ------------------------------------------------------------------------------ wrong answers
def params_standard(k, n, m):
    return k * k * n * m


def params_with_bias(k, n, m):
    return k * k * n + n * m + m


def params_depthwise_times_m(k, n, m):
    return k * k * m + n * m


def params_ratio(k, n, m):
    return 1 / m + 1 / (k * k)


def block_relu(x, filters, stride):
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.Conv2D(filters, 1, use_bias=False)(x)
    return layers.ReLU()(layers.BatchNormalization()(x))


def block_relu_before_bn(x, filters, stride):
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(layers.ReLU(6.0)(x))
    x = layers.Conv2D(filters, 1, use_bias=False)(x)
    return layers.BatchNormalization()(layers.ReLU(6.0)(x))


def block_stride_on_pointwise(x, filters, stride):
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
    x = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x)
    return layers.ReLU(6.0)(layers.BatchNormalization()(x))


def block_with_bias(x, filters, stride):
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same")(x)
    x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
    x = layers.Conv2D(filters, 1)(x)
    return layers.ReLU(6.0)(layers.BatchNormalization()(x))


def block_separable_layer(x, filters, stride):
    x = layers.SeparableConv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    return layers.ReLU(6.0)(layers.BatchNormalization()(x))


def extractor_right(input_shape, block):
    return extractor(input_shape, block)


def extractor_no_rescaling(input_shape, block):
    return extractor(input_shape, block, scale=1.0, offset=0.0)


def extractor_divides_by_255(input_shape, block):
    return extractor(input_shape, block, scale=1 / 255.0, offset=0.0)


def extractor_bn_after_relu(input_shape, block):
    return extractor(input_shape, block, bn_first=True)


def extractor_first_stride_1(input_shape, block):
    return extractor(input_shape, block, first_stride=1)


def extractor_strides_shifted(input_shape, block):
    """Puts the stride on the block that CHANGES the channels after it (a Table 1 misread)."""
    table = [(64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1)] + [(512, 1)] * 5 + [
        (1024, 1), (1024, 2)]
    return extractor(input_shape, block, table=table)


def extractor_five_middle_blocks_missing(input_shape, block):
    return extractor(input_shape, block, table=TABLE_1[:6] + TABLE_1[11:])


def extractor_max_pooling(input_shape, block):
    return extractor(input_shape, block, pool=False)


def extractor_ignores_block(input_shape, block):
    return backbones.build_backbone("mobilenet", input_shape)


def extractor_first_bias(input_shape, block):
    return extractor(input_shape, block, bias=True)


def extractor_plain_relu_first(input_shape, block):
    return extractor(input_shape, block, relu_max=None)


def extractor_valid_padding_first(input_shape, block):
    return extractor(input_shape, block, padding="valid")


def dense_sum(x, n_layers, growth_rate):
    h = x
    for _ in range(n_layers):
        new = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False)(
            layers.ReLU()(layers.BatchNormalization()(h)))
        h = layers.Add()([h, new]) if h.shape[-1] == growth_rate else new
    return h


def dense_only_new(x, n_layers, growth_rate):
    outputs = [x]
    for _ in range(n_layers):
        h = outputs[0] if len(outputs) == 1 else layers.Concatenate()(outputs)
        h = layers.ReLU()(layers.BatchNormalization()(h))
        outputs.append(layers.Conv2D(growth_rate, 3, padding="same", use_bias=False)(h))
    return layers.Concatenate()(outputs[1:]) if n_layers > 1 else outputs[1]


def dense_chain(x, n_layers, growth_rate):
    """Each layer sees only the previous layer's output (a plain chain), output concatenated."""
    outputs = [x]
    for _ in range(n_layers):
        h = layers.ReLU()(layers.BatchNormalization()(outputs[-1]))
        outputs.append(layers.Conv2D(growth_rate, 3, padding="same", use_bias=False)(h))
    return layers.Concatenate()(outputs)


def dense_relu_first(x, n_layers, growth_rate):
    outputs = [x]
    for _ in range(n_layers):
        h = outputs[0] if len(outputs) == 1 else layers.Concatenate()(outputs)
        h = layers.BatchNormalization()(layers.ReLU()(h))
        outputs.append(layers.Conv2D(growth_rate, 3, padding="same", use_bias=False)(h))
    return layers.Concatenate()(outputs)


def dense_new_first(x, n_layers, growth_rate):
    outputs = [x]
    for _ in range(n_layers):
        h = outputs[0] if len(outputs) == 1 else layers.Concatenate()(outputs[::-1])
        h = layers.ReLU()(layers.BatchNormalization()(h))
        outputs.append(layers.Conv2D(growth_rate, 3, padding="same", use_bias=False)(h))
    return layers.Concatenate()(outputs[::-1])


def macs_input_size(model):
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Dense):
            total += int(np.prod(layer.kernel.shape))
        elif isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D)):
            h, w = layer.input.shape[1], layer.input.shape[2]
            total += h * w * sum(int(np.prod(v.shape)) for v in layer.weights
                                 if v.path.endswith("kernel"))
    return total


def macs_all_params(model):
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Dense):
            total += layer.count_params()
        elif isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D)):
            total += layer.output.shape[1] * layer.output.shape[2] * layer.count_params()
    return total


def macs_square(model):
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Dense):
            total += int(np.prod(layer.kernel.shape))
        elif isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D)):
            side = layer.output.shape[1]
            total += side * side * sum(int(np.prod(v.shape)) for v in layer.weights
                                       if v.path.endswith("kernel"))
    return total


def macs_conv2d_only(model):
    total = 0
    for layer in model.layers:
        if type(layer) is layers.Conv2D:
            total += layer.output.shape[1] * layer.output.shape[2] * int(
                np.prod(layer.kernel.shape))
        elif isinstance(layer, layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return total


def macs_no_dense(model):
    return macs_right(model) - sum(int(np.prod(layer.kernel.shape)) for layer in model.layers
                                   if isinstance(layer, layers.Dense))


# ------------------------------------------------------------------------------ 3.6
def savings_right(model):
    rows, pending = [], None
    for layer in model.layers:
        if isinstance(layer, layers.DepthwiseConv2D):
            pending = layer
        elif isinstance(layer, layers.Conv2D) and pending is not None:
            kh, kw, n, _ = pending.kernel.shape
            m = layer.filters
            rows.append((n, m, pending.strides[0], kh * kw * n * m,
                         pending.count_params() + layer.count_params()))
            pending = None
    return rows


def savings_nine(model):
    return [(n, m, s, 9 * n * m, sep) for n, m, s, _, sep in savings_right(model)]


def savings_depthwise_only(model):
    rows = []
    for n, m, s, std, _ in savings_right(model):
        rows.append((n, m, s, std, 0))
    dws = [layer for layer in model.layers if isinstance(layer, layers.DepthwiseConv2D)]
    return [(n, m, s, std, dw.count_params()) for (n, m, s, std, _), dw in zip(rows, dws)]


def savings_m_from_depthwise(model):
    return [(n, n, s, std // m * n, sep) for n, m, s, std, sep in savings_right(model)]


def savings_stride_one(model):
    return [(n, m, 1, std, sep) for n, m, s, std, sep in savings_right(model)]


def savings_kernel_only(model):
    rows = []
    for (n, m, s, std, _), (dw, pw) in zip(savings_right(model), _pairs(model)):
        rows.append((n, m, s, std, int(np.prod(dw.kernel.shape)) + int(np.prod(pw.kernel.shape))))
    return rows


def _pairs(model):
    convs = [layer for layer in model.layers
             if isinstance(layer, (layers.DepthwiseConv2D, layers.Conv2D))]
    return [(a, b) for a, b in zip(convs, convs[1:]) if isinstance(a, layers.DepthwiseConv2D)]


RIGHT_ANSWERS = {"3.1": params_right, "3.2": block_right, "3.3": extractor_right,
                 "3.4": dense_right, "3.5": macs_right, "3.6": savings_right}
WRONG_ANSWERS = {
    "3.1": [params_standard, params_with_bias, params_depthwise_times_m, params_ratio],
    "3.2": [block_relu, block_relu_before_bn, block_stride_on_pointwise, block_with_bias,
            block_separable_layer],
    "3.3": [extractor_no_rescaling, extractor_divides_by_255, extractor_bn_after_relu,
            extractor_first_stride_1, extractor_strides_shifted,
            extractor_five_middle_blocks_missing, extractor_max_pooling,
            extractor_ignores_block, extractor_first_bias, extractor_plain_relu_first,
            extractor_valid_padding_first],
    "3.4": [dense_sum, dense_only_new, dense_chain, dense_relu_first, dense_new_first],
    "3.5": [macs_input_size, macs_all_params, macs_square, macs_conv2d_only, macs_no_dense],
    "3.6": [savings_nine, savings_depthwise_only, savings_m_from_depthwise, savings_stride_one,
            savings_kernel_only],
}
REFERENCES = {"3.1": backbones.depthwise_separable_params,
              "3.2": backbones.depthwise_separable_block, "3.3": backbones.mobilenet_extractor,
              "3.4": backbones.dense_block, "3.5": backbones.count_macs,
              "3.6": backbones.separable_savings}


def test_extractor_messages_say_what_is_wrong():
    assert "block 1 was built with" in rejected("3.3", extractor_strides_shifted)
    assert "called block 8 times" in rejected("3.3", extractor_five_middle_blocks_missing)
    assert "32 more" in rejected("3.3", extractor_first_bias)
