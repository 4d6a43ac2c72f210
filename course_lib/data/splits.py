"""Train / validation / test arrays for a profile, split by source image first.

Taught in 01_data_and_augmentation (why the split comes before any augmentation); every training
notebook (03–07) starts from :func:`load_splits` so that all of them see the same images.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import config

__all__ = ["Splits", "load_splits"]


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
    the training set **by source image** (``augment.split_by_source``), seeded by the profile.

    ``image_size`` defaults to ``profile.image_size``. Arrays come from the decode cache after
    the first call, so every notebook can call this cheaply. ``split`` replaces
    ``augment.split_by_source`` (same signature; exercise 1.4): it is called as
    ``split(source_ids, labels, val_fraction=..., seed=profile.seed)`` with one source id per
    training image (``0 .. n-1``) and must return ``(train_idx, val_idx)``.

    ``download=True`` (the default here, where the notebooks ask for their data): a profile
    that needs ISIC 2016 downloads it when it is missing, after printing its size and a time
    estimate (:func:`course_lib.data.prepare_data`; from the classroom mirror when
    ``COURSE_ISIC2016_MIRROR`` is set). With ``masks=True`` the images without a lesion mask
    are left out, with one printed line saying how many.
    """
    from .. import augment
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
    split = augment.split_by_source if split is None else split
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
