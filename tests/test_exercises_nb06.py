"""Exercises of 06_unet_segmentation (6.1-6.6): a correct answer per exercise passes its check,
plausible wrong answers (the mistakes students make) fail, a stub reports "not implemented",
and the library's references pass the checks of the exercises they answer."""
from __future__ import annotations

import course_lib  # noqa: F401  (quiet TensorFlow before it is imported)
import numpy as np
import pytest

import keras
from keras import layers, ops

from course_lib import losses
from course_lib.models import unet
from exercise_probe import accepted, rejected


# --------------------------------------------------------------------------- 6.1 NumPy Dice

def dice_right(y_true, y_pred, eps=1.0):
    out = []
    for truth, prob in zip(y_true, y_pred):
        truth = np.asarray(truth, dtype=float).ravel()
        prob = np.asarray(prob, dtype=float).ravel()
        out.append(1 - (2 * np.dot(truth, prob) + eps) / (truth.sum() + prob.sum() + eps))
    return np.array(out)


def dice_batch(y_true, y_pred, eps=1.0):            # one number for the whole batch
    t, p = np.asarray(y_true, float), np.asarray(y_pred, float)
    return 1 - (2 * (t * p).sum() + eps) / (t.sum() + p.sum() + eps)


def dice_eps_below_only(y_true, y_pred, eps=1.0):   # epsilon only in the denominator
    n = len(y_true)
    t, p = np.asarray(y_true, float).reshape(n, -1), np.asarray(y_pred, float).reshape(n, -1)
    return 1 - (2 * (t * p).sum(1)) / (t.sum(1) + p.sum(1) + eps)


def dice_no_two(y_true, y_pred, eps=1.0):           # forgot the factor 2
    n = len(y_true)
    t, p = np.asarray(y_true, float).reshape(n, -1), np.asarray(y_pred, float).reshape(n, -1)
    return 1 - ((t * p).sum(1) + eps) / (t.sum(1) + p.sum(1) + eps)


def dice_hard(y_true, y_pred, eps=1.0):             # thresholds the probabilities first
    return dice_right(y_true, (np.asarray(y_pred) > 0.5).astype(float), eps)


def dice_means(y_true, y_pred, eps=1.0):            # means instead of sums
    n = len(y_true)
    t, p = np.asarray(y_true, float).reshape(n, -1), np.asarray(y_pred, float).reshape(n, -1)
    return 1 - (2 * (t * p).mean(1) + eps) / (t.mean(1) + p.mean(1) + eps)


def dice_fixed_eps(y_true, y_pred, eps=1.0):        # ignores the eps argument
    return dice_right(y_true, y_pred, 1.0)


# --------------------------------------------------------------------------- 6.2 Keras Dice

def _flat(y_true, y_pred):
    y_pred = ops.convert_to_tensor(y_pred)
    n = ops.shape(y_pred)[0]
    return ops.reshape(ops.cast(y_true, "float32"), (n, -1)), ops.reshape(y_pred, (n, -1))


def dice_keras_right(y_true, y_pred):
    t, p = _flat(y_true, y_pred)
    inter = ops.sum(t * p, axis=-1)
    return 1 - (2 * inter + 1) / (ops.sum(t, axis=-1) + ops.sum(p, axis=-1) + 1)


def dice_keras_batch(y_true, y_pred):               # whole batch, repeated per image
    t, p = _flat(y_true, y_pred)
    value = 1 - (2 * ops.sum(t * p) + 1) / (ops.sum(t) + ops.sum(p) + 1)
    return value * ops.ones_like(ops.sum(p, axis=-1))


def dice_keras_static_batch(y_true, y_pred):        # y_pred.shape[0] is None in model.fit
    y_pred = ops.convert_to_tensor(y_pred)
    t = ops.reshape(ops.cast(y_true, "float32"), (y_pred.shape[0], -1))
    p = ops.reshape(y_pred, (y_pred.shape[0], -1))
    return 1 - (2 * ops.sum(t * p, axis=1) + 1) / (ops.sum(t, axis=1) + ops.sum(p, axis=1) + 1)


def dice_keras_numpy(y_true, y_pred):               # NumPy inside a loss: no graph, no gradient
    return dice_right(np.asarray(y_true), np.asarray(y_pred)).astype(np.float32)


def dice_keras_round(y_true, y_pred):               # hard predictions: no gradient, other values
    return dice_keras_right(y_true, ops.round(ops.convert_to_tensor(y_pred)))


def dice_keras_no_eps(y_true, y_pred):
    t, p = _flat(y_true, y_pred)
    return 1 - 2 * ops.sum(t * p, axis=1) / (ops.sum(t, axis=1) + ops.sum(p, axis=1) + 1e-7)


def dice_keras_sum_axis_last(y_true, y_pred):       # sums the last axis only: (N, H, W) values
    y_pred = ops.convert_to_tensor(y_pred)
    t = ops.cast(ops.reshape(y_true, ops.shape(y_pred)), "float32")
    return 1 - (2 * ops.sum(t * y_pred, -1) + 1) / (ops.sum(t, -1) + ops.sum(y_pred, -1) + 1)


# --------------------------------------------------------------------------- 6.3 BCE + Dice

def _bce(y_true, y_pred, clip=1e-7, reduce="mean", swap=False):
    t, p = _flat(y_true, y_pred)
    if swap:
        t, p = p, t
    p = ops.clip(p, clip, 1 - clip) if clip else p
    pixels = -(t * ops.log(p) + (1 - t) * ops.log(1 - p))
    return ops.mean(pixels, axis=1) if reduce == "mean" else ops.sum(pixels, axis=1)


def bce_dice_right(y_true, y_pred):
    bce = keras.losses.binary_crossentropy(ops.reshape(ops.cast(y_true, "float32"),
                                                       ops.shape(y_pred)), y_pred)
    return ops.mean(ops.reshape(bce, (ops.shape(y_pred)[0], -1)), axis=1) + \
        dice_keras_right(y_true, y_pred)


def bce_dice_only_dice(y_true, y_pred):
    return dice_keras_right(y_true, y_pred)


def bce_dice_no_clip(y_true, y_pred):               # ln(0) on exact 0/1 probabilities
    return _bce(y_true, y_pred, clip=0.0) + dice_keras_right(y_true, y_pred)


def bce_dice_summed(y_true, y_pred):                # sum over pixels instead of the mean
    return _bce(y_true, y_pred, reduce="sum") + dice_keras_right(y_true, y_pred)


def bce_dice_swapped(y_true, y_pred):               # y_true and y_pred swapped in BCE
    return _bce(y_true, y_pred, swap=True) + dice_keras_right(y_true, y_pred)


def bce_dice_batch_bce(y_true, y_pred):             # BCE averaged over the batch
    bce = ops.mean(_bce(y_true, y_pred))
    return bce + dice_keras_right(y_true, y_pred)


def bce_dice_big_clip(y_true, y_pred):              # clipped at 1e-3 instead of 1e-7
    return _bce(y_true, y_pred, clip=1e-3) + dice_keras_right(y_true, y_pred)


def bce_dice_log_eps(y_true, y_pred):               # ln(P + 1e-7) instead of clipping P
    t, p = _flat(y_true, y_pred)
    bce = -ops.mean(t * ops.log(p + 1e-7) + (1 - t) * ops.log(1 - p + 1e-7), axis=1)
    return bce + dice_keras_right(y_true, y_pred)


def bce_dice_half(y_true, y_pred):                  # (BCE + Dice) / 2
    return (_bce(y_true, y_pred) + dice_keras_right(y_true, y_pred)) / 2


# --------------------------------------------------------------------------- 6.4 decoder block

def block_right(x, skip, filters):
    up = layers.UpSampling2D(size=(2, 2))(x)
    y = up if skip is None else layers.concatenate([up, skip], axis=-1)
    for _ in (1, 2):
        y = layers.Conv2D(filters, (3, 3), padding="same", use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        y = layers.Activation("relu")(y)
    return y


def _block(order="cbr", concat="xs", bias=False, interpolation="nearest", convs=2):
    def block(x, skip, filters):
        x = layers.UpSampling2D(2, interpolation=interpolation)(x)
        if skip is not None:
            x = layers.Concatenate()([x, skip] if concat == "xs" else [skip, x])
        for _ in range(convs):
            conv = layers.Conv2D(filters, 3, padding="same", use_bias=bias)
            if order == "cbr":
                x = layers.ReLU()(layers.BatchNormalization()(conv(x)))
            else:                                    # Conv -> ReLU -> BN
                x = layers.BatchNormalization()(layers.ReLU()(conv(x)))
        return x
    return block


block_relu_before_bn = _block(order="crb")
block_skip_first = _block(concat="sx")
block_with_bias = _block(bias=True)
block_bilinear = _block(interpolation="bilinear")
block_one_conv = _block(convs=1)


def block_dropout(x, skip, filters):                # an extra Dropout (no change at inference)
    y = block_right(x, skip, filters)
    return layers.Dropout(0.5)(y)


def block_transpose(x, skip, filters):              # learned up-convolution instead
    x = layers.Conv2DTranspose(x.shape[-1], 2, strides=2, use_bias=False)(x)
    if skip is not None:
        x = layers.Concatenate()([x, skip])
    for _ in range(2):
        x = layers.ReLU()(layers.BatchNormalization()(
            layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)))
    return x


# --------------------------------------------------------------------------- 6.5 skip layers

def skips_right(encoder_model):
    height, width = encoder_model.inputs[0].shape[1:3]
    chosen, smallest = {}, (height, width)
    for layer in encoder_model.layers:
        shape = layer.output.shape
        if len(shape) == 4 and shape[1] <= smallest[0] and shape[2] <= smallest[1]:
            smallest = (shape[1], shape[2])
            chosen[height // shape[1]] = layer.name
    return [chosen[s] for s in (16, 8, 4, 2)]


def _skips(first=False, shallow_first=False, strides=(16, 8, 4, 2), pad_filter=True):
    def find_skip_layers(encoder_model):
        height, width = encoder_model.inputs[0].shape[1:3]
        chosen, smallest = {}, (height, width)
        for layer in encoder_model.layers:
            shape = layer.output.shape
            if len(shape) != 4:
                continue
            if pad_filter and (shape[1] > smallest[0] or shape[2] > smallest[1]):
                continue
            smallest = (shape[1], shape[2])
            if not (first and (shape[1], shape[2]) in chosen):
                chosen[(shape[1], shape[2])] = layer.name
        names = [chosen.get((height // s, width // s), "?") for s in strides]
        return names[::-1] if shallow_first else names
    return find_skip_layers


skips_first_layer = _skips(first=True)
skips_shallow_first = _skips(shallow_first=True)
skips_no_pad_filter = _skips(pad_filter=False)
skips_off_by_one = _skips(strides=(32, 16, 8, 4))
skips_five = _skips(strides=(32, 16, 8, 4, 2))


def skips_hardcoded(encoder_model):                 # MobileNet's names for every encoder
    return ["conv_pw_11_relu", "conv_pw_5_relu", "conv_pw_3_relu", "conv_pw_1_relu"]


# --------------------------------------------------------------------------- 6.6 soft Jaccard

def jaccard_right(y_true, y_pred):
    t, p = _flat(y_true, y_pred)
    inter = ops.sum(t * p, axis=1)
    union = ops.sum(t + p - t * p, axis=1)
    return 1 - (inter + 1) / (union + 1)


def jaccard_index(y_true, y_pred):                  # the index, not the loss
    return 1 - jaccard_right(y_true, y_pred)


def jaccard_no_minus(y_true, y_pred):               # union S2 + S3 (that is Dice without 2)
    t, p = _flat(y_true, y_pred)
    return 1 - (ops.sum(t * p, 1) + 1) / (ops.sum(t, 1) + ops.sum(p, 1) + 1)


def jaccard_no_eps(y_true, y_pred):
    t, p = _flat(y_true, y_pred)
    inter = ops.sum(t * p, axis=1)
    return 1 - inter / (ops.sum(t, 1) + ops.sum(p, 1) - inter + 1e-7)


RIGHT_ANSWERS = {"6.1": dice_right, "6.2": dice_keras_right, "6.3": bce_dice_right,
                 "6.4": block_right, "6.5": skips_right, "6.6": jaccard_right}
WRONG_ANSWERS = {
    "6.1": [dice_batch, dice_eps_below_only, dice_no_two, dice_hard, dice_means, dice_fixed_eps],
    "6.2": [dice_keras_batch, dice_keras_static_batch, dice_keras_numpy, dice_keras_round,
            dice_keras_no_eps, dice_keras_sum_axis_last],
    "6.3": [bce_dice_only_dice, bce_dice_no_clip, bce_dice_summed, bce_dice_swapped,
            bce_dice_batch_bce, bce_dice_big_clip, bce_dice_half, bce_dice_log_eps],
    "6.4": [block_relu_before_bn, block_skip_first, block_with_bias, block_bilinear,
            block_one_conv, block_transpose, block_dropout],
    "6.5": [skips_first_layer, skips_shallow_first, skips_no_pad_filter, skips_off_by_one,
            skips_five, skips_hardcoded],
    "6.6": [jaccard_index, jaccard_no_minus, jaccard_no_eps, dice_keras_right],
}
#: The library's implementation answering each exercise (same signature as the exercise).
REFERENCES = {"6.1": unet.dice_loss_numpy, "6.2": losses.dice_loss, "6.3": losses.bce_dice_loss,
              "6.4": unet.decoder_block, "6.5": unet.find_skip_layers}


@pytest.mark.parametrize("exercise_id, wrong", [(i, fn) for i, fns in WRONG_ANSWERS.items()
                                                for fn in fns],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_wrong_answer_fails(exercise_id, wrong):
    message = rejected(exercise_id, wrong)
    assert f"Exercise {exercise_id}" in message


def test_bce_dice_before_the_dice_exercise_is_solved():
    def dice_loss_keras(y_true, y_pred):
        raise NotImplementedError("Exercise 6.2: write the body of dice_loss_keras()")

    def bce_dice_loss(y_true, y_pred):
        return _bce(y_true, y_pred) + dice_loss_keras(y_true, y_pred)

    assert "solve Exercise 6.2 first" in rejected("6.3", bce_dice_loss)


def test_messages_say_what_is_wrong():
    assert "returned one number" in rejected("6.1", dice_batch)
    assert "unknown batch size" in rejected("6.2", dice_keras_static_batch)
    assert "not finite" in rejected("6.3", bce_dice_no_clip)
    assert "swapped" in rejected("6.3", bce_dice_swapped)
    assert "clip P instead" in rejected("6.3", bce_dice_log_eps)
    assert "carry a bias" in rejected("6.4", block_with_bias)
    assert "different outputs" in rejected("6.4", block_relu_before_bn)
    assert "wrong order" in rejected("6.5", skips_shallow_first)
    assert "pad_e" in rejected("6.5", skips_no_pad_filter)


def test_notebook_solutions_pass_their_checks():
    """The worked solutions in solutions/06 (exercise cells run on their own) pass every check."""
    import json
    from pathlib import Path

    from course_tools import exercises

    path = Path(__file__).resolve().parent.parent / "solutions" / "06_unet_segmentation.ipynb"
    namespace = {"np": np, "keras": keras, "layers": layers}
    checked = {}
    for cell in json.loads(path.read_text())["cells"]:
        source = "".join(cell["source"])
        header = exercises.exercise_header(source) if cell["cell_type"] == "code" else None
        if header:
            before = set(namespace)
            exec(compile(source, f"exercise {header[0]}", "exec"), namespace)  # noqa: S102
            new = [n for n in set(namespace) - before if callable(namespace[n])
                   and getattr(namespace[n], "__module__", None) is None]
            checked[header[0]] = [namespace[n] for n in new if n != "ops"]
    assert sorted(checked) == sorted(RIGHT_ANSWERS)
    for exercise_id, functions in checked.items():
        assert len(functions) == 1, (exercise_id, functions)
        accepted(exercise_id, functions[0])


def test_use_goes_on_with_the_student_or_the_reference(capsys):
    from course_lib import checks

    assert checks.use("6.3", bce_dice_right, reference=losses.bce_dice_loss) is bce_dice_right
    assert checks.use("6.3", bce_dice_swapped, reference=losses.bce_dice_loss) \
        is losses.bce_dice_loss
    out = capsys.readouterr().out
    assert "6.3 solved" in out and "6.3 not solved yet" in out
