"""The checks of 08_visualisation_and_demo accept a right answer, the library's references, and
reject the mistakes students make (tables read by tests/test_exercise_coverage.py)."""
from __future__ import annotations

import numpy as np


import course_lib  # noqa: F401 - sets the TensorFlow log level before keras is imported
from course_lib import explain


def _resize(maps, size, method="bilinear"):
    import tensorflow as tf

    return tf.image.resize(np.asarray(maps, dtype=np.float32)[..., None], size,
                           method=method).numpy()[..., 0]


def _per_image_peak(maps):
    peaks = maps.max(axis=(1, 2), keepdims=True)
    return np.divide(maps, peaks, out=np.zeros_like(maps), where=peaks > 0)


# --------------------------------------------------------------------------- right answers
def class_activation_map(feature_maps, kernel, class_index, size):
    raw = np.einsum("nhwk,k->nhw", np.asarray(feature_maps, dtype=np.float64),
                    np.asarray(kernel, dtype=np.float64)[:, class_index])
    return _per_image_peak(np.maximum(_resize(np.maximum(raw, 0), size), 0))


def gradcam_weights(gradients):
    g = np.asarray(gradients, dtype=float)
    return g.sum(axis=(0, 1)) / (g.shape[0] * g.shape[1])


def grad_cam(score_model, images, class_index):
    import tensorflow as tf

    x = tf.constant(np.asarray(images, dtype=np.float32))
    with tf.GradientTape() as tape:
        maps, scores = score_model(x)
        target = scores[:, class_index]
    grads = tape.gradient(target, maps).numpy()
    weights = np.stack([gradcam_weights(g) for g in grads])
    raw = (maps.numpy() * weights[:, None, None, :]).sum(axis=-1)
    return explain.normalise_heatmaps(raw, x.shape[1:3])


def inside_fraction(heatmaps, masks):
    h = np.asarray(heatmaps, dtype=float)
    lesion = np.asarray(masks).astype(float) > 0.5
    total = h.sum(axis=(1, 2))
    inside = (h * lesion).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan)


def pointing_game(heatmaps, masks):
    hits = 0
    for heatmap, mask in zip(np.asarray(heatmaps, dtype=float), np.asarray(masks)):
        row, col = np.unravel_index(np.argmax(heatmap), heatmap.shape)
        hits += int(heatmap.max() > 0 and float(mask[row, col]) > 0.5)
    return hits / len(heatmaps)


def silhouette_score_simple(features, labels):
    x = np.asarray(features, dtype=float).reshape(len(features), -1)
    labels = np.asarray(labels)
    values = []
    for i in range(len(x)):
        d = np.linalg.norm(x - x[i], axis=1)
        same = (labels == labels[i]) & (np.arange(len(x)) != i)
        if not same.any():
            values.append(0.0)
            continue
        a, b = d[same].mean(), d[labels != labels[i]].mean()
        values.append((b - a) / max(a, b) if max(a, b) > 0 else 0.0)
    return float(np.mean(values))


RIGHT_ANSWERS = {"8.1": class_activation_map, "8.2": gradcam_weights, "8.3": grad_cam,
                 "8.4": inside_fraction, "8.5": pointing_game, "8.6": silhouette_score_simple}


# --------------------------------------------------------------------------- wrong answers
def cam_kernel_row(feature_maps, kernel, class_index, size):
    raw = np.asarray(feature_maps) @ np.asarray(kernel)[class_index, :]
    return _per_image_peak(np.maximum(_resize(np.maximum(raw, 0), size), 0))


def cam_always_melanoma(feature_maps, kernel, class_index, size):
    return class_activation_map(feature_maps, kernel, 1, size)


def cam_no_relu(feature_maps, kernel, class_index, size):
    raw = np.asarray(feature_maps) @ np.asarray(kernel)[:, class_index]
    resized = _resize(raw, size)
    return resized / np.abs(resized).max(axis=(1, 2), keepdims=True)


def cam_min_max(feature_maps, kernel, class_index, size):
    raw = np.maximum(np.asarray(feature_maps) @ np.asarray(kernel)[:, class_index], 0)
    resized = _resize(raw, size)
    low = resized.min(axis=(1, 2), keepdims=True)
    span = resized.max(axis=(1, 2), keepdims=True) - low
    return np.divide(resized - low, span, out=np.zeros_like(resized), where=span > 0)


def cam_batch_max(feature_maps, kernel, class_index, size):
    raw = np.maximum(np.asarray(feature_maps) @ np.asarray(kernel)[:, class_index], 0)
    resized = _resize(raw, size)
    return resized / resized.max()


def cam_relu_after_resize_only(feature_maps, kernel, class_index, size):
    raw = np.asarray(feature_maps) @ np.asarray(kernel)[:, class_index]
    return _per_image_peak(np.maximum(_resize(raw, size), 0))


def cam_size_swapped(feature_maps, kernel, class_index, size):
    return class_activation_map(feature_maps, kernel, class_index, tuple(size)[::-1])


def cam_nearest(feature_maps, kernel, class_index, size):
    raw = np.maximum(np.asarray(feature_maps) @ np.asarray(kernel)[:, class_index], 0)
    return _per_image_peak(_resize(raw, size, "nearest"))


def cam_unweighted(feature_maps, kernel, class_index, size):
    raw = np.asarray(feature_maps).sum(axis=-1)
    return _per_image_peak(np.maximum(_resize(raw, size), 0))


def weights_sum(gradients):
    return np.asarray(gradients, dtype=float).sum(axis=(0, 1))


def weights_wrong_axes(gradients):
    return np.asarray(gradients, dtype=float).mean(axis=(1, 2))


def weights_max(gradients):
    return np.asarray(gradients, dtype=float).max(axis=(0, 1))


def weights_abs(gradients):
    return np.abs(np.asarray(gradients, dtype=float)).mean(axis=(0, 1))


def weights_all_mean(gradients):
    g = np.asarray(gradients, dtype=float)
    return np.full(g.shape[-1], g.mean())


def _grad_cam_parts(score_model, images, class_index, softmax=False):
    import tensorflow as tf

    x = tf.constant(np.asarray(images, dtype=np.float32))
    with tf.GradientTape() as tape:
        maps, scores = score_model(x)
        if softmax:
            scores = tf.nn.softmax(scores)
        target = scores[:, class_index]
    return x, maps.numpy(), tape.gradient(target, maps).numpy()


def grad_cam_softmax(score_model, images, class_index):
    x, maps, grads = _grad_cam_parts(score_model, images, class_index, softmax=True)
    raw = (maps * grads.mean(axis=(1, 2))[:, None, None, :]).sum(axis=-1)
    return explain.normalise_heatmaps(raw, x.shape[1:3])


def grad_cam_pixelwise(score_model, images, class_index):
    x, maps, grads = _grad_cam_parts(score_model, images, class_index)
    return explain.normalise_heatmaps((maps * grads).sum(axis=-1), x.shape[1:3])


def grad_cam_fixed_class(score_model, images, class_index):
    return grad_cam(score_model, images, 1)


def grad_cam_abs_gradients(score_model, images, class_index):
    x, maps, grads = _grad_cam_parts(score_model, images, class_index)
    raw = (maps * np.abs(grads).mean(axis=(1, 2))[:, None, None, :]).sum(axis=-1)
    return explain.normalise_heatmaps(raw, x.shape[1:3])


def grad_cam_batch_weights(score_model, images, class_index):
    x, maps, grads = _grad_cam_parts(score_model, images, class_index)
    raw = (maps * grads.mean(axis=(0, 1, 2))[None, None, None, :]).sum(axis=-1)
    return explain.normalise_heatmaps(raw, x.shape[1:3])


def grad_cam_mean_of_maps(score_model, images, class_index):
    x, maps, _ = _grad_cam_parts(score_model, images, class_index)
    return explain.normalise_heatmaps(maps.mean(axis=-1), x.shape[1:3])


def inside_mask_equals_one(heatmaps, masks):
    return inside_fraction(heatmaps, (np.asarray(masks) == 1).astype(float))


def inside_unbinarised(heatmaps, masks):
    h = np.asarray(heatmaps, dtype=float)
    total = h.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (h * np.asarray(masks, dtype=float)).sum(axis=(1, 2)) / total


def inside_mean_heat(heatmaps, masks):
    h = np.asarray(heatmaps, dtype=float)
    lesion = np.asarray(masks).astype(float) > 0.5
    return np.array([m[l].mean() if l.any() else np.nan for m, l in zip(h, lesion)])


def inside_pooled(heatmaps, masks):
    h = np.asarray(heatmaps, dtype=float)
    lesion = np.asarray(masks).astype(float) > 0.5
    return float((h * lesion).sum() / h.sum())


def inside_zero_is_zero(heatmaps, masks):
    return np.nan_to_num(inside_fraction(heatmaps, masks))


def pointing_counts_empty(heatmaps, masks):
    hits = 0
    for heatmap, mask in zip(np.asarray(heatmaps, dtype=float), np.asarray(masks)):
        row, col = np.unravel_index(np.argmax(heatmap), heatmap.shape)
        hits += int(float(mask[row, col]) > 0.5)
    return hits / len(heatmaps)


def pointing_transposed(heatmaps, masks):
    hits = 0
    for heatmap, mask in zip(np.asarray(heatmaps, dtype=float), np.asarray(masks)):
        col, row = np.unravel_index(np.argmax(heatmap), heatmap.shape[::-1])
        hits += int(heatmap.max() > 0 and float(mask[min(row, mask.shape[0] - 1),
                                                     min(col, mask.shape[1] - 1)]) > 0.5)
    return hits / len(heatmaps)


def pointing_mask_equals_one(heatmaps, masks):
    return pointing_game(heatmaps, (np.asarray(masks) == 1).astype(float))


def pointing_last_peak(heatmaps, masks):
    flipped = np.asarray(heatmaps)[:, ::-1, ::-1]
    return pointing_game(flipped, np.asarray(masks)[:, ::-1, ::-1])


def pointing_any_peak(heatmaps, masks):
    h = np.asarray(heatmaps, dtype=float)
    lesion = np.asarray(masks).astype(float) > 0.5
    return float(np.mean([bool(m.max() > 0 and l[m == m.max()].any()) for m, l in zip(h, lesion)]))


def pointing_hit_count(heatmaps, masks):
    return pointing_game(heatmaps, masks) * len(heatmaps)


def silhouette_self_in_a(features, labels):
    x = np.asarray(features, dtype=float).reshape(len(features), -1)
    labels = np.asarray(labels)
    values = []
    for i in range(len(x)):
        d = np.linalg.norm(x - x[i], axis=1)
        a, b = d[labels == labels[i]].mean(), d[labels != labels[i]].mean()
        values.append((b - a) / max(a, b) if max(a, b) > 0 else 0.0)
    return float(np.mean(values))


def silhouette_squared(features, labels):
    x = np.asarray(features, dtype=float).reshape(len(features), -1)
    labels = np.asarray(labels)
    values = []
    for i in range(len(x)):
        d = ((x - x[i]) ** 2).sum(axis=1)          # squared distances
        same = (labels == labels[i]) & (np.arange(len(x)) != i)
        if not same.any():
            values.append(0.0)
            continue
        a, b = d[same].mean(), d[labels != labels[i]].mean()
        values.append((b - a) / max(a, b) if max(a, b) > 0 else 0.0)
    return float(np.mean(values))


def silhouette_over_b(features, labels):
    x = np.asarray(features, dtype=float).reshape(len(features), -1)
    labels = np.asarray(labels)
    values = []
    for i in range(len(x)):
        d = np.linalg.norm(x - x[i], axis=1)
        same = (labels == labels[i]) & (np.arange(len(x)) != i)
        if not same.any():
            values.append(0.0)
            continue
        a, b = d[same].mean(), d[labels != labels[i]].mean()
        values.append((b - a) / b if b > 0 else 0.0)
    return float(np.mean(values))


def silhouette_nan_when_identical(features, labels):
    x = np.asarray(features, dtype=float).reshape(len(features), -1)
    labels = np.asarray(labels)
    values = []
    for i in range(len(x)):
        d = np.linalg.norm(x - x[i], axis=1)
        same = (labels == labels[i]) & (np.arange(len(x)) != i)
        if not same.any():
            values.append(0.0)
            continue
        a, b = d[same].mean(), d[labels != labels[i]].mean()
        with np.errstate(invalid="ignore", divide="ignore"):
            values.append((b - a) / max(a, b))
    return float(np.mean(values))


def silhouette_alone_scores_one(features, labels):
    x = np.asarray(features, dtype=float).reshape(len(features), -1)
    labels = np.asarray(labels)
    values = []
    for i in range(len(x)):
        d = np.linalg.norm(x - x[i], axis=1)
        same = (labels == labels[i]) & (np.arange(len(x)) != i)
        a = d[same].mean() if same.any() else 0.0
        b = d[labels != labels[i]].mean()
        values.append((b - a) / max(a, b) if max(a, b) > 0 else 0.0)
    return float(np.mean(values))


WRONG_ANSWERS = {
    "8.1": [cam_kernel_row, cam_always_melanoma, cam_no_relu, cam_min_max, cam_batch_max,
            cam_size_swapped, cam_nearest, cam_unweighted, cam_relu_after_resize_only],
    "8.2": [weights_sum, weights_wrong_axes, weights_max, weights_abs, weights_all_mean],
    "8.3": [grad_cam_softmax, grad_cam_pixelwise, grad_cam_fixed_class, grad_cam_abs_gradients,
            grad_cam_batch_weights, grad_cam_mean_of_maps],
    "8.4": [inside_mask_equals_one, inside_unbinarised, inside_mean_heat, inside_pooled,
            inside_zero_is_zero],
    "8.5": [pointing_counts_empty, pointing_transposed, pointing_mask_equals_one,
            pointing_last_peak, pointing_hit_count, pointing_any_peak],
    "8.6": [silhouette_self_in_a, silhouette_squared, silhouette_over_b,
            silhouette_nan_when_identical, silhouette_alone_scores_one],
}


# --------------------------------------------------------------------------- the tests
REFERENCES = {"8.1": explain.cam_from_parts, "8.2": explain.gradcam_weights,
              "8.3": explain.grad_cam_from_parts, "8.4": explain.inside_fraction,
              "8.5": explain.pointing_game, "8.6": explain.silhouette}
