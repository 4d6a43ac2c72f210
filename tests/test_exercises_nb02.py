"""Exercises of 02_pair_sampling: a correct answer per exercise passes its check, and at least
three plausible wrong answers (mistakes students make) are rejected; the stubs of the exercise
copy report "not implemented"; the library references pass their own checks."""
from __future__ import annotations

import numpy as np

from course_lib import pairs
from exercise_probe import rejected


# ------------------------------------------------------------------------------ right answers
def method1_right(labels, rng):
    labels = np.asarray(labels)
    n = labels.size
    partner = np.zeros(n, dtype=np.int64)
    order = rng.permutation(n)
    spare = []
    for label in (0, 1):
        members = [i for i in order if labels[i] == label]
        while len(members) >= 2:
            a, b = members.pop(0), members.pop(0)
            partner[a], partner[b] = b, a
        spare += members
    if len(spare) == 2:
        partner[spare[0]], partner[spare[1]] = spare[1], spare[0]
    elif len(spare) == 1:
        i = spare[0]
        same = [j for j in range(n) if j != i and labels[j] == labels[i]]
        pool = same or [j for j in range(n) if j != i]
        partner[i] = rng.choice(pool) if pool else i
    return partner


def expected_same_right(p):
    return p * p + (1 - p) * (1 - p)


def method2_right(labels, rng):
    n = len(labels)
    first, second = rng.permutation(n), rng.permutation(n)
    return second[np.argsort(first)]


def schedule_right(n_batches, ratio=(1, 4)):
    block = ratio[0] + ratio[1]
    return ["method1" if i % block < ratio[0] else "method2" for i in range(n_batches)]


def stats_right(labels, partner):
    labels, partner = np.asarray(labels), np.asarray(partner)
    other = labels[partner]
    return {"n_pairs": len(labels), "same_class_fraction": np.mean(labels == other),
            "melanoma_involved_fraction": np.mean((labels == 1) | (other == 1)),
            "both_melanoma_fraction": np.mean((labels == 1) & (other == 1)),
            "self_pair_fraction": np.mean(partner == np.arange(len(labels)))}


def batch_right(images, labels, first, second):
    one_hot = np.eye(2, dtype=np.float32)
    same = (labels[first] == labels[second]).astype(int)
    return ((images[first].astype(np.float32), images[second].astype(np.float32)),
            (one_hot[labels[first]], one_hot[labels[second]], one_hot[same]))


# ------------------------------------------------------------------------------ wrong answers
def method1_cyclic_rotation(labels, rng):
    """Within each shuffled class, each member points to the next one (a cycle, not swaps)."""
    labels = np.asarray(labels)
    partner = np.arange(labels.size)
    order = rng.permutation(labels.size)
    for label in np.unique(labels):
        members = order[labels[order] == label]
        if members.size > 1:
            partner[members] = np.roll(members, -1)
        elif labels.size > 1:
            partner[members] = order[order != members[0]][0]
    return partner


def method1_unshuffled(labels, rng):
    """Swaps same-class members in their original order: no randomness at all."""
    return pairs.method1_indices(labels, np.random.default_rng(0))


def method1_method2(labels, rng):
    """Label-blind random partners (that is Method2)."""
    return pairs.method2_indices(labels, rng)


def method1_leftovers_to_self(labels, rng):
    """Forgets step 3: the leftovers of odd classes are paired with themselves."""
    labels = np.asarray(labels)
    partner = np.arange(labels.size)
    order = rng.permutation(labels.size)
    for label in np.unique(labels):
        members = order[labels[order] == label]
        for a, b in zip(members[0::2], members[1::2]):
            partner[a], partner[b] = b, a
    return partner


def method1_global_np_random(labels, rng):
    """Draws from np.random instead of the rng argument."""
    return pairs.method1_indices(labels, np.random.default_rng(np.random.randint(1 << 30)))


def same_different_share(p):
    return 2 * p * (1 - p)


def same_only_melanoma(p):
    return p ** 2


def same_forgot_square(p):
    return p ** 2 + (1 - p)


def same_one_minus(p):
    return 1 - p ** 2


def method2_inverse(labels, rng):
    n = len(labels)
    first, second = rng.permutation(n), rng.permutation(n)
    partner = np.empty(n, dtype=np.int64)
    partner[second] = first
    return partner


def method2_one_read(labels, rng):
    n = len(labels)
    rng.permutation(n)
    return rng.permutation(n)


def method2_no_self_pairs(labels, rng):
    partner = pairs.method2_indices(labels, rng)
    n = len(labels)
    for i in np.flatnonzero(partner == np.arange(n)):
        if n > 1:
            j = (i + 1) % n
            partner[i], partner[j] = partner[j], partner[i]
    return partner


def method2_second_first(labels, rng):
    n = len(labels)
    second, first = rng.permutation(n), rng.permutation(n)
    partner = np.empty(n, dtype=np.int64)
    partner[first] = second
    return partner


def schedule_method1_last(n_batches, ratio=(1, 4)):
    block = ratio[0] + ratio[1]
    return ["method1" if i % block >= ratio[1] else "method2" for i in range(n_batches)]


def schedule_swapped_ratio(n_batches, ratio=(1, 4)):
    block = ratio[0] + ratio[1]
    return ["method1" if i % block < ratio[1] else "method2" for i in range(n_batches)]


def schedule_one_based(n_batches, ratio=(1, 4)):
    block = ratio[0] + ratio[1]
    return ["method1" if (i + 1) % block < ratio[0] else "method2" for i in range(n_batches)]


def schedule_whole_blocks(n_batches, ratio=(1, 4)):
    block = ["method1"] * ratio[0] + ["method2"] * ratio[1]
    return block * max(1, round(n_batches / len(block)))


def stats_swapped_involved(labels, partner):
    result = stats_right(labels, partner)
    result["melanoma_involved_fraction"], result["both_melanoma_fraction"] = (
        result["both_melanoma_fraction"], result["melanoma_involved_fraction"])
    return result


def stats_partner_as_labels(labels, partner):
    labels, partner = np.asarray(labels), np.asarray(partner)
    result = stats_right(labels, partner)
    result["same_class_fraction"] = np.mean(labels == partner)
    return result


def stats_self_by_label(labels, partner):
    result = stats_right(labels, partner)
    labels = np.asarray(labels)
    result["self_pair_fraction"] = np.mean(labels == labels[np.asarray(partner)]) * 0
    return result


def stats_counts_not_fractions(labels, partner):
    labels, partner = np.asarray(labels), np.asarray(partner)
    result = stats_right(labels, partner)
    result["same_class_fraction"] = int(np.sum(labels == labels[partner]))
    return result


def batch_same_columns_swapped(images, labels, first, second):
    (x1, x2), (y1, y2, same) = batch_right(images, labels, first, second)
    return (x1, x2), (y1, y2, same[:, ::-1])


def batch_y2_from_first(images, labels, first, second):
    (x1, x2), (y1, y2, same) = batch_right(images, labels, first, second)
    return (x1, x2), (y1, y1, same)


def batch_uint8_images(images, labels, first, second):
    (x1, x2), targets = batch_right(images, labels, first, second)
    return (images[first], images[second]), targets


def batch_integer_labels(images, labels, first, second):
    (x1, x2), (y1, y2, same) = batch_right(images, labels, first, second)
    return (x1, x2), (labels[first].astype(np.float32), labels[second].astype(np.float32),
                      (labels[first] == labels[second]).astype(np.float32))


def batch_scaled_images(images, labels, first, second):
    (x1, x2), targets = batch_right(images, labels, first, second)
    return (x1 / 255.0, x2 / 255.0), targets


RIGHT_ANSWERS = {"2.1": method1_right, "2.2": expected_same_right, "2.3": method2_right,
                 "2.4": schedule_right, "2.5": stats_right, "2.6": batch_right}
WRONG_ANSWERS = {
    "2.1": [method1_cyclic_rotation, method1_unshuffled, method1_method2,
            method1_leftovers_to_self, method1_global_np_random],
    "2.2": [same_different_share, same_only_melanoma, same_forgot_square, same_one_minus],
    "2.3": [method2_inverse, method2_one_read, method2_no_self_pairs, method2_second_first],
    "2.4": [schedule_method1_last, schedule_swapped_ratio, schedule_one_based,
            schedule_whole_blocks],
    "2.5": [stats_swapped_involved, stats_partner_as_labels, stats_self_by_label,
            stats_counts_not_fractions],
    "2.6": [batch_same_columns_swapped, batch_y2_from_first, batch_uint8_images,
            batch_integer_labels, batch_scaled_images],
}
REFERENCES = {"2.1": pairs.method1_indices, "2.2": pairs.expected_same_fraction,
              "2.3": pairs.method2_indices,
              "2.4": pairs.schedule, "2.5": pairs.pair_statistics, "2.6": pairs.pair_batch}


def test_cyclic_rotation_message_names_the_swap():
    message = rejected("2.1", method1_cyclic_rotation)
    assert "not paired back" in message and "EXCHANGES" in message


def test_inverse_method2_message_explains():
    assert "INVERSE" in rejected("2.3", method2_inverse)
