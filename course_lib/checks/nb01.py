"""Checks for the exercises of 01_data_and_augmentation.

1.1 is compared with NumPy's own rotation and mirror (``np.rot90``, ``[:, ::-1]``) on random
arrays; 1.2 is random, so it is checked through properties that every correct answer has,
over many draws: one black rectangle, never more than ``max_fraction`` of the area, able to
land anywhere, repeatable for a seeded generator, and the input left untouched.
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
