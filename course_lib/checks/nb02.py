"""Checks for the exercises of 02_pair_sampling.

2.1 (Method1's partners) is random, so it is checked through properties every correct answer
has, on many label arrays: valid indices, nobody paired with itself, x2 a rearrangement of x1,
the largest possible share of same-class pairs, randomness from the ``rng`` argument only.
2.2 is compared with values computed by hand; 2.3 (Method2), 2.4 (the 1:4 schedule), 2.5 (pair
statistics) and 2.6 (one batch of pairs) with the course's functions in ``course_lib.pairs`` on
the same inputs and seeds (asymmetric labels, odd sizes, 0/1 and one-hot cases).
"""
from __future__ import annotations

import numpy as np

from . import CheckFailed, describe, expect_close, expect_true, register


def _partner_array(result, n, what):
    if not isinstance(result, np.ndarray):
        try:
            result = np.asarray(result)
        except Exception:  # noqa: BLE001 - reported below
            raise CheckFailed(f"{what} returned {describe(result)}, expected a 1-D int array "
                              f"of length {n}") from None
    if result.shape != (n,) or not np.issubdtype(result.dtype, np.integer):
        raise CheckFailed(f"{what} returned {describe(result)}, expected a 1-D int array of "
                          f"length {n} (partner[i] = the index paired with sample i)")
    return result


def _label_cases():
    rng = np.random.default_rng(2)
    cases = [
        ("a batch of 32 with 7 melanomas", np.array([0] * 25 + [1] * 7)),
        ("a batch of 32 with 8 melanomas", np.array([0] * 24 + [1] * 8)),
        ("a batch of 9 with 2 melanomas", np.array([0] * 7 + [1] * 2)),
        ("a batch of 8 with one melanoma", np.array([0] * 7 + [1])),
        ("a batch of 6, all benign", np.zeros(6, np.int64)),
        ("the batch [0, 1]", np.array([0, 1])),
    ]
    cases = [(name, rng.permutation(labels)) for name, labels in cases]
    for n in (16, 33):
        cases.append((f"random labels of length {n}", (rng.random(n) < 0.2).astype(np.int64)))
    return cases


@register("2.1", title="Method1's partners",
          hint="shuffle the positions with rng.permutation(n); within each class take the "
               "shuffled members two by two and swap them (partner[a] = b, partner[b] = a); "
               "pair the leftovers (at most one per class) with each other; with an odd n the "
               "last sample points to another sample of its class")
def check_method1_partner(method1_partner):
    n_cases = 0
    for seed, (name, labels) in enumerate(_label_cases()):
        n = labels.size
        what = f"method1_partner(labels, rng) on {name}"
        before = labels.copy()
        partner = _partner_array(method1_partner(labels, np.random.default_rng(seed)), n, what)
        expect_true(np.array_equal(labels, before), f"{what} changed the labels passed in")
        expect_true(partner.min() >= 0 and partner.max() < n,
                    f"{what} returned indices outside 0..{n - 1}: {describe(partner)}")
        selves = np.flatnonzero(partner == np.arange(n))
        expect_true(selves.size == 0,
                    f"{what} paired sample {int(selves[0]) if selves.size else 0} with itself; "
                    "a pair needs two different images")
        distinct = np.unique(partner).size
        expect_true(distinct >= n - 1,
                    f"{what}: only {distinct} different samples appear as partners; x2 must be "
                    "a rearrangement of x1 (swap indices), so every sample is used about once")
        one_way = np.flatnonzero(partner[partner] != np.arange(n))
        allowed = n % 2  # an odd batch leaves one sample that points one way
        expect_true(one_way.size <= allowed,
                    f"{what}: sample {int(one_way[0]) if one_way.size else 0} is paired with "
                    f"{int(partner[one_way[0]]) if one_way.size else 0}, but that sample is not "
                    f"paired back with it ({one_way.size} such one-way pairs; "
                    f"{'one is' if allowed else 'none are'} allowed). The paper EXCHANGES the "
                    "two position indices: partner[a] = b and partner[b] = a, not a rotation")
        counts = np.bincount(labels, minlength=2)
        n_odd_classes = int(np.sum(counts % 2 == 1))
        same = int(np.sum(labels == labels[partner]))
        best = n - n_odd_classes if n % 2 == 0 else n - max(n_odd_classes - 1, 0)
        expect_true(same >= best,
                    f"{what} made {same} of {n} pairs same-class; {best} are possible (only "
                    "the leftover of a class with an odd count needs a partner from the other "
                    "class)")
        n_cases += 1
    # Randomness comes from rng, and only from rng.
    labels = _label_cases()[0][1]
    what = "method1_partner(labels, rng) on a batch of 32"
    first = _partner_array(method1_partner(labels, np.random.default_rng(7)), 32, what)
    again = _partner_array(method1_partner(labels, np.random.default_rng(7)), 32, what)
    expect_true(np.array_equal(first, again),
                f"{what} gave different partners for two generators seeded 7; draw every random "
                "number from the rng argument (not np.random)")
    draws = [_partner_array(method1_partner(labels, np.random.default_rng(seed)), 32, what)
             for seed in range(30)]
    distinct_batches = len({draw.tobytes() for draw in draws})
    partners_of_first = len({int(draw[0]) for draw in draws})
    expect_true(distinct_batches >= 20 and partners_of_first >= 5,
                f"{what}: 30 different seeds gave only {distinct_batches} different partner "
                f"arrays, and sample 0 met only {partners_of_first} different partners; shuffle "
                "with rng.permutation before pairing")
    return (f"{n_cases} label arrays (odd and even sizes, one melanoma, one class only): valid, "
            "index exchanges (a <-> b), nobody paired with itself, as many same-class pairs as "
            "possible, random and repeatable for a seeded rng")


@register("2.2", title="expected share of same-class pairs under Method2",
          hint="a random pair is same-class when both are melanoma (probability p * p) or "
               "both are benign ((1 - p) * (1 - p)); add the two")
def check_expected_same_fraction(expected_same_fraction):
    cases = [
        (0.5, 0.5),     # 0.25 + 0.25
        (0.2, 0.68),    # 0.04 + 0.64: the ISIC 1:4 ratio
        (0.1, 0.82),    # 0.01 + 0.81
        (0.3, 0.58),    # 0.09 + 0.49
        (0.0, 1.0),     # only benign: every pair is same-class
        (1.0, 1.0),     # only melanoma
    ]
    for p, expected in cases:
        what = f"expected_same_fraction({p})"
        result = expected_same_fraction(p)
        if isinstance(result, (int, float, np.number)) and not isinstance(result, bool):
            if abs(float(result) - (1 - expected)) < 1e-9 and abs(expected - 0.5) > 1e-9:
                raise CheckFailed(f"{what} returned {describe(float(result))}, the share of "
                                  f"DIFFERENT-class pairs; expected the same-class share "
                                  f"{describe(expected)}")
        expect_close(result, expected, what, rtol=1e-9, atol=1e-9)
    return (f"{len(cases)} hand-computed cases match, e.g. p = 0.2 (ISIC's 1:4) gives 0.68")


def _label_arrays():
    rng = np.random.default_rng(11)
    return [
        ("a batch of 10 with 3 melanomas", np.array([0, 1, 0, 0, 1, 0, 0, 0, 0, 1])),
        ("a batch of 7 with 2 melanomas", np.array([1, 0, 0, 0, 1, 0, 0])),
        ("32 random labels", (rng.random(32) < 0.25).astype(np.int64)),
        ("a batch of 2", np.array([0, 1])),
        ("a batch of 1", np.array([1])),
    ]


@register("2.3", title="Method2's partners",
          hint="first = rng.permutation(n), then second = rng.permutation(n) (in this order); the "
               "j-th sample of the first read is paired with the j-th of the second: "
               "partner[first[j]] = second[j]")
def check_method2_partner(method2_partner):
    from course_lib import pairs

    for seed, (name, labels) in enumerate(_label_arrays()):
        n = labels.size
        what = f"method2_partner(labels, rng) on {name} (rng seeded {seed})"
        before = labels.copy()
        partner = _partner_array(method2_partner(labels, np.random.default_rng(seed)), n, what)
        expect_true(np.array_equal(labels, before), f"{what} changed the labels passed in")
        expect_true(np.array_equal(np.sort(partner), np.arange(n)),
                    f"{what} returned {describe(partner)}: not every sample appears exactly once "
                    "as a partner; the second read is a permutation of the whole batch")
        expected = pairs.method2_indices(labels, np.random.default_rng(seed))
        if not np.array_equal(partner, expected):
            rng = np.random.default_rng(seed)
            first, second = rng.permutation(n), rng.permutation(n)
            detail = ""
            if np.array_equal(partner[expected], np.arange(n)):
                detail = ("; yours is the INVERSE permutation: you paired second[j] with "
                          "first[j] instead of first[j] with second[j]")
            elif np.array_equal(partner, second) or np.array_equal(partner, first):
                detail = "; you returned one read itself instead of pairing the two reads"
            raise CheckFailed(f"{what} returned {describe(partner)}, expected "
                              f"{describe(expected)} (first read {describe(first)}, second read "
                              f"{describe(second)}){detail}")
    labels = _label_arrays()[2][1]
    what = "method2_partner(labels, rng) on 32 random labels"
    other = _partner_array(method2_partner(labels, np.random.default_rng(99)), 32, what)
    expect_true(np.array_equal(other, pairs.method2_indices(labels, np.random.default_rng(99))),
                f"{what} with rng seeded 99 does not follow the generator; draw both reads "
                "from the rng argument")
    return (f"{len(_label_arrays())} batches (sizes 1 to 32): the same partners as "
            "pairs.method2_indices for the same seeds")


_SCHEDULE_CASES = [(10, (1, 4)), (8, (1, 4)), (111, (1, 4)), (1, (1, 4)), (0, (1, 4)),
                   (4, (1, 4)), (12, (2, 3)), (9, (3, 1)), (6, (1, 0)), (6, (0, 1)), (7, (1, 1))]


@register("2.4", title="the 1:4 schedule",
          hint="cut the epoch into blocks of ratio[0] + ratio[1] batches; in every block the "
               "FIRST ratio[0] batches are 'method1', the rest 'method2'; the last block may be "
               "cut short")
def check_schedule(method_schedule):
    from course_lib import pairs

    for n_batches, ratio in _SCHEDULE_CASES:
        what = f"method_schedule({n_batches}, ratio={ratio})"
        result = method_schedule(n_batches, ratio)
        expected = pairs.schedule(n_batches, ratio)
        if not isinstance(result, (list, tuple)):
            raise CheckFailed(f"{what} returned {describe(result)}, expected a list of "
                              f"{n_batches} names ('method1' or 'method2')")
        result = list(result)
        expect_true(len(result) == n_batches,
                    f"{what} returned {len(result)} names, expected one per batch ({n_batches})")
        wrong = [i for i, (a, b) in enumerate(zip(result, expected)) if a != b]
        if wrong:
            first = wrong[0]
            raise CheckFailed(f"{what}: batch {first} is {describe(result[first])}, expected "
                              f"{describe(expected[first])} (expected the first 10: "
                              f"{describe(expected[:10])}; yours: {describe(result[:10])})")
    return (f"{len(_SCHEDULE_CASES)} epochs (0 to 111 batches, ratios 1:4, 2:3, 3:1, 1:0, 0:1, "
            "1:1) match pairs.schedule")


def _statistics_cases():
    rng = np.random.default_rng(5)
    labels = np.array([0, 1, 0, 0, 1, 0, 0, 0, 0, 1])
    cases = [("the toy batch of 10 with partner [6, 9, 7, 5, 8, 3, 0, 2, 4, 1]", labels,
              np.array([6, 9, 7, 5, 8, 3, 0, 2, 4, 1])),
             ("the toy batch of 10 with partner [3, 0, 5, 1, 8, 6, 4, 9, 2, 7]", labels,
              np.array([3, 0, 5, 1, 8, 6, 4, 9, 2, 7])),
             ("labels [1, 1, 0, 1] with partner [0, 3, 2, 2]", np.array([1, 1, 0, 1]),
              np.array([0, 3, 2, 2]))]
    for n in (9, 40):
        labels = (rng.random(n) < 0.3).astype(np.int64)
        cases.append((f"{n} random labels and random partners (self-pairs included)", labels,
                      rng.integers(0, n, n)))
    return cases


@register("2.5", title="pair statistics",
          hint="with l2 = labels[partner]: same class = mean(labels == l2); melanoma involved = "
               "mean((labels == 1) | (l2 == 1)); both melanoma = mean((labels == 1) & (l2 == 1)); "
               "self-pairs = mean(partner == arange(n)); n_pairs = n")
def check_pair_statistics(pair_stats):
    from course_lib import pairs

    keys = ("n_pairs", "same_class_fraction", "melanoma_involved_fraction",
            "both_melanoma_fraction", "self_pair_fraction")
    for name, labels, partner in _statistics_cases():
        what = f"pair_stats(labels, partner) on {name}"
        result = pair_stats(labels.copy(), partner.copy())
        expected = pairs.pair_statistics(labels, partner)
        if not isinstance(result, dict):
            raise CheckFailed(f"{what} returned {describe(result)}, expected a dict with the "
                              f"keys {', '.join(keys)}")
        missing = [key for key in keys if key not in result]
        expect_true(not missing, f"{what}: the dict has no key {describe(missing[0]) if missing else ''}; "
                                 f"expected the keys {', '.join(keys)}")
        for key in keys:
            expect_close(result[key], expected[key], f"{what}: [{key!r}]", rtol=1e-9, atol=1e-12)
    return (f"{len(_statistics_cases())} partner arrays (self-pairs, one-way pairs, odd sizes): "
            "all five numbers match pairs.pair_statistics")


def _batch_problem(result, expected, what):
    """A sentence about the first part of ((x1, x2), (y1, y2, same)) that differs, or None."""
    try:
        (x1, x2), (y1, y2, same) = result
    except (TypeError, ValueError):
        return (f"{what} returned {describe(result)}, expected ((x1, x2), (y1, y2, same)): a "
                "pair of image batches and a triple of targets")
    names = ("x1", "x2", "y1", "y2", "same")
    for name, got, want in zip(names, (x1, x2, y1, y2, same),
                               (*expected[0], *expected[1])):
        got = np.asarray(got)
        if got.shape != want.shape:
            return f"{what}: {name} has shape {got.shape}, expected {want.shape}"
        if got.dtype != np.float32:
            return f"{what}: {name} has dtype {got.dtype}, expected float32 (what model.fit takes)"
        if not np.array_equal(got, want):
            rows = np.flatnonzero(np.any(got.reshape(len(got), -1) != want.reshape(len(want), -1),
                                         axis=1))
            row = int(rows[0])
            shown = "" if name.startswith("x") else (f": row {row} is {describe(got[row])}, "
                                                      f"expected {describe(want[row])}")
            return (f"{what}: {name} differs from what pairs.PairSequence yields in {rows.size} "
                    f"of {len(got)} rows{shown}")
    return None


@register("2.6", title="one batch of pairs",
          hint="x1 = images[first], x2 = images[second] as float32; y1, y2 = one-hot (2 columns) "
               "of labels[first] and labels[second]; same = one-hot of (labels[first] == "
               "labels[second]) with column 1 meaning 'same class'")
def check_pair_batch(pair_batch):
    from course_lib import pairs

    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, size=(11, 4, 5, 3), dtype=np.uint8)
    labels = np.array([0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1])
    sequence = pairs.PairSequence(images, labels, batch_size=4, seed=3)
    n_checked = 0
    for epoch in (0, 1):
        sequence.set_epoch(epoch)
        for index in range(len(sequence)):
            first, second = sequence.batch_indices(index)
            what = (f"pair_batch(images, labels, first={describe(first)}, "
                    f"second={describe(second)})")
            result = pair_batch(images, labels.copy(), first.copy(), second.copy())
            problem = _batch_problem(result, sequence[index], what)
            if problem:
                raise CheckFailed(problem)
            n_checked += 1
    return (f"{n_checked} batches (11 uint8 images, batch 4, two epochs, Method1 and Method2): "
            "identical to what pairs.PairSequence yields")
