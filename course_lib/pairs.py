"""Image pairs for the discriminant (DC) network: Method1, Method2 and the 1:4 schedule.

Taught in 02_pair_sampling (paper section III.B.2: heads ``cls1``, ``cls2`` and ``same``).
Method1, "more positive sample pairs", pairs samples of the SAME label inside a shuffled batch
(our reading); Method2, "more negative sample pairs", "reads the batch twice": a label-blind
partner (about 32 % different-class pairs at the ISIC 1:4 ratio). The paper's "1:4 frequency"
is per BATCH here: batches 0, 5, 10, ... use Method1 (:func:`schedule`).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import keras
import numpy as np

from .augment import _check_labels  # one label check for the course
from .config import as_rng as _as_rng  # one definition for the course

__all__ = [
    "METHODS", "method1_indices", "method2_indices", "schedule", "epoch_pairs", "pair_statistics",
    "method_statistics", "pair_batch", "expected_same_fraction", "PairSequence",
]

#: Names :func:`schedule` uses for the two pair-building procedures.
METHODS = ("method1", "method2")


def method1_indices(labels, rng=None) -> np.ndarray:
    """Method1 (mostly SAME-class pairs): sample ``i`` is paired with ``partner[i]``.
    Taught in 02_pair_sampling. Within each class, consecutive shuffled members swap indices;
    the leftovers (one per odd class) pair with each other; a last odd sample points one-way to
    a random other sample of its class. 898 of the 900 ISIC training pairs are same-class."""
    labels, rng = _check_labels(labels), _as_rng(rng)
    n_samples = labels.size
    partner = np.full(n_samples, -1, dtype=np.int64)
    order = rng.permutation(n_samples)
    leftovers = []
    for label in np.unique(labels):
        members = order[labels[order] == label]
        n_paired = members.size - members.size % 2
        first, second = members[0:n_paired:2], members[1:n_paired:2]
        partner[first], partner[second] = second, first
        if members.size % 2:
            leftovers.append(members[-1])
    leftovers = [leftovers[k] for k in rng.permutation(len(leftovers))]
    while len(leftovers) >= 2:
        first, second = leftovers.pop(), leftovers.pop()
        partner[first], partner[second] = second, first
    if leftovers:  # an odd number of samples: one one-way pair
        last = leftovers[0]
        same_class = np.flatnonzero((labels == labels[last]) & (np.arange(n_samples) != last))
        others = np.flatnonzero(np.arange(n_samples) != last)
        pool = same_class if same_class.size else others
        partner[last] = rng.choice(pool) if pool.size else last
    return partner


def method2_indices(labels, rng=None) -> np.ndarray:
    """Method2 (more DIFFERENT-class pairs): pair two independently shuffled reads.
    Taught in 02_pair_sampling. The j-th sample of one random read is paired with the j-th of
    another: a label-blind random permutation (about p0^2 + p1^2 = 0.68 same-class pairs at the
    1:4 ISIC ratio; self-pairs with probability 1/n). Returns an int64 array ``partner``."""
    labels, rng = _check_labels(labels), _as_rng(rng)
    first_read, second_read = rng.permutation(labels.size), rng.permutation(labels.size)
    partner = np.empty(labels.size, dtype=np.int64)
    partner[first_read] = second_read
    return partner


def schedule(n_batches: int, ratio: tuple[int, int] = (1, 4), seed: int | None = None) -> list[str]:
    """Which method builds each batch of an epoch: ``["method1", "method2", ...]``.
    Taught in 02_pair_sampling. In every block of ``sum(ratio)`` batches the first ``ratio[0]``
    use Method1 (``(1, 4)``: batches 0, 5, 10, ...); ``seed`` shuffles the positions within
    each block."""
    if not isinstance(n_batches, (int, np.integer)) or n_batches < 0:
        raise ValueError(f"n_batches must be a non-negative int; got {n_batches!r}.")
    if len(ratio) != 2 or min(ratio) < 0 or sum(ratio) == 0 or \
            any(not isinstance(r, (int, np.integer)) for r in ratio):
        raise ValueError(f"ratio must be two non-negative ints (Method1, Method2), not both 0, "
                         f"e.g. (1, 4); got {ratio!r}.")
    block = [METHODS[0]] * ratio[0] + [METHODS[1]] * ratio[1]
    rng = None if seed is None else np.random.default_rng(seed)
    methods: list[str] = []
    while len(methods) < n_batches:
        methods.extend(block if rng is None else [block[k] for k in rng.permutation(len(block))])
    return methods[:n_batches]


def epoch_pairs(labels, batch_size: int, rng=None, ratio: tuple[int, int] = (1, 4),
                schedule_seed: int | None = None, *, method1: Callable | None = None,
                method2: Callable | None = None, schedule_fn: Callable | None = None):
    """All pairs of one training epoch, the way :class:`PairSequence` builds them.
    Taught in 02_pair_sampling. A Method1 batch finds partners INSIDE the batch; a Method2
    batch in a second shuffled read of the whole set. ``method1``, ``method2``, ``schedule_fn``
    replace the course's functions. Returns ``(first, second, methods)``, ``x1 = images[first]``."""
    labels, rng = _check_labels(labels), _as_rng(rng)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int (paper: 32); got {batch_size!r}.")
    if schedule_fn is not None and schedule_seed is not None:
        raise ValueError("schedule_seed shuffles the course's schedule(); with your own "
                         "schedule_fn leave schedule_seed=None.")
    method1, method2 = method1 or method1_indices, method2 or method2_indices
    n_batches = math.ceil(labels.size / batch_size)
    methods = (schedule(n_batches, ratio, seed=schedule_seed) if schedule_fn is None
               else list(schedule_fn(n_batches, tuple(ratio))))
    if len(methods) != n_batches or not set(methods) <= set(METHODS):
        raise ValueError(f"the schedule must name 'method1' or 'method2' for each of the "
                         f"{n_batches} batches; got {methods!r}.")
    first = rng.permutation(labels.size)
    second_read = np.asarray(method2(labels, rng), dtype=np.int64)
    second = np.empty_like(first)
    for batch, method in enumerate(methods):
        batch_slice = slice(batch * batch_size, (batch + 1) * batch_size)
        index = first[batch_slice]
        if method == "method1":
            second[batch_slice] = index[np.asarray(method1(labels[index], rng), dtype=np.int64)]
        else:
            second[batch_slice] = second_read[index]
    return first, second, methods


def pair_statistics(labels, partner, positive_label: int = 1) -> dict:
    """What kind of pairs ``(i, partner[i])`` are. Taught in 02_pair_sampling. Returns
    ``n_pairs``, ``same_class_fraction``, ``melanoma_involved_fraction`` (at least one image is
    ``positive_label``), ``both_melanoma_fraction`` and ``self_pair_fraction``."""
    labels = _check_labels(labels)
    partner = np.asarray(partner)
    if partner.shape != labels.shape or not np.issubdtype(partner.dtype, np.integer):
        raise ValueError(f"partner must be a 1-D int array as long as labels ({labels.size}); "
                         f"got dtype {partner.dtype}, shape {partner.shape}.")
    if partner.min() < 0 or partner.max() >= labels.size:
        raise ValueError(f"partner holds indices outside 0..{labels.size - 1}.")
    first, second = labels, labels[partner]
    first_positive, second_positive = first == positive_label, second == positive_label
    return {"n_pairs": int(labels.size), "same_class_fraction": float(np.mean(first == second)),
            "melanoma_involved_fraction": float(np.mean(first_positive | second_positive)),
            "both_melanoma_fraction": float(np.mean(first_positive & second_positive)),
            "self_pair_fraction": float(np.mean(partner == np.arange(labels.size)))}


def method_statistics(labels, n_draws: int = 20, batch_size: int | None = 32, seed: int = 0,
                      ratio: tuple[int, int] = (1, 4), *, method1: Callable | None = None,
                      method2: Callable | None = None, schedule_fn: Callable | None = None,
                      statistics: Callable | None = None) -> dict:
    """Pair statistics averaged over ``n_draws`` epochs, for Method1, Method2 and the schedule
    (``batch_size=None``: one batch, no schedule entry). Taught in 02_pair_sampling. ``method1``,
    ``method2``, ``schedule_fn`` and ``statistics`` replace the course's functions."""
    labels = _check_labels(labels)
    statistics = statistics or pair_statistics
    parts = {"method1": method1, "method2": method2}
    if not isinstance(n_draws, (int, np.integer)) or n_draws < 1:
        raise ValueError(f"n_draws must be a positive int; got {n_draws!r}.")
    rng = np.random.default_rng(seed)
    variants = {"method1": (1, 0), "method2": (0, 1)}
    if batch_size is not None:
        variants[f"schedule {ratio[0]}:{ratio[1]}"] = tuple(ratio)
    result = {}
    for name, variant_ratio in variants.items():
        draws = []
        for _ in range(n_draws):
            first, second, _ = epoch_pairs(labels, batch_size or labels.size, rng, variant_ratio,
                                           schedule_fn=schedule_fn, **parts)
            # Re-express as (labels of x1, partner positions) for pair_statistics.
            position = np.empty(labels.size, dtype=np.int64)
            position[first] = np.arange(labels.size)
            draws.append(statistics(labels[first], position[second]))
        result[name] = {key: (draws[0][key] if key == "n_pairs"
                              else float(np.mean([draw[key] for draw in draws])))
                        for key in draws[0]}
    return result


def pair_batch(images, labels, first, second, n_classes: int = 2):
    """One batch of pairs, ``((x1, x2), (y1, y2, same))``, from source indices.
    Taught in 02_pair_sampling. All float32; ``y1``, ``y2`` one-hot labels, ``same`` one-hot
    (batch, 2) with column 1 = the two labels agree."""
    images, labels = np.asarray(images), np.asarray(labels)
    first, second = np.asarray(first), np.asarray(second)
    eye = np.eye(n_classes, dtype=np.float32)
    label1, label2 = labels[first], labels[second]
    same = np.eye(2, dtype=np.float32)[(label1 == label2).astype(np.int64)]
    x1, x2 = images[first].astype(np.float32), images[second].astype(np.float32)
    return (x1, x2), (eye[label1], eye[label2], same)


class PairSequence(keras.utils.PyDataset):
    """Batches of image pairs for ``model.fit`` on the DC model. Taught in 02_pair_sampling.
    Every batch is ``((x1, x2), (y1, y2, same))`` as :func:`pair_batch` makes it (targets keyed
    by ``output_names`` when given), drawn from ``np.random.default_rng([seed, epoch])``. Keras
    3.15's ``fit`` calls ``on_epoch_end`` once before the first epoch, so training starts at
    epoch 1. ``augment(image, rng) -> image`` is applied to every x1 and x2 image."""

    def __init__(self, images, labels, batch_size: int = 32, seed=0,
                 ratio: tuple[int, int] = (1, 4), augment: Callable | None = None,
                 output_names: Sequence[str] | None = None, n_classes: int = 2,
                 make_batch: Callable | None = None, method1: Callable | None = None,
                 method2: Callable | None = None, schedule_fn: Callable | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        images, labels = np.asarray(images), _check_labels(labels)
        if images.ndim != 4 or images.shape[0] != labels.size:
            raise ValueError(f"images must be an array (n, height, width, channels) with one "
                             f"image per label ({labels.size}); got shape {images.shape}.")
        if labels.min() < 0 or labels.max() >= n_classes:
            raise ValueError(f"labels must lie in 0..{n_classes - 1}; got values "
                             f"{np.unique(labels).tolist()}.")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int (paper: 32); got {batch_size!r}.")
        if output_names is not None and (isinstance(output_names, str) or len(output_names) != 3):
            raise ValueError(f"output_names must name the 3 outputs, e.g. ('cls1', 'cls2', "
                             f"'same'); got {output_names!r}.")
        if augment is not None and not callable(augment):
            raise ValueError("augment must be a function augment(image, rng) -> image, or None.")
        schedule(0, ratio)  # validates ratio
        if isinstance(seed, np.random.Generator):
            seed = int(seed.integers(2**31))
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise ValueError(f"seed must be an int or a numpy Generator; got {seed!r}.")
        self.images, self.labels = images, labels
        self.batch_size, self.seed, self.ratio = int(batch_size), int(seed), tuple(ratio)
        self.augment, self.n_classes, self.make_batch = augment, n_classes, make_batch
        self.output_names = None if output_names is None else tuple(output_names)
        self._parts = {"method1": method1, "method2": method2, "schedule_fn": schedule_fn}
        self.epoch = 0
        self._build_epoch()

    def _build_epoch(self) -> None:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.first, self.second, self.methods = epoch_pairs(
            self.labels, self.batch_size, rng, self.ratio, **self._parts)

    def __len__(self) -> int:
        return math.ceil(self.labels.size / self.batch_size)

    def on_epoch_end(self) -> None:
        """Next epoch: reshuffle and recompute the partners."""
        self.epoch += 1
        self._build_epoch()

    def set_epoch(self, epoch: int) -> None:
        """Jump to ``epoch`` (e.g. to inspect or replay it)."""
        self.epoch = int(epoch)
        self._build_epoch()

    def batch_indices(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Source indices ``(first, second)`` of the pairs in batch ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range 0..{len(self) - 1}.")
        batch_slice = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.first[batch_slice], self.second[batch_slice]

    def _images(self, index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The augmented images ``index`` as float32."""
        return np.stack([np.asarray(self.augment(self.images[i], rng)) for i in index]
                        ).astype(np.float32)

    def __getitem__(self, index: int):
        first, second = self.batch_indices(index)
        if self.make_batch is None:
            (x1, x2), targets = pair_batch(self.images, self.labels, first, second, self.n_classes)
        else:
            (x1, x2), targets = self.make_batch(self.images, self.labels, first, second)
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            x1, x2 = self._images(first, rng), self._images(second, rng)
        targets = tuple(targets)
        if self.output_names is not None:
            targets = dict(zip(self.output_names, targets))
        return (x1, x2), targets


def expected_same_fraction(p_melanoma: float) -> float:
    """Expected share of same-class pairs when partners ignore the labels (Method2):
    ``p^2 + (1 - p)^2`` for a melanoma share ``p``. Taught in 02_pair_sampling."""
    return p_melanoma ** 2 + (1 - p_melanoma) ** 2
