"""The paper's data augmentation, for an image alone or for an image and its lesion mask together.

Taught in 01_data_and_augmentation. Section III.B.1 of the paper lists the operations: rotation
by 90, 180 and 270 degrees, mirroring, centre cropping, brightness change and random occlusion;
section III.C.1 applies "the same" operations to the segmentation masks. This module has three
parts:

1. Single operations on numpy arrays (:func:`apply`) and random compositions of them
   (:func:`random_composition`).
2. The paper's OFFLINE expansion (900 -> 4430 images for classification, 900 -> 6900 for
   segmentation): :class:`ExpansionPlan`, :func:`classification_plan`,
   :func:`segmentation_plan`, :func:`expand`. The split that has to come BEFORE it
   (:func:`course_lib.data.split_by_source`, versus the paper's leaky
   :func:`course_lib.data.naive_split_after_expansion`, measured by
   :func:`course_lib.data.leak_fraction`) lives in :mod:`course_lib.data.splits`.
3. ON-THE-FLY augmentation for ``tf.data`` (:func:`tf_augment_fn`) and the Keras preprocessing
   layers way (:func:`keras_augmentation_layers`).

Geometric operations (rotations, mirrors, the centre crop) move the lesion, so the mask moves
with the image. Photometric operations (brightness, occlusion) do not move anything, so the mask
is returned unchanged: a darker photograph shows the same lesion in the same pixels, and a black
box drawn over part of the lesion hides it from the network without removing it from the skin.
The mask says where the lesion IS, not what the camera saw, so the label of every pixel stays.

Orientation conventions (the same in numpy and TensorFlow): ``rot90`` turns the picture a
quarter turn COUNTER-clockwise (``np.rot90`` / ``tf.image.rot90``); ``flip_h`` mirrors left <->
right (a horizontal mirror, ``np.fliplr`` / ``tf.image.flip_left_right``); ``flip_v`` mirrors
top <-> bottom (``np.flipud`` / ``tf.image.flip_up_down``).
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "OPS", "GEOMETRIC_OPS", "PHOTOMETRIC_OPS", "ROTATION_OPS", "DIHEDRAL_OPS", "TF_OPS",
    "CLASS_NAMES", "apply", "apply_sequence", "sample_composition", "random_composition",
    "ExpansionPlan", "classification_plan", "segmentation_plan", "scale_target", "expand",
    "tf_augment_fn", "keras_augmentation_layers",
    "rotate_and_mirror", "occlude", "center_crop", "augment_pair",
]

#: Every operation :func:`apply` knows, in the fixed order offline expansion uses them.
OPS = ("rot90", "rot180", "rot270", "flip_h", "flip_v", "center_crop", "brightness", "occlusion")
#: Operations that move pixels: the mask is transformed exactly like the image.
GEOMETRIC_OPS = ("rot90", "rot180", "rot270", "flip_h", "flip_v", "center_crop")
#: Operations that change pixel values only: the mask is returned unchanged.
PHOTOMETRIC_OPS = ("brightness", "occlusion")
#: Quarter-turn rotations; rot90 and rot270 swap height and width of a non-square image.
ROTATION_OPS = ("rot90", "rot180", "rot270")
#: Rotations and mirrors (the symmetries of a square). Two of them composed give another
#: symmetry (flip_h then flip_v is rot180), so a composition uses at most one of them.
DIHEDRAL_OPS = ("rot90", "rot180", "rot270", "flip_h", "flip_v")
#: Operation names :func:`tf_augment_fn` understands (``rot90`` there means a random multiple
#: of 90 degrees, including none).
TF_OPS = ("rot90", "flip_h", "flip_v", "center_crop", "brightness", "occlusion")
#: Display names of the ISIC 2016 classes (label 1 = melanoma).
CLASS_NAMES = {0: "benign", 1: "melanoma"}


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------

from .config import as_rng as _as_rng  # noqa: E402  (one definition for the course)


def _check_image(image) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy uint8 array of shape (height, width, 3); got "
                         f"{type(image).__name__}. Convert with np.asarray(image, dtype=np.uint8).")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be a uint8 array of shape (height, width, 3); got a "
                         f"{image.dtype} array of shape {image.shape}. Load images as RGB uint8 "
                         "(values 0-255), e.g. np.asarray(PIL.Image.open(path).convert('RGB')).")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"image is too small to augment: shape {image.shape}; it needs at least "
                         "2 x 2 pixels.")
    return image


def _check_mask(mask, image: np.ndarray) -> np.ndarray:
    if not isinstance(mask, np.ndarray):
        raise ValueError(f"mask must be a numpy uint8 array of shape (height, width) or (height, "
                         f"width, 1); got {type(mask).__name__}.")
    ok_shape = mask.ndim == 2 or (mask.ndim == 3 and mask.shape[2] == 1)
    if mask.dtype != np.uint8 or not ok_shape:
        raise ValueError(f"mask must be a uint8 array of shape (height, width) or (height, width, "
                         f"1); got a {mask.dtype} array of shape {mask.shape}. Load masks as "
                         "0/255 uint8, e.g. np.asarray(PIL.Image.open(path).convert('L')).")
    if mask.shape[:2] != image.shape[:2]:
        raise ValueError(f"mask size {mask.shape[:2]} differs from image size {image.shape[:2]}: "
                         "a mask must have one value per image pixel.")
    return mask


def _check_op(op: str, valid: Sequence[str] = OPS) -> str:
    if op not in valid:
        raise ValueError(f"Unknown augmentation op {op!r}. Valid ops: {', '.join(valid)}.")
    return op


def _check_ops(ops: Sequence[str], valid: Sequence[str] = OPS, what: str = "ops") -> tuple:
    if isinstance(ops, str):
        raise ValueError(f"{what} must be a sequence of op names such as ('rot90', 'flip_h'), "
                         f"not the single string {ops!r}.")
    ops = tuple(ops)
    for op in ops:
        _check_op(op, valid)
    if len(set(ops)) != len(ops):
        raise ValueError(f"{what} lists an op twice: {ops}. Give each op once.")
    return ops


def _check_labels(labels, name: str = "labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be a non-empty 1-D integer array (0 = benign, "
                         f"1 = melanoma); got dtype {labels.dtype}, shape {labels.shape}. "
                         "Convert one-hot labels with labels.argmax(axis=1).")
    other = np.setdiff1d(np.unique(labels), (0, 1))
    if other.size:
        raise ValueError(f"{name} must hold 0 (benign) and 1 (melanoma) only; got the value(s) "
                         f"{other[:5].tolist()}. Map the classes to 0/1 first, e.g. "
                         "labels = (diagnosis == 'melanoma').astype(int).")
    return labels


# --------------------------------------------------------------------------------------------
# 1. Single operations
# --------------------------------------------------------------------------------------------

def _center_crop_resize(array: np.ndarray, fraction: float, resample) -> np.ndarray:
    """Crop the central ``fraction`` of height and width, resize back to the original size."""
    from PIL import Image

    height, width = array.shape[:2]
    crop_height = max(1, int(round(height * fraction)))
    crop_width = max(1, int(round(width * fraction)))
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    crop = array[top:top + crop_height, left:left + crop_width]
    squeeze = crop.ndim == 3 and crop.shape[2] == 1
    picture = Image.fromarray(crop[..., 0] if squeeze else crop)
    resized = np.asarray(picture.resize((width, height), resample=resample))
    return resized[..., None] if squeeze else resized


def _brightness(image: np.ndarray, rng, delta=None, factor=None, factor_range=(0.7, 1.3)):
    if delta is not None and factor is not None:
        raise ValueError("brightness takes delta (added to every pixel) OR factor (multiplies "
                         "every pixel), not both.")
    if delta is not None:
        return np.clip(image.astype(np.int16) + int(round(delta)), 0, 255).astype(np.uint8)
    if factor is None:
        low, high = factor_range
        if not 0 <= low <= high:
            raise ValueError(f"factor_range must be (low, high) with 0 <= low <= high, e.g. "
                             f"(0.7, 1.3); got {factor_range}.")
        factor = _as_rng(rng).uniform(low, high)
    if factor < 0:
        raise ValueError(f"brightness factor must be >= 0 (1 = unchanged); got {factor}.")
    return np.clip(np.rint(image.astype(np.float32) * factor), 0, 255).astype(np.uint8)


def _occlusion_box(height: int, width: int, rng: np.random.Generator, max_fraction: float,
                   min_fraction: float) -> tuple[int, int, int, int]:
    """(top, left, box_height, box_width) of a random box covering <= max_fraction of the area."""
    area = height * width
    max_area = max_fraction * area
    fraction = rng.uniform(min_fraction, max_fraction)
    aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))  # height / width in [1/2, 2]
    box_height = min(height, max(1, int(math.sqrt(fraction * area * aspect))))
    box_width = min(width, max(1, int(math.sqrt(fraction * area / aspect))))
    while box_height * box_width > max_area and (box_height > 1 or box_width > 1):
        if box_height >= box_width:
            box_height -= 1
        else:
            box_width -= 1
    top = int(rng.integers(0, height - box_height + 1))
    left = int(rng.integers(0, width - box_width + 1))
    return top, left, box_height, box_width


def _occlusion(image: np.ndarray, rng, max_fraction=0.15, min_fraction=None, fill="black"):
    if not 0 < max_fraction <= 1:
        raise ValueError(f"occlusion max_fraction must be in (0, 1] (share of the image area); "
                         f"got {max_fraction}.")
    min_fraction = min(0.02, max_fraction) if min_fraction is None else min_fraction
    if not 0 < min_fraction <= max_fraction:
        raise ValueError(f"occlusion min_fraction must be in (0, max_fraction={max_fraction}]; "
                         f"got {min_fraction}.")
    height, width = image.shape[:2]
    if max_fraction * height * width < 1:
        raise ValueError(f"max_fraction={max_fraction} of a {height}x{width} image is less than "
                         "one pixel; use a larger max_fraction or a larger image.")
    if isinstance(fill, str):
        if fill == "black":
            value = np.zeros(3, np.uint8)
        elif fill == "mean":
            value = np.rint(image.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
        else:
            raise ValueError(f"occlusion fill must be 'black', 'mean', an int 0-255 or an RGB "
                             f"triple; got {fill!r}.")
    else:
        value = np.broadcast_to(np.asarray(fill), (3,))
        if np.any(value < 0) or np.any(value > 255):
            raise ValueError(f"occlusion fill values must be within 0-255; got {fill!r}.")
        value = value.astype(np.uint8)
    top, left, box_height, box_width = _occlusion_box(height, width, _as_rng(rng), max_fraction,
                                                      min_fraction)
    out = image.copy()
    out[top:top + box_height, left:left + box_width] = value
    return out


_PARAMS = {
    "rot90": set(), "rot180": set(), "rot270": set(), "flip_h": set(), "flip_v": set(),
    "center_crop": {"fraction"},
    "brightness": {"delta", "factor", "factor_range"},
    "occlusion": {"max_fraction", "min_fraction", "fill"},
}


def apply(op: str, image: np.ndarray, mask: np.ndarray | None = None, rng=None, **params):
    """Apply ONE augmentation ``op`` to an image, or to an image and its mask together.

    Taught in 01_data_and_augmentation.

    Args:
        op: one of :data:`OPS`: ``"rot90"``, ``"rot180"``, ``"rot270"`` (counter-clockwise
            quarter turns), ``"flip_h"`` (mirror left <-> right), ``"flip_v"`` (mirror top <->
            bottom), ``"center_crop"``, ``"brightness"``, ``"occlusion"``.
        image: uint8 array (height, width, 3), values 0-255.
        mask: optional uint8 array (height, width) or (height, width, 1); returned in the same
            shape it came in.
        rng: numpy Generator (or int seed) for the random ops; ``None`` draws from a fresh
            unseeded generator, so pass a seeded one for repeatable results.
        **params: per-op settings:

            - ``center_crop``: ``fraction=0.8`` -- keep the central 80 % of height and width,
              then resize back to the original size with Pillow (bilinear for the image,
              nearest for the mask, so a 0/255 mask stays 0/255).
            - ``brightness``: ``delta`` (an integer added to every pixel), or ``factor`` (every
              pixel multiplied by it), or by default a random factor drawn uniformly from
              ``factor_range=(0.7, 1.3)``. Results are clipped to 0-255.
            - ``occlusion``: one random rectangle (height/width ratio between 1/2 and 2) whose
              area is a random share of the image between ``min_fraction=0.02`` and
              ``max_fraction=0.15``; it NEVER covers more than ``max_fraction`` of the image.
              ``fill="black"`` (default, value 0, as in Cutout), ``"mean"`` (the image's mean
              colour, less of an edge for the network to notice), an int or an RGB triple.

    Returns:
        The new image, or ``(image, mask)`` when a mask was given; same dtypes, new arrays
        (the inputs are never modified). All ops keep the size, except that ``rot90`` and
        ``rot270`` swap height and width of a non-square image (the course uses square images).
        ``brightness`` and ``occlusion`` return the mask unchanged (a copy): they change what
        the camera shows, not where the lesion is.

    Raises:
        ValueError: unknown op (the message lists the valid ones), an unknown parameter, or an
            image/mask of the wrong dtype or shape.
    """
    _check_op(op)
    image = _check_image(image)
    if mask is not None:
        mask = _check_mask(mask, image)
    unknown = set(params) - _PARAMS[op]
    if unknown:
        allowed = ", ".join(sorted(_PARAMS[op])) or "none"
        raise ValueError(f"Unknown parameter(s) {sorted(unknown)} for op {op!r}; it accepts: "
                         f"{allowed}.")

    if op in ROTATION_OPS:
        turns = {"rot90": 1, "rot180": 2, "rot270": 3}[op]
        geometric = lambda array: np.rot90(array, turns, axes=(0, 1))  # noqa: E731
    elif op == "flip_h":
        geometric = lambda array: array[:, ::-1]  # noqa: E731
    elif op == "flip_v":
        geometric = lambda array: array[::-1]  # noqa: E731
    elif op == "center_crop":
        fraction = params.get("fraction", 0.8)
        if not 0 < fraction <= 1:
            raise ValueError(f"center_crop fraction must be in (0, 1] (the share of height and "
                             f"width kept); got {fraction}.")
        from PIL import Image

        new_image = _center_crop_resize(image, fraction, Image.Resampling.BILINEAR)
        if mask is None:
            return new_image
        return new_image, _center_crop_resize(mask, fraction, Image.Resampling.NEAREST)
    else:  # photometric: the mask stays as it is
        if op == "brightness":
            new_image = _brightness(image, rng, **params)
        else:
            new_image = _occlusion(image, rng, **params)
        return new_image if mask is None else (new_image, mask.copy())

    new_image = np.ascontiguousarray(geometric(image))
    if mask is None:
        return new_image
    return new_image, np.ascontiguousarray(geometric(mask))


def rotate_and_mirror(image: np.ndarray, mask: np.ndarray, k: int, mirror: bool):
    """``k`` counter-clockwise quarter turns of image AND mask, then a left-right mirror when
    ``mirror``: the eight symmetries of a square. Reference of exercise 1.1
    (01_data_and_augmentation). Returns new arrays ``(image, mask)``."""
    image = np.rot90(np.asarray(image), k, axes=(0, 1))
    mask = np.rot90(np.asarray(mask), k, axes=(0, 1))
    if mirror:
        image, mask = image[:, ::-1], mask[:, ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(mask)


def occlude(image: np.ndarray, rng, max_fraction: float = 0.15) -> np.ndarray:
    """A copy of ``image`` with one black rectangle of 2 % to ``max_fraction`` of its area
    (``apply("occlusion", ...)``). Reference of exercise 1.2 (01_data_and_augmentation)."""
    return _occlusion(_check_image(image), rng, max_fraction=max_fraction)


def center_crop(image: np.ndarray, mask: np.ndarray, fraction: float = 0.8):
    """The central ``fraction`` of height and width, resized back with Pillow (bilinear image,
    nearest mask). ``apply("center_crop", ...)``; reference of exercise 1.3
    (01_data_and_augmentation)."""
    return apply("center_crop", image, mask, fraction=fraction)


def apply_sequence(ops: Sequence[str], image: np.ndarray, mask: np.ndarray | None = None,
                   rng=None, **params_by_op):
    """Apply several ops one after the other (image and mask alike, as in :func:`apply`).

    Taught in 01_data_and_augmentation. ``params_by_op`` maps an op name to its parameters,
    e.g. ``apply_sequence(["rot90", "occlusion"], image, occlusion={"fill": "mean"})``.
    """
    ops = _check_ops(ops, what="ops")
    rng = _as_rng(rng)
    unknown = set(params_by_op) - set(ops)
    if unknown:
        raise ValueError(f"Parameters given for op(s) {sorted(unknown)} that are not in the "
                         f"sequence {ops}.")
    image = _check_image(image).copy()
    mask = None if mask is None else _check_mask(mask, image).copy()
    for op in ops:
        if mask is None:
            image = apply(op, image, rng=rng, **params_by_op.get(op, {}))
        else:
            image, mask = apply(op, image, mask, rng=rng, **params_by_op.get(op, {}))
    return image if mask is None else (image, mask)


def sample_composition(rng=None, n_ops: tuple[int, int] = (2, 3),
                       ops: Sequence[str] = OPS) -> tuple[str, ...]:
    """Draw a random composition: ``n_ops[0]`` to ``n_ops[1]`` DISTINCT ops from ``ops``.

    Taught in 01_data_and_augmentation. At most one of the rotations and mirrors
    (:data:`DIHEDRAL_OPS`) is used, because two of them compose into another single one
    (``flip_h`` then ``flip_v`` is ``rot180``; ``rot90`` then ``rot270`` does nothing), so a
    composition never collapses into a plain single-op variant. The chosen ops are returned in
    :data:`OPS` order (geometric first, then brightness, then occlusion).
    """
    ops = _check_ops(ops)
    rng = _as_rng(rng)
    low, high = n_ops
    if not 1 <= low <= high:
        raise ValueError(f"n_ops must be (low, high) with 1 <= low <= high, e.g. (2, 3); got "
                         f"{n_ops}.")
    has_dihedral = any(op in DIHEDRAL_OPS for op in ops)
    possible = sum(op not in DIHEDRAL_OPS for op in ops) + int(has_dihedral)
    if possible < high:
        raise ValueError(f"Cannot draw {high} distinct ops from {ops} with at most one "
                         f"rotation/mirror: only {possible} are possible. Lower n_ops or add ops.")
    count = int(rng.integers(low, high + 1))
    chosen: list[str] = []
    for op in rng.permutation(np.array(ops)):
        if op in DIHEDRAL_OPS and any(c in DIHEDRAL_OPS for c in chosen):
            continue
        chosen.append(str(op))
        if len(chosen) == count:
            break
    return tuple(sorted(chosen, key=OPS.index))


def random_composition(image: np.ndarray, mask: np.ndarray | None = None, rng=None,
                       n_ops: tuple[int, int] = (2, 3), ops: Sequence[str] = OPS):
    """Apply a random composition of 2-3 distinct ops (see :func:`sample_composition`).

    Taught in 01_data_and_augmentation. Used for the variants beyond the 8 single ops: the
    paper's melanoma images need 13 images per source, more than original + 8 single ops.
    Returns like :func:`apply`.
    """
    rng = _as_rng(rng)
    return apply_sequence(sample_composition(rng, n_ops, ops), image, mask, rng=rng)


# --------------------------------------------------------------------------------------------
# 2. Offline expansion (the split that must come first: course_lib.data.splits)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExpansionPlan:
    """How many images an offline expansion makes from every source image.

    Taught in 01_data_and_augmentation. A source image with multiplier ``k`` yields ``k``
    images (the original included), in this order::

        original, single_ops[0], single_ops[1], ..., then random compositions

    so ``k = 3`` with the default order gives original, rot90, rot180 and ``k = 13`` gives
    original + the 8 single ops + 4 random compositions (:func:`sample_composition`).
    ``extras[c]`` further random compositions are made from randomly chosen source images of
    group ``c`` (distinct images while there are enough), so the total can hit a target that
    no whole multiplier reaches.

    Attributes:
        class_counts: source images per group the plan was made for. Groups are class labels
            (``{0: 727, 1: 173}``), or the single key ``None`` meaning "every image alike"
            (segmentation).
        multipliers: images per source image in each group, original included (``>= 1``).
        extras: extra random compositions per group (``0`` when the multipliers hit the target).
        single_ops: the fixed order of single-op variants (default :data:`OPS`: the six
            geometric ops first, so a multiplier of 7 means original + 6 geometric variants).
        composition_ops, n_ops: what random compositions draw from, and how many ops each.
        class_names: display names used by :meth:`describe`.

    Build one with :func:`classification_plan` or :func:`segmentation_plan`, or write your own:
    ``ExpansionPlan(class_counts={0: 727, 1: 173}, multipliers={0: 3, 1: 13})``.
    """

    class_counts: Mapping
    multipliers: Mapping
    extras: Mapping = field(default_factory=dict)
    single_ops: tuple = OPS
    composition_ops: tuple = OPS
    n_ops: tuple = (2, 3)
    class_names: Mapping = field(default_factory=lambda: dict(CLASS_NAMES))

    def __post_init__(self):
        object.__setattr__(self, "class_counts", dict(self.class_counts))
        object.__setattr__(self, "multipliers", dict(self.multipliers))
        extras = {group: 0 for group in self.class_counts} | dict(self.extras)
        object.__setattr__(self, "extras", extras)
        object.__setattr__(self, "single_ops", _check_ops(self.single_ops, what="single_ops"))
        object.__setattr__(self, "composition_ops",
                           _check_ops(self.composition_ops, what="composition_ops"))
        groups = set(self.class_counts)
        if set(self.multipliers) != groups or set(self.extras) != groups:
            raise ValueError(f"class_counts, multipliers and extras must have the same groups; "
                             f"got {sorted(map(str, groups))}, "
                             f"{sorted(map(str, self.multipliers))}, "
                             f"{sorted(map(str, self.extras))}.")
        if None in groups and len(groups) > 1:
            raise ValueError("The group None means 'every image'; it cannot be mixed with class "
                             "labels.")
        for group in groups:
            if self.class_counts[group] < 1 or self.multipliers[group] < 1 or \
                    self.extras[group] < 0:
                raise ValueError(f"Group {group}: need class_counts >= 1, multipliers >= 1 "
                                 f"(the original counts as one) and extras >= 0; got "
                                 f"{self.class_counts[group]}, {self.multipliers[group]}, "
                                 f"{self.extras[group]}.")
        needs_compositions = (any(self.extras.values()) or
                              max(self.multipliers.values()) > 1 + len(self.single_ops))
        if needs_compositions:  # raises early when compositions cannot be drawn
            sample_composition(np.random.default_rng(0), self.n_ops, self.composition_ops)

    @property
    def by_class(self) -> bool:
        """True when multipliers depend on the class label (classification plans)."""
        return None not in self.class_counts

    @property
    def n_sources(self) -> int:
        """Number of source images the plan was made for."""
        return sum(self.class_counts.values())

    @property
    def total(self) -> int:
        """Number of images :func:`expand` returns."""
        return sum(self.per_class_totals().values())

    def per_class_totals(self) -> dict:
        """Images per group after expansion: ``multiplier * count + extras``."""
        return {group: self.multipliers[group] * count + self.extras[group]
                for group, count in self.class_counts.items()}

    def variants(self, multiplier: int, rng=None) -> list[str]:
        """Recipe names for a source image with ``multiplier`` images: ``"original"``, single op
        names, then ``"composition"`` for each random composition.

        With ``rng`` (what :func:`expand` passes), an image that gets fewer single ops than
        ``single_ops`` holds draws them at random. Without it they are the first ones in order,
        which would give every benign image (x3) only two rotations while every melanoma (x13)
        also gets crops, brightness changes and occlusion boxes: a shortcut ("black box =>
        melanoma") a network could learn instead of the lesion.
        """
        n_singles = min(multiplier - 1, len(self.single_ops))
        if rng is not None and n_singles < len(self.single_ops):
            chosen = sorted(_as_rng(rng).choice(len(self.single_ops), n_singles, replace=False))
            singles = [self.single_ops[i] for i in chosen]
        else:
            singles = list(self.single_ops[:n_singles])
        return ["original"] + singles + ["composition"] * (multiplier - 1 - len(singles))

    def describe(self) -> str:
        """One line per group and the total, e.g. ``benign: 727 x3 = 2181``."""
        lines = []
        for group, count in self.class_counts.items():
            name = "every image" if group is None else self.class_names.get(group, f"class {group}")
            line = f"{name}: {count} x{self.multipliers[group]} = {count * self.multipliers[group]}"
            if self.extras[group]:
                line += f" + {self.extras[group]} random compositions"
            lines.append(line)
        lines.append(f"total: {self.n_sources} -> {self.total}")
        return "\n".join(lines)


def scale_target(target: int, n_images: int, reference_images: int = 900) -> int:
    """The paper's expansion target scaled to a smaller (or larger) data set.

    Taught in 01_data_and_augmentation. ``scale_target(4430, 160) == 788``: the same growth
    factor (4430 / 900) for the smoke profile's 160 images.
    """
    if target < 1 or n_images < 1 or reference_images < 1:
        raise ValueError(f"target, n_images and reference_images must be positive; got "
                         f"{target}, {n_images}, {reference_images}.")
    return max(n_images, int(round(target * n_images / reference_images)))


def _water_fill(totals: dict, shortfall: int) -> dict:
    """Give ``shortfall`` extra images one by one to the group with the fewest images."""
    totals, extras = dict(totals), {group: 0 for group in totals}
    for _ in range(shortfall):
        smallest = min(totals, key=lambda group: (totals[group], group))
        totals[smallest] += 1
        extras[smallest] += 1
    return extras


def classification_plan(labels, target: int = 4430, **plan_options) -> ExpansionPlan:
    """Per-class multipliers that reach exactly ``target`` images AND balance the classes.

    Taught in 01_data_and_augmentation. The paper grew 900 ISIC 2016 training images
    (727 benign, 173 melanoma) to 4430 and balanced the 1:4 classes on the way. Rule:

    1. The balanced ideal gives every class ``target / n_classes`` images, i.e. a real
       multiplier ``m_c = target / (n_classes * count_c)``.
    2. Candidates take ``floor(m_c)`` or ``ceil(m_c)`` for each class (at least 1, the original).
       Keep those not above the target; prefer an exact hit, else the smallest shortfall; break
       ties by the smaller gap between the largest and the smallest class.
       (If every candidate overshoots -- a target barely above the image count -- all
       multipliers from 1 to ``ceil(m_c)`` are searched with the same preference.)
    3. A shortfall is filled with random compositions of random images, each extra going to the
       class that has the fewest images so far, so the total is always exactly ``target``.

    For 727 / 173 and 4430: m = 3.05 / 12.80, and 3 x 727 + 13 x 173 = 2181 + 2249 = 4430
    exactly: benign x3, melanoma x13, no extras. For the smoke profile's 160 images (128 / 32)
    and :func:`scale_target` (4430, 160) = 788: benign x3 = 384, melanoma x12 = 384, and the
    20 missing images are 10 extra compositions per class.

    ``plan_options`` go to :class:`ExpansionPlan` (``single_ops``, ``composition_ops``,
    ``n_ops``, ``class_names``).
    """
    labels = _check_labels(labels)
    classes, counts = np.unique(labels, return_counts=True)
    n_images, n_classes = int(labels.size), len(classes)
    if target < n_images:
        raise ValueError(f"target={target} is smaller than the {n_images} source images; "
                         "expansion keeps every original, so use target >= the image count.")
    ideal = [target / (n_classes * count) for count in counts]

    def best_of(options):
        best, best_key = None, None
        for multipliers in itertools.product(*options):
            sizes = [k * count for k, count in zip(multipliers, counts)]
            if sum(sizes) > target:
                continue
            key = (target - sum(sizes), max(sizes) - min(sizes))
            if best_key is None or key < best_key:
                best, best_key = multipliers, key
        return best

    chosen = best_of([sorted({max(1, math.floor(m)), max(1, math.ceil(m))}) for m in ideal])
    if chosen is None:
        chosen = best_of([range(1, max(1, math.ceil(m)) + 1) for m in ideal])
    class_counts = {int(c): int(count) for c, count in zip(classes, counts)}
    multipliers = {int(c): int(k) for c, k in zip(classes, chosen)}
    sizes = {c: multipliers[c] * class_counts[c] for c in class_counts}
    extras = _water_fill(sizes, target - sum(sizes.values()))
    return ExpansionPlan(class_counts=class_counts, multipliers=multipliers, extras=extras,
                         **plan_options)


def segmentation_plan(n_images: int, target: int = 6900, **plan_options) -> ExpansionPlan:
    """Every image the same number of times, random compositions for the rest.

    Taught in 01_data_and_augmentation. The multiplier is ``target // n_images`` and the
    remaining ``target - multiplier * n_images`` (fewer than ``n_images``) are random
    compositions of DISTINCT random images. For the paper's 900 -> 6900 (6900 / 900 = 7.67,
    no whole multiplier): original + the 6 geometric variants of every image (900 x 7 = 6300)
    plus 600 random compositions. With 160 images and ``scale_target(6900, 160) = 1227``:
    160 x 7 = 1120 + 107 compositions. Labels play no part (masks need no balancing).
    """
    if not isinstance(n_images, (int, np.integer)) or n_images < 1:
        raise ValueError(f"n_images must be a positive int (the number of source images); got "
                         f"{n_images!r}.")
    if target < n_images:
        raise ValueError(f"target={target} is smaller than the {n_images} source images; "
                         "expansion keeps every original, so use target >= n_images.")
    multiplier = target // n_images
    return ExpansionPlan(class_counts={None: int(n_images)}, multipliers={None: int(multiplier)},
                         extras={None: int(target - multiplier * n_images)}, **plan_options)


def _check_expand_inputs(images, masks, labels, plan: ExpansionPlan):
    """Check :func:`expand`'s arguments against each other and the plan.

    Returns ``(images, masks, labels, groups)``: the arrays (``masks`` / ``labels`` may be
    ``None``) and ``groups``, the input indices of every plan group (class label, or ``None``
    for "every image").
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(f"images must be a uint8 array of shape (n, height, width, 3); got a "
                         f"{images.dtype} array of shape {images.shape}.")
    n_images, height, width = images.shape[:3]
    if masks is not None:
        masks = np.asarray(masks)
        if masks.dtype != np.uint8 or masks.shape[:3] != images.shape[:3] or \
                masks.ndim not in (3, 4) or (masks.ndim == 4 and masks.shape[3] != 1):
            raise ValueError(f"masks must be a uint8 array of shape (n, height, width) or (n, "
                             f"height, width, 1) matching images {images.shape}; got a "
                             f"{masks.dtype} array of shape {masks.shape}.")
    if labels is not None:
        labels = _check_labels(labels)
        if labels.size != n_images:
            raise ValueError(f"labels has {labels.size} entries for {n_images} images.")
    if plan.by_class:
        if labels is None:
            raise ValueError("This is a classification plan (multipliers per class): pass the "
                             "labels it was made from.")
        classes, counts = np.unique(labels, return_counts=True)
        actual = {int(c): int(count) for c, count in zip(classes, counts)}
        groups = {c: np.flatnonzero(labels == c) for c in actual}
    else:
        actual = {None: n_images}
        groups = {None: np.arange(n_images)}
    if actual != plan.class_counts:
        raise ValueError(f"The plan was made for {plan.class_counts} source images but these "
                         f"data have {actual}. Build the plan from these data: "
                         "classification_plan(labels, target) / segmentation_plan(len(images)).")
    uses_quarter_turns = {"rot90", "rot270"} & set(plan.single_ops + plan.composition_ops)
    if height != width and uses_quarter_turns:
        raise ValueError(f"expand() stacks all outputs in one array, but rot90/rot270 swap height "
                         f"and width of these {height}x{width} images. Resize to square first "
                         "(the course uses square images) or leave rot90/rot270 out of the "
                         "plan's single_ops and composition_ops.")
    return images, masks, labels, groups


def _expansion_jobs(plan: ExpansionPlan, groups: dict, n_images: int,
                    rng: np.random.Generator) -> list[tuple[int, str]]:
    """The ``(source index, recipe)`` of every :func:`expand` output, in output order: each
    source's :meth:`ExpansionPlan.variants`, then the extra compositions sorted by source."""
    multiplier_of = np.empty(n_images, dtype=np.int64)
    for group, index in groups.items():
        multiplier_of[index] = plan.multipliers[group]
    jobs: list[tuple[int, str]] = []  # (source index, recipe)
    for source in range(n_images):
        jobs.extend((source, recipe)
                    for recipe in plan.variants(int(multiplier_of[source]), rng))
    extra_jobs = []
    for group, index in groups.items():
        wanted = plan.extras[group]
        full_rounds, rest = divmod(wanted, index.size)
        chosen = [index] * full_rounds + [rng.choice(index, size=rest, replace=False)]
        extra_jobs.extend((int(source), "composition") for source in np.concatenate(chosen))
    jobs.extend(sorted(extra_jobs))
    return jobs


def _run_expansion_jobs(jobs: list[tuple[int, str]], images: np.ndarray, masks, plan: ExpansionPlan,
                        rng: np.random.Generator):
    """Make the outputs of ``jobs`` (from :func:`_expansion_jobs`), drawing each composition's
    ops and then its random parameters from ``rng``, job by job.

    Returns ``(out_images, out_masks, recipes)``; ``out_masks`` is ``None`` without masks.
    """
    total = len(jobs)
    height, width = images.shape[1:3]
    out_images = np.empty((total, height, width, 3), np.uint8)
    out_masks = None if masks is None else np.empty((total,) + masks.shape[1:], np.uint8)
    recipes = []
    for position, (source, recipe) in enumerate(jobs):
        mask = None if masks is None else masks[source]
        if recipe == "original":
            ops: tuple = ()
        elif recipe == "composition":
            ops = sample_composition(rng, plan.n_ops, plan.composition_ops)
        else:
            ops = (recipe,)
        result = apply_sequence(ops, images[source], mask, rng=rng)
        if masks is None:
            out_images[position] = result
        else:
            out_images[position], out_masks[position] = result
        recipes.append("+".join(ops) or "original")
    return out_images, out_masks, recipes


def expand(images, masks, labels, plan: ExpansionPlan, rng=None, *, return_recipes: bool = False):
    """Make the augmented data set a plan describes.

    Taught in 01_data_and_augmentation.

    Args:
        images: uint8 array (n, height, width, 3).
        masks: uint8 array (n, height, width) or (n, height, width, 1), or ``None``
            (classification).
        labels: 1-D int array of length n, or ``None`` for a segmentation plan.
        plan: from :func:`classification_plan` / :func:`segmentation_plan`; its class counts
            must match ``labels`` (a plan is made for one data set).
        rng: numpy Generator or int seed (random ops, compositions, which images get extras).
        return_recipes: also return the recipe of every output (``"original"``, ``"rot90"``,
            ``"flip_h+brightness"``, ...).

    Returns:
        ``(images, masks, labels, source_index)``: ``plan.total`` outputs, grouped by source
        image in index order (each image's variants in :meth:`ExpansionPlan.variants` order),
        then the extra compositions sorted by source. ``masks`` / ``labels`` are ``None`` when
        given as ``None``. ``source_index[j]`` is the index of the input image that output ``j``
        came from: keep it, it is what shows whether a train/validation split leaks.
    """
    rng = _as_rng(rng)
    images, masks, labels, groups = _check_expand_inputs(images, masks, labels, plan)
    jobs = _expansion_jobs(plan, groups, len(images), rng)
    out_images, out_masks, recipes = _run_expansion_jobs(jobs, images, masks, plan, rng)
    source_index = np.array([source for source, _ in jobs], dtype=np.int64)
    out_labels = None if labels is None else labels[source_index]
    if return_recipes:
        return out_images, out_masks, out_labels, source_index, recipes
    return out_images, out_masks, out_labels, source_index


# --------------------------------------------------------------------------------------------
# 3. On-the-fly augmentation (tf.data) and the Keras layers way
# --------------------------------------------------------------------------------------------

#: Sub-seeds :func:`tf_augment_fn` splits every call's seed into, one per decision, by index:
#: 0 rot90, 1 flip_h, 2 flip_v, 3 center_crop, 4 brightness, 5 occlusion (split again in two:
#: whether to occlude, and where). Keep the count and the order: the stored notebook outputs
#: show the augmentations these sub-seeds give.
_TF_SUB_SEEDS = 6


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


def _tf_like(result, original):
    """``result`` (float) back to the dtype of ``original`` (rounded for integer images)."""
    import tensorflow as tf

    if original.dtype.is_integer:
        return tf.cast(tf.round(tf.clip_by_value(result, 0.0, 255.0)), original.dtype)
    return tf.cast(result, original.dtype)


def _tf_center_crop(array, method: str, crop_fraction: float):
    """The central ``crop_fraction`` of ``array`` (H, W, C), resized back with ``method``."""
    import tensorflow as tf

    size = tf.shape(array)[:2]
    crop = tf.maximum(1, tf.cast(tf.round(tf.cast(size, tf.float32) * crop_fraction), tf.int32))
    offset = (size - crop) // 2
    cropped = tf.image.crop_to_bounding_box(array, offset[0], offset[1], crop[0], crop[1])
    resized = tf.image.resize(cropped, size, method=method)
    return resized if method == "nearest" else _tf_like(resized, array)


def _tf_occlude(image, seed_pair, min_fraction: float, max_fraction: float, fill: str):
    """``image`` with one box of ``min_fraction`` to ``max_fraction`` of its area filled with
    black or the image's mean colour; box size, shape and place from the stateless ``seed_pair``."""
    import tensorflow as tf

    size = tf.shape(image)[:2]
    height, width = tf.cast(size[0], tf.float32), tf.cast(size[1], tf.float32)
    draws = tf.random.stateless_uniform([4], seed_pair)
    fraction = min_fraction + draws[0] * (max_fraction - min_fraction)
    aspect = tf.exp(math.log(0.5) + draws[1] * (math.log(2.0) - math.log(0.5)))
    area = fraction * height * width
    box_height = tf.clip_by_value(tf.floor(tf.sqrt(area * aspect)), 1.0, height)
    box_width = tf.clip_by_value(tf.floor(tf.sqrt(area / aspect)), 1.0, width)
    box_width = tf.minimum(box_width, tf.maximum(
        1.0, tf.floor(max_fraction * height * width / box_height)))
    top = tf.floor(draws[2] * (height - box_height + 1.0))
    left = tf.floor(draws[3] * (width - box_width + 1.0))
    rows = tf.range(height)[:, None]
    cols = tf.range(width)[None, :]
    inside = ((rows >= top) & (rows < top + box_height) &
              (cols >= left) & (cols < left + box_width))[..., None]
    as_float = tf.cast(image, tf.float32)
    value = (tf.reduce_mean(as_float, axis=[0, 1]) if fill == "mean"
             else tf.zeros([3], tf.float32))
    return _tf_like(tf.where(inside, value, as_float), image)


def _tf_geometric(image, mask, seeds, ops: tuple, crop_fraction: float,
                  crop_probability: float):
    """The geometric ops of :func:`tf_augment_fn` (rot90, flip_h, flip_v, center_crop, those in
    ``ops``) with sub-seeds 0-3 of ``seeds``: the same decisions for the image and the mask
    (``None`` or (H, W, 1)). Returns ``(image, mask)``."""
    import tensorflow as tf

    if "rot90" in ops:
        turns = tf.random.stateless_uniform([], seeds[0], 0, 4, dtype=tf.int32)
        image = tf.image.rot90(image, turns)
        mask = None if mask is None else tf.image.rot90(mask, turns)
    if "flip_h" in ops:  # the same seed gives the image and the mask the same coin toss
        image = tf.image.stateless_random_flip_left_right(image, seeds[1])
        if mask is not None:
            mask = tf.image.stateless_random_flip_left_right(mask, seeds[1])
    if "flip_v" in ops:
        image = tf.image.stateless_random_flip_up_down(image, seeds[2])
        if mask is not None:
            mask = tf.image.stateless_random_flip_up_down(mask, seeds[2])
    if "center_crop" in ops:
        do_crop = tf.random.stateless_uniform([], seeds[3]) < crop_probability
        image = tf.cond(do_crop, lambda: _tf_center_crop(image, "bilinear", crop_fraction),
                        lambda: image)
        if mask is not None:
            mask = tf.cond(do_crop, lambda: _tf_center_crop(mask, "nearest", crop_fraction),
                           lambda: mask)
    return image, mask


def _tf_photometric(image, seeds, ops: tuple, factor_range: tuple, occlusion_probability: float,
                    min_fraction: float, occlusion_max_fraction: float, fill: str):
    """The photometric ops of :func:`tf_augment_fn` (brightness, occlusion, those in ``ops``) on
    the image only, with sub-seeds 4 and 5 of ``seeds``. Returns the image."""
    import tensorflow as tf

    if "brightness" in ops:
        factor = tf.random.stateless_uniform([], seeds[4], factor_range[0], factor_range[1])
        image = _tf_like(tf.clip_by_value(tf.cast(image, tf.float32) * factor, 0.0, 255.0),
                         image)
    if "occlusion" in ops:
        occlusion_seeds = tf.random.experimental.stateless_split(seeds[5], num=2)
        do_occlude = tf.random.stateless_uniform([], occlusion_seeds[0]) < occlusion_probability
        image = tf.cond(do_occlude,
                        lambda: _tf_occlude(image, occlusion_seeds[1], min_fraction,
                                            occlusion_max_fraction, fill),
                        lambda: image)
    return image


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
    """
    import tensorflow as tf

    ops = _check_ops(ops, TF_OPS)
    _check_tf_augment_settings(crop_fraction, factor_range, occlusion_max_fraction,
                               crop_probability, occlusion_probability, fill)
    min_fraction = min(0.02, occlusion_max_fraction)
    generator = tf.random.Generator.from_seed(seed)

    def augment(image, mask=None, seed=None):
        image = tf.convert_to_tensor(image)
        if seed is None:
            seed = generator.make_seeds(1)[:, 0]
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64),
                                                       num=_TF_SUB_SEEDS)
        mask_was_2d = False
        if mask is not None:
            mask = tf.convert_to_tensor(mask)
            mask_was_2d = mask.shape.rank == 2
            if mask_was_2d:
                mask = mask[..., None]
        image, mask = _tf_geometric(image, mask, seeds, ops, crop_fraction, crop_probability)
        image = _tf_photometric(image, seeds, ops, factor_range, occlusion_probability,
                                min_fraction, occlusion_max_fraction, fill)
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
    """The "Keras way" for IMAGE-ONLY classification: a Sequential of preprocessing layers.

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
      Exact quarter turns need ``tf.image.rot90`` with a random k, as in :func:`tf_augment_fn`.

    Masks: these layers draw their own random numbers per call, so they cannot transform an
    image and its mask identically when called separately. For segmentation use
    :func:`tf_augment_fn`.
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
