"""Checks for the exercises of 01_data_and_augmentation.

1.1 is compared with NumPy's own rotation and mirror (``np.rot90``, ``[:, ::-1]``) on random
arrays; 1.2 is random, so it is checked through properties that every correct answer has,
over many draws: one black rectangle, never more than ``max_fraction`` of the area, able to
land anywhere, repeatable for a seeded generator, and the input left untouched. 1.3 (centre
crop) is compared pixel by pixel with Pillow's resize of the specified crop; 1.4 (split by
source) through the properties of a leak-free stratified split over many seeds and fractions
(the exact shuffle is the student's choice); 1.5 (leak fraction) on hand-computed cases; 1.6
(the stateless tf.data map function) first for alignment, repeatability and mask values, then
exactly against the specified ops, eagerly and inside ``tf.function``. Expected values are
computed here, not with the course's references (course_lib.augment; course_lib.data for 1.4
and 1.5).
"""
from __future__ import annotations

import numpy as np

from . import CheckFailed, describe, expect_true, register


def _expected_rotate_mirror(array: np.ndarray, k: int, mirror: bool) -> np.ndarray:
    turned = np.rot90(array, k, axes=(0, 1))
    return turned[:, ::-1] if mirror else turned


def _as_pair(result, what):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(f"{what} returned {describe(result)}, expected a pair (image, mask)")
    image, mask = result
    for name, value in (("image", image), ("mask", mask)):
        if not isinstance(value, np.ndarray):
            raise CheckFailed(f"{what} returned a {name} that is {describe(value)}, expected a "
                              "numpy array")
    return image, mask


def _explain_rotation(actual, array, k, mirror, name):
    """Why ``actual`` is not the expected transform of ``array``: name a common mix-up."""
    if actual.shape == array.shape and np.array_equal(actual, array) and (k % 4 or mirror):
        return f"the {name} came back unchanged"
    mixups = [
        (np.rot90(array, -k, axes=(0, 1)), "turned clockwise; np.rot90 (and the paper's "
                                           "rot90) turns counter-clockwise"),
        (np.rot90(array, k, axes=(0, 1)), "not mirrored"),
        (np.rot90(array[:, ::-1], k, axes=(0, 1)), "mirrored BEFORE turning; turn first, "
                                                   "then mirror"),
        (_expected_rotate_mirror(array, k, False)[::-1], "mirrored top <-> bottom; mirror "
                                                         "left <-> right (flip the columns)"),
    ]
    for candidate, reason in mixups:
        if candidate.shape == actual.shape and np.array_equal(candidate, actual):
            return f"the {name} was {reason}"
    return f"the {name} differs from np.rot90 + mirror"


@register("1.1", title="rotate and mirror image and mask together",
          hint="use np.rot90(array, k, axes=(0, 1)) on BOTH arrays (counter-clockwise), then, "
               "when mirror is true, array[:, ::-1] on both (left <-> right); the mask must "
               "get exactly the same operations as the image")
def check_rotate_and_mirror(rotate_and_mirror):
    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)       # not square: k = 1, 3 swap
    mask = (rng.random((5, 7)) < 0.4).astype(np.uint8) * 255       # height and width
    n_cases = 0
    for mask_in in (mask, mask[..., None]):
        for k in (0, 1, 2, 3):
            for mirror in (False, True):
                what = (f"rotate_and_mirror(image, mask, k={k}, mirror={mirror}) on a 5x7 image "
                        f"and a mask of shape {mask_in.shape}")
                image_before, mask_before = image.copy(), mask_in.copy()
                new_image, new_mask = _as_pair(
                    rotate_and_mirror(image, mask_in, k, mirror), what)
                expect_true(np.array_equal(image, image_before)
                            and np.array_equal(mask_in, mask_before),
                            f"{what} changed its input arrays; return new arrays instead")
                expected_image = _expected_rotate_mirror(image, k, mirror)
                expected_mask = _expected_rotate_mirror(mask_in, k, mirror)
                for name, actual, expected, source in (
                        ("image", new_image, expected_image, image),
                        ("mask", new_mask, expected_mask, mask_in)):
                    if actual.shape != expected.shape:
                        raise CheckFailed(f"{what}: the {name}'s shape {actual.shape} != "
                                          f"expected {expected.shape}")
                    if actual.dtype != source.dtype:
                        raise CheckFailed(f"{what}: the {name} has dtype {actual.dtype}, "
                                          f"expected {source.dtype} (keep the dtype)")
                    if not np.array_equal(actual, expected):
                        raise CheckFailed(f"{what}: "
                                          + _explain_rotation(actual, source, k, mirror, name))
                n_cases += 1
    # The lesion must stay under its mask: a mask computed from the pixels is still the mask.
    lesion = (image[..., 0] > 128).astype(np.uint8) * 255
    new_image, new_mask = _as_pair(rotate_and_mirror(image, lesion, 1, True),
                                   "rotate_and_mirror(image, lesion_mask, 1, True)")
    expect_true(np.array_equal((new_image[..., 0] > 128).astype(np.uint8) * 255, new_mask),
                "after rotate_and_mirror the mask no longer covers the same pixels as the image")
    return (f"{n_cases} cases (k = 0-3, mirror on/off, 2-D and 3-D masks, a non-square "
            "image) match np.rot90 + mirror, and the mask still lies on its pixels")


def _box_of(changed: np.ndarray):
    """(top, left, height, width) of the bounding box of the changed pixels."""
    rows = np.flatnonzero(changed.any(axis=1))
    cols = np.flatnonzero(changed.any(axis=0))
    return rows[0], cols[0], rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


@register("1.2", title="random occlusion",
          hint="draw the rectangle's height and width from rng so that height * width <= "
               "max_fraction * H * W (and >= 1), its top from rng.integers(0, H - height + 1) "
               "and left from rng.integers(0, W - width + 1), then set that region of a COPY "
               "of the image to 0")
def check_occlude(occlude):
    height, width = 20, 24
    image = np.random.default_rng(5).integers(1, 256, (height, width, 3), dtype=np.uint8)
    image_before = image.copy()
    n_draws = 300
    for max_fraction in (0.1, 0.3):
        max_area = max_fraction * height * width
        what = f"occlude(image, rng, max_fraction={max_fraction}) on a 20x24 image"
        rng = np.random.default_rng(123)
        areas, tops, lefts = [], set(), set()
        rows_hit = np.zeros(height, bool)
        cols_hit = np.zeros(width, bool)
        for draw in range(n_draws):
            result = occlude(image, rng, max_fraction)
            expect_true(np.array_equal(image, image_before),
                        f"{what} changed the image passed in; fill a copy (image.copy())")
            if not isinstance(result, np.ndarray):
                raise CheckFailed(f"{what} returned {describe(result)}, expected the occluded "
                                  "image (a numpy array)")
            if result.shape != image.shape or result.dtype != image.dtype:
                raise CheckFailed(f"{what} returned a {result.dtype} array of shape "
                                  f"{result.shape}, expected uint8 of shape {image.shape}")
            changed = np.any(result != image, axis=-1)
            area = int(changed.sum())
            expect_true(area >= 1, f"{what} left the image unchanged in draw {draw + 1}; "
                                   "every call must occlude at least one pixel")
            expect_true(np.all(result[changed] == 0),
                        f"{what} changed pixels to values other than 0; fill the rectangle "
                        "with black (0)")
            top, left, box_height, box_width = _box_of(changed)
            expect_true(area == box_height * box_width,
                        f"{what} changed {area} pixels that do not form one filled rectangle "
                        f"(their bounding box is {box_height}x{box_width})")
            expect_true(area <= max_area,
                        f"{what} covered {area} of {height * width} pixels "
                        f"({area / (height * width):.3f} of the image) in draw {draw + 1}, "
                        f"more than max_fraction = {max_fraction}")
            areas.append(area)
            tops.add(top)
            lefts.add(left)
            rows_hit[top:top + box_height] = True
            cols_hit[left:left + box_width] = True
        mean_fraction = float(np.mean(areas)) / (height * width)
        expect_true(mean_fraction >= max_fraction / 4,
                    f"{what}: the rectangles cover on average {mean_fraction:.3f} of the image, "
                    f"less than a quarter of max_fraction; draw sizes up to max_fraction")
        expect_true(len(tops) >= 5 and len(lefts) >= 5,
                    f"{what}: over {n_draws} draws the rectangle started at only {len(tops)} "
                    f"rows and {len(lefts)} columns; draw its position from rng")
        missed = [f"row {int(r)}" for r in np.flatnonzero(~rows_hit)[:2]] + \
                 [f"column {int(c)}" for c in np.flatnonzero(~cols_hit)[:2]]
        expect_true(not missed,
                    f"{what}: over {n_draws} draws the rectangle never covered "
                    f"{' or '.join(missed)}; it must be able to reach every edge "
                    "(rng.integers excludes its upper bound: use H - height + 1)")
    first = occlude(image, np.random.default_rng(7), 0.2)
    again = occlude(image, np.random.default_rng(7), 0.2)
    expect_true(np.array_equal(first, again),
                "two calls with np.random.default_rng(7) gave different images; draw every "
                "random number from the rng argument (not np.random)")
    return (f"{2 * n_draws} draws: one black rectangle each, never above max_fraction, "
            "reaching every edge, repeatable for a seeded rng, input untouched")


# --------------------------------------------------------------------------- 1.3 centre crop
def _expected_crop(array: np.ndarray, fraction: float, resample) -> np.ndarray:
    from PIL import Image

    height, width = array.shape[:2]
    crop_height = max(1, int(round(height * fraction)))
    crop_width = max(1, int(round(width * fraction)))
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    crop = array[top:top + crop_height, left:left + crop_width]
    return np.asarray(Image.fromarray(crop).resize((width, height), resample=resample))


@register("1.3", title="centre crop of image and mask",
          hint="crop_height = max(1, round(fraction * H)), the same for the width; top = (H - "
               "crop_height) // 2, left = (W - crop_width) // 2; resize the crop back to (W, H) "
               "with PIL: Image.BILINEAR for the image, Image.NEAREST for the mask")
def check_center_crop(center_crop):
    from PIL import Image

    rng = np.random.default_rng(13)
    image = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    mask = np.zeros((10, 12), np.uint8)
    mask[1:6, 2:9] = 255                                       # off-centre, so a wrong offset shows
    cases = 0
    for fraction in (0.8, 0.5, 0.65):
        what = f"center_crop(image, mask, fraction={fraction}) on a 10x12 image"
        image_before, mask_before = image.copy(), mask.copy()
        new_image, new_mask = _as_pair(center_crop(image, mask, fraction), what)
        expect_true(np.array_equal(image, image_before) and np.array_equal(mask, mask_before),
                    f"{what} changed its input arrays; return new arrays instead")
        for name, actual, expected in (
                ("image", new_image, _expected_crop(image, fraction, Image.BILINEAR)),
                ("mask", new_mask, _expected_crop(mask, fraction, Image.NEAREST))):
            if actual.shape != expected.shape or actual.dtype != expected.dtype:
                raise CheckFailed(f"{what}: the {name} is {actual.dtype} of shape {actual.shape}, "
                                  f"expected {expected.dtype} of shape {expected.shape} (resize "
                                  "back to the original size, keep uint8)")
            if name == "mask" and not np.isin(actual, (0, 255)).all():
                raise CheckFailed(f"{what}: the mask has values other than 0 and 255, e.g. "
                                  f"{sorted(set(np.unique(actual).tolist()) - {0, 255})[:3]}; "
                                  "resize the mask with nearest neighbour")
            if not np.array_equal(actual, expected):
                wrong = int(np.sum(np.any(np.atleast_3d(actual != expected), axis=-1)))
                raise CheckFailed(f"{what}: the {name} differs from the centred crop resized "
                                  f"back in {wrong} of {10 * 12} pixels")
        cases += 1
    return f"{cases} fractions match the centred crop resized back (bilinear image, nearest mask)"


# --------------------------------------------------------------------------- 1.4 split by source
def _copies_of_sources(seed=0):
    """An 'expanded' set: 33 sources (ids 100, 107, ...; 20 benign, 13 melanoma), each with 1-4
    copies, in shuffled order. Returns (source_ids, labels)."""
    rng = np.random.default_rng(seed)
    sources = 100 + 7 * np.arange(33)
    source_labels = np.array([0] * 20 + [1] * 13)
    copies = rng.integers(1, 5, 33)
    ids = np.repeat(sources, copies)
    labels = np.repeat(source_labels, copies)
    order = rng.permutation(ids.size)
    return ids[order], labels[order]


def _call_split(split, ids, labels, val_fraction, seed, what):
    ids_before, labels_before = ids.copy(), labels.copy()
    result = split(ids, labels, val_fraction=val_fraction, seed=seed)
    expect_true(np.array_equal(ids, ids_before) and np.array_equal(labels, labels_before),
                f"{what} changed its input arrays")
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(f"{what} returned {describe(result)}, expected a pair "
                          "(train_idx, val_idx) of index arrays")
    train_idx, val_idx = (np.asarray(part) for part in result)
    for name, part in (("train_idx", train_idx), ("val_idx", val_idx)):
        if part.ndim != 1 or (part.size and not np.issubdtype(part.dtype, np.integer)):
            raise CheckFailed(f"{what}: {name} is {describe(part)}, expected a 1-D array of "
                              "integer sample indices")
        expect_true(np.all(np.diff(part) > 0),
                    f"{what}: {name} is not sorted (or repeats an index); return sorted indices")
    together = np.concatenate([train_idx, val_idx])
    if together.size != ids.size or not np.array_equal(np.sort(together), np.arange(ids.size)):
        raise CheckFailed(f"{what}: train_idx and val_idx together hold {together.size} "
                          f"entries, expected every sample index 0..{ids.size - 1} exactly once "
                          "(indices into the arrays, not source ids)")
    return train_idx, val_idx


@register("1.4", title="split by source image",
          hint="work on the distinct sources of each class: shuffle them with "
               "np.random.default_rng(seed), send round(val_fraction * n) of them (at least 1 "
               "and at most n - 1 when a class has 2 or more) to validation, then return the "
               "sorted indices of the SAMPLES whose source went to each side")
def check_split_by_source(split_by_source):
    ids, labels = _copies_of_sources()
    val_sources_seen = set()
    splits = []
    for val_fraction, expected in ((0.2, {0: 4, 1: 3}), (0.3, {0: 6, 1: 4})):
        for seed in range(6):
            what = (f"split_by_source(source_ids, labels, val_fraction={val_fraction}, "
                    f"seed={seed}) on {ids.size} copies of 33 sources (20 benign, 13 melanoma)")
            train_idx, val_idx = _call_split(split_by_source, ids, labels, val_fraction, seed, what)
            shared = np.intersect1d(ids[train_idx], ids[val_idx])
            if shared.size:
                raise CheckFailed(f"{what}: copies of source {int(shared[0])} are in training "
                                  f"AND validation ({shared.size} sources on both sides); split "
                                  "the sources, not the samples")
            for label, n_val in expected.items():
                got = np.unique(ids[val_idx][labels[val_idx] == label]).size
                expect_true(got == n_val,
                            f"{what}: {got} {('benign', 'melanoma')[label]} sources in "
                            f"validation, expected round({val_fraction} x "
                            f"{(20, 13)[label]}) = {n_val} (stratify: split each class "
                            "separately and round to the nearest whole number)")
            if val_fraction == 0.2:
                val_sources_seen.update(np.unique(ids[val_idx]).tolist())
                splits.append(val_idx)
    again = _call_split(split_by_source, ids, labels, 0.2, 0, "split_by_source(..., seed=0)")[1]
    expect_true(np.array_equal(again, splits[0]),
                "two calls with seed=0 gave different splits; draw every random number from "
                "np.random.default_rng(seed)")
    expect_true(any(not np.array_equal(s, splits[0]) for s in splits[1:]),
                "seeds 0-5 all gave the same split; shuffle the sources with the seed")
    expect_true(len(val_sources_seen) >= 15,
                f"over seeds 0-5 only {len(val_sources_seen)} of 33 sources ever went to "
                "validation; shuffle each class's sources before taking the validation share")
    small_ids, small_labels = np.array([5, 5, 9, 3, 3, 3, 8]), np.array([0, 0, 0, 1, 1, 1, 1])
    what = ("split_by_source([5, 5, 9, 3, 3, 3, 8], [0, 0, 0, 1, 1, 1, 1], val_fraction=0.2, "
            "seed=0) (2 sources per class)")
    _, val_idx = _call_split(split_by_source, small_ids, small_labels, 0.2, 0, what)
    for label in (0, 1):
        got = np.unique(small_ids[val_idx][small_labels[val_idx] == label]).size
        expect_true(got == 1, f"{what}: {got} {('benign', 'melanoma')[label]} sources in "
                              "validation, expected 1 (round(0.4) = 0, but every class with "
                              "two or more sources keeps at least one on each side)")
    return ("12 splits of 33 sources: no source on both sides, every class split "
            "round(val_fraction x n), seeded and random, and at least one source per side")


# --------------------------------------------------------------------------- 1.5 leak fraction
@register("1.5", title="leak fraction",
          hint="count the VALIDATION samples (duplicates included) whose source id appears "
               "anywhere in train_sources, and divide by the number of validation samples")
def check_leak_fraction(leak_fraction):
    cases = [
        ([1, 2, 3], [4, 5], 0.0),
        ([1, 2, 3, 3], [3, 3, 3, 4], 0.75),          # duplicates count as samples
        ([7, 7, 8], [7, 9, 10, 11, 12], 0.2),       # asymmetric: swapped gives 1/3
        ([2, 4], [4, 4, 2, 2, 2, 6], 5 / 6),
        (np.array([10, 20, 30, 40]), np.array([40]), 1.0),
    ]
    for train_sources, val_sources, expected in cases:
        what = f"leak_fraction({describe(list(np.asarray(train_sources)))}, " \
               f"{describe(list(np.asarray(val_sources)))})"
        result = leak_fraction(np.asarray(train_sources), np.asarray(val_sources))
        number = None if isinstance(result, (bool, np.bool_)) else result
        try:
            value = float(np.asarray(number).reshape(()))
        except (TypeError, ValueError):
            raise CheckFailed(f"{what} returned {describe(result)}, expected a single number "
                              f"({describe(float(expected))})") from None
        expect_true(abs(value - expected) < 1e-9,
                    f"{what} returned {describe(value)}, expected {describe(float(expected))}")
    return f"{len(cases)} cases match, duplicates counted per validation sample"


# --------------------------------------------------------------------------- 1.6 tf.data map
def _expected_augment_pair(image, mask, seed):
    from .. import augment  # the course's reference (imports TensorFlow when called)

    return augment.augment_pair(image, mask, seed)


def _tensor_pair(result, what):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(f"{what} returned {describe(result)}, expected a pair (image, mask)")
    try:
        return tuple(np.asarray(part, dtype=np.float64) for part in result)
    except (TypeError, ValueError):
        raise CheckFailed(f"{what} returned something that is not a pair of tensors") from None


@register("1.6", title="augment image and mask with one stateless seed",
          hint="seeds = tf.random.experimental.stateless_split(seed, num=4); seeds[0] draws k for "
               "tf.image.rot90 of both, seeds[1] and seeds[2] go to stateless_random_flip_"
               "left_right / _up_down of BOTH image and mask, seeds[3] draws the brightness "
               "factor in [0.7, 1.3) for the image only, then clip to 0-255")
def check_augment_pair(augment_pair):
    import tensorflow as tf

    rng = np.random.default_rng(3)
    lesion = np.zeros((6, 6), np.float32)
    lesion[0:2, 0:3] = lesion[2, 0] = 1.0                     # an L in the top-left corner
    image = rng.uniform(0, 255, (6, 6, 3)).astype(np.float32)
    image[..., 0] = lesion * 255                               # red channel marks the lesion
    image = tf.constant(image)
    mask = tf.constant(lesion[..., None])
    for index in range(12):
        seed = tf.constant([index, 7], tf.int64)
        what = f"augment_pair(image, mask, seed=[{index}, 7]) on a 6x6 image and mask"
        got_image, got_mask = _tensor_pair(augment_pair(image, mask, seed), what)
        exp_image, exp_mask = (t.numpy() for t in _expected_augment_pair(image, mask, seed))
        if got_image.shape != (6, 6, 3) or got_mask.shape != (6, 6, 1):
            raise CheckFailed(f"{what} returned shapes {got_image.shape} and {got_mask.shape}, "
                              "expected (6, 6, 3) and (6, 6, 1)")
        if not np.isin(got_mask, (0.0, 1.0)).all():
            raise CheckFailed(f"{what}: the mask holds values other than 0 and 1, e.g. "
                              f"{describe(float(got_mask[~np.isin(got_mask, (0.0, 1.0))][0]))}; "
                              "brightness changes the image only")
        if not np.array_equal(got_image[..., 0] > 128, got_mask[..., 0] > 0.5):
            raise CheckFailed(f"{what}: the mask no longer lies on the lesion of the image; give "
                              "the image and the mask the SAME sub-seed for every random op")
        again_image, _ = _tensor_pair(augment_pair(image, mask, seed), what)
        expect_true(np.allclose(again_image, got_image),
                    f"{what} gave a different image when called again with the same seed; use "
                    "the stateless ops (tf.image.stateless_random_*, "
                    "tf.random.stateless_uniform) with sub-seeds of the seed argument")
        if not np.array_equal(got_mask, exp_mask):
            raise CheckFailed(f"{what}: the mask was turned or mirrored differently than "
                              "specified (check which sub-seed drives which op, and the order: "
                              "rot90, left-right, up-down)")
        if not np.allclose(got_image, exp_image, atol=1e-3):
            worst = float(np.max(np.abs(got_image - exp_image)))
            raise CheckFailed(f"{what}: the image differs from the specified result by up to "
                              f"{worst:.4g} (check the brightness factor: seeds[3], uniform in "
                              "[0.7, 1.3), multiply, then clip to 0-255)")
    graph_fn = tf.function(augment_pair)
    what = "augment_pair inside tf.function (as Dataset.map runs it), seed=[3, 7]"
    seed = tf.constant([3, 7], tf.int64)
    got_image, got_mask = _tensor_pair(graph_fn(image, mask, seed), what)
    exp_image, exp_mask = (t.numpy() for t in _expected_augment_pair(image, mask, seed))
    expect_true(np.array_equal(got_mask, exp_mask) and np.allclose(got_image, exp_image, atol=1e-3),
                f"{what} gave a different result than eagerly; use TensorFlow ops only (no "
                "Python if on tensor values, no NumPy)")
    return ("12 seeds match the specified stateless ops, mask aligned with the image, "
            "repeatable, and the same inside tf.function")
