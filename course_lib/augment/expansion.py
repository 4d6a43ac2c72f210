"""The paper's OFFLINE expansion (900 -> 4430 images for classification, 900 -> 6900 for
segmentation). Taught in 01_data_and_augmentation. The split that has to come BEFORE it
(:func:`course_lib.data.split_by_source`) lives in :mod:`course_lib.data.splits`.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..config import as_rng as _as_rng
from .ops import OPS, _check_ops, apply_sequence, sample_composition

#: Display names of the ISIC 2016 classes (label 1 = melanoma).
CLASS_NAMES = {0: "benign", 1: "melanoma"}


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


@dataclass(frozen=True)
class ExpansionPlan:
    """How many images an offline expansion makes from every source image, e.g.
    ``ExpansionPlan(class_counts={0: 727, 1: 173}, multipliers={0: 3, 1: 13})``. Taught in
    01_data_and_augmentation. Groups are class labels, or ``None`` (segmentation: every image);
    ``multipliers[c]`` counts the original; ``extras[c]`` more random compositions of group
    ``c`` let the total hit any target."""

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
        # Raise early when compositions are needed but cannot be drawn.
        if any(self.extras.values()) or max(self.multipliers.values()) > 1 + len(self.single_ops):
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
        names, then ``"composition"``s. With ``rng`` (as :func:`expand` passes) the single ops are
        drawn at random: in order, only melanomas (x13) would get occlusion boxes, a shortcut."""
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
    """The paper's expansion target scaled to another data set size, same growth factor:
    ``scale_target(4430, 160) == 788``. Taught in 01_data_and_augmentation."""
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
    Taught in 01_data_and_augmentation. Each class's ideal multiplier is ``target / (n_classes
    * count_c)``; of the floor/ceil combinations not above ``target``, the smallest shortfall
    wins (ties: the smaller gap between classes); a shortfall is filled with random compositions,
    each to the class with the fewest images. 727 / 173 and 4430: benign x3, melanoma x13
    (2181 + 2249, exact). 128 / 32 and 788: x3 = 384, x12 = 384, plus 10 extras per class.
    ``plan_options`` go to :class:`ExpansionPlan`."""
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
    Taught in 01_data_and_augmentation. Multiplier ``target // n_images``, the rest random
    compositions of DISTINCT random images: 900 -> 6900 is 900 x 7 = 6300 + 600 compositions;
    160 -> 1227 is 160 x 7 = 1120 + 107."""
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
    """Check :func:`expand`'s arguments; returns ``(images, masks, labels, groups)``, where
    ``groups`` maps each plan group to its input indices."""
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
        actual, groups = {None: n_images}, {None: np.arange(n_images)}
    if actual != plan.class_counts:
        raise ValueError(f"The plan was made for {plan.class_counts} source images but these "
                         f"data have {actual}. Build the plan from these data: "
                         "classification_plan(labels, target) / segmentation_plan(len(images)).")
    if height != width and {"rot90", "rot270"} & set(plan.single_ops + plan.composition_ops):
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
        jobs.extend((source, recipe) for recipe in plan.variants(int(multiplier_of[source]), rng))
    extra_jobs = []
    for group, index in groups.items():
        full_rounds, rest = divmod(plan.extras[group], index.size)
        chosen = [index] * full_rounds + [rng.choice(index, size=rest, replace=False)]
        extra_jobs.extend((int(source), "composition") for source in np.concatenate(chosen))
    jobs.extend(sorted(extra_jobs))
    return jobs


def _run_expansion_jobs(jobs: list[tuple[int, str]], images: np.ndarray, masks, plan: ExpansionPlan,
                        rng: np.random.Generator):
    """Make the outputs of ``jobs``, drawing each composition's ops and then its random
    parameters from ``rng``, job by job. Returns ``(out_images, out_masks, recipes)``."""
    total = len(jobs)
    out_images = np.empty((total, *images.shape[1:3], 3), np.uint8)
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
    """Make the augmented data set a plan describes. Taught in 01_data_and_augmentation.
    Returns ``(images, masks, labels, source_index)`` (plus the recipes with
    ``return_recipes``); ``source_index[j]``, the input image of output ``j``, is what shows
    whether a train/validation split leaks."""
    rng = _as_rng(rng)
    images, masks, labels, groups = _check_expand_inputs(images, masks, labels, plan)
    jobs = _expansion_jobs(plan, groups, len(images), rng)
    out_images, out_masks, recipes = _run_expansion_jobs(jobs, images, masks, plan, rng)
    source_index = np.array([source for source, _ in jobs], dtype=np.int64)
    out_labels = None if labels is None else labels[source_index]
    if return_recipes:
        return out_images, out_masks, out_labels, source_index, recipes
    return out_images, out_masks, out_labels, source_index

