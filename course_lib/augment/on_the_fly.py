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
        raise ValueError(f"occlusion_max_fraction must be in (0, 1]; got {occlusion_max_fraction}.")
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
    ``augment(image)`` -> image, ``augment(image, mask)`` -> (image, mask); images in 0-255
    (the dtype is kept), masks (H, W) or (H, W, 1). ``rot90`` turns by a random k in {0..3};
    crop and occlusion happen with their probability; brightness and occlusion leave the mask.
    Every call draws ONE stateless seed from a generator seeded with ``seed`` (the same sequence
    again unless ``Dataset.map`` runs in parallel), or takes ``seed=[7, index]``, and splits it
    into ``len(TF_OPS)`` sub-seeds: op ``TF_OPS[i]`` uses sub-seed ``i`` whether or not the
    others run, and the mask gets the image's decisions. Keep that order: the stored notebook
    outputs show what these sub-seeds give."""
    import tensorflow as tf
    ops = _check_ops(ops, TF_OPS)
    _check_tf_augment_settings(crop_fraction, factor_range, occlusion_max_fraction,
                               crop_probability, occlusion_probability, fill)
    settings = {"center_crop": {"fraction": crop_fraction, "probability": crop_probability},
                "brightness": {"factor_range": factor_range},
                "occlusion": {"probability": occlusion_probability, "fill": fill,
                              "min_fraction": min(0.02, occlusion_max_fraction),
                              "max_fraction": occlusion_max_fraction}}
    generator = tf.random.Generator.from_seed(seed)

    def augment(image, mask=None, seed=None):
        image = tf.convert_to_tensor(image)
        if seed is None:
            seed = generator.make_seeds(1)[:, 0]
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=len(TF_OPS))
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
        return image if mask is None else (image, mask[..., 0] if mask_was_2d else mask)

    return augment


def augment_pair(image, mask, seed):
    """ONE random variant of an image and its mask from ONE stateless seed (shape [2]), for
    ``data.segmentation_dataset(..., augment_with_seed=augment_pair)``. Reference of exercise
    1.6 (01_data_and_augmentation). Sub-seeds 0-3: quarter turns, left-right flip, up-down flip
    (image and mask alike), brightness factor in [0.7, 1.3) (image only)."""
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
    """The "Keras way": a Sequential of Keras 3 preprocessing layers (active in training only).
    Taught in 01_data_and_augmentation. RandomBrightness ADDS up to +-``brightness_factor`` x
    255; ``arbitrary_rotation`` adds RandomRotation: ANY angle, not the paper's quarter turns.
    Masks: call it ONCE on ``{"images": images, "segmentation_masks": masks}`` (one draw for
    both); two separate calls would misalign them."""
    import keras
    from keras import layers
    if not 0 < occlusion_max_fraction <= 1:
        raise ValueError(f"occlusion_max_fraction must be in (0, 1]; got {occlusion_max_fraction}.")
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
