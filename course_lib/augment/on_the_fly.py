"""ON-THE-FLY augmentation: :func:`tf_augment_fn` for ``tf.data``, the exercise reference
:func:`augment_pair`, and the Keras preprocessing layers way (:func:`keras_augmentation_layers`).

Taught in 01_data_and_augmentation. TensorFlow is imported when these are called.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from .ops import REGISTRY, TF_OPS, _check_ops


def _check_tf_augment_settings(crop_fraction: float, factor_range: tuple,
                               occlusion_max_fraction: float, crop_probability: float,
                               occlusion_probability: float, fill: str) -> None:
    """Raise ValueError for a :func:`tf_augment_fn` setting out of range (ops checked apart)."""
    if not 0 < crop_fraction <= 1:
        raise ValueError(f"crop_fraction must be in (0, 1]; got {crop_fraction}.")
    if not 0 <= factor_range[0] <= factor_range[1]:
        raise ValueError(f"factor_range must be (low, high) with 0 <= low <= high; got "
                         f"{factor_range}.")
    if not 0 < occlusion_max_fraction <= 1:
        raise ValueError(f"occlusion_max_fraction must be in (0, 1]; got "
                         f"{occlusion_max_fraction}.")
    for name, value in (("crop_probability", crop_probability),
                        ("occlusion_probability", occlusion_probability)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be a probability in [0, 1]; got {value}.")
    if fill not in ("black", "mean"):
        raise ValueError(f"fill must be 'black' or 'mean'; got {fill!r}.")


def tf_augment_fn(seed: int = 0, ops: Sequence[str] = TF_OPS, *, crop_fraction: float = 0.8,
                  crop_probability: float = 0.5, factor_range: tuple = (0.7, 1.3),
                  occlusion_max_fraction: float = 0.15, occlusion_probability: float = 0.5,
                  fill: str = "black") -> Callable:
    """A function for ``Dataset.map`` that augments an image, or an image and its mask, anew on
    every call. Taught in 01_data_and_augmentation.

    ``augment(image)`` -> image, ``augment(image, mask)`` -> (image, mask). For a labelled
    classification set map ``lambda image, label: (augment(image), label)``. Images are
    (height, width, 3) in 0-255 (uint8 or float; the dtype is kept); masks (height, width) or
    (height, width, 1). What each op in ``ops`` (a subset of :data:`TF_OPS`) does:

    - ``rot90``: ``tf.image.rot90`` by a random k in {0, 1, 2, 3} -- exact multiples of 90
      degrees (square images: k = 1, 3 swap height and width);
    - ``flip_h`` / ``flip_v``: ``tf.image.stateless_random_flip_left_right`` /
      ``..._up_down``, each with probability 1/2;
    - ``center_crop``: with ``crop_probability``, keep the central ``crop_fraction`` and resize
      back (bilinear image, nearest mask);
    - ``brightness`` (image only): multiply by a factor uniform in ``factor_range``;
    - ``occlusion`` (image only): with ``occlusion_probability``, one box of 2 % to
      ``occlusion_max_fraction`` of the area filled with black (``fill="black"``) or the image's
      mean colour (``fill="mean"``).

    Randomness: every call draws ONE stateless seed (from a ``tf.random.Generator`` seeded with
    ``seed``) and splits it into one sub-seed per decision; the image and its mask are
    transformed with the SAME decisions, so they stay aligned. A new augment function with the
    same ``seed`` repeats the same sequence (when ``Dataset.map`` runs without
    ``num_parallel_calls``; parallel calls may take the seeds in a different order). For full
    control pass your own seed per element: ``augment(image, mask, seed=[7, index])``.

    ``ops`` run in :data:`TF_OPS` order (geometric first), each with its own sub-seed: the
    call's seed is split into ``len(TF_OPS)`` sub-seeds and op ``TF_OPS[i]`` uses sub-seed
    ``i`` whether or not the other ops run. Keep that order: the stored notebook outputs show
    the augmentations these sub-seeds give.
    """
    import tensorflow as tf

    ops = _check_ops(ops, TF_OPS)
    _check_tf_augment_settings(crop_fraction, factor_range, occlusion_max_fraction,
                               crop_probability, occlusion_probability, fill)
    settings = {
        "center_crop": {"fraction": crop_fraction, "probability": crop_probability},
        "brightness": {"factor_range": factor_range},
        "occlusion": {"probability": occlusion_probability, "fill": fill,
                      "min_fraction": min(0.02, occlusion_max_fraction),
                      "max_fraction": occlusion_max_fraction},
    }
    generator = tf.random.Generator.from_seed(seed)

    def augment(image, mask=None, seed=None):
        image = tf.convert_to_tensor(image)
        if seed is None:
            seed = generator.make_seeds(1)[:, 0]
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64),
                                                       num=len(TF_OPS))
        mask_was_2d = False
        if mask is not None:
            mask = tf.convert_to_tensor(mask)
            mask_was_2d = mask.shape.rank == 2
            if mask_was_2d:
                mask = mask[..., None]
        for index, name in enumerate(TF_OPS):
            if name not in ops:
                continue
            op, options = REGISTRY[name], settings.get(name, {})
            if op.kind == "photometric":  # the image only
                image = op.tf(image, seeds[index], **options)
                continue
            image = op.tf(image, seeds[index], False, **options)
            if mask is not None:  # the same sub-seed: the same decisions as for the image
                mask = op.tf(mask, seeds[index], True, **options)
        if mask is None:
            return image
        return image, (mask[..., 0] if mask_was_2d else mask)

    return augment


def augment_pair(image, mask, seed):
    """ONE random variant of an image and its mask from ONE stateless seed, for ``Dataset.map``.

    Reference of exercise 1.6 (01_data_and_augmentation); map it with
    ``data.segmentation_dataset(..., augment_with_seed=augment_pair)``, which hands every
    element a fresh seed. ``image`` float32 (H, W, 3) in 0-255, ``mask`` (H, W, 1), ``seed`` an
    int tensor of shape [2]. The seed is split into four sub-seeds
    (``tf.random.experimental.stateless_split(seed, num=4)``):

    0. ``k = tf.random.stateless_uniform([], seeds[0], 0, 4, dtype=tf.int32)`` quarter turns
       (``tf.image.rot90``) of both;
    1. ``tf.image.stateless_random_flip_left_right`` of both with ``seeds[1]``;
    2. ``tf.image.stateless_random_flip_up_down`` of both with ``seeds[2]``;
    3. the image only: times a factor ``tf.random.stateless_uniform([], seeds[3], 0.7, 1.3)``,
       clipped to 0-255.

    Same sub-seed for image and mask = same coin tosses, so they stay aligned.
    """
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, num=4)
    turns = tf.random.stateless_uniform([], seeds[0], 0, 4, dtype=tf.int32)
    image, mask = tf.image.rot90(image, turns), tf.image.rot90(mask, turns)
    image = tf.image.stateless_random_flip_left_right(image, seeds[1])
    mask = tf.image.stateless_random_flip_left_right(mask, seeds[1])
    image = tf.image.stateless_random_flip_up_down(image, seeds[2])
    mask = tf.image.stateless_random_flip_up_down(mask, seeds[2])
    factor = tf.random.stateless_uniform([], seeds[3], 0.7, 1.3)
    image = tf.clip_by_value(tf.cast(image, tf.float32) * factor, 0.0, 255.0)
    return image, mask



def keras_augmentation_layers(seed: int = 0, *, brightness_factor: float = 0.3,
                              zoom: float = 0.2, occlusion_max_fraction: float = 0.15,
                              arbitrary_rotation: bool = False):
    """The "Keras way": a Sequential of Keras 3 preprocessing layers.

    Taught in 01_data_and_augmentation. Put it at the start of a model (it only acts in
    training; at inference every layer passes the input through) or map it over a
    ``tf.data.Dataset`` of batches. Layers, for images in 0-255:

    - ``RandomFlip("horizontal_and_vertical")`` -- the two mirrors;
    - ``RandomZoom((-zoom, 0))`` -- zoom IN by up to ``zoom`` about the centre: a random
      cousin of the centre crop;
    - ``RandomBrightness(brightness_factor)`` -- ADDS up to +-``brightness_factor`` x 255
      (the numpy :func:`apply` multiplies instead);
    - ``RandomErasing`` -- occlusion: with probability 1/2 one black box of up to
      ``occlusion_max_fraction`` of the area;
    - only with ``arbitrary_rotation=True``: ``RandomRotation(0.5, fill_mode="reflect")``.
      Keras' RandomRotation draws ANY angle in the range, it cannot restrict itself to
      multiples of 90 degrees, so it is not the paper's rotation (corners get filled in).
      Keras has no layer for exact quarter turns: :func:`tf_augment_fn` does them with
      ``tf.image.rot90`` and a random k.

    Masks: call it on a dict, ``layers({"images": images, "segmentation_masks": masks},
    training=True)``. Each layer then draws ONE transformation per call and applies it to both:
    flips, zoom and rotation move the masks with the images (nearest neighbour, so a 0/1 mask
    stays 0/1), brightness and erasing leave the masks as they are. Calling it twice, once on the
    images and once on the masks, would draw different random numbers and misalign them.
    """
    import keras
    from keras import layers

    if not 0 < occlusion_max_fraction <= 1:
        raise ValueError(f"occlusion_max_fraction must be in (0, 1]; got "
                         f"{occlusion_max_fraction}.")
    if not 0 <= zoom < 1 or not 0 <= brightness_factor <= 1:
        raise ValueError(f"zoom must be in [0, 1) and brightness_factor in [0, 1]; got "
                         f"{zoom}, {brightness_factor}.")
    augmentation = [
        layers.RandomFlip("horizontal_and_vertical", seed=seed),
        layers.RandomZoom(height_factor=(-zoom, 0.0), width_factor=(-zoom, 0.0),
                          fill_mode="reflect", seed=seed + 1),
        layers.RandomBrightness(brightness_factor, value_range=(0, 255), seed=seed + 2),
        # RandomErasing: factor (p, p) = erase with probability p; each side of the box is
        # sqrt(U(scale)) of the image side, so its area is (about) at most max(scale).
        layers.RandomErasing(factor=(0.5, 0.5), scale=(min(0.02, occlusion_max_fraction),
                                                       occlusion_max_fraction),
                             fill_value=0.0, value_range=(0, 255), seed=seed + 3),
    ]
    if arbitrary_rotation:
        augmentation.insert(1, layers.RandomRotation(0.5, fill_mode="reflect", seed=seed + 4))
    return keras.Sequential(augmentation, name="keras_augmentation")
