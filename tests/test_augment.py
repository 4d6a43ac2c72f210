"""Tests of course_lib.augment: single ops, compositions, expansion plans, tf.data.

The split before expansion (course_lib.data.splits) is tested in test_splits.py."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib import augment

# --------------------------------------------------------------------------------------------
# Fixtures: a blocky image whose mask is a function of its pixels (mask = red > 128), so any
# geometric op that moves image and mask alike keeps mask == lesion_of(image).
# --------------------------------------------------------------------------------------------


def blocky_image(height=48, width=48, block=8, seed=0):
    rng = np.random.default_rng(seed)
    rows, cols = -(-height // block), -(-width // block)
    lesion = rng.random((rows, cols)) < 0.4
    red = np.where(lesion, rng.integers(170, 256, lesion.shape), rng.integers(0, 90, lesion.shape))
    green_blue = rng.integers(1, 256, (rows, cols, 2))
    small = np.concatenate([red[..., None], green_blue], axis=2).astype(np.uint8)
    image = np.kron(small, np.ones((block, block, 1), np.uint8))[:height, :width]
    image = np.ascontiguousarray(image)
    return image, lesion_of(image)


def lesion_of(image):
    return np.where(image[..., 0] > 128, 255, 0).astype(np.uint8)


def geometric_ops_exact():
    return [op for op in augment.GEOMETRIC_OPS if op != "center_crop"]


# --------------------------------------------------------------------------------------------
# Single ops
# --------------------------------------------------------------------------------------------

def test_op_lists_partition_ops():
    assert set(augment.GEOMETRIC_OPS) | set(augment.PHOTOMETRIC_OPS) == set(augment.OPS)
    assert not set(augment.GEOMETRIC_OPS) & set(augment.PHOTOMETRIC_OPS)
    assert len(augment.OPS) == 8
    # The order is part of the random streams (expansion, tf_augment_fn's sub-seeds): keep it.
    assert augment.OPS == ("rot90", "rot180", "rot270", "flip_h", "flip_v", "center_crop",
                           "brightness", "occlusion")
    assert augment.TF_OPS == ("rot90", "flip_h", "flip_v", "center_crop", "brightness",
                              "occlusion")
    assert all(augment.REGISTRY[op].kind == "geometric" for op in augment.DIHEDRAL_OPS)


def test_rotations_and_flips_hand_computed():
    # 2 x 3 image; the red channel holds 1..6 so positions are easy to follow.
    red = np.array([[1, 2, 3], [4, 5, 6]], np.uint8)
    image = np.stack([red, red, red], axis=2)
    expected = {
        "rot90": [[3, 6], [2, 5], [1, 4]],       # counter-clockwise quarter turn
        "rot180": [[6, 5, 4], [3, 2, 1]],
        "rot270": [[4, 1], [5, 2], [6, 3]],
        "flip_h": [[3, 2, 1], [6, 5, 4]],        # left <-> right
        "flip_v": [[4, 5, 6], [1, 2, 3]],        # top <-> bottom
    }
    for op, want in expected.items():
        out = augment.apply(op, image)
        np.testing.assert_array_equal(out[..., 0], np.array(want, np.uint8), err_msg=op)


@pytest.mark.parametrize("op", ["rot90", "rot180", "rot270", "flip_h", "flip_v"])
def test_exact_geometric_ops_keep_mask_consistent(op):
    image, mask = blocky_image()
    new_image, new_mask = augment.apply(op, image, mask)
    assert new_image.dtype == np.uint8 and new_mask.dtype == np.uint8
    np.testing.assert_array_equal(new_mask, lesion_of(new_image))
    assert not np.array_equal(new_image, image)  # the op did something
    # inputs untouched, outputs are new arrays
    np.testing.assert_array_equal(mask, lesion_of(image))
    assert not np.shares_memory(new_image, image) and not np.shares_memory(new_mask, mask)


def test_center_crop_keeps_mask_consistent_away_from_block_edges():
    image, mask = blocky_image(64, 64, block=8)
    new_image, new_mask = augment.apply("center_crop", image, mask, fraction=0.8)
    assert new_image.shape == image.shape and new_mask.shape == mask.shape
    assert set(np.unique(new_mask)) <= {0, 255}  # nearest neighbour: no new mask values
    mismatch = new_mask != lesion_of(new_image)
    border = 3
    assert mismatch[border:-border, border:-border].mean() < 0.05
    # The crop really zooms: the image is not the original.
    assert not np.array_equal(new_image, image)


def test_center_crop_hand_computed():
    # 8x8 image: central 4x4 red, the rest blue. Cropping the central half and resizing back
    # gives an all-red image and an all-lesion mask.
    image = np.zeros((8, 8, 3), np.uint8)
    image[..., 2] = 255
    image[2:6, 2:6] = (255, 0, 0)
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 255
    new_image, new_mask = augment.apply("center_crop", image, mask, fraction=0.5)
    np.testing.assert_array_equal(new_image, np.broadcast_to(np.array([255, 0, 0], np.uint8),
                                                             (8, 8, 3)))
    np.testing.assert_array_equal(new_mask, np.full((8, 8), 255, np.uint8))
    # fraction=1 keeps the image
    np.testing.assert_array_equal(augment.apply("center_crop", image, fraction=1.0), image)


def test_brightness_hand_computed_and_mask_unchanged():
    image = np.full((4, 4, 3), 100, np.uint8)
    image[0, 0] = 250
    mask = np.eye(4, dtype=np.uint8) * 255
    brighter, same_mask = augment.apply("brightness", image, mask, delta=50)
    assert brighter[1, 1, 0] == 150 and brighter[0, 0, 0] == 255  # clipped at 255
    np.testing.assert_array_equal(same_mask, mask)
    darker = augment.apply("brightness", image, factor=0.5)
    assert darker[1, 1, 0] == 50 and darker[0, 0, 0] == 125
    rng = np.random.default_rng(3)
    for _ in range(20):
        out = augment.apply("brightness", image, rng=rng, factor_range=(0.7, 1.3))
        ratio = out[1, 1, 0] / 100
        assert 0.695 <= ratio <= 1.305
        assert np.all(out[1:] == out[1, 1])  # one factor for every pixel


def test_brightness_and_occlusion_keep_mask_identical():
    image, mask = blocky_image()
    rng = np.random.default_rng(0)
    for op in augment.PHOTOMETRIC_OPS:
        new_image, new_mask = augment.apply(op, image, mask, rng=rng)
        np.testing.assert_array_equal(new_mask, mask)
        assert new_image.shape == image.shape and new_image.dtype == np.uint8
        assert not np.array_equal(new_image, image)


@pytest.mark.parametrize("max_fraction", [0.15, 0.05])
def test_occlusion_never_covers_more_than_max_fraction(max_fraction):
    image = np.full((40, 50, 3), 200, np.uint8)  # no pixel is 0 before occlusion
    rng = np.random.default_rng(1)
    covered = []
    for _ in range(300):
        out = augment.apply("occlusion", image, rng=rng, max_fraction=max_fraction)
        box = np.all(out == 0, axis=2)
        rows, cols = np.flatnonzero(box.any(axis=1)), np.flatnonzero(box.any(axis=0))
        # one filled rectangle
        assert box.sum() == rows.size * cols.size
        assert rows.size and np.all(np.diff(rows) == 1) and np.all(np.diff(cols) == 1)
        covered.append(box.mean())
    assert max(covered) <= max_fraction
    assert min(covered) > 0
    assert max(covered) > 0.6 * max_fraction  # the range is actually used


def test_occlusion_fill_mean():
    image, _ = blocky_image()
    out = augment.apply("occlusion", image, rng=np.random.default_rng(0), fill="mean")
    changed = np.any(out != image, axis=2)
    mean_colour = np.rint(image.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
    assert changed.any()
    assert np.all(out[changed] == mean_colour)


@pytest.mark.parametrize("op", augment.OPS)
def test_mask_with_channel_axis_round_trips(op):
    image, mask = blocky_image()
    new_image, new_mask = augment.apply(op, image, mask[..., None], rng=np.random.default_rng(0))
    assert new_mask.shape == (48, 48, 1) and new_mask.dtype == np.uint8
    _, flat_mask = augment.apply(op, image, mask, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(new_mask[..., 0], flat_mask)


def test_non_square_images_rot90_swaps_height_and_width():
    image, mask = blocky_image(32, 48)
    for op, shape in [("rot90", (48, 32)), ("rot270", (48, 32)), ("rot180", (32, 48)),
                      ("flip_h", (32, 48)), ("center_crop", (32, 48))]:
        new_image, new_mask = augment.apply(op, image, mask)
        assert new_image.shape == shape + (3,) and new_mask.shape == shape, op
        if op != "center_crop":
            np.testing.assert_array_equal(new_mask, lesion_of(new_image))


def test_random_ops_are_deterministic_for_a_seed():
    image, mask = blocky_image()
    for op in augment.PHOTOMETRIC_OPS:
        first = augment.apply(op, image, rng=np.random.default_rng(42))
        second = augment.apply(op, image, rng=np.random.default_rng(42))
        np.testing.assert_array_equal(first, second)
    first = augment.random_composition(image, mask, rng=np.random.default_rng(5))
    second = augment.random_composition(image, mask, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_errors_say_what_is_expected():
    image, mask = blocky_image()
    with pytest.raises(ValueError, match="Valid ops: rot90, rot180"):
        augment.apply("rotate", image)
    with pytest.raises(ValueError, match=r"uint8 array of shape \(height, width, 3\)"):
        augment.apply("rot90", image.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(height, width, 3\)"):
        augment.apply("rot90", image[..., 0])
    with pytest.raises(ValueError, match="mask size"):
        augment.apply("rot90", image, mask[:10])
    with pytest.raises(ValueError, match="uint8"):
        augment.apply("rot90", image, mask.astype(bool))
    with pytest.raises(ValueError, match="accepts: fraction"):
        augment.apply("center_crop", image, size=3)
    with pytest.raises(ValueError, match="max_fraction"):
        augment.apply("occlusion", image, max_fraction=1.5)
    with pytest.raises(ValueError, match="not both"):
        augment.apply("brightness", image, delta=3, factor=1.1)
    with pytest.raises(ValueError, match="rng must be"):
        augment.apply("brightness", image, rng="seed")


# --------------------------------------------------------------------------------------------
# Compositions
# --------------------------------------------------------------------------------------------

def test_sample_composition_rules():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        ops = augment.sample_composition(rng)
        assert 2 <= len(ops) <= 3 and len(set(ops)) == len(ops)
        assert sum(op in augment.DIHEDRAL_OPS for op in ops) <= 1
        assert list(ops) == sorted(ops, key=augment.OPS.index)
        seen.add(len(ops))
    assert seen == {2, 3}
    with pytest.raises(ValueError, match="distinct ops"):
        augment.sample_composition(rng, n_ops=(2, 2), ops=("rot90", "flip_h"))


def test_random_composition_with_exact_geometric_ops_keeps_mask_consistent():
    image, mask = blocky_image()
    rng = np.random.default_rng(0)
    for _ in range(10):
        new_image, new_mask = augment.random_composition(
            image, mask, rng=rng, ops=("rot90", "rot180", "flip_h", "flip_v"), n_ops=(1, 1))
        np.testing.assert_array_equal(new_mask, lesion_of(new_image))


# --------------------------------------------------------------------------------------------
# Expansion plans
# --------------------------------------------------------------------------------------------

PAPER_LABELS = np.array([0] * 727 + [1] * 173)


def test_paper_classification_plan_is_benign_x3_melanoma_x13():
    plan = augment.classification_plan(PAPER_LABELS, target=4430)
    assert plan.multipliers == {0: 3, 1: 13}
    assert plan.extras == {0: 0, 1: 0}
    assert plan.per_class_totals() == {0: 2181, 1: 2249}
    assert plan.total == 4430
    assert plan.variants(3) == ["original", "rot90", "rot180"]
    drawn = [tuple(plan.variants(3, np.random.default_rng(seed))) for seed in range(40)]
    assert all(d[0] == "original" and len(set(d[1:])) == 2 and set(d[1:]) <= set(augment.OPS)
               for d in drawn)
    assert len(set(drawn)) > 10, "benign variants must be drawn from all single ops"
    assert any("occlusion" in d for d in drawn), "no class may be kept away from occlusion"
    assert plan.variants(13) == ["original", *augment.OPS] + ["composition"] * 4
    assert "melanoma: 173 x13 = 2249" in plan.describe()


def test_paper_segmentation_plan_totals_6900():
    plan = augment.segmentation_plan(900, target=6900)
    assert plan.multipliers == {None: 7} and plan.extras == {None: 600}
    assert plan.total == 6900
    assert plan.variants(7) == ["original", *augment.GEOMETRIC_OPS]


def test_plans_scale_to_160_images():
    labels = np.array([0] * 128 + [1] * 32)
    assert augment.scale_target(4430, 160) == 788
    assert augment.scale_target(6900, 160) == 1227
    plan = augment.classification_plan(labels, augment.scale_target(4430, 160))
    # 3 x 128 = 384 and 12 x 32 = 384; the 20 missing images are 10 extras per class.
    assert plan.multipliers == {0: 3, 1: 12} and plan.extras == {0: 10, 1: 10}
    assert plan.per_class_totals() == {0: 394, 1: 394} and plan.total == 788
    seg = augment.segmentation_plan(160, augment.scale_target(6900, 160))
    assert seg.total == 1227 and seg.multipliers == {None: 7} and seg.extras == {None: 107}


@pytest.mark.parametrize("n_benign,n_melanoma,target",
                         [(727, 173, 4431), (727, 173, 950), (128, 32, 4430), (50, 50, 333),
                          (9, 1, 10), (100, 7, 1000), (3, 40, 500)])
def test_classification_plan_always_hits_target_and_is_balanced(n_benign, n_melanoma, target):
    labels = np.array([0] * n_benign + [1] * n_melanoma)
    plan = augment.classification_plan(labels, target)
    assert plan.total == target
    totals = plan.per_class_totals()
    smallest_possible = {0: n_benign, 1: n_melanoma}  # every original stays
    for label in (0, 1):
        assert totals[label] >= smallest_possible[label]
    # Balanced unless one class alone already exceeds half the target.
    if max(n_benign, n_melanoma) <= target / 2:
        assert abs(totals[0] - totals[1]) <= max(n_benign, n_melanoma)
    # Extras never outnumber the source images.
    assert sum(plan.extras.values()) < len(labels) or min(plan.multipliers.values()) == 1


def test_plan_errors():
    with pytest.raises(ValueError, match="target"):
        augment.classification_plan(PAPER_LABELS, target=100)
    with pytest.raises(ValueError, match="target"):
        augment.segmentation_plan(900, target=10)
    with pytest.raises(ValueError, match="1-D integer"):
        augment.classification_plan(np.eye(2))


def test_expand_classification_counts_labels_sources():
    rng = np.random.default_rng(0)
    images = np.stack([blocky_image(16, 16, 4, seed=s)[0] for s in range(10)])
    labels = np.array([0] * 8 + [1] * 2)
    plan = augment.classification_plan(labels, target=40)
    out_images, out_masks, out_labels, source, recipes = augment.expand(
        images, None, labels, plan, rng=rng, return_recipes=True)
    assert out_masks is None
    assert out_images.shape == (40, 16, 16, 3) and out_images.dtype == np.uint8
    assert out_labels.shape == source.shape == (40,)
    np.testing.assert_array_equal(out_labels, labels[source])
    per_source = np.bincount(source, minlength=10)
    for index in range(10):
        expected = plan.multipliers[labels[index]]
        assert expected <= per_source[index] <= expected + plan.extras[labels[index]]
    assert np.bincount(out_labels).tolist() == [plan.per_class_totals()[0],
                                                plan.per_class_totals()[1]]
    # First output of every source is the original; a rot90 variant, wherever drawn, is exact.
    first_positions = np.searchsorted(source, np.arange(10))
    for index, position in enumerate(first_positions):
        np.testing.assert_array_equal(out_images[position], images[index])
        assert recipes[position] == "original"
        for offset, recipe in enumerate(recipes[position:], start=position):
            if source[offset] != index:
                break
            if recipe == "rot90":
                np.testing.assert_array_equal(out_images[offset], np.rot90(images[index]))


def test_expand_segmentation_masks_follow_images():
    pairs = [blocky_image(24, 24, 4, seed=s) for s in range(6)]
    images = np.stack([image for image, _ in pairs])
    masks = np.stack([mask for _, mask in pairs])
    plan = augment.segmentation_plan(6, target=46)  # 6 x 7 = 42 + 4 compositions
    out_images, out_masks, out_labels, source, recipes = augment.expand(
        images, masks[..., None], None, plan, rng=1, return_recipes=True)
    assert out_images.shape[0] == out_masks.shape[0] == 46 and out_labels is None
    assert out_masks.shape[1:] == (24, 24, 1)
    assert np.bincount(source).min() >= 7
    assert len(set(source[-4:])) == 4  # extras on distinct images
    for image, mask, recipe in zip(out_images, out_masks[..., 0], recipes):
        ops = recipe.split("+")
        if all(op in augment.DIHEDRAL_OPS or op == "original" for op in ops):
            np.testing.assert_array_equal(mask, lesion_of(image), err_msg=recipe)
    # determinism
    again = augment.expand(images, masks[..., None], None, plan, rng=1)
    np.testing.assert_array_equal(again[0], out_images)
    np.testing.assert_array_equal(again[1], out_masks)


def test_expand_errors():
    images = np.stack([blocky_image(16, 16, 4, seed=s)[0] for s in range(4)])
    labels = np.array([0, 0, 0, 1])
    plan = augment.classification_plan(np.array([0, 0, 1, 1]), target=8)
    with pytest.raises(ValueError, match="plan was made for"):
        augment.expand(images, None, labels, plan)
    with pytest.raises(ValueError, match="pass the labels"):
        augment.expand(images, None, None, augment.classification_plan(labels, 8))
    wide = np.zeros((4, 16, 20, 3), np.uint8)
    with pytest.raises(ValueError, match="Resize to square"):
        augment.expand(wide, None, None, augment.segmentation_plan(4, 8))


# --------------------------------------------------------------------------------------------
# tf.data and Keras layers
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tf():
    import tensorflow

    return tensorflow


def _dataset(tf, n=8, size=32):
    pairs = [blocky_image(size, size, 4, seed=s) for s in range(n)]
    images = np.stack([image for image, _ in pairs])
    masks = np.stack([mask for _, mask in pairs])
    return images, masks, tf.data.Dataset.from_tensor_slices((images, masks))


def test_tf_augment_geometric_keeps_mask_consistent_in_dataset_map(tf):
    images, masks, dataset = _dataset(tf)
    augment_fn = augment.tf_augment_fn(seed=0, ops=("rot90", "flip_h", "flip_v"))
    changed = 0
    for (image, mask), original in zip(dataset.map(augment_fn).as_numpy_iterator(), images):
        assert image.dtype == np.uint8 and mask.dtype == np.uint8 and mask.shape == (32, 32)
        np.testing.assert_array_equal(mask, lesion_of(image))
        changed += not np.array_equal(image, original)
    assert changed >= 4  # 7 of 8 dihedral transforms change the image


def test_tf_augment_crop_and_photometric(tf):
    images, masks, dataset = _dataset(tf, size=48)
    crop_fn = augment.tf_augment_fn(seed=1, ops=("center_crop",), crop_probability=1.0)
    for image, mask in dataset.map(crop_fn).as_numpy_iterator():
        mismatch = mask != lesion_of(image)
        assert mismatch[3:-3, 3:-3].mean() < 0.05
    photo_fn = augment.tf_augment_fn(seed=2, ops=("brightness", "occlusion"),
                                     occlusion_probability=1.0)
    for (image, mask), original, original_mask in zip(
            dataset.map(photo_fn).as_numpy_iterator(), images, masks):
        np.testing.assert_array_equal(mask, original_mask)
        occluded = np.all(image == 0, axis=2) & np.any(original != 0, axis=2)
        assert 0 < occluded.mean() <= 0.15


def test_tf_augment_image_only_mask_with_channel_and_determinism(tf):
    images, masks, _ = _dataset(tf, n=4)
    first = augment.tf_augment_fn(seed=7)
    second = augment.tf_augment_fn(seed=7)
    for image, mask in zip(images, masks):
        out_image = first(image)
        assert out_image.shape == image.shape and out_image.dtype == tf.uint8
        np.testing.assert_array_equal(out_image.numpy(), second(image).numpy())
    geometric = augment.tf_augment_fn(seed=3, ops=("rot90", "flip_h"))
    image, mask = geometric(images[0], masks[0][..., None], seed=[1, 2])
    assert mask.shape == (32, 32, 1)
    np.testing.assert_array_equal(mask.numpy()[..., 0], lesion_of(image.numpy()))
    with pytest.raises(ValueError, match="Valid ops"):
        augment.tf_augment_fn(ops=("rot45",))


def test_keras_augmentation_layers_run_on_a_batch(tf):
    images, _, _ = _dataset(tf, n=4)
    layers = augment.keras_augmentation_layers(seed=0)
    names = [type(layer).__name__ for layer in layers.layers]
    assert names == ["RandomFlip", "RandomZoom", "RandomBrightness", "RandomErasing"]
    batch = images.astype(np.float32)
    out = np.asarray(layers(batch, training=True))
    assert out.shape == batch.shape and out.min() >= 0 and out.max() <= 255
    np.testing.assert_allclose(np.asarray(layers(batch, training=False)), batch)
    with_rotation = augment.keras_augmentation_layers(seed=0, arbitrary_rotation=True)
    assert "RandomRotation" in [type(layer).__name__ for layer in with_rotation.layers]


def test_keras_augmentation_layers_move_masks_with_images_in_dict_form(tf):
    pairs = [blocky_image(48, 48, 8, seed=s) for s in range(4)]
    images = np.stack([image for image, _ in pairs]).astype(np.float32)
    masks = np.stack([mask for _, mask in pairs])[..., None]
    sequential = augment.keras_augmentation_layers(seed=0, arbitrary_rotation=True)
    for layer in sequential.layers:
        name = type(layer).__name__
        out = layer({"images": images, "segmentation_masks": masks}, training=True)
        new_images, new_masks = np.asarray(out["images"]), np.asarray(out["segmentation_masks"])
        assert not np.array_equal(new_images, images), name  # the layer did something
        if name in ("RandomBrightness", "RandomErasing"):  # photometric: masks untouched
            np.testing.assert_array_equal(new_masks, masks, err_msg=name)
            continue
        assert set(np.unique(new_masks)) <= {0, 255}, name  # nearest neighbour for masks
        mismatch = new_masks[..., 0] != lesion_of(new_images)
        if name == "RandomFlip":  # exact: mirrors move whole pixels
            assert not mismatch.any()
        else:  # zoom and rotation resample: the bilinear image differs at block edges only
            assert mismatch.mean() < 0.05, name
    # The same layer called on the images and then on the masks draws twice: misaligned.
    rotation = sequential.layers[1]
    apart = (np.asarray(rotation(masks, training=True))[..., 0]
             != lesion_of(np.asarray(rotation(images, training=True))))
    assert apart.mean() > 0.1
    whole = sequential({"images": images, "segmentation_masks": masks}, training=True)
    assert whole["segmentation_masks"].shape == masks.shape
