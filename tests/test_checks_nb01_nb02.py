"""Checks of notebooks 01 and 02 (exercises 1.1, 1.2, 2.1, 2.2): correct answers pass, stubs
report "not implemented", typical mistakes fail with a useful message. (Ready to be added to
tests/test_checks.py or saved as tests/test_checks_nb01_nb02.py.)"""
from __future__ import annotations

import numpy as np
import pytest

from course_lib import augment, checks, pairs


def run(capsys, exercise_id, fn):
    checks.run(exercise_id, fn)
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    return out.strip()


def rotate_and_mirror(image, mask, k, mirror):
    image, mask = np.rot90(image, k, axes=(0, 1)), np.rot90(mask, k, axes=(0, 1))
    if mirror:
        image, mask = image[:, ::-1], mask[:, ::-1]
    return image.copy(), mask.copy()


def occlude(image, rng, max_fraction=0.15):
    height, width = image.shape[:2]
    area = rng.uniform(0.25, 1.0) * max_fraction * height * width
    box_height = int(np.clip(np.sqrt(area * rng.uniform(0.5, 2.0)), 1, height))
    box_width = int(np.clip(area // box_height, 1, width))
    top = rng.integers(0, height - box_height + 1)
    left = rng.integers(0, width - box_width + 1)
    out = image.copy()
    out[top:top + box_height, left:left + box_width] = 0
    return out


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write the body")


@pytest.mark.parametrize("exercise_id, fn", [
    ("1.1", rotate_and_mirror), ("1.2", occlude),
    ("1.2", lambda image, rng, f: augment.apply("occlusion", image, rng=rng, max_fraction=f)),
    ("2.1", lambda labels, rng: pairs.method1_indices(labels, rng)),
    ("2.2", lambda p: p ** 2 + (1 - p) ** 2)])
def test_correct_answers_pass(capsys, exercise_id, fn):
    assert run(capsys, exercise_id, fn).startswith(f"✓ Exercise {exercise_id} ")


@pytest.mark.parametrize("exercise_id", ["1.1", "1.2", "2.1", "2.2"])
def test_stubs_are_not_implemented(capsys, exercise_id):
    out = run(capsys, exercise_id, stub)
    assert out.startswith(f"✗ Exercise {exercise_id} ") and "not implemented yet" in out


def test_1_1_mirror_before_turn_is_explained(capsys):
    def wrong(image, mask, k, mirror):
        if mirror:
            image, mask = image[:, ::-1], mask[:, ::-1]
        return np.rot90(image, k, axes=(0, 1)), np.rot90(mask, k, axes=(0, 1))

    assert "mirrored BEFORE turning" in run(capsys, "1.1", wrong)


def test_1_1_clockwise_and_forgotten_mask(capsys):
    def clockwise(image, mask, k, mirror):
        return rotate_and_mirror(np.rot90(image, -2 * k, axes=(0, 1)),
                                 np.rot90(mask, -2 * k, axes=(0, 1)), k, mirror)

    assert "turned clockwise" in run(capsys, "1.1", clockwise)
    out = run(capsys, "1.1", lambda image, mask, k, mirror: (
        rotate_and_mirror(image, mask, k, mirror)[0], mask))
    assert out.startswith("✗") and "mask" in out


def test_1_2_off_by_one_too_big_in_place_and_unseeded(capsys):
    def off_by_one(image, rng, max_fraction=0.15):
        height, width = image.shape[:2]
        top, left = rng.integers(0, height - 3), rng.integers(0, width - 4)
        out = image.copy()
        out[top:top + 3, left:left + 4] = 0
        return out

    assert "never covered row 19" in run(capsys, "1.2", off_by_one)

    def too_big(image, rng, max_fraction=0.15):
        out = image.copy()
        out[:10, :12] = 0
        return out

    assert "more than max_fraction" in run(capsys, "1.2", too_big)

    def in_place(image, rng, max_fraction=0.15):
        image[:2, :2] = 0
        return image

    assert "changed the image passed in" in run(capsys, "1.2", in_place)
    out = run(capsys, "1.2", lambda image, rng, f=0.15: occlude(image, np.random.default_rng(), f))
    assert "from the rng argument" in out


def test_2_1_method2_first_of_class_and_unshuffled_fail(capsys):
    assert "with itself" in run(capsys, "2.1", lambda labels, rng: pairs.method2_indices(labels, rng))

    def first_of_class(labels, rng):
        partner = []
        for i, label in enumerate(labels):
            members = np.flatnonzero(labels == label)
            partner.append(members[0] if members[0] != i else members[-1])
        return np.array(partner)

    assert "rearrangement" in run(capsys, "2.1", first_of_class)
    out = run(capsys, "2.1", lambda labels, rng: pairs.method1_indices(labels, 0))
    assert "shuffle with rng.permutation" in out


def test_2_1_within_class_rotation_fails(capsys):
    def rotation(labels, rng):  # a -> b -> c -> a inside each class: a rearrangement, no swaps
        partner = np.arange(labels.size)
        order = rng.permutation(labels.size)
        for label in np.unique(labels):
            members = order[labels[order] == label]
            partner[members] = np.roll(members, -1) if members.size > 1 else order[0]
        return partner

    out = run(capsys, "2.1", rotation)
    assert out.startswith("✗") and "not paired back" in out


def test_2_2_different_class_share_is_named(capsys):
    out = run(capsys, "2.2", lambda p: 2 * p * (1 - p))
    assert "DIFFERENT-class" in out
    assert "returned 0.25, expected 0.5" in run(capsys, "2.2", lambda p: p ** 2)
