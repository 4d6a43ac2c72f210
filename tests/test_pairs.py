"""Tests of course_lib.pairs: Method1 / Method2, the 1:4 schedule, statistics, PairSequence."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib import pairs

# ISIC-like labels: 1 melanoma for 4 benign, shuffled.
RATIO_LABELS = np.random.default_rng(0).permutation(np.array([0] * 800 + [1] * 200))


def is_permutation(partner, n):
    return partner.shape == (n,) and np.array_equal(np.sort(partner), np.arange(n))


# --------------------------------------------------------------------------------------------
# Method1 / Method2
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", [pairs.method1_indices, pairs.method2_indices])
@pytest.mark.parametrize("n", [1, 2, 7, 32, 33])
def test_partners_are_valid_indices(method, n):
    labels = np.random.default_rng(n).integers(0, 2, n)
    partner = method(labels, np.random.default_rng(1))
    assert partner.shape == (n,) and np.issubdtype(partner.dtype, np.integer)
    assert partner.min() >= 0 and partner.max() < n
    if method is pairs.method2_indices or n % 2 == 0:
        assert is_permutation(partner, n)


def test_method1_swaps_pairs_and_avoids_self_pairs():
    for seed in range(20):
        labels = np.random.default_rng(seed).integers(0, 2, 32)
        partner = pairs.method1_indices(labels, np.random.default_rng(seed))
        np.testing.assert_array_equal(partner[partner], np.arange(32))  # i <-> j swaps
        assert np.all(partner != np.arange(32))
        # At most one different-class pair (the two odd leftovers), seen from both sides.
        different = np.sum(labels != labels[partner])
        expected = 2 if np.bincount(labels, minlength=2)[0] % 2 else 0
        assert different == expected


def test_method1_hand_computed():
    partner = pairs.method1_indices(np.array([0, 0, 1, 1]), np.random.default_rng(3))
    np.testing.assert_array_equal(partner, [1, 0, 3, 2])
    # 3 benign + 1 melanoma: one benign pair, and the odd benign pairs with the melanoma.
    labels = np.array([0, 0, 0, 1])
    for seed in range(5):
        partner = pairs.method1_indices(labels, np.random.default_rng(seed))
        assert np.mean(labels == labels[partner]) == 0.5
        assert labels[partner[3]] == 0
    # A single sample can only be paired with itself.
    np.testing.assert_array_equal(pairs.method1_indices(np.array([1]), 0), [0])


def test_method1_gives_far_more_same_class_pairs_than_method2():
    rng = np.random.default_rng(0)
    same1 = pairs.pair_statistics(RATIO_LABELS, pairs.method1_indices(RATIO_LABELS, rng))
    same2 = pairs.pair_statistics(RATIO_LABELS, pairs.method2_indices(RATIO_LABELS, rng))
    assert same1["same_class_fraction"] > 0.95
    assert same2["same_class_fraction"] < 0.8
    # Method2 is label-blind: about 0.8^2 + 0.2^2 = 0.68 same-class pairs.
    assert abs(same2["same_class_fraction"] - 0.68) < 0.05


def test_methods_are_deterministic_for_a_seed():
    for method in (pairs.method1_indices, pairs.method2_indices):
        first = method(RATIO_LABELS, np.random.default_rng(9))
        second = method(RATIO_LABELS, np.random.default_rng(9))
        np.testing.assert_array_equal(first, second)
        assert not np.array_equal(first, method(RATIO_LABELS, np.random.default_rng(10)))


def test_label_errors():
    with pytest.raises(ValueError, match="argmax"):
        pairs.method1_indices(np.eye(2, dtype=int), 0)
    with pytest.raises(ValueError, match="integer"):
        pairs.method2_indices(np.array([0.0, 1.0]), 0)


# --------------------------------------------------------------------------------------------
# Schedule
# --------------------------------------------------------------------------------------------

def test_schedule_is_exactly_one_to_four():
    methods = pairs.schedule(10)
    assert methods == (["method1"] + ["method2"] * 4) * 2
    assert methods.count("method1") == 2 and methods.count("method2") == 8
    seeded = pairs.schedule(10, seed=3)
    for block in (seeded[:5], seeded[5:]):
        assert block.count("method1") == 1
    assert pairs.schedule(7) == ["method1", "method2", "method2", "method2", "method2",
                                 "method1", "method2"]
    assert pairs.schedule(3, ratio=(1, 0)) == ["method1"] * 3
    with pytest.raises(ValueError, match="ratio"):
        pairs.schedule(5, ratio=(0, 0))


def test_epoch_pairs_follow_the_schedule():
    first, second, methods = pairs.epoch_pairs(RATIO_LABELS, 32, np.random.default_rng(0))
    assert is_permutation(first, 1000)  # every sample is x1 exactly once per epoch
    assert len(methods) == 32 and methods.count("method1") == 7  # blocks 0,5,...,30
    for batch, method in enumerate(methods):
        a, b = first[batch * 32:(batch + 1) * 32], second[batch * 32:(batch + 1) * 32]
        if method == "method1":
            assert set(b) == set(a)  # partners come from the same batch
            assert np.mean(RATIO_LABELS[a] == RATIO_LABELS[b]) >= 30 / 32


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------

def test_pair_statistics_hand_computed():
    labels = np.array([0, 1, 1, 0])
    stats = pairs.pair_statistics(labels, np.array([1, 0, 3, 2]))
    assert stats == {"n_pairs": 4, "same_class_fraction": 0.0, "melanoma_involved_fraction": 1.0,
                     "both_melanoma_fraction": 0.0, "self_pair_fraction": 0.0}
    stats = pairs.pair_statistics(labels, np.array([3, 2, 1, 0]))
    assert stats["same_class_fraction"] == 1.0
    assert stats["melanoma_involved_fraction"] == 0.5 and stats["both_melanoma_fraction"] == 0.5
    assert pairs.pair_statistics(labels, np.arange(4))["self_pair_fraction"] == 1.0
    with pytest.raises(ValueError, match="outside"):
        pairs.pair_statistics(labels, np.array([0, 1, 2, 4]))


def test_method_statistics_orders_the_methods():
    stats = pairs.method_statistics(RATIO_LABELS, n_draws=3, batch_size=32, seed=0)
    method1, method2, mixed = stats["method1"], stats["method2"], stats["schedule 1:4"]
    assert method1["same_class_fraction"] > 0.95 > 0.8 > method2["same_class_fraction"]
    assert method2["same_class_fraction"] < mixed["same_class_fraction"] < \
        method1["same_class_fraction"]
    # Method2 involves melanoma in about 1 - 0.8^2 = 0.36 of pairs, Method1 in about 0.2.
    assert abs(method2["melanoma_involved_fraction"] - 0.36) < 0.04
    assert abs(method1["melanoma_involved_fraction"] - 0.2) < 0.04
    assert set(pairs.method_statistics(RATIO_LABELS, n_draws=1, batch_size=None)) == \
        {"method1", "method2"}


# --------------------------------------------------------------------------------------------
# PairSequence
# --------------------------------------------------------------------------------------------

def toy_data(n=50, size=8):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    labels = rng.permutation(np.array([0] * (n - n // 5) + [1] * (n // 5)))
    return images, labels


def test_pair_sequence_batches_shapes_dtypes_and_same_encoding():
    images, labels = toy_data()
    sequence = pairs.PairSequence(images, labels, batch_size=8, seed=0)
    assert len(sequence) == 7 and sequence.methods[0] == "method1"
    (x1, x2), (y1, y2, same) = sequence[0]
    assert x1.shape == x2.shape == (8, 8, 8, 3) and x1.dtype == x2.dtype == np.float32
    assert y1.shape == y2.shape == same.shape == (8, 2)
    assert y1.dtype == y2.dtype == same.dtype == np.float32
    first, second = sequence.batch_indices(0)
    np.testing.assert_array_equal(x1, images[first].astype(np.float32))
    np.testing.assert_array_equal(x2, images[second].astype(np.float32))
    np.testing.assert_array_equal(y1.argmax(1), labels[first])
    np.testing.assert_array_equal(y2.argmax(1), labels[second])
    np.testing.assert_array_equal(same[:, 1], (labels[first] == labels[second]).astype(np.float32))
    np.testing.assert_array_equal(same.sum(axis=1), np.ones(8))
    (last_x1, _), _ = sequence[6]
    assert last_x1.shape[0] == 2  # 50 = 6 x 8 + 2


def test_pair_sequence_output_names_dict():
    images, labels = toy_data()
    sequence = pairs.PairSequence(images, labels, batch_size=8, seed=0,
                                  output_names=("cls1", "cls2", "same"))
    _, targets = sequence[1]
    assert set(targets) == {"cls1", "cls2", "same"}
    plain = pairs.PairSequence(images, labels, batch_size=8, seed=0)[1][1]
    np.testing.assert_array_equal(targets["same"], plain[2])


def test_pair_sequence_reshuffles_each_epoch_and_is_deterministic():
    images, labels = toy_data()
    sequence = pairs.PairSequence(images, labels, batch_size=8, seed=4)
    twin = pairs.PairSequence(images, labels, batch_size=8, seed=4)
    other = pairs.PairSequence(images, labels, batch_size=8, seed=5)
    epoch0 = (sequence.first.copy(), sequence.second.copy())
    np.testing.assert_array_equal(twin[3][0][1], sequence[3][0][1])
    assert not np.array_equal(other.first, sequence.first)
    sequence.on_epoch_end()
    assert sequence.epoch == 1
    assert not np.array_equal(sequence.first, epoch0[0])
    assert not np.array_equal(sequence.second, epoch0[1])
    twin.on_epoch_end()
    np.testing.assert_array_equal(twin[2][0][0], sequence[2][0][0])
    sequence.set_epoch(0)
    np.testing.assert_array_equal(sequence.first, epoch0[0])


def test_pair_sequence_augment_and_errors():
    images, labels = toy_data()

    def flip(image, rng):
        return image[:, ::-1] if rng.random() < 2 else image  # always flips, uses the rng

    sequence = pairs.PairSequence(images, labels, batch_size=8, seed=0, augment=flip)
    (x1, _), _ = sequence[0]
    first, _ = sequence.batch_indices(0)
    np.testing.assert_array_equal(x1, images[first][:, :, ::-1].astype(np.float32))
    with pytest.raises(ValueError, match="one image per label"):
        pairs.PairSequence(images[:10], labels, batch_size=8)
    with pytest.raises(ValueError, match=r"0 \(benign\) and 1 \(melanoma\) only"):
        pairs.PairSequence(images, labels + 1, batch_size=8)
    with pytest.raises(ValueError, match="output_names"):
        pairs.PairSequence(images, labels, batch_size=8, output_names=("a", "b"))
    with pytest.raises(IndexError):
        sequence[7]


def test_pair_sequence_trains_a_tiny_three_head_model():
    import keras
    from keras import layers

    images, labels = toy_data(n=24, size=8)
    input1, input2 = keras.Input((8, 8, 3)), keras.Input((8, 8, 3))
    encoder = keras.Sequential([layers.Rescaling(1 / 255), layers.GlobalAveragePooling2D()])
    features1, features2 = encoder(input1), encoder(input2)
    cls1 = layers.Dense(2, activation="softmax", name="cls1")(features1)
    cls2 = layers.Dense(2, activation="softmax", name="cls2")(features2)
    difference = layers.Lambda(lambda pair: (pair[0] - pair[1]) ** 2)([features1, features2])
    same = layers.Dense(2, activation="softmax", name="same")(difference)
    model = keras.Model([input1, input2], [cls1, cls2, same])
    model.compile("adam", loss={"cls1": "categorical_crossentropy",
                                "cls2": "categorical_crossentropy",
                                "same": "categorical_crossentropy"},
                  loss_weights={"cls1": 1.0, "cls2": 1.0, "same": 0.5})
    sequence = pairs.PairSequence(images, labels, batch_size=8, seed=0,
                                  output_names=("cls1", "cls2", "same"))
    history = model.fit(sequence, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.all(np.isfinite(history.history["loss"]))
    # fit calls on_epoch_end after every epoch (Keras 3.15 also once before the first one).
    assert sequence.epoch >= 2


# --------------------------------------------------------------------------------------------
# Injection points: the student's functions drive epochs, statistics and PairSequence
# --------------------------------------------------------------------------------------------

def test_epoch_pairs_defaults_equal_explicit_course_functions():
    labels = RATIO_LABELS[:100]
    default = pairs.epoch_pairs(labels, 16, np.random.default_rng(4))
    explicit = pairs.epoch_pairs(labels, 16, np.random.default_rng(4),
                                 method1=pairs.method1_indices, method2=pairs.method2_indices,
                                 schedule_fn=pairs.schedule)
    for a, b in zip(default, explicit):
        np.testing.assert_array_equal(a, b)


def test_epoch_pairs_uses_the_given_functions():
    labels = RATIO_LABELS[:40]
    calls = []

    def method1(batch_labels, rng):
        calls.append(("method1", batch_labels.size))
        return np.arange(batch_labels.size)[::-1].copy()

    def schedule_fn(n_batches, ratio):
        calls.append(("schedule", n_batches, ratio))
        return ["method1"] * n_batches

    first, second, methods = pairs.epoch_pairs(labels, 10, 0, method1=method1,
                                               schedule_fn=schedule_fn)
    assert methods == ["method1"] * 4
    assert calls[0] == ("schedule", 4, (1, 4)) and calls.count(("method1", 10)) == 4
    np.testing.assert_array_equal(second[:10], first[:10][::-1])


def test_epoch_pairs_rejects_a_bad_schedule_and_a_seed_with_own_schedule():
    with pytest.raises(ValueError, match="'method1' or 'method2'"):
        pairs.epoch_pairs(RATIO_LABELS[:20], 10, 0, schedule_fn=lambda n, r: ["m1"] * n)
    with pytest.raises(ValueError, match="schedule_seed"):
        pairs.epoch_pairs(RATIO_LABELS[:20], 10, 0, schedule_seed=1, schedule_fn=pairs.schedule)


def test_method_statistics_uses_the_given_statistics_and_methods():
    labels = RATIO_LABELS[:64]
    default = pairs.method_statistics(labels, n_draws=3, batch_size=16, seed=1)
    same = pairs.method_statistics(labels, n_draws=3, batch_size=16, seed=1,
                                   method1=pairs.method1_indices, method2=pairs.method2_indices,
                                   schedule_fn=pairs.schedule, statistics=pairs.pair_statistics)
    assert default == same
    fixed = pairs.method_statistics(labels, n_draws=2, batch_size=16,
                                    statistics=lambda labels, partner: {"n_pairs": 1, "x": 0.5})
    assert fixed["method1"] == {"n_pairs": 1, "x": 0.5}


def test_pair_batch_matches_pair_sequence_and_one_hot_encodings():
    images = np.random.default_rng(0).integers(0, 256, (6, 3, 3, 3), dtype=np.uint8)
    labels = np.array([0, 1, 1, 0, 0, 1])
    (x1, x2), (y1, y2, same) = pairs.pair_batch(images, labels, np.array([0, 1]),
                                                np.array([3, 2]))
    assert x1.dtype == np.float32 and np.array_equal(x2[0], images[3].astype(np.float32))
    np.testing.assert_array_equal(y1, [[1, 0], [0, 1]])
    np.testing.assert_array_equal(same, [[0, 1], [0, 1]])
    sequence = pairs.PairSequence(images, labels, batch_size=4, seed=2)
    first, second = sequence.batch_indices(0)
    expected = pairs.pair_batch(images, labels, first, second)
    got = sequence[0]
    for a, b in zip((*got[0], *got[1]), (*expected[0], *expected[1])):
        np.testing.assert_array_equal(a, b)


def test_pair_sequence_uses_make_batch_and_the_methods():
    images = np.zeros((8, 2, 2, 3), np.uint8)
    labels = np.array([0, 1, 0, 1, 0, 0, 1, 0])
    seen = []

    def make_batch(images, labels, first, second):
        seen.append((first.copy(), second.copy()))
        return pairs.pair_batch(images, labels, first, second)

    sequence = pairs.PairSequence(images, labels, batch_size=4, seed=0, make_batch=make_batch,
                                  schedule_fn=lambda n, ratio: ["method2"] * n,
                                  output_names=("cls1", "cls2", "same"))
    _, targets = sequence[1]
    assert sequence.methods == ["method2", "method2"] and set(targets) == {"cls1", "cls2", "same"}
    np.testing.assert_array_equal(seen[0][0], sequence.batch_indices(1)[0])


def test_expected_same_fraction():
    assert pairs.expected_same_fraction(0.2) == pytest.approx(0.68)
    assert pairs.expected_same_fraction(0.5) == pytest.approx(0.5)
