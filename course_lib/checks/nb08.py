"""Checks for the exercises of 08_visualisation_and_demo.

Expected values are computed by hand (each case's comment shows the arithmetic); the Keras cases
compare with the library's references (course_lib.explain.cam / grad_cam / inside_fraction,
sklearn's silhouette_score) on tiny models with fixed, asymmetric weights: randomised BatchNorm
statistics, non-square images, two classes whose maps differ.
"""
from __future__ import annotations

import functools

import numpy as np

from . import CheckFailed, describe, expect_close, expect_shape, expect_true, register


def _expect_maps(actual, expected, what, atol=1e-5):
    """``actual`` must be an array like ``expected`` (shape and values, NaN where NaN)."""
    expected = np.asarray(expected, dtype=float)
    if not isinstance(actual, (np.ndarray, list, tuple, float, int, np.generic)):
        try:
            actual = np.asarray(actual)  # a TensorFlow tensor
        except Exception:  # noqa: BLE001 - reported below
            raise CheckFailed(f"{what} returned {describe(actual)}, expected an array of shape "
                              f"{expected.shape}") from None
    actual = np.asarray(actual, dtype=float)
    expect_shape(actual, expected.shape, what)
    if np.allclose(actual, expected, rtol=1e-4, atol=atol, equal_nan=True):
        return
    if expected.size <= 12:
        raise CheckFailed(f"{what} returned {describe(actual)}, expected {describe(expected)}")
    gap = np.where(np.isnan(expected) & np.isnan(actual), 0.0, np.abs(actual - expected))
    gap = np.where(np.isnan(gap), np.inf, gap)
    where = np.unravel_index(int(np.argmax(gap)), expected.shape)
    raise CheckFailed(f"{what} differs from the expected map: at index "
                      f"{tuple(int(i) for i in where)} it returned "
                      f"{describe(float(actual[where]))}, expected "
                      f"{describe(float(expected[where]))} (values in [0, 1])")


# --------------------------------------------------------------------------- tiny models
def _set_random_weights(model, seed):
    """Fixed weights for every layer; BatchNorm gets random gammas and moving statistics (so a
    layer read in the wrong order shows)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if layer.__class__.__name__ == "BatchNormalization":
            gamma, beta, mean, variance = (w.shape for w in weights)
            layer.set_weights([rng.uniform(0.5, 1.5, gamma).astype("float32"),
                               rng.normal(0.1, 0.3, beta).astype("float32"),
                               rng.normal(0.0, 0.3, mean).astype("float32"),
                               rng.uniform(0.5, 2.0, variance).astype("float32")])
        else:
            layer.set_weights([rng.normal(0.0, 0.6, w.shape).astype("float32")
                               for w in weights])


@functools.lru_cache(maxsize=None)
def _tiny_model(head: str):
    """``gap``: conv (stride 2) -> BN -> ReLU "maps" (4 x 6 x 4 at 8 x 12 px) -> GAP -> Dense(2,
    softmax): a CAM model. ``flatten``: the same maps -> Flatten -> Dense(3, tanh) -> Dense(2,
    softmax): Grad-CAM differs from CAM there (the gradient changes from place to place and from
    image to image)."""
    import keras
    from keras import layers

    inputs = keras.Input((8, 12, 3))
    x = layers.Conv2D(4, 3, strides=2, padding="same", name="conv")(inputs)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="maps")(x)
    if head == "gap":
        x = layers.GlobalAveragePooling2D(name="gap")(x)
    else:  # a non-linear head: the gradient depends on the image and on the place
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(3, activation="tanh", name="hidden")(x)
    outputs = layers.Dense(2, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name=f"tiny_{head}")
    _set_random_weights(model, 17 if head == "gap" else 23)
    return model


def _tiny_images(seed=5, n=2):
    return np.random.default_rng(seed).uniform(0, 2, (n, 8, 12, 3)).astype("float32")


# --------------------------------------------------------------------------- 8.1 CAM
@register("8.1", title="class activation map",
          hint="M = feature_maps @ kernel[:, class_index] (one weight per channel, the COLUMN of "
               "the class), keep the positive part, resize each map bilinearly to size = "
               "(height, width) with tf.image.resize, then divide each map by its own maximum "
               "(an all-zero map stays zero)")
def check_cam(class_activation_map):
    maps = np.zeros((3, 2, 2, 2))
    maps[0, ..., 0] = [[1, 2], [0, 4]]
    maps[0, ..., 1] = [[3, 0], [1, 1]]
    maps[1] = 10 * maps[0]                     # ten times stronger: the same heatmap
    maps[2, ..., 0] = 1                        # class 1: -1 everywhere -> an all-zero map
    kernel = np.array([[1.0, -1.0], [0.5, 2.0]])   # K = 2 channels (rows) x 2 classes (columns)
    # class 1: -A0 + 2 A1 = [[5, -2], [2, -2]] -> ReLU -> / 5
    class_1 = np.array([[[1.0, 0.0], [0.4, 0.0]]] * 2 + [np.zeros((2, 2))])
    # class 0: A0 + 0.5 A1 = [[2.5, 2], [0.5, 4.5]] -> / 4.5 ; image 2: 1 everywhere
    class_0 = np.array([[[2.5 / 4.5, 2 / 4.5], [0.5 / 4.5, 1.0]]] * 2 + [np.ones((2, 2))])
    for class_index, expected in ((1, class_1), (0, class_0)):
        what = (f"class_activation_map(maps, kernel, class_index={class_index}, size=(2, 2)) on "
                "three hand-made 2x2x2 maps")
        before = maps.copy()
        result = class_activation_map(maps, kernel, class_index, (2, 2))
        expect_true(np.array_equal(before, maps), f"{what} changed its input maps")
        _expect_maps(result, expected, what)
    # enlarged: M = [2, -2] (1 x 2) -> bilinear to 1 x 4 AFTER the ReLU: [2, 1.5, 0.5, 0] / 2
    # (resizing first would give [2, 1, -1, -2] -> [1, 0.5, 0, 0])
    two = np.array([[[[1.0, 0.0], [0.0, 1.0]]]])          # (1, 1, 2, 2): A0 = [1, 0], A1 = [0, 1]
    what = "class_activation_map(maps, [[2, 1], [-2, 3]], 0, (1, 4)) with M = [2, -2] enlarged"
    _expect_maps(class_activation_map(two, np.array([[2.0, 1.0], [-2.0, 3.0]]), 0, (1, 4)),
                 [[[1.0, 0.75, 0.25, 0.0]]], what)
    # the library's CAM of a tiny model with fixed weights, maps enlarged to 8 x 12
    from course_lib import explain

    model = _tiny_model("gap")
    images = _tiny_images()
    feature_maps, dense_kernel = explain.cam_parts(model, images)
    for class_index in (1, 0):
        what = (f"class_activation_map(maps, kernel, {class_index}, (8, 12)) on a tiny model's "
                "4x6x4 maps")
        expected = explain.cam(model, images, class_index=class_index)
        _expect_maps(class_activation_map(feature_maps, dense_kernel, class_index, (8, 12)),
                     expected, what)
    return ("7 cases match: the class's column of the kernel, ReLU before the resize, a "
            "per-image maximum, an all-zero map and explain.cam on a tiny model at 8x12 px for "
            "both classes")


# --------------------------------------------------------------------------- 8.2 weights
@register("8.2", title="Grad-CAM's channel weights",
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
        # a 2x3 map with two channels: not square, the mean over 6 places
        ("gradcam_weights(g) with g of shape (2, 3, 2)",
         np.stack([np.arange(6.0).reshape(2, 3), np.ones((2, 3))], axis=-1), [2.5, 1.0]),
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
        _expect_maps(result, expected, what, atol=1e-9)
    return (f"{len(cases)} cases match, including course_lib.explain.gradcam_weights on a "
            "7x7x16 array")


# --------------------------------------------------------------------------- 8.3 Grad-CAM
@register("8.3", title="Grad-CAM with tf.GradientTape",
          hint="inside a tf.GradientTape: maps, scores = score_model(images); score = scores[:, "
               "class_index] (the logits, no softmax); then tape.gradient(score, maps), one "
               "weight per channel and image (the spatial mean, Exercise 8.2), the weighted sum "
               "of the maps over channels, and explain.normalise_heatmaps(raw, (H, W))")
def check_grad_cam(grad_cam):
    from course_lib import explain

    count = 0
    for head in ("gap", "flatten"):
        model = _tiny_model(head)
        images = _tiny_images(seed=11 if head == "gap" else 12)
        score_model = explain.gradcam_parts(model)
        for class_index in (1, 0):
            what = (f"grad_cam(score_model, images, class_index={class_index}) on a tiny "
                    f"{'GAP + Dense' if head == 'gap' else 'Flatten + Dense + Dense'} model, two "
                    "8x12 images")
            before = images.copy()
            result = grad_cam(score_model, images, class_index)
            expect_true(np.array_equal(before, images), f"{what} changed the images")
            _expect_maps(result, explain.grad_cam(model, images, class_index=class_index),
                         what, atol=1e-4)
            count += 1
    return (f"{count} cases match explain.grad_cam: both classes, a GAP head (Grad-CAM = CAM) "
            "and a non-linear Flatten head (where the gradient varies with the place and the "
            "image)")


# --------------------------------------------------------------------------- 8.4 inside share
@register("8.4", title="the heatmap's share inside the lesion",
          hint="per image: lesion = mask > 0.5 (0/255 and 0/1 masks alike), share = heatmap "
               "summed over the lesion / heatmap summed over the whole image; NaN for an "
               "all-zero heatmap; return one share per image")
def check_inside_fraction(inside_fraction):
    heatmaps = np.array([[[1.0, 0.5, 0.0], [0.0, 0.5, 0.0]],      # mass 2
                         [[0.2, 0.2, 0.2], [0.2, 0.2, 0.2]],      # mass 1.2
                         [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])     # nothing: NaN
    masks = np.array([[[255, 255, 0], [0, 0, 0]],        # inside: 1 + 0.5 -> 1.5 / 2
                      [[0, 0, 0], [255, 255, 255]],      # 0.6 / 1.2
                      [[255, 0, 0], [0, 0, 0]]], dtype=np.uint8)
    expected = [0.75, 0.5, np.nan]
    cases = [("inside_fraction(heatmaps, masks) with 0/255 uint8 masks", heatmaps, masks),
             ("inside_fraction(heatmaps, masks) with the same masks as 0/1 floats", heatmaps,
              (masks > 0).astype(np.float32)),
             ("inside_fraction(heatmaps, masks) with the same masks as booleans", heatmaps,
              masks > 0)]
    for what, maps, lesion in cases:
        before = maps.copy()
        _expect_maps(inside_fraction(maps, lesion), expected, what, atol=1e-9)
        expect_true(np.array_equal(before, maps), f"{what} changed its input heatmaps")
    from course_lib.explain import inside_fraction as reference

    rng = np.random.default_rng(8)
    random_maps = rng.uniform(size=(4, 5, 7)) ** 3
    random_masks = (rng.uniform(size=(4, 5, 7)) > 0.5).astype(np.uint8) * 255
    _expect_maps(inside_fraction(random_maps, random_masks), reference(random_maps, random_masks),
                 "inside_fraction(4 random 5x7 heatmaps, 0/255 masks)", atol=1e-9)
    return ("4 cases match: 0/255, 0/1 and boolean masks, an all-zero heatmap (NaN) and "
            "course_lib.explain.inside_fraction")


# --------------------------------------------------------------------------- 8.5 pointing game
def _pointing_reference(heatmaps, masks):
    heatmaps = np.asarray(heatmaps, dtype=float)
    lesion = np.asarray(masks, dtype=float) > 0.5
    hits = [bool(m.max() > 0 and lesion[i].reshape(-1)[int(np.argmax(m))])
            for i, m in enumerate(heatmaps)]
    return float(np.mean(hits))


@register("8.5", title="the pointing game",
          hint="per image: the peak = np.unravel_index(np.argmax(heatmap), heatmap.shape) (the "
               "first one on ties); a hit when the mask is lesion (> 0.5) there and the heatmap "
               "is not all zero; return the share of hits over the images")
def check_pointing_game(pointing_game):
    heatmaps = np.zeros((4, 2, 3))
    heatmaps[0, 0, 2] = 1.0                    # peak at (0, 2): inside -> hit
    heatmaps[1, 1, 0] = 0.9                    # peak at (1, 0): outside -> miss
    heatmaps[1, 0, 0] = 0.3
    heatmaps[2] = 0.0                          # all zero: a miss, although (0, 0) is lesion
    heatmaps[3] = [[0.5, 0.2, 0.5], [0.1, 0.1, 0.1]]   # tie: the FIRST peak (0, 0) -> miss
    masks = np.zeros((4, 2, 3), dtype=np.uint8)
    masks[0, 0, 2] = 255
    masks[1, 0, 0] = 255
    masks[2, 0, 0] = 255
    masks[3, 0, 2] = 255                       # lesion under the second, tied peak only
    cases = [("pointing_game(heatmaps, masks) with 0/255 uint8 masks", heatmaps, masks, 0.25),
             ("pointing_game(heatmaps, masks) with the same masks as 0/1 floats", heatmaps,
              (masks > 0).astype(np.float64), 0.25),
             ("pointing_game(heatmaps[:2], masks[:2])", heatmaps[:2], masks[:2], 0.5),
             ("pointing_game(heatmaps[[0, 3]], masks[[0, 3]]) (image 3: two equal peaks)",
              heatmaps[[0, 3]], masks[[0, 3]], 0.5)]
    rng = np.random.default_rng(2)
    random_maps = rng.uniform(size=(12, 5, 7))
    random_masks = (rng.uniform(size=(12, 5, 7)) > 0.5).astype(np.uint8) * 255
    cases.append(("pointing_game(12 random 5x7 heatmaps, masks)", random_maps, random_masks,
                  _pointing_reference(random_maps, random_masks)))
    for what, maps, lesion, expected in cases:
        expect_close(pointing_game(maps, lesion), expected, what, atol=1e-9)
    return (f"{len(cases)} cases match, including ties, an all-zero heatmap and non-square "
            "images")


# --------------------------------------------------------------------------- 8.6 silhouette
@register("8.6", title="the silhouette score of two classes",
          hint="for each point: a = mean distance to the OTHER points of its class, b = mean "
               "distance to the points of the other class, s = (b - a) / max(a, b) (s = 0 for a "
               "point alone in its class, and when a = b = 0); return the mean of s")
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
        # point 0 alone in its class -> 0; point 5: a = 1, b = 5 -> 0.8; point 6: a = 1, b = 6
        ("silhouette_score_simple([[0], [5], [6]], [1, 0, 0]) with a class of one point",
         np.array([[0.0], [5.0], [6.0]]), np.array([1, 0, 0]), (0.0 + 0.8 + 5 / 6) / 3),
        # identical points (an untrained network): a = b = 0 -> s = 0, not NaN
        ("silhouette_score_simple(four identical points, [0, 0, 1, 1])",
         np.ones((4, 3)), np.array([0, 0, 1, 1]), 0.0),
        # labels need not be 0/1, rows may be images: (2, 1, 2) arrays flattened
        ("silhouette_score_simple(features of shape (4, 1, 2), labels ['b', 'b', 'm', 'm'])",
         np.array([[[0.0, 0.0]], [[0.0, 1.0]], [[1.0, 0.0]], [[1.0, 1.0]]]),
         np.array(["b", "b", "m", "m"]), ((1 + np.sqrt(2)) / 2 - 1) / ((1 + np.sqrt(2)) / 2)),
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
    return (f"{len(cases)} cases match, including a class of one point, identical points and "
            "sklearn's silhouette_score")
