"""The augmentation registry and the NumPy operations: one :class:`Op` per name.

Taught in 01_data_and_augmentation. :data:`REGISTRY` is the one list of the operations; the
name tuples (:data:`OPS`, :data:`GEOMETRIC_OPS`, ...) are read off it, :func:`apply` runs an
op's NumPy function and :func:`course_lib.augment.tf_augment_fn` its TensorFlow one.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ..config import as_rng as _as_rng  # one definition for the course
from . import tf_ops


# ------------------------------------------------------------------------ image and mask checks
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


# ---------------------------------------------------------------------------- the NumPy operations
# Geometric: f(array, nearest, **params), for the image and then the mask (nearest=True: no new
# values). Photometric: f(image, rng, **params), the image only. Defaults: in the registry.
def _rotate(array: np.ndarray, nearest: bool, *, turns: int) -> np.ndarray:
    """``turns`` counter-clockwise quarter turns (``np.rot90``)."""
    return np.ascontiguousarray(np.rot90(array, turns, axes=(0, 1)))


def _mirror(array: np.ndarray, nearest: bool, *, axis: int) -> np.ndarray:
    """Mirror left <-> right (``axis=1``, ``np.fliplr``) or top <-> bottom (``axis=0``)."""
    return np.ascontiguousarray(np.flip(array, axis))


def _center_crop(array: np.ndarray, nearest: bool, *, fraction: float) -> np.ndarray:
    """Crop the central ``fraction`` of height and width, resize back to the original size with
    Pillow (nearest neighbour for masks, bilinear for images)."""
    from PIL import Image
    if not 0 < fraction <= 1:
        raise ValueError(f"center_crop fraction must be in (0, 1] (the share of height and "
                         f"width kept); got {fraction}.")
    height, width = array.shape[:2]
    crop_height = max(1, int(round(height * fraction)))
    crop_width = max(1, int(round(width * fraction)))
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    crop = array[top:top + crop_height, left:left + crop_width]
    squeeze = crop.ndim == 3 and crop.shape[2] == 1
    picture = Image.fromarray(crop[..., 0] if squeeze else crop)
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    resized = np.asarray(picture.resize((width, height), resample=resample))
    return resized[..., None] if squeeze else resized


def _brightness(image: np.ndarray, rng, *, delta, factor, factor_range):
    """Add ``delta``, or multiply by ``factor`` (default: drawn uniformly from ``factor_range``)."""
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
    fraction = rng.uniform(min_fraction, max_fraction)
    aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))  # height / width in [1/2, 2]
    box_height = min(height, max(1, int(math.sqrt(fraction * area * aspect))))
    box_width = min(width, max(1, int(math.sqrt(fraction * area / aspect))))
    while box_height * box_width > max_fraction * area and (box_height > 1 or box_width > 1):
        if box_height >= box_width:
            box_height -= 1
        else:
            box_width -= 1
    top = int(rng.integers(0, height - box_height + 1))
    left = int(rng.integers(0, width - box_width + 1))
    return top, left, box_height, box_width


def _fill_value(image: np.ndarray, fill) -> np.ndarray:
    """The RGB colour of an occlusion box: ``"black"``, ``"mean"``, an int or an RGB triple."""
    if isinstance(fill, str):
        if fill not in ("black", "mean"):
            raise ValueError(f"occlusion fill must be 'black', 'mean', an int 0-255 or an RGB "
                             f"triple; got {fill!r}.")
        if fill == "black":
            return np.zeros(3, np.uint8)
        return np.rint(image.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
    value = np.broadcast_to(np.asarray(fill), (3,))
    if np.any(value < 0) or np.any(value > 255):
        raise ValueError(f"occlusion fill values must be within 0-255; got {fill!r}.")
    return value.astype(np.uint8)


def _occlusion(image: np.ndarray, rng, *, max_fraction, min_fraction, fill):
    """One random box of ``min_fraction`` (default 2 %) to ``max_fraction`` of the area."""
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
    value = _fill_value(image, fill)
    top, left, box_height, box_width = _occlusion_box(height, width, _as_rng(rng), max_fraction,
                                                      min_fraction)
    out = image.copy()
    out[top:top + box_height, left:left + box_width] = value
    return out


# ------------------------------------------------------------------------------------ the registry
@dataclass(frozen=True)
class Op:
    """One augmentation operation: its ``kind`` (``"geometric"``: the mask moves with the image;
    ``"photometric"``: the mask is returned unchanged), the ``numpy`` function :func:`apply`
    runs, the ``tf`` one :func:`course_lib.augment.tf_augment_fn` runs (or ``None``), the
    ``params`` :func:`apply` accepts with their defaults, and whether it is a ``symmetry`` of
    the square (a rotation or mirror: exact, no resampling)."""

    name: str
    kind: str
    numpy: Callable
    tf: Callable | None = None
    params: Mapping = field(default_factory=dict)
    symmetry: bool = False


#: Every operation, in the fixed order offline expansion uses them (geometric ops first).
REGISTRY: dict[str, Op] = {op.name: op for op in (
    # tf "rot90" turns by a random k in {0, 1, 2, 3}: it stands for all three rotations.
    Op("rot90", "geometric", partial(_rotate, turns=1), tf_ops.quarter_turns, symmetry=True),
    Op("rot180", "geometric", partial(_rotate, turns=2), symmetry=True),
    Op("rot270", "geometric", partial(_rotate, turns=3), symmetry=True),
    Op("flip_h", "geometric", partial(_mirror, axis=1), partial(tf_ops.flip, axis=1),
       symmetry=True),
    Op("flip_v", "geometric", partial(_mirror, axis=0), partial(tf_ops.flip, axis=0),
       symmetry=True),
    Op("center_crop", "geometric", _center_crop, tf_ops.center_crop, {"fraction": 0.8}),
    Op("brightness", "photometric", _brightness, tf_ops.brightness,
       {"delta": None, "factor": None, "factor_range": (0.7, 1.3)}),
    Op("occlusion", "photometric", _occlusion, tf_ops.occlusion,
       {"max_fraction": 0.15, "min_fraction": None, "fill": "black"}),
)}

#: Every operation :func:`apply` knows, in registry order.
OPS = tuple(REGISTRY)
#: Operations that move pixels: the mask is transformed exactly like the image.
GEOMETRIC_OPS = tuple(name for name, op in REGISTRY.items() if op.kind == "geometric")
#: Operations that change pixel values only: the mask is returned unchanged.
PHOTOMETRIC_OPS = tuple(name for name, op in REGISTRY.items() if op.kind == "photometric")
#: Rotations and mirrors (the symmetries of a square). Two of them composed give another
#: symmetry (flip_h then flip_v is rot180), so a composition uses at most one of them.
DIHEDRAL_OPS = tuple(name for name, op in REGISTRY.items() if op.symmetry)
#: Quarter-turn rotations; rot90 and rot270 swap height and width of a non-square image.
ROTATION_OPS = tuple(name for name in DIHEDRAL_OPS if name.startswith("rot"))
#: Operation names :func:`course_lib.augment.tf_augment_fn` understands (``rot90`` there means
#: a random multiple of 90 degrees, including none).
TF_OPS = tuple(name for name, op in REGISTRY.items() if op.tf is not None)


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


# ------------------------------------------------------------------------------------ applying ops
def apply(op: str, image: np.ndarray, mask: np.ndarray | None = None, rng=None, **params):
    """Apply ONE augmentation ``op`` (one of :data:`OPS`) to an image, or to an image and its
    mask together. Taught in 01_data_and_augmentation. ``image``: uint8 (height, width, 3);
    ``mask``: optional uint8 (height, width[, 1]), returned in the shape it came in; ``rng``:
    Generator or int seed (``None``: unseeded). ``**params`` override ``REGISTRY[op].params``:
    ``center_crop`` ``fraction``; ``brightness`` ``delta`` (added) or ``factor`` (multiplied), else
    a factor drawn from ``factor_range``; ``occlusion`` ``min_fraction``/``max_fraction`` of the
    area (never more than ``max_fraction``) and ``fill`` ("black", "mean", an int or an RGB triple).
    Returns new arrays: the image, or ``(image, mask)``. ``rot90``/``rot270`` swap height and width
    of a non-square image; photometric ops return a copy of the mask unchanged."""
    spec = REGISTRY[_check_op(op)]
    image = _check_image(image)
    if mask is not None:
        mask = _check_mask(mask, image)
    if unknown := set(params) - set(spec.params):
        raise ValueError(f"Unknown parameter(s) {sorted(unknown)} for op {op!r}; it accepts: "
                         f"{', '.join(sorted(spec.params)) or 'none'}.")
    params = {**spec.params, **params}
    if spec.kind == "photometric":  # the mask stays as it is
        new_image = spec.numpy(image, rng, **params)
        return new_image if mask is None else (new_image, mask.copy())
    new_image = spec.numpy(image, False, **params)
    return new_image if mask is None else (new_image, spec.numpy(mask, True, **params))


def rotate_and_mirror(image: np.ndarray, mask: np.ndarray, k: int, mirror: bool):
    """``k`` counter-clockwise quarter turns of image AND mask, then a left-right mirror when
    ``mirror``. Reference of exercise 1.1 (01_data_and_augmentation)."""
    image, mask = (np.rot90(np.asarray(array), k, axes=(0, 1)) for array in (image, mask))
    if mirror:
        image, mask = image[:, ::-1], mask[:, ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(mask)


def occlude(image: np.ndarray, rng, max_fraction: float = 0.15) -> np.ndarray:
    """A copy of ``image`` with one black rectangle of 2 % to ``max_fraction`` of its area
    (``apply("occlusion", ...)``). Reference of exercise 1.2 (01_data_and_augmentation)."""
    return apply("occlusion", image, rng=rng, max_fraction=max_fraction)


def center_crop(image: np.ndarray, mask: np.ndarray, fraction: float = 0.8):
    """``apply("center_crop", ...)``: the central ``fraction``, resized back. Reference of
    exercise 1.3 (01_data_and_augmentation)."""
    return apply("center_crop", image, mask, fraction=fraction)


def apply_sequence(ops: Sequence[str], image: np.ndarray, mask: np.ndarray | None = None,
                   rng=None, **params_by_op):
    """Apply several ops one after the other (image and mask alike, as in :func:`apply`).
    Taught in 01_data_and_augmentation. ``params_by_op``: e.g. ``occlusion={"fill": "mean"}``."""
    ops, rng = _check_ops(ops, what="ops"), _as_rng(rng)
    if unknown := set(params_by_op) - set(ops):
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
    Taught in 01_data_and_augmentation. At most one of :data:`DIHEDRAL_OPS` is used (two of
    them compose into another single one); the ops are returned in :data:`OPS` order."""
    ops, rng = _check_ops(ops), _as_rng(rng)
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
    """Apply a random composition of 2-3 distinct ops (see :func:`sample_composition`);
    returns like :func:`apply`. Taught in 01_data_and_augmentation."""
    rng = _as_rng(rng)
    return apply_sequence(sample_composition(rng, n_ops, ops), image, mask, rng=rng)
