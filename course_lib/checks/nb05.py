"""Checks for the exercises of 05_focal_loss.

5.1 compares the student's focal loss with Keras' own (``BinaryFocalCrossentropy`` with
``apply_class_balancing=True``, computed in float64) and with the worked example of the lesson;
5.2 uses label arrays whose class fractions are counted by hand; 5.3 compares the student's Keras
loss with the formula per example, as a batch mean and through its gradient; 5.4 compares central
differences with hand-derived gradients; 5.5 compares autodiff gradients with the analytic
gradient of cross-entropy and with the course's; 5.6 tests a logit-space focal loss far out in the
tails, where a naive implementation overflows or clips.
"""
from __future__ import annotations

import numpy as np

from . import CheckFailed, describe, expect_close, expect_true, register


def _keras_focal(y_true, p, alpha, gamma) -> np.ndarray:
    """Per-example focal loss from Keras (float64 so the comparison can be tight)."""
    import keras

    loss = keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=alpha,
                                                gamma=gamma, reduction=None, dtype="float64")
    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1, 1)
    p = np.asarray(p, dtype=np.float64).reshape(-1, 1)
    return np.asarray(keras.ops.convert_to_numpy(loss(y_true, p)), dtype=np.float64)


@register("5.1", title="focal loss (Lin et al.)",
          hint="with p_t = p for y = 1 and 1 - p for y = 0, and alpha_t = alpha for y = 1 and "
               "1 - alpha for y = 0: FL = -alpha_t * (1 - p_t)**gamma * log(p_t), one value per "
               "example (no mean); the paper's printed Eq. 4 has an extra (1 - p) -- leave it out")
def check_focal_loss_value(focal_loss_value):
    # Hand-computed: y = 0, p = 0.7, alpha = 0.25, gamma = 0.75:
    # -(1 - 0.25) * 0.7**0.75 * ln(0.3) = 0.75 * 0.765286 * 1.203973 = 0.691037
    # (the paper's printed Eq. 4 multiplies by (1 - 0.7) = 0.3 and gives 0.207311).
    worked = focal_loss_value(np.array([0.0]), np.array([0.7]), 0.25, 0.75)
    values = np.asarray(worked, dtype=np.float64).reshape(-1)
    if values.size != 1:
        raise CheckFailed(f"focal_loss_value([0], [0.7], 0.25, 0.75) returned "
                          f"{describe(worked)}, expected one loss per example (1 value)")
    if abs(values[0] - 0.207311) < 1e-4:
        raise CheckFailed("focal_loss_value([0], [0.7], 0.25, 0.75) returned 0.207311 -- the "
                          "paper's misprinted Eq. 4 with its extra factor (1 - p); Lin et al.'s "
                          "focal loss gives 0.691037")
    expect_close(values[0], 0.75 * 0.7 ** 0.75 * -np.log(0.3),
                 "focal_loss_value([0], [0.7], alpha=0.25, gamma=0.75)")
    y_true = np.array([1, 1, 1, 0, 0, 0, 1, 0], dtype=np.float64)
    p = np.array([0.9, 0.3, 0.05, 0.1, 0.6, 0.97, 0.5, 0.5])
    settings = [(0.25, 0.75), (0.25, 2.0), (0.8, 0.0), (0.5, 1.25)]
    for alpha, gamma in settings:
        what = (f"focal_loss_value(y_true, p, alpha={alpha}, gamma={gamma}) on 8 examples "
                f"(y_true = {y_true.astype(int).tolist()})")
        result = np.asarray(focal_loss_value(y_true, p, alpha, gamma), dtype=np.float64)
        if result.shape != p.shape:
            raise CheckFailed(f"{what} has shape {result.shape}, expected {p.shape}: one loss "
                              "per example, no mean")
        expected = _keras_focal(y_true, p, alpha, gamma)
        worst = int(np.argmax(np.abs(result - expected)))
        if not np.allclose(result, expected, rtol=0, atol=1e-6):
            raise CheckFailed(f"{what}: example {worst} (y = {int(y_true[worst])}, "
                              f"p = {p[worst]}) gives {describe(float(result[worst]))}, Keras' "
                              "BinaryFocalCrossentropy(apply_class_balancing=True) gives "
                              f"{describe(float(expected[worst]))}")
    return (f"0.691 on the worked example and equal to Keras' BinaryFocalCrossentropy("
            f"apply_class_balancing=True) to 1e-6 for {len(settings)} (alpha, gamma) settings")


@register("5.2", title="alpha from the class frequencies",
          hint="alpha weights the positive (melanoma) class; the inverse-frequency choice gives it "
               "the fraction of NEGATIVE labels: alpha = (number of 0s) / (number of labels)")
def check_alpha_from_frequencies(alpha_from_frequencies):
    cases = [
        # 4 benign, 1 melanoma: 4 / 5
        ("[0, 0, 0, 0, 1]", np.array([0, 0, 0, 0, 1]), 0.8),
        # ISIC 2016 training set: 727 benign, 173 melanoma -> 727 / 900
        ("the ISIC 2016 training labels (727 benign, 173 melanoma)",
         np.array([0] * 727 + [1] * 173), 727 / 900),
        # balanced: 1 / 2
        ("[1, 0, 1, 0]", np.array([1, 0, 1, 0]), 0.5),
        # mostly melanoma: 1 benign of 4 -> 1 / 4 (alpha < 0.5 when positives are common)
        ("[1, 1, 0, 1]", np.array([1, 1, 0, 1]), 0.25),
        # a Python list works too: 2 benign of 3
        ("the list [0, 1, 0]", [0, 1, 0], 2 / 3),
    ]
    for description, labels, expected in cases:
        before = np.array(labels, copy=True)
        what = f"alpha_from_frequencies({description})"
        expect_close(alpha_from_frequencies(labels), expected, what)
        expect_true(np.array_equal(np.asarray(labels), before),
                    f"{what} changed its input; count on a copy instead")
    return f"{len(cases)} label arrays, e.g. 1:4 -> 0.8 and ISIC 2016's 727:173 -> 0.808"


# --------------------------------------------------------------------------- 5.3 the Keras loss
_Y = np.array([1, 0, 1, 0, 0, 1], dtype=np.float64)
_P = np.array([0.9, 0.2, 0.3, 0.85, 0.5, 0.02])  # melanoma probability of each example
_LOGITS = np.array([[0.3, -1.2], [2.0, 0.5], [-0.4, 0.9], [1.1, 1.0]])
_ONE_HOT = np.eye(2)[[1, 0, 1, 1]]


@register("5.3", title="focal loss as a Keras loss",
          hint="in call(): y = y_true[:, 1] and p = clip(y_pred[:, 1], 1e-7, 1 - 1e-7) (column 1 "
               "= melanoma); p_t = y p + (1 - y)(1 - p); alpha_t = y alpha + (1 - y)(1 - alpha); "
               "return -alpha_t (1 - p_t)**gamma log(p_t), one value per example, with keras.ops "
               "so that gradients flow")
def check_focal_loss_class(loss_class):
    import keras
    import tensorflow as tf

    from .. import losses

    expect_true(isinstance(loss_class, type) and issubclass(loss_class, keras.losses.Loss),
                f"FocalLoss is {describe(loss_class)}, expected a subclass of keras.losses.Loss")
    y_true = np.stack([1 - _Y, _Y], axis=1).astype("float32")
    y_pred = np.stack([1 - _P, _P], axis=1).astype("float32")
    for alpha, gamma in ((0.25, 0.75), (0.8, 2.0), (0.5, 0.0)):
        what = f"FocalLoss(alpha={alpha}, gamma={gamma})"
        loss = loss_class(alpha=alpha, gamma=gamma)
        expected = losses.focal_loss_numpy(_Y, _P, alpha, gamma)
        per_example = np.asarray(keras.ops.convert_to_numpy(
            loss.call(tf.constant(y_true), tf.constant(y_pred))), dtype=np.float64)
        if per_example.shape != expected.shape:
            raise CheckFailed(f"{what}.call(y_true, y_pred) on 6 examples (one-hot (6, 2) labels, "
                              f"softmax (6, 2) predictions) has shape {per_example.shape}, "
                              "expected (6,): one loss per example, no mean over the batch")
        worst = int(np.argmax(np.abs(per_example - expected)))
        if not np.allclose(per_example, expected, rtol=1e-4, atol=1e-6):
            raise CheckFailed(f"{what}.call: example {worst} (y = {int(_Y[worst])}, p(melanoma) "
                              f"= {_P[worst]}) gives {describe(float(per_example[worst]))}, "
                              f"Lin et al.'s focal loss is {describe(float(expected[worst]))}")
        expect_close(float(keras.ops.convert_to_numpy(loss(y_true, y_pred))),
                     float(expected.mean()), f"{what}(y_true, y_pred): the batch loss (the mean "
                     "of the 6 per-example losses)", rtol=1e-4)
    confident = loss_class(alpha=0.25, gamma=0.75).call(
        tf.constant([[0.0, 1.0], [1.0, 0.0]], "float32"), tf.constant([[1.0, 0.0], [0.0, 1.0]],
                                                                      "float32"))
    confident = np.asarray(keras.ops.convert_to_numpy(confident), dtype=np.float64)
    expect_true(confident.shape == (2,) and np.all(np.isfinite(confident))
                and np.all(confident > 1.0),
                "FocalLoss(0.25, 0.75).call on two confident mistakes (p(melanoma) = 0 for a "
                f"melanoma, 1 for a benign lesion) returned {describe(confident)}, expected two "
                "large finite losses (about 4 and 12); clip p to [1e-7, 1 - 1e-7] before the log")
    reference = losses.autodiff_gradient(losses.CategoricalFocalLoss(0.25, 0.75, dtype="float64"),
                                         _ONE_HOT, _LOGITS)
    logits = tf.constant(_LOGITS)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        value = loss_class(alpha=0.25, gamma=0.75, dtype="float64")(
            tf.constant(_ONE_HOT), tf.nn.softmax(logits))
    gradient = tape.gradient(value, logits)
    expect_true(gradient is not None, "no gradient flows through FocalLoss (tape.gradient "
                                      "returned None); compute it with keras.ops, not NumPy")
    gradient = np.asarray(gradient, dtype=np.float64)
    expect_true(np.allclose(gradient, reference, rtol=1e-5, atol=1e-9),
                f"the gradient of FocalLoss(0.25, 0.75) with respect to the logits is "
                f"{describe(gradient[0])} in the first row, expected {describe(reference[0])}")
    return ("equals Lin et al.'s focal loss per example and as a batch mean for 3 (alpha, gamma) "
            "settings, and its gradient matches")


# --------------------------------------------------------------------------- 5.4 differences
_W = np.array([[1.0, -2.0, 0.5], [3.0, 1.5, -1.0]])


def _cubic(x):
    return float(np.sum(_W * x ** 3) + x[0, 1] * x[1, 2])


def _cubic_gradient(x):
    gradient = 3 * _W * x ** 2
    gradient[0, 1] += x[1, 2]
    gradient[1, 2] += x[0, 1]
    return gradient


@register("5.4", title="the numerical gradient (central differences)",
          hint="x = np.array(x, dtype=float) (a float copy); for every index in np.ndindex(x.shape):"
               " keep the old value, evaluate f at old + h and at old - h, put the old value back, "
               "gradient[index] = (f_plus - f_minus) / (2 h)")
def check_numerical_gradient(numerical_gradient):
    cases = [("f(x) = sum(w x^3) + x[0,1] x[1,2] at a (2, 3) x", _cubic,
              np.array([[1.0, -0.5, 2.0], [0.3, -1.2, 0.8]]), _cubic_gradient, 1e-4),
             ("the same f at an INTEGER array x = [[1, 2, -1], [0, 3, 1]]", _cubic,
              np.array([[1, 2, -1], [0, 3, 1]]), _cubic_gradient, 1e-4),
             ("f(x) = sum([1, 2, 3] sin(x)) at x = [0.1, -0.7, 2.0]",
              lambda x: float(np.sum(np.array([1.0, 2.0, 3.0]) * np.sin(x))),
              np.array([0.1, -0.7, 2.0]), lambda x: np.array([1.0, 2.0, 3.0]) * np.cos(x), 1e-3)]
    for description, f, x, exact, h in cases:
        before = x.copy()
        what = f"numerical_gradient(f, x, h={h:g}) with {description}"
        result = np.asarray(numerical_gradient(f, x, h=h), dtype=np.float64)
        expect_true(np.array_equal(x, before), f"{what} changed the caller's x; perturb a copy "
                                               "(np.array(x, dtype=float))")
        expected = exact(x.astype(np.float64))
        if result.shape != expected.shape:
            raise CheckFailed(f"{what} has shape {result.shape}, expected {expected.shape} (one "
                              "partial derivative per element of x)")
        error = np.abs(result - expected)
        worst = np.unravel_index(int(np.argmax(error)), error.shape)
        if error[worst] > 1e-6 + 1e-6 * abs(expected[worst]):
            raise CheckFailed(f"{what}: element {tuple(int(i) for i in worst)} is "
                              f"{describe(float(result[worst]))}, the exact derivative is "
                              f"{describe(float(expected[worst]))} (central differences are "
                              "accurate to about h^2)")
    return "within 1e-6 of the exact gradients of 3 functions, x left unchanged"


# --------------------------------------------------------------------------- 5.5 autodiff
@register("5.5", title="the autodiff gradient (tf.GradientTape)",
          hint="logits = tf.constant(logits, dtype=tf.float64); with tf.GradientTape() as tape: "
               "tape.watch(logits); value = loss(y_true, tf.nn.softmax(logits)); return "
               "tape.gradient(value, logits).numpy() -- the gradient with respect to the LOGITS")
def check_autodiff_gradient(autodiff_gradient):
    import keras

    from .. import losses

    logits, y_true = _LOGITS, _ONE_HOT
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    cases = [("keras.losses.CategoricalCrossentropy()", keras.losses.CategoricalCrossentropy(),
              (softmax - y_true) / len(y_true)),
             ("the course's CategoricalFocalLoss(0.25, 2.0, dtype='float64')",
              losses.CategoricalFocalLoss(0.25, 2.0, dtype="float64"), None)]
    for name, loss, expected in cases:
        if expected is None:
            expected = losses.autodiff_gradient(loss, y_true, logits)
        what = (f"autodiff_gradient({name}, y_true, logits) with logits {logits.tolist()} and "
                f"labels {y_true.argmax(1).tolist()}")
        result = np.asarray(autodiff_gradient(loss, y_true, logits), dtype=np.float64)
        if result.shape != expected.shape:
            raise CheckFailed(f"{what} has shape {result.shape}, expected {expected.shape}: the "
                              "gradient with respect to each logit")
        if not np.allclose(result, expected, rtol=1e-5, atol=1e-8):
            row = int(np.argmax(np.abs(result - expected).max(axis=1)))
            raise CheckFailed(f"{what}: row {row} is {describe(result[row])}, expected "
                              f"{describe(expected[row])}")
    return ("equals (softmax(z) - y) / N for cross-entropy and the course's gradient of focal "
            "loss")


# --------------------------------------------------------------------------- 5.6 from logits
def _stable_focal(y, z, alpha, gamma):
    y, z = np.asarray(y, dtype=np.float64), np.asarray(z, dtype=np.float64)
    log_p, log_q = -np.logaddexp(0.0, -z), -np.logaddexp(0.0, z)
    p, q = np.exp(log_p), np.exp(log_q)
    return -alpha * y * q ** gamma * log_p - (1 - alpha) * (1 - y) * p ** gamma * log_q


@register("5.6", title="focal loss from logits, stable far out in the tails",
          hint="work with logarithms: ln p = -logaddexp(0, -z), ln(1 - p) = -logaddexp(0, z), and "
               "p = exp(ln p), 1 - p = exp(ln(1 - p)); never take the log of a probability that "
               "rounded to 0 or 1, and do not clip")
def check_focal_from_logits(focal_from_logits):
    y = np.array([1, 0, 1, 0, 1, 0], dtype=np.float64)
    z = np.array([2.0, -1.5, -3.0, 0.7, 0.0, 4.0])
    for alpha, gamma in ((0.25, 0.75), (0.8, 2.0)):
        what = f"focal_from_logits(y, z, {alpha}, {gamma}) with y = {y.astype(int).tolist()}, z = {z.tolist()}"
        result = np.asarray(focal_from_logits(y, z, alpha, gamma), dtype=np.float64)
        expected = _stable_focal(y, z, alpha, gamma)
        if result.shape != expected.shape:
            raise CheckFailed(f"{what} has shape {result.shape}, expected {expected.shape}")
        if not np.allclose(result, expected, rtol=1e-9, atol=1e-12):
            worst = int(np.argmax(np.abs(result - expected)))
            raise CheckFailed(f"{what}: example {worst} gives {describe(float(result[worst]))}, "
                              f"expected {describe(float(expected[worst]))}")
    y = np.array([1, 0, 0, 1, 1, 0], dtype=np.float64)
    z = np.array([-800.0, 800.0, 40.0, -40.0, 800.0, -800.0])
    expected = _stable_focal(y, z, 0.25, 0.75)  # [200, 600, 30, 10, 0, 0]
    what = (f"focal_from_logits(y, z, 0.25, 0.75) in the tails, y = {y.astype(int).tolist()}, "
            f"z = {z.tolist()}")
    with np.errstate(all="ignore"):
        result = np.asarray(focal_from_logits(y, z, 0.25, 0.75), dtype=np.float64)
    if result.shape != expected.shape or not np.all(np.isfinite(result)):
        raise CheckFailed(f"{what} returned {describe(result)}, expected the finite values "
                          f"{describe(expected)}")
    if not np.allclose(result, expected, rtol=1e-9, atol=1e-12):
        worst = int(np.argmax(np.abs(result - expected)))
        raise CheckFailed(f"{what}: example {worst} (y = {int(y[worst])}, z = {z[worst]:g}) gives "
                          f"{describe(float(result[worst]))}, expected "
                          f"{describe(float(expected[worst]))} = alpha_t |z| for a confident "
                          "mistake")
    return "exact for moderate logits, and 200 / 600 / 30 / 10 at z = -800, 800, 40, -40"
