"""Train / validation / test arrays for a profile, split by source image first.

Taught in 01_data_and_augmentation (why the split comes before any augmentation): the split by
source image (:func:`split_by_source`), the paper's leaky split of the already-augmented set
(:func:`naive_split_after_expansion`) and the leak measure (:func:`leak_fraction`). Every
training notebook (03–07) starts from :func:`load_splits` so that all of them see the same images.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import config
from ..augment import _check_labels  # one label check for the course

__all__ = ["Splits", "load_splits", "split_by_source", "naive_split_after_expansion",
           "leak_fraction"]


@dataclass
class Splits:
    """Arrays of one profile: images uint8 (N,S,S,3) in [0, 255], labels int (1 = melanoma),
    masks uint8 (N,S,S) 0/255 or None. ``val`` is carved out of the official training set by
    source image (stratified); ``test`` is the official test set, touched only for final numbers."""

    x_train: np.ndarray
    y_train: np.ndarray
    m_train: np.ndarray | None
    x_val: np.ndarray
    y_val: np.ndarray
    m_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    m_test: np.ndarray | None
    ids_train: list
    ids_val: list
    ids_test: list
    image_size: int

    def describe(self) -> str:
        def part(name, y):
            return f"{name} {len(y)} ({int(np.sum(y))} melanoma)"
        return ", ".join([part("train", self.y_train), part("validation", self.y_val),
                          part("test", self.y_test)]) + f" at {self.image_size}px"


def load_splits(profile: config.Profile | str | None = None, *, val_fraction: float = 0.2,
                masks: bool = True, image_size: int | None = None,
                split: Callable | None = None, download: bool = True) -> Splits:
    """Load the profile's training and test sets as arrays, with a validation split taken from
    the training set **by source image** (:func:`split_by_source`), seeded by the profile.

    ``image_size`` defaults to ``profile.image_size``; after the first call the arrays come from
    the decode cache. ``split`` replaces :func:`split_by_source` (exercise 1.4): it is called as
    ``split(source_ids, labels, val_fraction=..., seed=profile.seed)`` with source ids
    ``0 .. n-1`` and must return ``(train_idx, val_idx)``. ``download=True`` downloads a missing
    ISIC 2016 after printing its size and a time estimate (:func:`course_lib.data.prepare_data`).
    ``masks=True`` leaves out the images without a lesion mask, printing how many.
    """
    from . import load_arrays, prepare_data

    profile = config.as_profile(profile)
    size = image_size or profile.image_size
    train = prepare_data(profile, "train", download=download)
    test = prepare_data(profile, "test", download=download)
    if masks:  # segmentation needs masks: keep the images that have one (and say so)
        train, test = (r.with_masks() if any(p is not None for p in r.mask_paths) else r
                       for r in (train, test))
    x_all, m_all = load_arrays(train, size, masks=masks)
    x_test, m_test = load_arrays(test, size, masks=masks)
    split = split_by_source if split is None else split
    train_idx, val_idx = split(np.arange(len(train)), train.labels, val_fraction=val_fraction,
                               seed=profile.seed)
    train_idx, val_idx = np.asarray(train_idx, dtype=np.int64), np.asarray(val_idx, dtype=np.int64)

    def take(array, idx):
        return None if array is None else array[idx]

    return Splits(
        x_train=x_all[train_idx], y_train=train.labels[train_idx], m_train=take(m_all, train_idx),
        x_val=x_all[val_idx], y_val=train.labels[val_idx], m_val=take(m_all, val_idx),
        x_test=x_test, y_test=test.labels, m_test=m_test,
        ids_train=[train.ids[i] for i in train_idx], ids_val=[train.ids[i] for i in val_idx],
        ids_test=list(test.ids), image_size=size)


def split_by_source(ids_or_n, labels, val_fraction: float = 0.2, seed: int = 0):
    """Train/validation split that keeps every source image on ONE side. Stratified by label.

    Taught in 01_data_and_augmentation: split the 900 originals FIRST, then expand only the
    training part. ``ids_or_n``: the number of sources ``n`` (ids ``0 .. n-1``) or one source id
    per sample (e.g. ``source_index`` from :func:`course_lib.augment.expand`: all copies of a
    source land on one side). ``labels``: one per sample (copies of a source must agree).
    ``val_fraction``: share of each class's SOURCES that goes to validation (paper: 0.2); a
    class with at least 2 sources gets one on each side. Returns sorted ``(train_idx, val_idx)``.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1 (paper: 0.2); got {val_fraction}.")
    labels = _check_labels(labels)
    if isinstance(ids_or_n, (int, np.integer)):
        ids = np.arange(int(ids_or_n))
    else:
        ids = np.asarray(ids_or_n)
        if ids.ndim != 1:
            raise ValueError(f"ids must be 1-D (one source id per sample); got shape {ids.shape}.")
    if ids.size != labels.size:
        raise ValueError(f"{ids.size} samples but {labels.size} labels: give one label per "
                         "sample.")
    unique_ids, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    source_labels = labels[first]
    if np.any(labels != source_labels[inverse]):
        raise ValueError("Copies of one source image carry different labels; a source has one "
                         "label. Check that ids and labels line up.")
    rng = np.random.default_rng(seed)
    is_val_source = np.zeros(unique_ids.size, dtype=bool)
    for label in np.unique(source_labels):
        members = rng.permutation(np.flatnonzero(source_labels == label))
        n_val = int(round(val_fraction * members.size))
        if members.size >= 2:
            n_val = min(max(n_val, 1), members.size - 1)
        is_val_source[members[:n_val]] = True
    is_val = is_val_source[inverse]
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def naive_split_after_expansion(labels_or_n, val_fraction: float = 0.2, seed: int = 0):
    """The paper's way, for comparison: split the ALREADY-augmented set sample by sample.

    Taught in 01_data_and_augmentation. Copies of one photograph end up on both sides, so
    validation measures partly memory (:func:`leak_fraction`). Returns ``(train_idx, val_idx)``.
    """
    if isinstance(labels_or_n, (int, np.integer)):
        labels = np.zeros(int(labels_or_n), dtype=np.int64)
    else:
        labels = _check_labels(labels_or_n)
    return split_by_source(labels.size, labels, val_fraction=val_fraction, seed=seed)


def leak_fraction(train_sources, val_sources) -> float:
    """Share of validation samples whose source image also appears in training (0.0: honest),
    e.g. ``leak_fraction(source_index[train_idx], source_index[val_idx])``. Taught in
    01_data_and_augmentation."""
    train_sources, val_sources = np.asarray(train_sources), np.asarray(val_sources)
    if val_sources.size == 0:
        raise ValueError("val_sources is empty: there is no validation sample to check.")
    return float(np.isin(val_sources, train_sources).mean())
