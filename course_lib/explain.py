"""Looking inside the classifiers: CAM, Grad-CAM, features, t-SNE and the silhouette score.

Taught in 08_visualisation_and_demo (paper section IV.A.4, Figs. 9 and 10). CAM (Zhou et al.
2016): ``M_c(x, y) = sum_k w_kc A_k(x, y)``, the Dense head's weights on the last feature maps.
Grad-CAM (Selvaraju et al. 2017): ``ReLU(sum_k alpha_k A_k)`` with ``alpha_k = mean_xy dz_c /
dA_k(x, y)``; on a GAP + Dense head that is CAM / (h * w), so after normalising both give the same
map. Both read :data:`course_lib.models.LAST_CONV_LAYER` (7 x 7 at 224 px, 2 x 2 at 64 px).
"""
from __future__ import annotations

import warnings

import numpy as np

from .paper import MASK_THRESHOLD

__all__ = ["find_last_conv_layer", "cam", "grad_cam", "gradcam_weights", "overlay",
           "inside_fraction", "cam_parts", "gradcam_parts", "normalise_heatmaps", "cam_from_parts",
           "grad_cam_from_parts", "pointing_game", "extract_features", "tsne_embedding",
           "silhouette"]


def _nested_backbone(model):
    """The nested feature model of a DC model (or of dc_classifier's model), else None."""
    import keras
    for layer in model.layers:
        if layer.name == "backbone" and isinstance(layer, keras.Model):
            return layer
    return None


def find_last_conv_layer(model) -> str:
    """Name of the last layer with 4-D (feature map) output: what CAM and Grad-CAM read. Taught in
    08_visualisation_and_demo. For a DC model (or its classifier) the search runs inside the shared
    ``backbone``."""
    names = []
    for layer in (_nested_backbone(model) or model).layers:
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):  # layers used more than once, inputs
            continue
        if len(shape) == 4 and not layer.__class__.__name__ == "InputLayer":
            names.append(layer.name)
    if not names:
        raise ValueError(f"Model {model.name!r} has no layer with 4-D output (feature maps); "
                         "CAM and Grad-CAM need a convolutional network.")
    return names[-1]


def _head_layer(model, head):
    """The Dense layer that turns pooled features into class scores."""
    from keras import layers
    if len(model.inputs) == 2:  # a DC model: pick a classification head
        head = head or "cls1"
        if head not in ("cls1", "cls2"):
            raise ValueError(f"head must be 'cls1' or 'cls2' for a DC model; got {head!r}.")
        return model.get_layer(head)
    last = model.layers[-1]
    return last if isinstance(last, layers.Dense) else None


def _parts(model, layer_name, head):
    """``(feature_model, dense)``: feature_model maps an image batch to ``[maps of layer_name,
    input of the head]`` (the model output, with ``dense`` None, when there is no Dense head)."""
    import keras
    backbone = _nested_backbone(model)
    layer_name = layer_name or find_last_conv_layer(model)
    dense = _head_layer(model, head)
    try:
        conv = (model if backbone is None else backbone).get_layer(layer_name)
    except ValueError:
        where = repr(model.name) if backbone is None else f"the backbone of {model.name!r}"
        raise ValueError(f"No layer {layer_name!r} in {where}; use "
                         f"find_last_conv_layer(model) ({find_last_conv_layer(model)!r}).")
    if backbone is not None:
        if dense is None:
            raise ValueError(f"{model.name!r} has a backbone but no Dense head to read.")
        return keras.Model(backbone.inputs[0], [conv.output, backbone.output]), dense
    if len(conv.output.shape) != 4:
        raise ValueError(f"Layer {layer_name!r} outputs shape {tuple(conv.output.shape)}, not "
                         "feature maps (batch, height, width, channels); pick a convolutional "
                         "layer, e.g. find_last_conv_layer(model).")
    second = dense.input if dense is not None else model.outputs[0]
    return keras.Model(model.inputs[0], [conv.output, second]), dense


def _as_batch(image) -> tuple[np.ndarray, bool]:
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 3:
        return array[None], True
    if array.ndim == 4:
        return array, False
    raise ValueError(f"image must be (height, width, channels) or a batch (n, height, width, "
                     f"channels) with values in [0, 255]; got shape {array.shape}.")


def _check_class_index(class_index, n_classes) -> int:
    if not isinstance(class_index, (int, np.integer)) or not 0 <= class_index < n_classes:
        raise ValueError(f"class_index must be an integer in 0..{n_classes - 1} (1 = melanoma); "
                         f"got {class_index!r}.")
    return int(class_index)


def normalise_heatmaps(maps, size) -> np.ndarray:
    """Raw class maps ``(N, h, w)`` -> heatmaps ``(N, H, W)`` in [0, 1]: ReLU, bilinear resize
    to ``size = (H, W)``, divide each map by its own maximum (an all-zero map stays zero).
    Taught in 08_visualisation_and_demo (the last step of CAM and Grad-CAM; Exercise 8.4)."""
    import tensorflow as tf
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"maps must be (n, height, width); got shape {maps.shape}.")
    size = tuple(int(v) for v in size[:2])
    maps = tf.image.resize(np.maximum(maps, 0.0)[..., None], size, method="bilinear")
    maps = np.maximum(maps.numpy()[..., 0], 0.0)
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    maps = np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)
    return np.clip(maps, 0.0, 1.0)


def cam(model, image, layer_name: str | None = None, class_index: int = 1,
        head: str | None = None) -> np.ndarray:
    """Class activation map of a GAP + Dense classifier, in [0, 1] at the image size. Taught in
    08_visualisation_and_demo (Fig. 9). ``model``: a classifier, or a DC model (head from
    ``select_head``, else ``head``, else "cls1"); ``image``: ``(H, W, 3)`` or ``(N, H, W, 3)`` in
    [0, 255]. ``ValueError`` where CAM is undefined (the Dense layer reads no mean of the maps)."""
    batch, single = _as_batch(image)
    maps, kernel = cam_parts(model, batch, layer_name, head)
    heatmaps = cam_from_parts(maps, kernel, class_index, batch.shape[1:3])
    return heatmaps[0] if single else heatmaps


def cam_from_parts(feature_maps, kernel, class_index: int, size) -> np.ndarray:
    """CAM from :func:`cam_parts` (the reference of Exercise 8.1, 08_visualisation_and_demo):
    ``feature_maps (N, h, w, K) @ kernel[:, class_index]``, then :func:`normalise_heatmaps` to
    ``size = (H, W)``. Returns ``(N, H, W)`` in [0, 1]."""
    kernel = np.asarray(kernel, dtype=np.float32)
    class_index = _check_class_index(class_index, kernel.shape[1])
    return normalise_heatmaps(np.asarray(feature_maps, dtype=np.float32) @ kernel[:, class_index],
                              size)


def cam_parts(model, images, layer_name: str | None = None, head: str | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """What CAM weights: ``(feature_maps (N, h, w, K), kernel (K, n_classes))``. Taught in
    08_visualisation_and_demo (the inputs of Exercise 8.3). Arguments and ``ValueError`` as in
    :func:`cam`."""
    batch, _ = _as_batch(images)
    feature_model, dense = _parts(model, layer_name, head)
    if dense is None:
        raise ValueError(f"CAM needs a model that ends with a Dense layer after global average "
                         f"pooling; {model.name!r} does not. Use grad_cam instead.")
    kernel = np.asarray(dense.kernel)
    maps, pooled = (np.asarray(t) for t in feature_model(batch, training=False))
    if maps.shape[-1] != kernel.shape[0] or not np.allclose(
            maps.mean(axis=(1, 2)), pooled, rtol=1e-3, atol=1e-4):
        raise ValueError(f"The Dense layer of {model.name!r} is not fed by the global average of "
                         f"layer {layer_name or find_last_conv_layer(model)!r}, so CAM is "
                         "undefined there; use grad_cam (it works for any head).")
    return maps, kernel


def gradcam_weights(gradients) -> np.ndarray:
    """Grad-CAM's channel weights: the spatial mean of each feature map's gradients. Taught in
    08_visualisation_and_demo (Exercise 8.1). ``(h, w, channels)`` -> ``(channels,)``, or
    ``(n, h, w, channels)`` -> ``(n, channels)``."""
    gradients = np.asarray(gradients, dtype=np.float64)
    if gradients.ndim not in (3, 4):
        raise ValueError(f"gradients must be (height, width, channels) or (n, height, width, "
                         f"channels); got shape {gradients.shape}.")
    return gradients.mean(axis=(-3, -2))


def grad_cam(model, image, layer_name: str | None = None, class_index: int = 1,
             head: str | None = None) -> np.ndarray:
    """Grad-CAM heatmap in [0, 1] at the image size, of the LOGIT when the model ends with a Dense
    layer. Taught in 08_visualisation_and_demo. Arguments as in :func:`cam`."""
    batch, single = _as_batch(image)
    heatmaps = grad_cam_from_parts(gradcam_parts(model, layer_name, head), batch, class_index)
    return heatmaps[0] if single else heatmaps


def grad_cam_from_parts(score_model, images, class_index: int = 1) -> np.ndarray:
    """Grad-CAM from :func:`gradcam_parts`' ``score_model`` (the reference of Exercise 8.3,
    08_visualisation_and_demo). ``images``: ``(N, H, W, 3)``; returns ``(N, H, W)`` in [0, 1]."""
    import tensorflow as tf
    batch, _ = _as_batch(images)
    with tf.GradientTape() as tape:
        maps, scores = score_model(tf.convert_to_tensor(batch))
        class_index = _check_class_index(class_index, scores.shape[-1])
        score = scores[:, class_index]
    gradients = tape.gradient(score, maps)
    if gradients is None:
        raise ValueError("The class score does not depend on these feature maps; pick a layer "
                         "that feeds the output.")
    weights = gradcam_weights(np.asarray(gradients))               # (n, channels)
    maps = np.asarray(maps, dtype=np.float64)
    return normalise_heatmaps(np.einsum("nhwk,nk->nhw", maps, weights), batch.shape[1:3])


def gradcam_parts(model, layer_name: str | None = None, head: str | None = None):
    """``score_model(images) -> (feature_maps (N, h, w, K), class_scores)``: what Grad-CAM
    differentiates (scores: LOGITS when the model ends with a Dense layer). Taught in
    08_visualisation_and_demo (Exercise 8.4)."""
    from keras import ops
    feature_model, dense = _parts(model, layer_name, head)

    def score_model(images):
        maps, second = feature_model(images, training=False)
        if dense is None:
            return maps, second
        scores = ops.matmul(second, dense.kernel)
        return maps, (scores + dense.bias if dense.use_bias else scores)

    return score_model


def overlay(image, heatmap, alpha: float = 0.45, cmap: str = "jet") -> np.ndarray:
    """The heatmap, coloured with ``cmap``, blended over the image: uint8 ``(H, W, 3)``. Taught in
    08_visualisation_and_demo. ``heatmap``: ``(h, w)`` in [0, 1], resized to the image when sizes
    differ; ``alpha``: heatmap opacity."""
    import matplotlib
    image = np.asarray(image, dtype=np.float32)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be (height, width, 3); got shape {image.shape}.")
    if heatmap.ndim != 2:
        raise ValueError(f"heatmap must be 2-D (height, width); got shape {heatmap.shape}.")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}.")
    if heatmap.shape != image.shape[:2]:
        import tensorflow as tf
        heatmap = tf.image.resize(heatmap[..., None], image.shape[:2]).numpy()[..., 0]
    colours = matplotlib.colormaps[cmap](np.clip(heatmap, 0, 1))[..., :3] * 255.0
    blended = (1.0 - alpha) * np.clip(image, 0, 255) + alpha * colours
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def inside_fraction(heatmaps, masks) -> np.ndarray:
    """Share of each heatmap's mass inside the lesion mask, ``sum(h * m) / sum(h)`` (NaN for an
    all-zero heatmap). Taught in 08_visualisation_and_demo (Fig. 9 as a number)."""
    heatmaps = np.asarray(heatmaps, dtype=np.float64)
    masks = np.asarray(masks)
    if heatmaps.shape != masks.shape:
        raise ValueError(f"heatmaps {heatmaps.shape} and masks {masks.shape} must have the same "
                         "shape; resize the masks to the image size first.")
    single = heatmaps.ndim == 2
    if single:
        heatmaps, masks = heatmaps[None], masks[None]
    inside = (masks > (MASK_THRESHOLD if masks.dtype == np.uint8 else 0.5)).reshape(len(masks), -1)
    heatmaps = heatmaps.reshape(len(heatmaps), -1)
    total = heatmaps.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    share = np.where(total > 0, (heatmaps * inside).sum(axis=1) / safe, np.nan)
    return float(share[0]) if single else share


def pointing_game(heatmaps, masks) -> float:
    """Share of images whose heatmap PEAK (first ``np.argmax``) lies inside the lesion (Zhang et
    al., 2016). Taught in 08_visualisation_and_demo (Exercise 8.5). ``heatmaps``: ``(N, H, W)``;
    ``masks``: same shape, lesion ``> 0.5``. An all-zero heatmap counts as a miss."""
    heatmaps = np.asarray(heatmaps, dtype=np.float64)
    lesion = np.asarray(masks, dtype=np.float64) > 0.5
    if heatmaps.shape != lesion.shape or heatmaps.ndim != 3:
        raise ValueError(f"heatmaps {heatmaps.shape} and masks {lesion.shape} must both be "
                         "(n, height, width).")
    flat = heatmaps.reshape(len(heatmaps), -1)
    peaks = np.argmax(flat, axis=1)
    hits = lesion.reshape(len(lesion), -1)[np.arange(len(flat)), peaks] & (flat.max(axis=1) > 0)
    return float(hits.mean())


def extract_features(model, images, layer_name: str | None = None,
                     batch_size: int = 32) -> np.ndarray:
    """Features ``(N, D)`` of ``images`` at ``layer_name``. Taught in 08_visualisation_and_demo.
    Default: the pooled vector the classification head reads (Fig. 10's features). Any layer's
    output is flattened to one row per image."""
    import keras
    batch, _ = _as_batch(images)
    backbone = _nested_backbone(model)
    source = model if backbone is None else backbone
    if backbone is not None:
        output = backbone.get_layer(layer_name).output if layer_name else backbone.output
    elif layer_name is None:
        dense = _head_layer(model, None)
        if dense is None:
            raise ValueError(f"{model.name!r} has no Dense head; pass layer_name.")
        output = dense.input
    else:
        output = model.get_layer(layer_name).output
    extractor = keras.Model(source.inputs[0], output)
    # Eager batches: faster than extractor.predict, which first traces a graph.
    features = [np.asarray(extractor(batch[start:start + batch_size], training=False))
                for start in range(0, len(batch), batch_size)]
    return np.concatenate(features).astype(np.float32).reshape(len(batch), -1)


def _features_2d(features, what: str = "features") -> np.ndarray:
    array = np.asarray(features, dtype=np.float64)
    if array.ndim < 2:
        raise ValueError(f"{what} must have one row per image, shape (n, ...); got "
                         f"{array.shape}.")
    array = array.reshape(len(array), -1)
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contains NaN or infinite values.")
    return array


def _nearly_identical(array: np.ndarray) -> bool:
    """True when every row equals the first up to float32 rounding (relative spread < 1e-6)."""
    return bool(array.std(axis=0).max() <= 1e-6 * max(float(np.abs(array).max()), 1e-12))


def tsne_embedding(features, seed: int = 0, perplexity: float | None = None) -> np.ndarray:
    """2-D t-SNE embedding ``(N, 2)`` of standardised features (PCA to 50 first above 50
    dimensions). Taught in 08_visualisation_and_demo. Perplexity: ``min(30, (N - 1) / 3)``, at least
    2. (Nearly) identical rows: all points at the origin, with a warning."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    array = _features_2d(features)
    n = len(array)
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 points; got {n}.")
    if _nearly_identical(array):  # e.g. an untrained network's BatchNorm statistics
        warnings.warn("All feature vectors are (nearly) identical: there is nothing for t-SNE to "
                      "embed, so every point is placed at the origin.", UserWarning, stacklevel=2)
        return np.zeros((n, 2), dtype=np.float32)
    std = array.std(axis=0)
    array = (array - array.mean(axis=0)) / np.where(std > 0, std, 1.0)
    if array.shape[1] > 50:
        array = PCA(n_components=min(50, n), random_state=seed).fit_transform(array)
    if perplexity is None:
        perplexity = float(min(30.0, max(2.0, (n - 1) / 3.0)))
    if not 0 < perplexity < n:
        raise ValueError(f"perplexity must be in (0, {n}) for {n} points; got {perplexity}.")
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                random_state=seed)
    return tsne.fit_transform(array).astype(np.float32)


def silhouette(features_or_embedding, labels) -> float:
    """Mean silhouette coefficient (Euclidean) in [-1, 1], ``s = (b - a) / max(a, b)``. Taught in
    08_visualisation_and_demo (Fig. 10's clusters as a number); (nearly) identical points: 0."""
    from sklearn.metrics import silhouette_score
    array = _features_2d(features_or_embedding, "features_or_embedding")
    labels = np.asarray(labels).reshape(-1)
    if labels.size != len(array):
        raise ValueError(f"{len(array)} points but {labels.size} labels; pass one label per row.")
    n_classes = len(np.unique(labels))
    if not 2 <= n_classes <= len(array) - 1:
        raise ValueError(f"the silhouette score needs 2 to n - 1 classes; got {n_classes} "
                         f"class(es) for {len(array)} points.")
    if _nearly_identical(array):  # distances are rounding noise: no structure at all
        return 0.0
    return float(silhouette_score(array, labels, metric="euclidean"))
