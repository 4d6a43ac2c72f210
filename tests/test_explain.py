"""course_lib.explain: CAM, Grad-CAM, overlays, features, t-SNE and the silhouette score."""
from __future__ import annotations

import numpy as np
import pytest

import course_lib  # noqa: F401 - sets the TensorFlow log level before keras is imported
import keras
from keras import layers

from course_lib import explain


# --------------------------------------------------------------------------- hand-made models
def colour_model(size: int = 8) -> keras.Model:
    """A net whose answer is known: map 0 = red channel, map 1 = green channel (1x1 conv, ReLU),
    global average pooling, then melanoma logit = +red - green, benign logit = -red + green."""
    inputs = keras.Input((size, size, 3))
    conv = layers.Conv2D(2, 1, use_bias=False, activation="relu", name="maps")
    x = conv(inputs)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    dense = layers.Dense(2, activation="softmax", name="predictions")
    outputs = dense(x)
    model = keras.Model(inputs, outputs, name="colour_model")
    conv.set_weights([np.array([[[[1, 0], [0, 1], [0, 0]]]], dtype="float32")])
    dense.set_weights([np.array([[-1, 1], [1, -1]], dtype="float32"), np.zeros(2, "float32")])
    return model


def two_patch_image(size: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A red patch in the top-left quadrant and a green one in the bottom-right."""
    image = np.zeros((size, size, 3), dtype=np.float32)
    red = np.zeros((size, size), dtype=bool)
    green = np.zeros((size, size), dtype=bool)
    red[1:3, 1:3] = True
    green[5:8, 4:7] = True
    image[red, 0] = 200.0
    image[green, 1] = 120.0
    return image, red, green


def random_gap_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="last")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(2, activation="softmax")(x))


def flatten_head_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(3, 3, strides=2, padding="same", activation="relu", name="last")(inputs)
    x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(2, activation="softmax")(x))


# --------------------------------------------------------------------------- Grad-CAM
def test_grad_cam_points_at_the_evidence_for_each_class():
    model = colour_model()
    image, red, green = two_patch_image()
    # alpha = mean gradient = (+1, -1) / 64 for melanoma: ReLU(red map - green map) -> the red
    # patch, normalised to 1 there and 0 elsewhere; for benign the green patch.
    melanoma = explain.grad_cam(model, image, "maps", class_index=1)
    benign = explain.grad_cam(model, image, "maps", class_index=0)
    assert melanoma.shape == (8, 8) and melanoma.dtype == np.float32
    np.testing.assert_allclose(melanoma, red.astype(float), atol=1e-6)
    np.testing.assert_allclose(benign, green.astype(float), atol=1e-6)


def test_cam_equals_grad_cam_on_the_known_model():
    model = colour_model()
    image, red, _ = two_patch_image()
    np.testing.assert_allclose(explain.cam(model, image, "maps"), red.astype(float), atol=1e-6)


@pytest.mark.parametrize("class_index", [0, 1])
def test_cam_equals_grad_cam_for_gap_and_dense(class_index):
    # dz_c/dA_k(x, y) = w_kc / (h w) everywhere, so alpha_k = w_kc / (h w): the same map up to
    # a positive factor, which the normalisation removes.
    model = random_gap_model()
    images = np.random.default_rng(1).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    by_cam = explain.cam(model, images, "last", class_index=class_index)
    by_grad = explain.grad_cam(model, images, "last", class_index=class_index)
    assert by_cam.shape == (3, 16, 16)
    assert by_cam.min() >= 0 and by_cam.max() <= 1 and by_cam.max() > 0.99
    np.testing.assert_allclose(by_cam, by_grad, atol=1e-5)


def test_default_layer_is_the_last_feature_map():
    assert explain.find_last_conv_layer(random_gap_model()) == "last"
    assert explain.find_last_conv_layer(colour_model()) == "maps"


def test_cam_refuses_a_head_without_global_average_pooling():
    model = flatten_head_model()
    image = np.random.default_rng(2).uniform(0, 255, (16, 16, 3)).astype("float32")
    with pytest.raises(ValueError, match="grad_cam"):
        explain.cam(model, image, "last")
    heatmap = explain.grad_cam(model, image, "last")
    assert heatmap.shape == (16, 16) and 0 <= heatmap.min() and heatmap.max() <= 1


def test_argument_errors():
    model = colour_model()
    image, _, _ = two_patch_image()
    with pytest.raises(ValueError, match="class_index"):
        explain.grad_cam(model, image, "maps", class_index=2)
    with pytest.raises(ValueError, match="No layer"):
        explain.cam(model, image, "nope")
    with pytest.raises(ValueError, match="feature maps"):
        explain.grad_cam(model, image, "gap")
    with pytest.raises(ValueError, match="shape"):
        explain.cam(model, image[..., 0], "maps")


def test_gradcam_weights_is_the_spatial_mean():
    gradients = np.zeros((2, 2, 3))
    gradients[..., 0] = [[1, 2], [3, 6]]      # mean 3
    gradients[..., 1] = -4                    # mean -4
    gradients[0, 0, 2] = 8                    # mean 2
    np.testing.assert_allclose(explain.gradcam_weights(gradients), [3, -4, 2])
    np.testing.assert_allclose(explain.gradcam_weights(gradients[None]), [[3, -4, 2]])
    with pytest.raises(ValueError):
        explain.gradcam_weights(np.zeros((2, 3)))


# --------------------------------------------------------------------------- course models
@pytest.mark.slow
def test_cam_on_the_course_mobilenet_and_its_dc_model():
    from course_lib import models

    image = np.random.default_rng(3).uniform(0, 255, (32, 32, 3)).astype("float32")
    classifier = models.build_classifier("mobilenet", (32, 32, 3))
    assert explain.find_last_conv_layer(classifier) == models.LAST_CONV_LAYER["mobilenet"]
    heatmap = explain.cam(classifier, image)
    assert heatmap.shape == (32, 32)
    np.testing.assert_allclose(heatmap, explain.grad_cam(classifier, image), atol=1e-4)
    features = explain.extract_features(classifier, image[None])
    assert features.shape == (1, 1024)

    dc = models.build_dc_model("mobilenet", (32, 32, 3))
    assert explain.find_last_conv_layer(dc) == models.LAST_CONV_LAYER["mobilenet"]
    single = models.dc_classifier(dc, "cls2")
    np.testing.assert_allclose(explain.cam(dc, image, head="cls2"), explain.cam(single, image),
                               atol=1e-5)
    np.testing.assert_allclose(explain.cam(dc, image, head="cls2"),
                               explain.grad_cam(dc, image, head="cls2"), atol=1e-4)
    dc_features = explain.extract_features(dc, np.stack([image, image]))
    assert dc_features.shape == (2, 1024)
    np.testing.assert_allclose(dc_features[0], dc_features[1], rtol=1e-5)


def test_extract_features_defaults_to_what_the_head_reads():
    model = random_gap_model()
    images = np.random.default_rng(4).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    features = explain.extract_features(model, images)
    maps = explain.extract_features(model, images, layer_name="last")
    assert features.shape == (4, 6) and maps.shape == (4, 8 * 8 * 6)
    np.testing.assert_allclose(features, maps.reshape(4, 8, 8, 6).mean(axis=(1, 2)), rtol=1e-5,
                               atol=1e-6)


# --------------------------------------------------------------------------- overlay
def test_overlay_blends_and_resizes():
    image = np.full((8, 8, 3), 100, dtype=np.uint8)
    heatmap = np.zeros((4, 4))
    np.testing.assert_array_equal(explain.overlay(image, heatmap, alpha=0.0), image)
    import matplotlib

    full = explain.overlay(image, np.ones((8, 8)), alpha=1.0)
    expected = np.rint(np.array(matplotlib.colormaps["jet"](1.0)[:3]) * 255)
    assert full.dtype == np.uint8 and full.shape == (8, 8, 3)
    np.testing.assert_array_equal(full[0, 0], expected)
    assert explain.overlay(image, heatmap).shape == (8, 8, 3)
    with pytest.raises(ValueError):
        explain.overlay(image, heatmap, alpha=2.0)


# --------------------------------------------------------------------------- t-SNE, silhouette
def _blobs(n=20, distance=20.0, dims=5, seed=0):
    rng = np.random.default_rng(seed)
    points = np.concatenate([rng.normal(0, 1, (n, dims)), rng.normal(distance, 1, (n, dims))])
    return points, np.repeat([0, 1], n)


def test_silhouette_by_hand():
    # points 0, 1 | 10, 11: a = 1 for every point; b = 10.5, 9.5, 9.5, 10.5
    expected = np.mean([9.5 / 10.5, 8.5 / 9.5, 8.5 / 9.5, 9.5 / 10.5])
    assert explain.silhouette([[0], [1], [10], [11]], [0, 0, 1, 1]) == pytest.approx(expected)


def test_silhouette_separated_and_mixed_clusters():
    points, labels = _blobs()
    assert explain.silhouette(points, labels) > 0.5
    mixed = np.random.default_rng(1).normal(0, 1, (40, 5))
    assert abs(explain.silhouette(mixed, labels)) < 0.1
    with pytest.raises(ValueError, match="classes"):
        explain.silhouette(points, np.zeros(40))
    with pytest.raises(ValueError, match="labels"):
        explain.silhouette(points, labels[:-1])


def test_tsne_embedding_keeps_separated_clusters_apart():
    points, labels = _blobs(n=12, dims=60)          # > 50 dimensions: PCA first
    embedding = explain.tsne_embedding(points, seed=0)
    assert embedding.shape == (24, 2)
    assert explain.silhouette(embedding, labels) > 0.5
    np.testing.assert_allclose(explain.tsne_embedding(points, seed=0), embedding)
    small = explain.tsne_embedding(np.random.default_rng(0).normal(size=(5, 3)), seed=0)
    assert small.shape == (5, 2)   # perplexity adapted to 5 points
    with pytest.raises(ValueError, match="at least 4"):
        explain.tsne_embedding(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="perplexity"):
        explain.tsne_embedding(points, perplexity=30)


def test_inside_fraction():
    heatmap = np.zeros((4, 4))
    heatmap[0, 0], heatmap[3, 3] = 1.0, 3.0
    mask = np.zeros((4, 4), dtype=np.uint8)
    mask[:2, :2] = 255
    assert explain.inside_fraction(heatmap, mask) == pytest.approx(0.25)      # 1 of 1 + 3
    both = explain.inside_fraction(np.stack([heatmap, np.ones((4, 4))]),
                                   np.stack([mask > 0, mask > 0]))
    np.testing.assert_allclose(both, [0.25, 4 / 16])   # an even heatmap scores the lesion's area
    assert np.isnan(explain.inside_fraction(np.zeros((4, 4)), mask))
    with pytest.raises(ValueError, match="same shape"):
        explain.inside_fraction(heatmap, mask[:2])


def test_tsne_of_identical_features_warns_instead_of_crashing():
    # (scikit-learn's Barnes-Hut t-SNE crashes the process on such input)
    features = np.tile(np.arange(8.0), (10, 1))
    with pytest.warns(UserWarning, match="identical"):
        embedding = explain.tsne_embedding(features)
    np.testing.assert_array_equal(embedding, np.zeros((10, 2)))
    assert explain.silhouette(embedding, np.repeat([0, 1], 5)) == 0.0


def test_silhouette_ignores_rounding_noise():
    base = np.tile(np.linspace(0.01, 0.05, 16), (12, 1))
    noisy = base + np.random.default_rng(0).normal(0, 1e-10, base.shape)
    assert explain.silhouette(noisy, np.repeat([0, 1], 6)) == 0.0


# --------------------------------------------------------------------------- the exercises' parts
def test_cam_parts_give_the_maps_and_the_dense_kernel():
    model = colour_model()
    image, red, green = two_patch_image()
    maps, kernel = explain.cam_parts(model, image)
    assert maps.shape == (1, 8, 8, 2) and kernel.shape == (2, 2)
    np.testing.assert_allclose(maps[0, ..., 0], image[..., 0], atol=1e-6)   # map 0 = red
    np.testing.assert_allclose(kernel, [[-1, 1], [1, -1]])
    by_parts = explain.normalise_heatmaps(maps @ kernel[:, 1], (8, 8))
    np.testing.assert_allclose(by_parts[0], explain.cam(model, image), atol=1e-6)


def test_gradcam_parts_give_maps_and_logits_a_tape_can_differentiate():
    import tensorflow as tf

    model = colour_model()
    image, _, _ = two_patch_image()
    score_model = explain.gradcam_parts(model)
    batch = tf.convert_to_tensor(image[None])
    with tf.GradientTape() as tape:
        maps, scores = score_model(batch)
        score = scores[:, 1]
    # logits, not probabilities: melanoma logit = mean(red) - mean(green)
    expected = float(image[..., 0].mean() - image[..., 1].mean())
    assert float(score[0]) == pytest.approx(expected, rel=1e-5)
    gradients = np.asarray(tape.gradient(score, maps))
    np.testing.assert_allclose(gradients[0, ..., 0], np.full((8, 8), -1 / 64 * -1), atol=1e-7)
    np.testing.assert_allclose(gradients[0, ..., 1], np.full((8, 8), -1 / 64), atol=1e-7)


def test_normalise_heatmaps_relu_resize_and_peak_one():
    maps = np.array([[[-1.0, 2.0], [0.0, 4.0]], [[-3.0, -1.0], [-2.0, -5.0]]])
    out = explain.normalise_heatmaps(maps, (2, 2))
    np.testing.assert_allclose(out[0], [[0, 0.5], [0, 1]])
    np.testing.assert_array_equal(out[1], np.zeros((2, 2)))
    assert explain.normalise_heatmaps(maps, (4, 6)).shape == (2, 4, 6)
    with pytest.raises(ValueError, match="n, height, width"):
        explain.normalise_heatmaps(maps[0], (2, 2))
