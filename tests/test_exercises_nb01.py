"""Exercises of 01_data_and_augmentation: a right answer per exercise passes its check,
plausible wrong answers are rejected, stubs report "not implemented", and the library references
in course_lib.augment and course_lib.data pass the same checks."""
from __future__ import annotations

import numpy as np
from exercise_probe import rejected
from PIL import Image

from course_lib import augment, data


# --------------------------------------------------------------------------- 1.1 rotate, mirror
def rotate_and_mirror(image, mask, k, mirror):
    image, mask = np.rot90(image, k, axes=(0, 1)), np.rot90(mask, k, axes=(0, 1))
    if mirror:
        image, mask = np.fliplr(image), np.fliplr(mask)
    return image.copy(), mask.copy()


def turn_clockwise(image, mask, k, mirror):
    return rotate_and_mirror(np.rot90(image, -2 * k, axes=(0, 1)),
                             np.rot90(mask, -2 * k, axes=(0, 1)), k, mirror)


def mirror_first(image, mask, k, mirror):
    if mirror:
        image, mask = image[:, ::-1], mask[:, ::-1]
    return np.rot90(image, k, axes=(0, 1)).copy(), np.rot90(mask, k, axes=(0, 1)).copy()


def mirror_up_down(image, mask, k, mirror):
    image, mask = np.rot90(image, k, axes=(0, 1)), np.rot90(mask, k, axes=(0, 1))
    if mirror:
        image, mask = image[::-1], mask[::-1]
    return image.copy(), mask.copy()


def mask_forgotten(image, mask, k, mirror):
    return rotate_and_mirror(image, mask, k, mirror)[0], mask.copy()


def rot90_default_axes_on_mask_only(image, mask, k, mirror):  # turns the mask as a stack
    new_image, _ = rotate_and_mirror(image, mask, k, mirror)
    new_mask = np.rot90(mask, k, axes=(0, 1)) if mask.ndim == 2 else np.rot90(mask, k, axes=(1, 2))
    return new_image, (new_mask[:, ::-1] if mirror else new_mask).copy()


# --------------------------------------------------------------------------- 1.2 occlusion
def occlude(image, rng, max_fraction=0.15):
    height, width = image.shape[:2]
    area = rng.uniform(0.3, 1.0) * max_fraction * height * width
    box_h = int(np.clip(np.sqrt(area), 1, height))
    box_w = int(np.clip(area // box_h, 1, width))
    top, left = rng.integers(0, height - box_h + 1), rng.integers(0, width - box_w + 1)
    out = image.copy()
    out[top:top + box_h, left:left + box_w] = 0
    return out


def occlude_off_by_one(image, rng, max_fraction=0.15):   # never touches the last row/column
    height, width = image.shape[:2]
    area = rng.uniform(0.3, 1.0) * max_fraction * height * width
    box_h = int(np.clip(np.sqrt(area), 1, height))
    box_w = int(np.clip(area // box_h, 1, width))
    top, left = rng.integers(0, height - box_h), rng.integers(0, width - box_w)
    out = image.copy()
    out[top:top + box_h, left:left + box_w] = 0
    return out


def occlude_in_place(image, rng, max_fraction=0.15):
    out = occlude(image, rng, max_fraction)
    image[...] = out
    return image


def occlude_fraction_per_side(image, rng, max_fraction=0.15):  # max_fraction of each SIDE
    height, width = image.shape[:2]
    box_h = max(1, int(max_fraction * height * 2 * rng.uniform(0.5, 1.0)))
    box_w = max(1, int(max_fraction * width * 2 * rng.uniform(0.5, 1.0)))
    top, left = rng.integers(0, height - box_h + 1), rng.integers(0, width - box_w + 1)
    out = image.copy()
    out[top:top + box_h, left:left + box_w] = 0
    return out


def occlude_unseeded(image, rng, max_fraction=0.15):
    return occlude(image, np.random.default_rng(), max_fraction)


def occlude_white(image, rng, max_fraction=0.15):
    out = occlude(image, rng, max_fraction)
    out[(out == 0).all(axis=-1)] = 255
    return out


# --------------------------------------------------------------------------- 1.3 centre crop
def center_crop(image, mask, fraction=0.8):
    height, width = image.shape[:2]
    ch, cw = max(1, round(height * fraction)), max(1, round(width * fraction))
    top, left = (height - ch) // 2, (width - cw) // 2

    def crop(array, method):
        piece = Image.fromarray(array[top:top + ch, left:left + cw])
        return np.asarray(piece.resize((width, height), method))
    return crop(image, Image.BILINEAR), crop(mask, Image.NEAREST)


def crop_mask_bilinear(image, mask, fraction=0.8):
    new_image, _ = center_crop(image, mask, fraction)
    return new_image, center_crop(mask[..., None].repeat(3, axis=2), mask, fraction)[0][..., 0]


def crop_from_corner(image, mask, fraction=0.8):
    height, width = image.shape[:2]
    ch, cw = max(1, round(height * fraction)), max(1, round(width * fraction))

    def crop(array, method):
        return np.asarray(Image.fromarray(array[:ch, :cw]).resize((width, height), method))
    return crop(image, Image.BILINEAR), crop(mask, Image.NEAREST)


def crop_area_fraction(image, mask, fraction=0.8):          # keeps fraction of the AREA
    return center_crop(image, mask, float(np.sqrt(fraction)))


def crop_without_resize(image, mask, fraction=0.8):
    height, width = image.shape[:2]
    ch, cw = max(1, round(height * fraction)), max(1, round(width * fraction))
    top, left = (height - ch) // 2, (width - cw) // 2
    return image[top:top + ch, left:left + cw].copy(), mask[top:top + ch, left:left + cw].copy()


# --------------------------------------------------------------------------- 1.4 split
def split_by_source(source_ids, labels, val_fraction=0.2, seed=0):
    source_ids, labels = np.asarray(source_ids), np.asarray(labels)
    rng = np.random.default_rng(seed)
    val_sources = []
    for label in np.unique(labels):
        sources = rng.permutation(np.unique(source_ids[labels == label]))
        n_val = int(round(val_fraction * len(sources)))
        if len(sources) >= 2:
            n_val = min(max(n_val, 1), len(sources) - 1)
        val_sources.extend(sources[:n_val].tolist())
    is_val = np.isin(source_ids, val_sources)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def split_samples(source_ids, labels, val_fraction=0.2, seed=0):   # the paper's leak
    return split_by_source(np.arange(len(source_ids)), labels, val_fraction, seed)


def split_not_stratified(source_ids, labels, val_fraction=0.2, seed=0):
    source_ids = np.asarray(source_ids)
    sources = np.random.default_rng(seed).permutation(np.unique(source_ids))
    is_val = np.isin(source_ids, sources[:int(round(val_fraction * len(sources)))])
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def split_first_sources(source_ids, labels, val_fraction=0.2, seed=0):   # no shuffle
    source_ids, labels = np.asarray(source_ids), np.asarray(labels)
    val_sources = []
    for label in np.unique(labels):
        sources = np.unique(source_ids[labels == label])
        n_val = min(max(int(round(val_fraction * len(sources))), 1), len(sources) - 1)
        val_sources.extend(sources[:n_val].tolist())
    is_val = np.isin(source_ids, val_sources)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def split_fraction_to_train(source_ids, labels, val_fraction=0.2, seed=0):   # sides swapped
    train_idx, val_idx = split_by_source(source_ids, labels, 1 - val_fraction, seed)
    return train_idx, val_idx


def split_no_minimum(source_ids, labels, val_fraction=0.2, seed=0):
    source_ids, labels = np.asarray(source_ids), np.asarray(labels)
    rng = np.random.default_rng(seed)
    val_sources = []
    for label in np.unique(labels):
        sources = rng.permutation(np.unique(source_ids[labels == label]))
        val_sources.extend(sources[:int(round(val_fraction * len(sources)))].tolist())
    is_val = np.isin(source_ids, val_sources)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def split_floor(source_ids, labels, val_fraction=0.2, seed=0):   # int() instead of round()
    source_ids, labels = np.asarray(source_ids), np.asarray(labels)
    rng = np.random.default_rng(seed)
    val_sources = []
    for label in np.unique(labels):
        sources = rng.permutation(np.unique(source_ids[labels == label]))
        n_val = min(max(int(val_fraction * len(sources)), 1), len(sources) - 1)
        val_sources.extend(sources[:n_val].tolist())
    is_val = np.isin(source_ids, val_sources)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def split_returns_sources(source_ids, labels, val_fraction=0.2, seed=0):
    train_idx, val_idx = split_by_source(source_ids, labels, val_fraction, seed)
    source_ids = np.asarray(source_ids)
    return np.unique(source_ids[train_idx]), np.unique(source_ids[val_idx])


# --------------------------------------------------------------------------- 1.5 leak fraction
def leak_fraction(train_sources, val_sources):
    return float(np.mean(np.isin(val_sources, train_sources)))


def leak_unique_sources(train_sources, val_sources):
    unique = np.unique(val_sources)
    return float(np.mean(np.isin(unique, train_sources)))


def leak_swapped(train_sources, val_sources):
    return float(np.mean(np.isin(train_sources, val_sources)))


def leak_count(train_sources, val_sources):
    return int(np.sum(np.isin(val_sources, train_sources)))


def leak_jaccard(train_sources, val_sources):
    shared = np.intersect1d(train_sources, val_sources).size
    return shared / np.union1d(train_sources, val_sources).size


# --------------------------------------------------------------------------- 1.6 augment_pair
def augment_pair(image, mask, seed):
    import tensorflow as tf

    s = tf.random.experimental.stateless_split(seed, num=4)
    k = tf.random.stateless_uniform([], s[0], minval=0, maxval=4, dtype=tf.int32)
    image, mask = tf.image.rot90(image, k), tf.image.rot90(mask, k)
    image = tf.image.stateless_random_flip_left_right(image, s[1])
    mask = tf.image.stateless_random_flip_left_right(mask, s[1])
    image = tf.image.stateless_random_flip_up_down(image, s[2])
    mask = tf.image.stateless_random_flip_up_down(mask, s[2])
    factor = tf.random.stateless_uniform([], s[3], minval=0.7, maxval=1.3)
    return tf.clip_by_value(image * factor, 0.0, 255.0), mask


def pair_mask_other_seed(image, mask, seed):
    import tensorflow as tf

    s = tf.random.experimental.stateless_split(seed, num=4)
    k = tf.random.stateless_uniform([], s[0], minval=0, maxval=4, dtype=tf.int32)
    image, mask = tf.image.rot90(image, k), tf.image.rot90(mask, k)
    image = tf.image.stateless_random_flip_left_right(image, s[1])
    mask = tf.image.stateless_random_flip_left_right(mask, s[2])     # wrong sub-seed
    image = tf.image.stateless_random_flip_up_down(image, s[2])
    mask = tf.image.stateless_random_flip_up_down(mask, s[1])
    factor = tf.random.stateless_uniform([], s[3], minval=0.7, maxval=1.3)
    return tf.clip_by_value(image * factor, 0.0, 255.0), mask


def pair_brightness_on_mask(image, mask, seed):
    import tensorflow as tf

    image, mask = augment_pair(image, mask, seed)
    factor = tf.random.stateless_uniform([], tf.random.experimental.stateless_split(
        seed, num=4)[3], minval=0.7, maxval=1.3)
    return image, mask * factor


def pair_stateful(image, mask, seed):
    import tensorflow as tf

    k = tf.random.uniform([], 0, 4, dtype=tf.int32)
    image, mask = tf.image.rot90(image, k), tf.image.rot90(mask, k)
    factor = tf.random.uniform([], 0.7, 1.3)
    return tf.clip_by_value(image * factor, 0.0, 255.0), mask


def pair_no_clip(image, mask, seed):
    import tensorflow as tf

    s = tf.random.experimental.stateless_split(seed, num=4)
    k = tf.random.stateless_uniform([], s[0], minval=0, maxval=4, dtype=tf.int32)
    image, mask = tf.image.rot90(image, k), tf.image.rot90(mask, k)
    image = tf.image.stateless_random_flip_left_right(image, s[1])
    mask = tf.image.stateless_random_flip_left_right(mask, s[1])
    image = tf.image.stateless_random_flip_up_down(image, s[2])
    mask = tf.image.stateless_random_flip_up_down(mask, s[2])
    return image * tf.random.stateless_uniform([], s[3], minval=0.7, maxval=1.3), mask


def pair_clockwise(image, mask, seed):
    import tensorflow as tf

    s = tf.random.experimental.stateless_split(seed, num=4)
    k = tf.random.stateless_uniform([], s[0], minval=0, maxval=4, dtype=tf.int32)
    image, mask = tf.image.rot90(image, -k), tf.image.rot90(mask, -k)
    image = tf.image.stateless_random_flip_left_right(image, s[1])
    mask = tf.image.stateless_random_flip_left_right(mask, s[1])
    image = tf.image.stateless_random_flip_up_down(image, s[2])
    mask = tf.image.stateless_random_flip_up_down(mask, s[2])
    factor = tf.random.stateless_uniform([], s[3], minval=0.7, maxval=1.3)
    return tf.clip_by_value(image * factor, 0.0, 255.0), mask


# --------------------------------------------------------------------------- tables
RIGHT_ANSWERS = {
    "1.1": rotate_and_mirror,
    "1.2": occlude,
    "1.3": center_crop,
    "1.4": split_by_source,
    "1.5": leak_fraction,
    "1.6": augment_pair,
}

WRONG_ANSWERS = {
    "1.1": [turn_clockwise, mirror_first, mirror_up_down, mask_forgotten,
            rot90_default_axes_on_mask_only],
    "1.2": [occlude_off_by_one, occlude_in_place, occlude_fraction_per_side, occlude_unseeded,
            occlude_white],
    "1.3": [crop_mask_bilinear, crop_from_corner, crop_area_fraction, crop_without_resize],
    "1.4": [split_samples, split_not_stratified, split_first_sources, split_fraction_to_train,
            split_no_minimum, split_returns_sources, split_floor],
    "1.5": [leak_unique_sources, leak_swapped, leak_count, leak_jaccard],
    "1.6": [pair_mask_other_seed, pair_brightness_on_mask, pair_stateful, pair_no_clip,
            pair_clockwise],
}

REFERENCES = {
    "1.1": augment.rotate_and_mirror,
    "1.2": augment.occlude,
    "1.3": augment.center_crop,
    "1.4": data.split_by_source,
    "1.5": data.leak_fraction,
    "1.6": augment.augment_pair,
}


def test_leaky_split_is_named():
    assert "in training AND validation" in rejected("1.4", split_samples)


def test_misaligned_mask_is_named():
    assert "SAME sub-seed" in rejected("1.6", pair_mask_other_seed)


def test_augment_pair_matches_tf_augment_fn_geometry():
    """The reference keeps the mask on the lesion for many seeds and keeps dtypes and shapes."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (8, 8, 3)).astype(np.float32)
    lesion = (rng.random((8, 8)) < 0.3).astype(np.float32)
    image[..., 0] = lesion * 255
    for index in range(10):
        new_image, new_mask = augment.augment_pair(tf.constant(image), tf.constant(lesion[..., None]),
                                                   tf.constant([index, 1], tf.int64))
        assert new_image.dtype == tf.float32 and new_mask.shape == (8, 8, 1)
        assert np.array_equal(new_image.numpy()[..., 0] > 128, new_mask.numpy()[..., 0] > 0.5)
        assert float(tf.reduce_max(new_image)) <= 255.0
