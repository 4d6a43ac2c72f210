"""Checks for the exercises of 02_pair_sampling.

2.1 (Method1's partners) is random, so it is checked through properties every correct answer
has, on many label arrays: valid indices, nobody paired with itself, x2 a rearrangement of x1,
the largest possible share of same-class pairs, randomness from the ``rng`` argument only.
2.2 is compared with values computed by hand.
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
            "nobody paired with itself, as many same-class pairs as possible, random and "
            "repeatable for a seeded rng")


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
