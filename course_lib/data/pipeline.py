"""tf.data input pipelines for in-memory arrays (from :func:`course_lib.data.load_arrays`).

Taught in 01_data_and_augmentation. Images stay uint8 in memory and become float32 in
[0, 255] per element: every course model carries its own preprocessing layer, so the pipeline
never rescales. Masks become float32 {0, 1} with a channel axis, the shape a sigmoid U-Net
predicts.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..paper import MASK_THRESHOLD

__all__ = ["classification_dataset", "segmentation_dataset"]


def _check_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3), got {images.shape}. "
                         "Use load_arrays(record, image_size) to build them.")
    if len(images) == 0:
        raise ValueError("images is empty: there is nothing to batch.")
    return images


def _check_batch_size(batch_size) -> int:
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    return int(batch_size)


def _finish(dataset, n: int, batch_size: int, shuffle: bool, augment, seed: int,
            augment_with_seed: Callable | None = None):
    import tensorflow as tf

    if shuffle:
        # A buffer as large as the data set gives a full shuffle; the seed fixes the order.
        dataset = dataset.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    if augment is not None:
        dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if augment_with_seed is not None:
        # One stateless seed (int64, shape [2]) per element, new ones every epoch.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(
            lambda pair, element_seed: augment_with_seed(pair[0], pair[1], element_seed),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def classification_dataset(images, labels, batch_size: int, shuffle: bool = True,
                           augment: Callable | None = None, seed: int = 0, one_hot: bool = True):
    """Batches of ``(image, label)`` for a classifier. Taught in 01_data_and_augmentation.

    ``images``: ``(N, H, W, 3)`` in [0, 255], out as float32 [0, 255]. ``labels``: ``N`` ints,
    1 = melanoma; out as float32 ``(2,)`` = [benign, melanoma] with ``one_hot=True``, else int32.
    ``augment``: ``image -> image``, mapped before batching. The shuffle is seeded.
    """
    import tensorflow as tf

    images = _check_images(images)
    batch_size = _check_batch_size(batch_size)
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(images):
        raise ValueError(f"images ({len(images)}) and labels ({len(labels)}) must have the same "
                         "length.")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be 0 (benign) or 1 (melanoma), got values "
                         f"{sorted(set(labels.tolist()))[:5]}.")
    labels = labels.astype(np.int32)
    targets = np.eye(2, dtype=np.float32)[labels] if one_hot else labels
    dataset = tf.data.Dataset.from_tensor_slices((images, targets))
    dataset = dataset.map(lambda image, label: (tf.cast(image, tf.float32), label),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if augment is not None:
        user_augment = augment
        augment = lambda image, label: (user_augment(image), label)  # noqa: E731
    return _finish(dataset, len(images), batch_size, shuffle, augment, seed)


def segmentation_dataset(images, masks, batch_size: int, shuffle: bool = True,
                         augment: Callable | None = None, seed: int = 0,
                         augment_with_seed: Callable | None = None):
    """Batches of ``(image, mask)`` for a U-Net. Taught in 01_data_and_augmentation.

    ``images``: ``(N, H, W, 3)`` in [0, 255] -> float32 [0, 255]. ``masks``: ``(N, H, W)`` or
    ``(N, H, W, 1)``, 0/255 or 0/1 -> float32 {0, 1} ``(H, W, 1)``. ``augment``:
    ``(image, mask) -> (image, mask)``, mapped before batching. ``augment_with_seed``:
    ``(image, mask, seed) -> (image, mask)`` from stateless ops (e.g. ``augment.augment_pair``,
    exercise 1.6), given a fresh int64 seed of shape [2] per element and epoch, reproducible
    from ``seed``. The shuffle is seeded.
    """
    import tensorflow as tf

    images = _check_images(images)
    batch_size = _check_batch_size(batch_size)
    masks = np.asarray(masks)
    if masks.ndim == 4 and masks.shape[-1] == 1:
        masks = masks[..., 0]
    if masks.shape != images.shape[:3]:
        raise ValueError(f"masks must have shape {images.shape[:3]} (or with a trailing 1) to "
                         f"match the images, got {masks.shape}.")
    threshold = 0 if masks.max() <= 1 else MASK_THRESHOLD  # 0/1 or 0/255 masks
    binary = (masks > threshold).astype(np.uint8)[..., None]
    dataset = tf.data.Dataset.from_tensor_slices((images, binary))
    dataset = dataset.map(lambda image, mask: (tf.cast(image, tf.float32),
                                               tf.cast(mask, tf.float32)),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _finish(dataset, len(images), batch_size, shuffle, augment, seed, augment_with_seed)
