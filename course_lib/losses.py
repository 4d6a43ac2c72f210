"""Losses of the paper: cross-entropy (Eq. 3) and focal loss (Eq. 4, Lin et al. 2017).

Taught in 05_focal_loss (paper section III.B.4, Eq. 3-5, Table VI).

Focal loss (Lin et al. 2017), p the melanoma probability:

    FL = -alpha * (1 - p)^gamma * ln(p)          for y = 1 (melanoma)
    FL = -(1 - alpha) * p^gamma * ln(1 - p)      for y = 0 (benign)

The paper's printed Eq. (4) has an extra factor (1 - p) in the y = 0 branch, a typo (y = 0,
p = 0.7: 0.207 instead of 0.691); :func:`paper_eq4_focal_loss` shows it, do not train with it.
The course's losses agree with Keras' ``BinaryFocalCrossentropy(apply_class_balancing=True)``
(alpha is IGNORED without it) and ``CategoricalFocalCrossentropy(alpha=[1 - alpha, alpha])``.
The segmentation losses (Eq. 6-11, Table X) belong to 06_unet_segmentation.
"""
from __future__ import annotations

import numpy as np

import keras
from keras import ops

from .paper import FOCAL_ALPHA, FOCAL_GAMMA  # 0.25, 0.75: Eq. 3-4
from .paper import SEGMENTATION_FOCAL_ALPHA, SEGMENTATION_FOCAL_GAMMA  # Table X

__all__ = [
    "EPSILON", "BinaryFocalLoss", "CategoricalFocalLoss", "focal_loss", "categorical_focal_loss",
    "paper_eq4_focal_loss", "focal_loss_numpy", "cross_entropy_numpy", "inverse_frequency_alpha",
    "numerical_gradient", "autodiff_gradient", "relative_error", "DICE_EPSILON",
    "SEGMENTATION_FOCAL_ALPHA", "SEGMENTATION_FOCAL_GAMMA", "dice_loss",
    "binary_crossentropy_per_image", "bce_dice_loss", "SegmentationFocalLoss",
    "segmentation_focal_loss",
]

#: Probabilities are clipped to [EPSILON, 1 - EPSILON] before the logarithm (Keras' epsilon).
EPSILON = 1e-7


def _check_alpha_gamma(alpha, gamma) -> tuple[float, float]:
    try:
        alpha, gamma = float(alpha), float(gamma)
    except (TypeError, ValueError):
        raise ValueError(f"alpha and gamma must be numbers; got alpha={alpha!r}, "
                         f"gamma={gamma!r}.") from None
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha weights the melanoma class and must lie in [0, 1] (the paper: "
                         f"0.25); got {alpha}.")
    if gamma < 0.0:
        raise ValueError(f"gamma must be >= 0 (0 = weighted cross-entropy; the paper: 0.75); "
                         f"got {gamma}.")
    return alpha, gamma


def _check_sizes(y_true, y_pred, what: str) -> None:
    """A ValueError naming both shapes when labels and predictions differ in size."""
    true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    if None in true_shape or None in pred_shape:
        return
    if int(np.prod(true_shape)) != int(np.prod(pred_shape)):
        raise ValueError(f"{what}: y_true has shape {true_shape} but y_pred has shape "
                         f"{pred_shape}; pass one label (or mask) per prediction, in the same "
                         "order and at the same image size.")


def _match_rank(y_true, y_pred):
    """Reshape labels (N,) <-> (N, 1) to the prediction's shape."""
    y_true = ops.convert_to_tensor(y_true)
    _check_sizes(y_true, y_pred, "focal loss")
    y_true = ops.cast(y_true, y_pred.dtype)
    if len(y_true.shape) != len(y_pred.shape):
        y_true = ops.reshape(y_true, ops.shape(y_pred))
    return y_true


@keras.saving.register_keras_serializable(package="course_lib")
class BinaryFocalLoss(keras.losses.Loss):
    """Focal loss on the melanoma probability ``(N,)`` / ``(N, 1)``. Taught in 05_focal_loss.
    ``paper_eq4=True``: the paper's misprinted Eq. (4)."""

    def __init__(self, alpha=FOCAL_ALPHA, gamma=FOCAL_GAMMA, from_logits=False, paper_eq4=False,
                 epsilon=EPSILON, name="focal_loss", reduction="sum_over_batch_size",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.alpha, self.gamma = _check_alpha_gamma(alpha, gamma)
        self.from_logits = bool(from_logits)
        self.paper_eq4 = bool(paper_eq4)
        self.epsilon = float(epsilon)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = _match_rank(y_true, y_pred)
        if self.from_logits:
            p = ops.sigmoid(y_pred)
            log_p, log_not_p = ops.log_sigmoid(y_pred), ops.log_sigmoid(-y_pred)
        else:
            p = ops.clip(y_pred, self.epsilon, 1.0 - self.epsilon)
            log_p, log_not_p = ops.log(p), ops.log(1.0 - p)
        positive = -self.alpha * ops.power(1.0 - p, self.gamma) * log_p
        negative = -(1.0 - self.alpha) * ops.power(p, self.gamma) * log_not_p
        if self.paper_eq4:
            negative = negative * (1.0 - p)
        loss = y_true * positive + (1.0 - y_true) * negative
        return ops.mean(loss, axis=-1) if len(loss.shape) > 1 else loss

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma,
                "from_logits": self.from_logits, "paper_eq4": self.paper_eq4,
                "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="course_lib")
class CategoricalFocalLoss(keras.losses.Loss):
    """Focal loss for a 2-way softmax ``(N, 2)`` (column 1 = melanoma), e.g. the DC heads.
    Taught in 05_focal_loss. Labels one-hot or class ids; equals :class:`BinaryFocalLoss`."""

    def __init__(self, alpha=FOCAL_ALPHA, gamma=FOCAL_GAMMA, from_logits=False, epsilon=EPSILON,
                 name="categorical_focal_loss", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.alpha, self.gamma = _check_alpha_gamma(alpha, gamma)
        self.from_logits = bool(from_logits)
        self.epsilon = float(epsilon)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        if y_pred.shape[-1] != 2:
            raise ValueError(f"categorical_focal_loss expects 2-way predictions (N, 2); got shape "
                             f"{tuple(y_pred.shape)}. For one melanoma probability per image use "
                             "focal_loss().")
        sparse = len(y_true.shape) == len(y_pred.shape) - 1 or (
            len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1)
        if sparse:
            y_true = ops.one_hot(ops.reshape(ops.cast(y_true, "int32"), (-1,)), 2,
                                 dtype=y_pred.dtype)
        y_true = ops.cast(y_true, y_pred.dtype)
        if self.from_logits:
            log_p = ops.log_softmax(y_pred, axis=-1)
            p = ops.exp(log_p)
        else:
            p = ops.clip(y_pred, self.epsilon, 1.0 - self.epsilon)
            log_p = ops.log(p)
        class_weights = ops.convert_to_tensor([1.0 - self.alpha, self.alpha], dtype=y_pred.dtype)
        loss = -class_weights * y_true * ops.power(1.0 - p, self.gamma) * log_p
        return ops.sum(loss, axis=-1)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma,
                "from_logits": self.from_logits, "epsilon": self.epsilon}


def focal_loss(alpha: float = FOCAL_ALPHA, gamma: float = FOCAL_GAMMA, from_logits: bool = False,
               name: str = "focal_loss") -> BinaryFocalLoss:
    """Lin et al.'s focal loss for a melanoma probability (sigmoid output), a Keras loss.
    Taught in 05_focal_loss; ``alpha`` weights melanoma (benign: 1 - alpha)."""
    return BinaryFocalLoss(alpha=alpha, gamma=gamma, from_logits=from_logits, name=name)


def categorical_focal_loss(alpha: float = FOCAL_ALPHA, gamma: float = FOCAL_GAMMA,
                           from_logits: bool = False,
                           name: str = "categorical_focal_loss") -> CategoricalFocalLoss:
    """Lin et al.'s focal loss for the 2-way softmax heads (cls1 / cls2 of the DC models).
    Taught in 05_focal_loss; class 1 (melanoma) weighted by ``alpha``, class 0 by 1 - alpha."""
    return CategoricalFocalLoss(alpha=alpha, gamma=gamma, from_logits=from_logits, name=name)


def paper_eq4_focal_loss(alpha: float = FOCAL_ALPHA, gamma: float = FOCAL_GAMMA,
                         name: str = "paper_eq4_focal_loss") -> BinaryFocalLoss:
    """The focal loss AS PRINTED in the paper's Eq. (4) -- with its typo. Do not train with it.
    Taught in 05_focal_loss. The y = 0 branch ``-(1 - alpha) * p^gamma * (1 - p) * ln(1 - p)``
    shrinks the loss of confident mistakes on benign images (0.207 instead of 0.691)."""
    return BinaryFocalLoss(alpha=alpha, gamma=gamma, from_logits=False, paper_eq4=True, name=name)


def focal_loss_numpy(y, p, alpha: float = FOCAL_ALPHA, gamma: float = FOCAL_GAMMA,
                     paper_eq4: bool = False, epsilon: float = EPSILON) -> np.ndarray:
    """Focal loss per example in plain NumPy. Taught in 05_focal_loss.

    >>> round(float(focal_loss_numpy(0, 0.7)), 3), round(float(focal_loss_numpy(0, 0.7, paper_eq4=True)), 3)
    (0.691, 0.207)
    """
    alpha, gamma = _check_alpha_gamma(alpha, gamma)
    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), epsilon, 1.0 - epsilon)
    positive = -alpha * (1.0 - p) ** gamma * np.log(p)
    negative = -(1.0 - alpha) * p ** gamma * np.log(1.0 - p)
    if paper_eq4:
        negative = negative * (1.0 - p)
    return y * positive + (1.0 - y) * negative


def cross_entropy_numpy(y, p, epsilon: float = EPSILON) -> np.ndarray:
    """Binary cross-entropy per example in plain NumPy: Eq. (3). Taught in 05_focal_loss."""
    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), epsilon, 1.0 - epsilon)
    return -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))


def inverse_frequency_alpha(labels) -> float:
    """The inverse-frequency focal-loss alpha: the share of benign (0) ``labels`` (1 : 4 -> 0.8).
    Taught in 05_focal_loss (Exercise 5.2)."""
    labels = np.asarray(labels).reshape(-1)
    if labels.size == 0:
        raise ValueError("inverse_frequency_alpha needs at least one label.")
    return float(np.mean(labels == 0))


def numerical_gradient(f, x, h: float = 1e-5) -> np.ndarray:
    """Central differences ``(f(x + h e_i) - f(x - h e_i)) / 2h`` for every element of ``x``.
    Taught in 05_focal_loss (Exercise 5.4, the CS231n gradient check). ``f`` maps an array like
    ``x`` to one number; ``x`` is not modified. Error O(h^2) (forward differences: O(h))."""
    x = np.array(x, dtype=np.float64)  # a copy: the caller's array stays as it is
    gradient = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + h
        plus = float(f(x))
        x[index] = original - h
        minus = float(f(x))
        x[index] = original
        gradient[index] = (plus - minus) / (2.0 * h)
    return gradient


def autodiff_gradient(loss, y_true, logits) -> np.ndarray:
    """d loss(y_true, softmax(logits)) / d logits by ``tf.GradientTape``, float64, as NumPy.
    Taught in 05_focal_loss (Exercise 5.5); the loss's reduction applies."""
    import tensorflow as tf
    logits = tf.constant(np.asarray(logits, dtype=np.float64))
    with tf.GradientTape() as tape:
        tape.watch(logits)
        value = loss(tf.constant(np.asarray(y_true, dtype=np.float64)), tf.nn.softmax(logits))
    return np.asarray(tape.gradient(value, logits), dtype=np.float64)


def relative_error(a, b, floor: float = 1e-12) -> float:
    """The CS231n relative error ``max |a - b| / max(|a|, |b|)`` (element-wise, then the worst).
    Taught in 05_focal_loss: about 1e-7 or less is right, 1e-4 or more a bug."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)))


# ------------------------------------------- segmentation losses (06): ONE value per image, (N,)
#: The paper's epsilon in the Dice loss (Eq. 10): "set to 1 (avoid division zero)".
DICE_EPSILON = 1.0
# Table X's SEGMENTATION_FOCAL_ALPHA (0.75, the paper's theta, weighs LESION pixels) and
# SEGMENTATION_FOCAL_GAMMA (1.25) come from course_lib.paper.


def _per_image(y_true, y_pred):
    """Masks ``(N, H, W)`` or ``(N, H, W, 1)`` (either for either) -> two ``(N, H*W)`` tensors."""
    y_pred = ops.convert_to_tensor(y_pred)
    if len(y_pred.shape) < 2:
        raise ValueError(f"Segmentation losses expect a batch of masks (N, H, W) or (N, H, W, 1); "
                         f"got y_pred of shape {tuple(y_pred.shape)}.")
    y_true = ops.convert_to_tensor(y_true)
    _check_sizes(y_true, y_pred, "segmentation loss")
    y_true = ops.cast(y_true, y_pred.dtype)
    batch = ops.shape(y_pred)[0]
    return ops.reshape(y_true, (batch, -1)), ops.reshape(y_pred, (batch, -1))


@keras.saving.register_keras_serializable(package="course_lib")
def dice_loss(y_true, y_pred, epsilon: float = DICE_EPSILON):
    """Eq. (6)-(8) and (10): the Dice loss of EACH image, shape ``(N,)``.
    Taught in 06_unet_segmentation. Per image: S1 = sum(P * Y), S2 = sum(Y), S3 = sum(P),

        L_Dice = 1 - (2 * S1 + epsilon) / (S2 + S3 + epsilon),   epsilon = 1.
    """
    y_true, y_pred = _per_image(y_true, y_pred)
    s1 = ops.sum(y_pred * y_true, axis=-1)
    s2 = ops.sum(y_true, axis=-1)
    s3 = ops.sum(y_pred, axis=-1)
    return 1.0 - (2.0 * s1 + epsilon) / (s2 + s3 + epsilon)


@keras.saving.register_keras_serializable(package="course_lib")
def binary_crossentropy_per_image(y_true, y_pred, epsilon: float = EPSILON):
    """Eq. (9): the binary cross-entropy averaged over each image's pixels, shape ``(N,)``.
    Taught in 06_unet_segmentation. P is clipped to [epsilon, 1 - epsilon]."""
    y_true, y_pred = _per_image(y_true, y_pred)
    p = ops.clip(y_pred, epsilon, 1.0 - epsilon)
    return -ops.mean(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p), axis=-1)


@keras.saving.register_keras_serializable(package="course_lib")
def bce_dice_loss(y_true, y_pred):
    """Eq. (11): L_BCE_Dice = L_Dice + L_Cross per image, shape ``(N,)`` -- the paper's U-Net loss.
    Taught in 06_unet_segmentation. Use it directly: ``model.compile(loss=bce_dice_loss)``."""
    return dice_loss(y_true, y_pred) + binary_crossentropy_per_image(y_true, y_pred)


@keras.saving.register_keras_serializable(package="course_lib")
class SegmentationFocalLoss(BinaryFocalLoss):
    """Lin et al.'s focal loss per pixel, averaged over each image's pixels: shape ``(N,)``.
    Taught in 06_unet_segmentation (Table X); y = 1 for a lesion pixel."""

    def __init__(self, alpha=SEGMENTATION_FOCAL_ALPHA, gamma=SEGMENTATION_FOCAL_GAMMA,
                 from_logits=False, paper_eq4=False, epsilon=EPSILON,
                 name="segmentation_focal_loss", reduction="sum_over_batch_size", dtype=None):
        super().__init__(alpha=alpha, gamma=gamma, from_logits=from_logits, paper_eq4=paper_eq4,
                         epsilon=epsilon, name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        y_true, y_pred = _per_image(y_true, y_pred)
        return super().call(y_true, y_pred)  # (N, pixels) -> mean over pixels -> (N,)


def segmentation_focal_loss(alpha: float = SEGMENTATION_FOCAL_ALPHA,
                            gamma: float = SEGMENTATION_FOCAL_GAMMA,
                            name: str = "segmentation_focal_loss") -> SegmentationFocalLoss:
    """Table X's focal loss for a sigmoid U-Net: alpha = 0.75 (the paper's theta, weight of
    lesion pixels), gamma = 1.25; shape ``(N,)``. Taught in 06_unet_segmentation."""
    return SegmentationFocalLoss(alpha=alpha, gamma=gamma, name=name)
