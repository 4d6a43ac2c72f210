"""The checks of 05_focal_loss accept a right answer and reject the mistakes students make
(tables read by tests/test_exercise_coverage.py); the library's references pass too."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from course_lib import losses
from exercise_probe import rejected


# ---------------------------------------------------------------- 5.1 focal loss in NumPy
def focal_loss_value(y_true, p, alpha, gamma):
    y = np.asarray(y_true, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    p_t = y * p + (1 - y) * (1 - p)
    alpha_t = y * alpha + (1 - y) * (1 - alpha)
    return -alpha_t * (1 - p_t) ** gamma * np.log(p_t)


def focal_paper_typo(y_true, p, alpha, gamma):
    y, p = np.asarray(y_true, dtype=float), np.asarray(p, dtype=float)
    return (-y * alpha * (1 - p) ** gamma * np.log(p)
            - (1 - y) * (1 - alpha) * p ** gamma * (1 - p) * np.log(1 - p))


def focal_alpha_swapped(y_true, p, alpha, gamma):
    return focal_loss_value(y_true, p, 1 - alpha, gamma)


def focal_modulating_on_p_t(y_true, p, alpha, gamma):
    y, p = np.asarray(y_true, dtype=float), np.asarray(p, dtype=float)
    p_t = y * p + (1 - y) * (1 - p)
    return -(y * alpha + (1 - y) * (1 - alpha)) * p_t ** gamma * np.log(p_t)


def focal_mean(y_true, p, alpha, gamma):
    return np.full(np.shape(p), np.mean(focal_loss_value(y_true, p, alpha, gamma)))


def focal_without_alpha(y_true, p, alpha, gamma):
    return focal_loss_value(y_true, p, 1.0, gamma) * np.where(np.asarray(y_true) == 1, 1, 0) + \
        focal_loss_value(y_true, p, 0.0, gamma) * np.where(np.asarray(y_true) == 0, 1, 0)


# ---------------------------------------------------------------- 5.2 alpha
def alpha_from_frequencies(labels):
    labels = np.asarray(labels)
    return float(np.sum(labels == 0) / labels.size)


def alpha_share_of_positives(labels):
    return float(np.mean(np.asarray(labels) == 1))


def alpha_ratio(labels):
    labels = np.asarray(labels)
    return float(np.sum(labels == 0) / np.sum(labels == 1))


def alpha_fixed(labels):
    return 0.25


# ---------------------------------------------------------------- 5.3 the Keras loss
class FocalLoss(keras.losses.Loss):
    def __init__(self, alpha=0.25, gamma=0.75, name="focal_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.alpha, self.gamma = alpha, gamma

    def terms(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y = ops.cast(y_true, y_pred.dtype)[:, 1]
        p = ops.clip(y_pred[:, 1], 1e-7, 1 - 1e-7)
        return y, p

    def call(self, y_true, y_pred):
        y, p = self.terms(y_true, y_pred)
        p_t = y * p + (1 - y) * (1 - p)
        alpha_t = y * self.alpha + (1 - y) * (1 - self.alpha)
        return -alpha_t * ops.power(1 - p_t, self.gamma) * ops.log(p_t)


class FocalPaperTypo(FocalLoss):
    def call(self, y_true, y_pred):
        y, p = self.terms(y_true, y_pred)
        return (-y * self.alpha * ops.power(1 - p, self.gamma) * ops.log(p)
                - (1 - y) * (1 - self.alpha) * ops.power(p, self.gamma) * (1 - p)
                * ops.log(1 - p))


class FocalAlphaSwapped(FocalLoss):
    def call(self, y_true, y_pred):
        y, p = self.terms(y_true, y_pred)
        p_t = y * p + (1 - y) * (1 - p)
        alpha_t = y * (1 - self.alpha) + (1 - y) * self.alpha
        return -alpha_t * ops.power(1 - p_t, self.gamma) * ops.log(p_t)


class FocalBenignColumn(FocalLoss):
    def call(self, y_true, y_pred):
        y = ops.cast(y_true, "float32")[:, 1]
        p = ops.clip(ops.convert_to_tensor(y_pred)[:, 0], 1e-7, 1 - 1e-7)
        p_t = y * p + (1 - y) * (1 - p)
        alpha_t = y * self.alpha + (1 - y) * (1 - self.alpha)
        return -alpha_t * ops.power(1 - p_t, self.gamma) * ops.log(p_t)


class FocalPerColumn(FocalLoss):
    def call(self, y_true, y_pred):
        y = ops.cast(y_true, "float32")
        p = ops.clip(ops.convert_to_tensor(y_pred), 1e-7, 1 - 1e-7)
        return -y * ops.power(1 - p, self.gamma) * ops.log(p)


class FocalUnclipped(FocalLoss):
    def call(self, y_true, y_pred):
        y = ops.cast(y_true, "float32")[:, 1]
        p = ops.convert_to_tensor(y_pred)[:, 1]
        p_t = y * p + (1 - y) * (1 - p)
        alpha_t = y * self.alpha + (1 - y) * (1 - self.alpha)
        return -alpha_t * ops.power(1 - p_t, self.gamma) * ops.log(p_t)


class FocalNumpy(FocalLoss):
    def call(self, y_true, y_pred):
        return tf.constant(focal_loss_value(np.asarray(y_true)[:, 1], np.asarray(y_pred)[:, 1],
                                            self.alpha, self.gamma), dtype=y_pred.dtype)


class FocalBatchMean(FocalLoss):
    def call(self, y_true, y_pred):
        return ops.mean(super().call(y_true, y_pred))


# ---------------------------------------------------------------- 5.4 central differences
def numerical_gradient(f, x, h=1e-5):
    x = np.array(x, dtype=float)
    gradient = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        plus = f(x)
        x[index] = old - h
        minus = f(x)
        x[index] = old
        gradient[index] = (plus - minus) / (2 * h)
    return gradient


def forward_differences(f, x, h=1e-5):
    x = np.array(x, dtype=float)
    gradient, base = np.zeros_like(x), f(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        gradient[index] = (f(x) - base) / h
        x[index] = old
    return gradient


def divided_by_h(f, x, h=1e-5):
    return numerical_gradient(f, x, h) * 2


def not_restored(f, x, h=1e-5):
    x = np.array(x, dtype=float)
    gradient = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        x[index] += h
        plus = f(x)
        x[index] -= 2 * h
        gradient[index] = (plus - f(x)) / (2 * h)
    return gradient


def changes_callers_x(f, x, h=1e-5):
    gradient = np.zeros(np.shape(x))
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        plus = f(x)
        x[index] = old - h
        gradient[index] = (plus - f(x)) / (2 * h)
    return gradient


def integer_copy(f, x, h=1e-5):
    x = np.array(x)
    gradient = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        plus = f(x)
        x[index] = old - h
        minus = f(x)
        x[index] = old
        gradient[index] = (plus - minus) / (2 * h)
    return gradient


# ---------------------------------------------------------------- 5.5 autodiff
def autodiff_gradient(loss, y_true, logits):
    logits = tf.constant(logits, dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        value = loss(y_true, tf.nn.softmax(logits))
    return tape.gradient(value, logits).numpy()


def gradient_wrt_probabilities(loss, y_true, logits):
    probabilities = tf.nn.softmax(tf.constant(logits, dtype=tf.float64))
    with tf.GradientTape() as tape:
        tape.watch(probabilities)
        value = loss(y_true, probabilities)
    return tape.gradient(value, probabilities).numpy()


def gradient_without_softmax(loss, y_true, logits):
    logits = tf.constant(logits, dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        value = loss(y_true, logits)
    return tape.gradient(value, logits).numpy()


def gradient_sign_flipped(loss, y_true, logits):
    return -autodiff_gradient(loss, y_true, logits)


def gradient_of_the_sum(loss, y_true, logits):
    logits = tf.constant(logits, dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        value = tf.reduce_sum(loss.call(tf.constant(y_true, tf.float64), tf.nn.softmax(logits)))
    return tape.gradient(value, logits).numpy()


# ---------------------------------------------------------------- 5.6 from logits
def focal_from_logits(y, z, alpha, gamma):
    y, z = np.asarray(y, dtype=float), np.asarray(z, dtype=float)
    log_p, log_q = -np.logaddexp(0, -z), -np.logaddexp(0, z)
    return (-alpha * y * np.exp(log_q) ** gamma * log_p
            - (1 - alpha) * (1 - y) * np.exp(log_p) ** gamma * log_q)


def naive_from_logits(y, z, alpha, gamma):
    p = 1 / (1 + np.exp(-np.asarray(z, dtype=float)))
    y = np.asarray(y, dtype=float)
    return -alpha * y * (1 - p) ** gamma * np.log(p) - (1 - alpha) * (1 - y) * p ** gamma * np.log(1 - p)


def clipped_from_logits(y, z, alpha, gamma):
    p = 1 / (1 + np.exp(-np.asarray(z, dtype=float)))
    return focal_loss_value(y, p, alpha, gamma)


def from_logits_alpha_swapped(y, z, alpha, gamma):
    return focal_from_logits(y, z, 1 - alpha, gamma)


def from_logits_without_modulation(y, z, alpha, gamma):
    return focal_from_logits(y, z, alpha, 0.0)


RIGHT_ANSWERS = {
    "5.1": focal_loss_value,
    "5.2": alpha_from_frequencies,
    "5.3": FocalLoss,
    "5.4": numerical_gradient,
    "5.5": autodiff_gradient,
    "5.6": focal_from_logits,
}

WRONG_ANSWERS = {
    "5.1": [focal_paper_typo, focal_alpha_swapped, focal_modulating_on_p_t, focal_mean,
            focal_without_alpha],
    "5.2": [alpha_share_of_positives, alpha_ratio, alpha_fixed],
    "5.3": [FocalPaperTypo, FocalAlphaSwapped, FocalBenignColumn, FocalPerColumn, FocalNumpy,
            FocalBatchMean, FocalUnclipped],
    "5.4": [forward_differences, divided_by_h, not_restored, changes_callers_x, integer_copy],
    "5.5": [gradient_wrt_probabilities, gradient_without_softmax, gradient_sign_flipped,
            gradient_of_the_sum],
    "5.6": [naive_from_logits, clipped_from_logits, from_logits_alpha_swapped,
            from_logits_without_modulation],
}

#: The course's own implementations, where their signature is the exercise's.
REFERENCES = {
    "5.1": losses.focal_loss_numpy,
    "5.2": losses.inverse_frequency_alpha,
    "5.3": losses.CategoricalFocalLoss,
    "5.4": losses.numerical_gradient,
    "5.5": losses.autodiff_gradient,
}


def _stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write the body of this function")


class StubLoss(keras.losses.Loss):
    def __init__(self, alpha=0.25, gamma=0.75, name="focal_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        raise NotImplementedError("Exercise 5.3: write call()")


def test_typo_message_names_the_typo():
    assert "misprinted Eq. 4" in rejected("5.1", focal_paper_typo)


def test_library_gradient_helpers_agree():
    """numerical_gradient and autodiff_gradient agree on the course's focal loss (float64)."""
    loss = losses.CategoricalFocalLoss(0.25, 0.75, dtype="float64")
    y_true = np.eye(2)[[1, 0, 0, 1, 1]]
    logits = np.random.default_rng(0).normal(size=(5, 2))
    numeric = losses.numerical_gradient(
        lambda z: float(loss(y_true, tf.nn.softmax(tf.constant(z)))), logits)
    assert losses.relative_error(numeric, losses.autodiff_gradient(loss, y_true, logits)) < 1e-6
    assert losses.inverse_frequency_alpha([0, 0, 0, 1]) == 0.75
    with pytest.raises(ValueError):
        losses.inverse_frequency_alpha([])


STUBS = {"5.3": StubLoss}  # a Keras loss class: its call() raises
