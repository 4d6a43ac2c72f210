"""Checks for the exercises of 05_focal_loss.

5.1 compares the student's focal loss with Keras' own (``BinaryFocalCrossentropy`` with
``apply_class_balancing=True``, computed in float64) and with the worked example of the lesson;
5.2 uses label arrays whose class fractions are counted by hand.
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
