"""Data for the course: ISIC 2016 (download, load, cache), SynthDerm, tf.data pipelines.

Taught in 01_data_and_augmentation. Most notebooks need one line::

    record = prepare_data(profile, "train")          # a DatasetRecord
    images, masks = load_arrays(record, profile.image_size)

Importing this package does not import TensorFlow (the pipeline functions import it when
called).
"""
from __future__ import annotations

import warnings

from .. import config
from .isic2016 import (
    BASE_URL, ISIC2016_COUNTS, ISIC2016_FILES, DatasetRecord, DownloadError, RemoteFile,
    UnsafeArchiveError, VerificationError, _check_split, cache_path, download_estimate,
    download_isic2016, isic2016_files, load_arrays, load_isic2016, read_labels_csv,
)
from .ph2 import load_ph2, ph2_root
from .pipeline import classification_dataset, segmentation_dataset
from .splits import (
    Splits, leak_fraction, load_splits, naive_split_after_expansion, split_by_source,
)
from .synthetic import load_synthderm, make_synthderm

__all__ = [
    "BASE_URL", "ISIC2016_COUNTS", "ISIC2016_FILES", "DatasetRecord", "DownloadError",
    "RemoteFile", "UnsafeArchiveError", "VerificationError", "cache_path", "download_isic2016",
    "download_estimate", "isic2016_files", "load_arrays", "load_isic2016", "read_labels_csv",
    "classification_dataset", "segmentation_dataset", "make_synthderm", "load_synthderm",
    "prepare_data", "synthderm_root", "Splits", "load_splits", "split_by_source",
    "naive_split_after_expansion", "leak_fraction", "load_ph2", "ph2_root",
]


def synthderm_root(profile: config.Profile):
    """Folder :func:`prepare_data` generates SynthDerm into for ``profile``:
    ``<data_dir>/synthderm/s<size>_n<train>_<test>_seed<seed>``."""
    n_train, n_test = _synthderm_counts(profile)
    return (config.data_dir() / "synthderm"
            / f"s{profile.synth_image_size}_n{n_train}_{n_test}_seed{profile.seed}")


def _isic_ready(root, split: str) -> bool:
    try:
        load_isic2016(root, split)
    except (FileNotFoundError, ValueError):
        return False
    return True


def _synthderm_counts(profile: config.Profile) -> tuple[int, int]:
    # "All of it" for SynthDerm means as many images as ISIC 2016 has.
    n_train = profile.n_train if profile.n_train is not None else ISIC2016_COUNTS["train"][0]
    n_test = profile.n_test if profile.n_test is not None else ISIC2016_COUNTS["test"][0]
    return n_train, n_test


def prepare_data(profile: config.Profile | str | None, split: str, *,
                 download: bool = False) -> DatasetRecord:
    """The ``split`` ("train" or "test") of the profile's data source, ready for load_arrays.

    Taught in 01_data_and_augmentation. ``profile``: a Profile or its name (``None``: default).
    SynthDerm is generated once under :func:`synthderm_root`; ISIC 2016 is read from
    ``<data_dir>/isic2016`` and, when missing, downloaded with ``download=True`` (as
    ``data.load_splits`` asks) after printing its size, else ``FileNotFoundError`` says how to
    get it (never a SynthDerm fallback). ``profile.n_train`` / ``n_test`` (when not None) pick a
    stratified subset seeded by ``profile.seed``.
    """
    profile = config.as_profile(profile)
    _check_split(split)
    wanted = profile.n_train if split == "train" else profile.n_test
    if profile.data_source == "synthderm":
        n_train, n_test = _synthderm_counts(profile)
        root = make_synthderm(synthderm_root(profile), n_train, n_test,
                              image_size=profile.synth_image_size, seed=profile.seed)
        record = load_synthderm(root, split)
    elif profile.data_source == "isic2016":
        root = config.data_dir() / "isic2016"
        if download and not _isic_ready(root, split):
            print(download_estimate(root), flush=True)
            download_isic2016(root)
        try:
            record = load_isic2016(root, split)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"ISIC 2016 is not in {root} ({err}). Download it with "
                "`course download isic2016` in a terminal, or in Python "
                "`from course_lib.data import download_isic2016; download_isic2016()`. Without "
                "internet access, download the official files by hand from "
                "https://challenge.isic-archive.com/data/#2016 (Part 1 training/test data and "
                "ground truth, Part 3 ground-truth CSVs), put them in that folder and run the "
                "download command once to check and extract them. Or use the offline "
                "'smoke' profile (SynthDerm).") from None
    else:
        raise ValueError(f"Unknown data_source {profile.data_source!r} in profile "
                         f"{profile.name!r}; use 'synthderm' or 'isic2016'.")
    if wanted is not None:
        if wanted > len(record):
            warnings.warn(f"Profile {profile.name!r} asks for {wanted} {split} images but only "
                          f"{len(record)} exist: using all of them.", stacklevel=2)
        else:
            record = record.stratified_subset(wanted, seed=profile.seed)
    return record
