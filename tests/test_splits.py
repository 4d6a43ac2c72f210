"""Tests of course_lib.data.splits: the split by source image that comes before any expansion,
the paper's leaky split of the expanded set, and the leak measure."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib import augment, data

PAPER_LABELS = np.array([0] * 727 + [1] * 173)


def test_split_functions_are_exported_by_data():
    from course_lib.data import splits

    for name in ("split_by_source", "naive_split_after_expansion", "leak_fraction"):
        assert getattr(data, name) is getattr(splits, name)
        assert name in data.__all__ and name in splits.__all__
        assert not hasattr(augment, name)  # one home: course_lib.data


def test_split_by_source_is_stratified_and_disjoint():
    train, val = data.split_by_source(900, PAPER_LABELS, val_fraction=0.2, seed=0)
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(900))
    # round(0.2 x 727) = 145 benign and round(0.2 x 173) = 35 melanoma sources in validation
    assert np.bincount(PAPER_LABELS[val]).tolist() == [145, 35]
    again = data.split_by_source(900, PAPER_LABELS, val_fraction=0.2, seed=0)
    np.testing.assert_array_equal(again[1], val)


def test_split_by_source_after_expansion_has_no_leak_but_naive_split_leaks():
    plan = augment.classification_plan(PAPER_LABELS, 4430)
    source = np.repeat(np.arange(900), [plan.multipliers[label] for label in PAPER_LABELS])
    labels = PAPER_LABELS[source]
    assert source.size == 4430
    train, val = data.split_by_source(source, labels, val_fraction=0.2, seed=0)
    assert data.leak_fraction(source[train], source[val]) == 0.0
    assert np.intersect1d(source[train], source[val]).size == 0
    naive_train, naive_val = data.naive_split_after_expansion(labels, val_fraction=0.2, seed=0)
    assert abs(naive_val.size / 4430 - 0.2) < 0.01
    leak = data.leak_fraction(source[naive_train], source[naive_val])
    assert leak > 0.7  # nearly every validation image has a rotated/mirrored twin in training


def test_leak_fraction_hand_computed():
    assert data.leak_fraction([1, 2, 3], [3, 4, 5, 1]) == 0.5
    with pytest.raises(ValueError, match="empty"):
        data.leak_fraction([1], [])
