"""The TensorFlow versions of the operations, for :func:`course_lib.augment.tf_augment_fn`.

Taught in 01_data_and_augmentation. Each op draws its decisions from one stateless ``seed``
(shape [2]). Geometric ops, ``f(array, seed, nearest, **settings)``, run on the image and then
the mask with the SAME seed; photometric ops, ``f(image, seed, **settings)``, on the image only.
"""
from __future__ import annotations

import math


def _tf_like(result, original):
    """``result`` (float) back to the dtype of ``original`` (rounded for integer images)."""
    import tensorflow as tf
    if original.dtype.is_integer:
        return tf.cast(tf.round(tf.clip_by_value(result, 0.0, 255.0)), original.dtype)
    return tf.cast(result, original.dtype)


def quarter_turns(array, seed, nearest: bool = False):
    """``tf.image.rot90`` by a random k in {0, 1, 2, 3}: exact multiples of 90 degrees.
    (Keras has no such layer: ``RandomRotation`` draws any angle in its range.)"""
    import tensorflow as tf
    return tf.image.rot90(array, tf.random.stateless_uniform([], seed, 0, 4, dtype=tf.int32))


def flip(array, seed, nearest: bool = False, *, axis: int):
    """Mirror left <-> right (``axis=1``) or top <-> bottom (``axis=0``) with probability 1/2."""
    import tensorflow as tf
    if axis == 1:
        return tf.image.stateless_random_flip_left_right(array, seed)
    return tf.image.stateless_random_flip_up_down(array, seed)


def center_crop(array, seed, nearest: bool = False, *, fraction: float, probability: float):
    """With ``probability``, the central ``fraction`` of ``array`` (H, W, C), resized back
    (bilinear, or nearest for a mask)."""
    import tensorflow as tf

    def crop():
        size = tf.shape(array)[:2]
        crop_size = tf.maximum(1, tf.cast(tf.round(tf.cast(size, tf.float32) * fraction),
                                          tf.int32))
        offset = (size - crop_size) // 2
        cropped = tf.image.crop_to_bounding_box(array, offset[0], offset[1], crop_size[0],
                                                crop_size[1])
        resized = tf.image.resize(cropped, size, method="nearest" if nearest else "bilinear")
        return resized if nearest else _tf_like(resized, array)

    return tf.cond(tf.random.stateless_uniform([], seed) < probability, crop, lambda: array)


def brightness(image, seed, *, factor_range: tuple):
    """Multiply by a factor uniform in ``factor_range``, clipped to 0-255."""
    import tensorflow as tf
    factor = tf.random.stateless_uniform([], seed, factor_range[0], factor_range[1])
    return _tf_like(tf.clip_by_value(tf.cast(image, tf.float32) * factor, 0.0, 255.0), image)


def _occlude(image, seed, min_fraction: float, max_fraction: float, fill: str):
    """``image`` with one box of ``min_fraction`` to ``max_fraction`` of its area filled with
    black or the image's mean colour; box size, shape and place from the stateless ``seed``."""
    import tensorflow as tf
    size = tf.shape(image)[:2]
    height, width = tf.cast(size[0], tf.float32), tf.cast(size[1], tf.float32)
    draws = tf.random.stateless_uniform([4], seed)
    fraction = min_fraction + draws[0] * (max_fraction - min_fraction)
    aspect = tf.exp(math.log(0.5) + draws[1] * (math.log(2.0) - math.log(0.5)))
    area = fraction * height * width
    box_height = tf.clip_by_value(tf.floor(tf.sqrt(area * aspect)), 1.0, height)
    box_width = tf.clip_by_value(tf.floor(tf.sqrt(area / aspect)), 1.0, width)
    box_width = tf.minimum(box_width, tf.maximum(
        1.0, tf.floor(max_fraction * height * width / box_height)))
    top = tf.floor(draws[2] * (height - box_height + 1.0))
    left = tf.floor(draws[3] * (width - box_width + 1.0))
    rows, cols = tf.range(height)[:, None], tf.range(width)[None, :]
    inside = ((rows >= top) & (rows < top + box_height) &
              (cols >= left) & (cols < left + box_width))[..., None]
    as_float = tf.cast(image, tf.float32)
    value = tf.reduce_mean(as_float, axis=[0, 1]) if fill == "mean" else tf.zeros([3], tf.float32)
    return _tf_like(tf.where(inside, value, as_float), image)


def occlusion(image, seed, *, probability: float, min_fraction: float, max_fraction: float,
              fill: str):
    """With ``probability`` (first half of ``seed``), one box (second half: where and how big)."""
    import tensorflow as tf
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    return tf.cond(tf.random.stateless_uniform([], seeds[0]) < probability,
                   lambda: _occlude(image, seeds[1], min_fraction, max_fraction, fill),
                   lambda: image)
