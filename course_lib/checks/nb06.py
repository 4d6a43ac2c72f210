"""Checks for the exercises of 06_unet_segmentation.

- 6.1 the Dice loss per image in NumPy: hand-computed values (each case's comment shows S1, S2,
  S3), eps = 0, 0/1 uint8 truth with mixed shapes, and ``course_lib.losses.dice_loss``.
- 6.2 / 6.3 / 6.6 the Dice, BCE + Dice and soft-Jaccard losses as Keras losses: hand values on
  images with exact 0 and 1 probabilities, uint8 and float truth, (N, H, W) next to
  (N, H, W, 1), random images against the library, inside a ``tf.function`` with an unknown
  batch size (as in ``model.fit``) and their gradients.
- 6.4 the decoder block: built on small inputs next to ``course_lib.models.unet.decoder_block``,
  the SAME random weights copied into both (BatchNorm gammas, betas and moving statistics
  randomised, so a wrong layer order or concatenation order shows), outputs compared.
- 6.5 the skip layers: a toy encoder with decoys (padding layers, several layers per
  resolution), MobileNet and VGG16 at non-square inputs, against ``unet.find_skip_layers``.
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
#: Keras' epsilon: probabilities are clipped to [1e-7, 1 - 1e-7] before the logarithm.
_CLIP = 1e-7


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


def _expect_values(values, expected, what, rtol=1e-5, atol=1e-6):
    for index, (value, wanted) in enumerate(zip(values, expected)):
        expect_close(value, float(wanted), f"{what}: image {index}", rtol=rtol, atol=atol)


def _random_masks(seed, shape=(4, 5, 6, 1)):
    rng = np.random.default_rng(seed)
    y_true = (rng.uniform(size=shape) > 0.6).astype(np.float32)
    y_pred = rng.uniform(0.02, 0.98, size=shape).astype(np.float32)
    y_pred[0, 0, 0, 0], y_pred[1, 1, 1, 0] = 1.0, 0.0  # exact 0 and 1 once each
    return y_true, y_pred


@register("6.1", title="the Dice loss per image (Eq. 10)",
          hint="for each image sum over ITS pixels only: S1 = sum(P*Y), S2 = sum(Y), "
               "S3 = sum(P); loss = 1 - (2*S1 + eps) / (S2 + S3 + eps), one value per image")
def check_dice_loss(dice_loss_value):
    what = "dice_loss_value(y_true, y_pred) on three 2x2 images"
    values = _per_image_values(_call(dice_loss_value, what, _Y.copy(), _P.copy()), 3, what)
    _expect_values(values, _DICE, what)

    what = "dice_loss_value(y_true, y_pred) with masks of shape (3, 2, 2, 1)"
    values = _per_image_values(_call(dice_loss_value, what, _Y[..., None].copy(),
                                     _P[..., None].copy()), 3, what)
    _expect_values(values, _DICE, what)

    what = ("dice_loss_value(y_true, y_pred) with y_true 0/1 uint8 of shape (3, 2, 2) and y_pred "
            "of shape (3, 2, 2, 1)")
    values = _per_image_values(_call(dice_loss_value, what, _Y.astype(np.uint8),
                                     _P[..., None].copy()), 3, what)
    _expect_values(values, _DICE, what)

    # eps = 0 on image A: 1 - 3 / 3.8; eps = 2 on image B: 1 - 2 / 3
    what = "dice_loss_value(y_true, y_pred, eps=0.0) on image A"
    values = _per_image_values(_call(dice_loss_value, what, _Y[:1].copy(), _P[:1].copy(),
                                     eps=0.0), 1, what)
    expect_close(values[0], 1 - 3 / 3.8, what, rtol=1e-5, atol=1e-6)
    what = "dice_loss_value(y_true, y_pred, eps=2.0) on image B (no lesion)"
    values = _per_image_values(_call(dice_loss_value, what, _Y[1:2].copy(), _P[1:2].copy(),
                                     eps=2.0), 1, what)
    expect_close(values[0], 1 - 2 / 3, what, rtol=1e-5, atol=1e-6)

    # Against the library on random masks and probabilities.
    import keras

    from course_lib import losses

    y_true, y_pred = _random_masks(6)
    reference = keras.ops.convert_to_numpy(losses.dice_loss(y_true, y_pred))
    what = "dice_loss_value(y_true, y_pred) on four random 5x6 images"
    values = _per_image_values(_call(dice_loss_value, what, y_true.copy(), y_pred.copy()), 4,
                               what)
    _expect_values(values, reference, what, rtol=1e-4)
    return ("3 hand-computed images (two mask shapes, uint8 truth), eps = 0 and 2, and 4 random "
            "images match course_lib.losses.dice_loss")


# --------------------------------------------------------------------------- Keras losses

def _keras_values(loss, what, y_true, y_pred, n_images):
    import keras

    result = loss(keras.ops.convert_to_tensor(y_true), keras.ops.convert_to_tensor(y_pred))
    try:
        result = keras.ops.convert_to_numpy(result)
    except Exception:  # noqa: BLE001 - explained to the student
        raise CheckFailed(f"{what} returned {describe(result)}, expected a tensor of "
                          f"{n_images} losses") from None
    return _per_image_values(result, n_images, what)


def _graph_values(loss, name, y_true, y_pred):
    """Run ``loss`` inside a tf.function whose batch size is unknown, as model.fit does."""
    import tensorflow as tf

    spec = [tf.TensorSpec((None,) + y_true.shape[1:], tf.float32),
            tf.TensorSpec((None,) + y_pred.shape[1:], tf.float32)]
    try:
        graph = tf.function(lambda t, p: loss(t, p), input_signature=spec)
        result = graph(tf.constant(y_true), tf.constant(y_pred))
    except Exception as err:  # noqa: BLE001 - explained to the student
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        first = lines[-1][:160] if lines else ""
        raise CheckFailed(
            f"{name}(y_true, y_pred) fails inside a tf.function with an unknown batch size, as "
            f"in model.fit ({type(err).__name__}: {first}); use keras.ops on the tensors (not "
            "NumPy, not Python loops) and keras.ops.shape(y_pred)[0] for the batch size") from None
    return _per_image_values(result.numpy(), len(y_true), f"{name}(y_true, y_pred) in a graph")


def _gradients(loss, y_true, y_pred):
    import tensorflow as tf

    p = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(loss(tf.constant(y_true), p))
    grad = tape.gradient(value, p)
    return None if grad is None else grad.numpy()


def _check_keras_loss(loss, name, reference, hand_values, mistakes=()):
    """Shared by 6.2, 6.3 and 6.6. ``reference(y_true, y_pred)`` gives the expected (N,) values
    in NumPy; ``mistakes`` are (test, explanation) pairs tried on a failure to say what is
    probably wrong."""
    cases = [("on three 2x2 images (float32, shape (3, 2, 2))", _Y, _P, hand_values),
             ("with y_true 0/1 uint8 of shape (3, 2, 2, 1)", _Y[..., None].astype(np.uint8),
              _P[..., None], hand_values),
             ("with y_true of shape (3, 2, 2) and y_pred of shape (3, 2, 2, 1)", _Y,
              _P[..., None], hand_values)]
    y_true, y_pred = _random_masks(16)
    cases.append(("on four random 5x6 images", y_true, y_pred, reference(y_true, y_pred)))
    for text, truth, prob, expected in cases:
        what = f"{name}(y_true, y_pred) {text}"
        values = _keras_values(loss, what, truth, prob, len(truth))
        try:
            _expect_values(values, expected, what, rtol=1e-4, atol=1e-5)
        except CheckFailed as err:
            if not np.all(np.isfinite(values)):
                raise CheckFailed(f"{err}: the loss is not finite where a probability is exactly "
                                  "0 or 1") from None
            for test, why in mistakes:
                if test(truth, prob, values):
                    raise CheckFailed(f"{err} — {why}") from None
            raise
    values = _graph_values(loss, name, y_true, y_pred)
    _expect_values(values, reference(y_true, y_pred), f"{name}(y_true, y_pred) in a graph",
                   rtol=1e-4, atol=1e-5)
    grad = _gradients(loss, y_true, y_pred)
    expect_true(grad is not None and np.all(np.isfinite(grad)) and np.any(grad != 0),
                f"{name}: no usable gradient flows from the loss to y_pred; compute it with "
                "differentiable keras.ops (no rounding, no thresholds, no NumPy)")
    return grad


def _dice_numpy(y_true, y_pred, eps=1.0):
    n = len(y_true)
    t = np.asarray(y_true, np.float64).reshape(n, -1)
    p = np.asarray(y_pred, np.float64).reshape(n, -1)
    return 1 - (2 * (t * p).sum(1) + eps) / (t.sum(1) + p.sum(1) + eps)


def _bce_numpy(y_true, y_pred):
    n = len(y_true)
    t = np.asarray(y_true, np.float64).reshape(n, -1)
    # Clipped in float32 as Keras does (1 - 1e-7 rounds to 1 - 1.19e-7 there).
    p = np.clip(np.asarray(y_pred, np.float32).reshape(n, -1), np.float32(_CLIP),
                np.float32(1 - _CLIP)).astype(np.float64)
    one_minus = (np.float32(1) - p.astype(np.float32)).astype(np.float64)
    return -(t * np.log(p) + (1 - t) * np.log(one_minus)).mean(1)


def _bce_log_eps(y_true, y_pred):
    """A common variant: -(Y ln(P + 1e-7) + (1 - Y) ln(1 - P + 1e-7)), not clipped."""
    n = len(y_true)
    t = np.asarray(y_true, np.float64).reshape(n, -1)
    p = np.asarray(y_pred, np.float64).reshape(n, -1)
    return -(t * np.log(p + _CLIP) + (1 - t) * np.log(1 - p + _CLIP)).mean(1)


def _batch_dice(y_true, y_pred, eps=1.0):
    t = np.asarray(y_true, np.float64).reshape(-1)
    p = np.asarray(y_pred, np.float64).reshape(-1)
    return 1 - (2 * (t * p).sum() + eps) / (t.sum() + p.sum() + eps)


def _close(a, b):
    return np.allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=1e-4, atol=1e-5)


@register("6.2", title="the Dice loss as a Keras loss (Eq. 10)",
          hint="use keras.ops only: cast y_true to y_pred's dtype, reshape both to (batch, -1) "
               "with batch = ops.shape(y_pred)[0], sum along axis 1; epsilon = 1")
def check_dice_loss_keras(dice_loss_keras):
    mistakes = [(lambda t, p, v: _close(v, np.full(len(t), _batch_dice(t, p))),
                 "that is the Dice loss of the whole batch, repeated: sum over each image's own "
                 "pixels"),
                (lambda t, p, v: _close(v, _dice_numpy(t, p, eps=0.0)),
                 "epsilon is missing: the paper adds 1 above and below")]
    _check_keras_loss(dice_loss_keras, "dice_loss_keras", _dice_numpy, _DICE, mistakes)
    return ("hand-computed images (float and uint8 truth, two shapes), random images, a graph "
            "with unknown batch size and the gradient match course_lib.losses.dice_loss")


@register("6.3", title="BCE + Dice, the paper's U-Net loss (Eq. 9 and 11)",
          hint="per image: the mean over ITS pixels of -(Y ln P + (1 - Y) ln(1 - P)) with P "
               "clipped to [1e-7, 1 - 1e-7], plus your Dice loss of 6.2; one value per image")
def check_bce_dice_loss(bce_dice_loss):
    def expected(t, p):
        return _bce_numpy(t, p) + _dice_numpy(t, p)

    mistakes = [(lambda t, p, v: _close(v, _dice_numpy(t, p)),
                 "that is the Dice loss alone: add the cross-entropy of Eq. 9"),
                (lambda t, p, v: _close(v, _bce_numpy(t, p)),
                 "that is the cross-entropy alone: add the Dice loss of Eq. 10"),
                (lambda t, p, v: _close(v, _bce_numpy(p, t) + _dice_numpy(t, p)),
                 "y_true and y_pred are swapped in the cross-entropy"),
                (lambda t, p, v: _close(v, _bce_numpy(t, p) * np.asarray(t[0]).size
                                        + _dice_numpy(t, p)),
                 "the cross-entropy is summed over the pixels: Eq. 9 divides by w*h (the mean)"),
                (lambda t, p, v: _close(v, np.full(len(t), _bce_numpy(t, p).mean())
                                        + _dice_numpy(t, p)),
                 "the cross-entropy is averaged over the whole batch: one value per image"),
                (lambda t, p, v: _close(v, _bce_log_eps(t, p) + _dice_numpy(t, p)),
                 "1e-7 is added inside the logarithms; clip P instead (ops.clip(P, 1e-7, "
                 "1 - 1e-7)), as Keras does, so that confident mistakes cost the same")]
    hand = expected(_Y, _P)
    try:
        _check_keras_loss(bce_dice_loss, "bce_dice_loss", expected, hand, mistakes)
    except NotImplementedError as err:
        if "Exercise 6.2" in str(err):  # the body is written, the Dice loss it calls is not
            raise CheckFailed("bce_dice_loss calls dice_loss_keras, which is not written yet: "
                              "solve Exercise 6.2 first, then run this check again") from None
        raise
    return ("hand-computed images with probabilities of exactly 0 and 1, uint8 truth, two "
            "shapes, random images, a graph and the gradient match course_lib.losses.bce_dice_loss")


def _jaccard_numpy(y_true, y_pred, eps=1.0):
    n = len(y_true)
    t = np.asarray(y_true, np.float64).reshape(n, -1)
    p = np.asarray(y_pred, np.float64).reshape(n, -1)
    s1, s2, s3 = (t * p).sum(1), t.sum(1), p.sum(1)
    return 1 - (s1 + eps) / (s2 + s3 - s1 + eps)


@register("6.6", title="the soft Jaccard loss (stretch)",
          hint="per image with keras.ops: 1 - (S1 + 1) / (S2 + S3 - S1 + 1), the union being "
               "S2 + S3 - S1")
def check_jaccard_loss(jaccard_loss):
    mistakes = [(lambda t, p, v: _close(v, _dice_numpy(t, p)),
                 "that is the Dice loss; Jaccard divides the intersection by the union"),
                (lambda t, p, v: _close(v, 1 - _jaccard_numpy(t, p)),
                 "that is the soft Jaccard index; the loss is 1 minus it")]
    _check_keras_loss(jaccard_loss, "jaccard_loss", _jaccard_numpy, _jaccard_numpy(_Y, _P),
                      mistakes)
    return "hand-computed images, random images, a graph and the gradient match"


# --------------------------------------------------------------------------- decoder block

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


#: Layer kinds a decoder block may contain (ReLU as a layer or as Activation("relu")).
_BLOCK_KINDS = {"InputLayer", "UpSampling2D", "Concatenate", "Conv2D", "BatchNormalization",
                "ReLU", "Activation"}


def _weighted(model):
    """(kind, [weight shapes]) of each layer with weights, in the model's order."""
    return [(type(layer).__name__, [tuple(w.shape) for w in layer.get_weights()], layer)
            for layer in model.layers if layer.get_weights()]


def _random_weights(kind, shapes, rng):
    if kind == "BatchNormalization" and len(shapes) == 4:
        gamma = rng.uniform(0.5, 1.5, shapes[0])
        beta = rng.normal(0, 0.5, shapes[1])
        mean = rng.normal(0, 0.5, shapes[2])
        var = rng.uniform(0.5, 2.0, shapes[3])
        return [a.astype(np.float32) for a in (gamma, beta, mean, var)]
    return [rng.normal(0, 0.3, s).astype(np.float32) for s in shapes]


def _copy_same_weights(student, reference, what, seed):
    """Give both models the same random weights, layer by layer; explain a mismatch."""
    mine, theirs = _weighted(student), _weighted(reference)
    got = [f"{kind} {shapes}" for kind, shapes, _ in mine]
    wanted = [f"{kind} {shapes}" for kind, shapes, _ in theirs]
    if [(k, s) for k, s, _ in mine] != [(k, s) for k, s, _ in theirs]:
        raise CheckFailed(f"{what}: its layers with weights are {got} (kind and weight shapes, "
                          f"in order), expected {wanted}")
    rng = np.random.default_rng(seed)
    for (kind, shapes, layer), (_, _, ref_layer) in zip(mine, theirs):
        values = _random_weights(kind, shapes, rng)
        layer.set_weights(values)
        ref_layer.set_weights(values)


@register("6.4", title="one decoder block (Fig. 6c)",
          hint="UpSampling2D(2) on x, Concatenate()([x, skip]) when skip is not None, then "
               "twice Conv2D(filters, 3, padding='same', use_bias=False) -> "
               "BatchNormalization() -> ReLU()")
def check_decoder_block(decoder_block):
    import keras

    from course_lib.models import unet

    cases = [((4, 4, 8), (8, 8, 4), 6), ((3, 5, 8), None, 6), ((2, 3, 5), (4, 6, 3), 4)]
    for number, (x_shape, skip_shape, filters) in enumerate(cases):
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
        extra = sorted(set(kinds) - _BLOCK_KINDS)
        expect_true(not extra, f"{what} contains {', '.join(extra)} layers; Fig. 6c's block has "
                    "only upsampling, concatenation, convolutions, BatchNorm and ReLU")
        _copy_same_weights(student, reference, what, seed=60 + number)
        rng = np.random.default_rng(number)
        arrays = [rng.normal(size=(2,) + x_shape).astype(np.float32)]
        if skip_shape is not None:
            arrays.append(rng.normal(size=(2,) + skip_shape).astype(np.float32))
        feed = arrays if len(arrays) > 1 else arrays[0]
        mine = keras.ops.convert_to_numpy(student(feed, training=False))
        theirs = keras.ops.convert_to_numpy(reference(feed, training=False))
        if not np.allclose(mine, theirs, rtol=1e-4, atol=1e-4):
            worst = float(np.max(np.abs(mine - theirs)))
            negative = " (some are negative: end with ReLU)" if mine.min() < 0 else ""
            raise CheckFailed(
                f"{what}, with the same random weights as course_lib's block (BatchNorm "
                f"statistics randomised), gives different outputs{negative}: largest difference "
                f"{worst:.3g} on random inputs. Check the order of the layers, the order of the "
                "concatenation ([upsampled x, skip]) and the upsampling (nearest, the default)")
    return ("shapes, parameter counts (1020 with a skip, 804 without, ...) and the outputs "
            "with the library's random weights and BatchNorm statistics match "
            "course_lib.models.unet.decoder_block in 3 cases")


# --------------------------------------------------------------------------- skip layers

def _toy_encoder():
    """A small encoder with decoys. Input 32x48; answer ("act_d", "act_c", "act_b", "mix_a")."""
    import keras
    from keras import layers

    image = keras.Input((32, 48, 3), name="image")
    x = layers.Conv2D(4, 3, strides=2, padding="same", name="stem")(image)         # 16x24
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.Conv2D(4, 3, padding="same", name="mix_a")(x)                      # 16x24
    x = layers.ZeroPadding2D(1, name="pad_a")(x)                                  # 18x26
    x = layers.Conv2D(6, 3, strides=2, name="down_b")(x)                          # 8x12
    x = layers.BatchNormalization(name="bn_b")(x)
    x = layers.ReLU(name="act_b")(x)
    x = layers.MaxPooling2D(2, name="pool_c")(x)                                  # 4x6
    x = layers.Conv2D(8, 3, padding="same", name="conv_c")(x)
    x = layers.ReLU(name="act_c")(x)
    x = layers.Conv2D(8, 3, strides=2, padding="same", name="down_d")(x)          # 2x3
    x = layers.ReLU(name="act_d")(x)
    x = layers.ZeroPadding2D(((1, 1), (1, 2)), name="pad_e")(x)                   # 4x6 (decoy)
    x = layers.Conv2D(8, 3, strides=2, name="down_e")(x)                          # 1x2
    return keras.Model(image, x, name="toy_encoder")


def _as_names(result, what):
    if isinstance(result, str) or not isinstance(result, (list, tuple)) or not all(
            isinstance(name, str) for name in result):
        raise CheckFailed(f"{what} returned {describe(result)}, expected a list of four layer "
                          "names (strings), deepest first")
    return list(result)


@register("6.5", title="the layers that feed the skip connections",
          hint="input H x W from encoder_model.inputs[0].shape; for s in (16, 8, 4, 2) the LAST "
               "layer in encoder_model.layers whose output is (H/s) x (W/s), passing over "
               "layers larger than an earlier one (padding)")
def check_find_skip_layers(find_skip_layers):
    import keras

    from course_lib.models import unet

    toy = _toy_encoder()
    what = ("find_skip_layers(toy encoder) (input 32x48: stem, stem_relu, mix_a 16x24; pad_a "
            "18x26; down_b, bn_b, act_b 8x12; pool_c, conv_c, act_c 4x6; down_d, act_d 2x3; "
            "pad_e 4x6; down_e 1x2)")
    names = _as_names(find_skip_layers(toy), what)
    expected = list(unet.find_skip_layers(toy))
    if len(names) != 4:
        raise CheckFailed(f"{what} returned {len(names)} names {names}, expected 4: strides "
                          "16, 8, 4, 2 (the fifth decoder block has no skip)")
    if names == expected[::-1]:
        raise CheckFailed(f"{what} returned {names}: the right layers in the wrong order; "
                          "build_unet wants the deepest (1/16) first")
    if names[1] == "pad_e":
        raise CheckFailed(f"{what} returned {names}, expected {expected}: pad_e only pads the "
                          "2x3 map (an encoder never grows again): pass over such layers")
    expect_equal(names, expected, what)
    mobilenet = keras.applications.MobileNet(include_top=False, weights=None,
                                             input_shape=(64, 96, 3))
    what = "find_skip_layers(keras.applications.MobileNet at 64x96)"
    expect_equal(_as_names(find_skip_layers(mobilenet), what),
                 list(unet.SKIP_LAYERS["mobilenet"]), what)
    vgg16 = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 64, 3))
    what = "find_skip_layers(keras.applications.VGG16 at 32x64)"
    expect_equal(_as_names(find_skip_layers(vgg16), what), list(unet.SKIP_LAYERS["vgg16"]),
                 what)
    return ("the toy encoder with decoys, MobileNet at 64x96 and VGG16 at 32x64 give the skip "
            "layers of course_lib.models.unet (MobileNet: conv_pw_11_relu, conv_pw_5_relu, "
            "conv_pw_3_relu, conv_pw_1_relu)")
