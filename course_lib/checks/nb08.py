"""Checks for the exercises of 08_visualisation_and_demo.

Expected values are computed by hand (each case's comment shows the arithmetic); the last cases
compare with the references (course_lib.explain.gradcam_weights, sklearn's silhouette_score).
"""
from __future__ import annotations

import numpy as np

from . import CheckFailed, describe, expect_close, expect_shape, expect_true, register


@register("8.1", title="Grad-CAM's channel weights",
          hint="gradients has shape (height, width, channels): average over the two spatial "
               "axes, gradients.mean(axis=(0, 1)), one weight per channel")
def check_gradcam_weights(gradcam_weights):
    gradients = np.zeros((2, 2, 3))
    gradients[..., 0] = [[1, 2], [3, 6]]      # (1 + 2 + 3 + 6) / 4 = 3
    gradients[..., 1] = -4                    # constant: -4
    gradients[0, 0, 2] = 8                    # 8 / 4 = 2
    cases = [
        ("gradcam_weights(gradients) on a 2x2x3 array", gradients, [3.0, -4.0, 2.0]),
        # a 1x1 map: the weights are the gradients themselves
        ("gradcam_weights(g) with g of shape (1, 1, 4)", np.arange(4.0).reshape(1, 1, 4),
         [0.0, 1.0, 2.0, 3.0]),
        # a 3x1 map with one channel: (0 + 3 + 9) / 3 = 4
        ("gradcam_weights(g) with g of shape (3, 1, 1)", np.array([[[0.0]], [[3.0]], [[9.0]]]),
         [4.0]),
    ]
    from course_lib.explain import gradcam_weights as reference

    random = np.random.default_rng(5).normal(size=(7, 7, 16))
    cases.append(("gradcam_weights(g) with random g of shape (7, 7, 16)", random,
                  reference(random)))
    for what, array, expected in cases:
        before = array.copy()
        result = gradcam_weights(array)
        expect_true(np.array_equal(before, array), f"{what} changed its input array")
        if not isinstance(result, (np.ndarray, list, tuple)):
            raise CheckFailed(f"{what} returned {describe(result)}, expected one weight per "
                              f"channel, an array of shape {np.shape(expected)}")
        result = np.asarray(result, dtype=float)
        expect_shape(result, np.shape(expected), what)
        if not np.allclose(result, expected, rtol=1e-6, atol=1e-9):
            raise CheckFailed(f"{what} returned {describe(result)}, expected "
                              f"{describe(np.asarray(expected, dtype=float))}")
    return (f"{len(cases)} cases match, including course_lib.explain.gradcam_weights on a "
            "7x7x16 array")


@register("8.2", title="the silhouette score of two classes",
          hint="for each point: a = mean distance to the OTHER points of its class, b = mean "
               "distance to the points of the other class, s = (b - a) / max(a, b) (s = 0 for a "
               "point alone in its class); return the mean of s")
def check_silhouette(silhouette_score_simple):
    cases = [
        # 0, 1 | 10, 11: a = 1 everywhere; b = 10.5, 9.5, 9.5, 10.5
        ("silhouette_score_simple([[0], [1], [10], [11]], [0, 0, 1, 1])",
         np.array([[0.0], [1.0], [10.0], [11.0]]), np.array([0, 0, 1, 1]),
         float(np.mean([9.5 / 10.5, 8.5 / 9.5, 8.5 / 9.5, 9.5 / 10.5]))),
        # interleaved classes: 0 (A), 1 (B), 2 (A), 3 (B)
        # a = 2, 2, 2, 2; b = (1+3)/2 = 2, (1+1)/2 = 1, (1+1)/2 = 1, (3+1)/2 = 2
        # s = 0, -0.5, -0.5, 0 -> mean -0.25
        ("silhouette_score_simple([[0], [1], [2], [3]], [0, 1, 0, 1])",
         np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 1, 0, 1]), -0.25),
        # 2-D: a square's corners, classes by column -> a = 1, b = (1 + sqrt 2) / 2
        ("silhouette_score_simple(corners of the unit square, classes by x)",
         np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), np.array([0, 0, 1, 1]),
         ((1 + np.sqrt(2)) / 2 - 1) / ((1 + np.sqrt(2)) / 2)),
        # a point alone in its class scores 0: s = (0 + 0 + 0) / 3... with 0 | 5, 6:
        # point 0 alone -> 0; point 5: a = 1, b = 5 -> 0.8; point 6: a = 1, b = 6 -> 5/6
        ("silhouette_score_simple([[0], [5], [6]], [1, 0, 0]) with a class of one point",
         np.array([[0.0], [5.0], [6.0]]), np.array([1, 0, 0]), (0.0 + 0.8 + 5 / 6) / 3),
    ]
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(11)
    features = np.concatenate([rng.normal(0, 1, (15, 6)), rng.normal(1.5, 1, (10, 6))])
    labels = np.repeat([0, 1], [15, 10])
    cases.append(("silhouette_score_simple(25 random 6-D points, 2 classes)", features, labels,
                  float(silhouette_score(features, labels))))
    for what, points, point_labels, expected in cases:
        before = points.copy()
        result = silhouette_score_simple(points, point_labels)
        expect_true(np.array_equal(before, points), f"{what} changed its input array")
        expect_close(result, expected, what, rtol=1e-6, atol=1e-9)
    return (f"{len(cases)} cases match, including a class of one point and sklearn's "
            "silhouette_score")
