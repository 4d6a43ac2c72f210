"""tf.data pipelines (course_lib.data.pipeline)."""
from __future__ import annotations

import numpy as np
import pytest

import course_lib  # noqa: F401  (quiets TensorFlow before it is imported)
from course_lib.data import classification_dataset, segmentation_dataset

tf = pytest.importorskip("tensorflow")


def numbered_images(n: int, size: int = 8) -> np.ndarray:
    """Image i is filled with the value 10 * i, so a batch tells which images it holds."""
    return (np.arange(n, dtype=np.uint8)[:, None, None, None] * 10
            * np.ones((1, size, size, 3), dtype=np.uint8))


def order_of(dataset) -> list[int]:
    return [int(v) // 10 for x, _ in dataset for v in x.numpy()[:, 0, 0, 0]]


def test_classification_batch_shapes_dtypes_and_values():
    images = numbered_images(10)
    labels = np.array([0, 1, 0, 0, 1, 0, 0, 0, 1, 0])
    dataset = classification_dataset(images, labels, batch_size=4, shuffle=False)
    batches = list(dataset)
    assert [len(x) for x, _ in batches] == [4, 4, 2]
    x, y = batches[0]
    assert x.shape == (4, 8, 8, 3) and x.dtype == tf.float32
    assert y.shape == (4, 2) and y.dtype == tf.float32
    assert x.numpy()[:, 0, 0, 0].tolist() == [0.0, 10.0, 20.0, 30.0]  # [0, 255], not rescaled
    assert y.numpy().tolist() == [[1, 0], [0, 1], [1, 0], [1, 0]]
    _, sparse = next(iter(classification_dataset(images, labels, 4, shuffle=False,
                                                 one_hot=False)))
    assert sparse.dtype == tf.int32 and sparse.numpy().tolist() == [0, 1, 0, 0]


def test_shuffle_is_a_seeded_permutation_and_keeps_pairs():
    images = numbered_images(12)
    labels = (np.arange(12) % 3 == 0).astype(int)
    first = order_of(classification_dataset(images, labels, 5, seed=7))
    again = order_of(classification_dataset(images, labels, 5, seed=7))
    other = order_of(classification_dataset(images, labels, 5, seed=8))
    assert first == again and sorted(first) == list(range(12))
    assert first != list(range(12)) and other != first
    for x, y in classification_dataset(images, labels, 5, seed=7, one_hot=False):
        index = x.numpy()[:, 0, 0, 0] // 10
        assert y.numpy().tolist() == (index % 3 == 0).astype(int).tolist()


def test_classification_augment_hook_runs_per_image():
    images = numbered_images(6)
    dataset = classification_dataset(images, np.zeros(6, int), 3, shuffle=False,
                                      augment=lambda image: 255.0 - image)
    x, _ = next(iter(dataset))
    assert x.shape == (3, 8, 8, 3) and x.numpy()[:, 0, 0, 0].tolist() == [255.0, 245.0, 235.0]


def test_segmentation_batch_masks_become_binary_with_channel():
    images = numbered_images(5, size=6)
    masks = np.zeros((5, 6, 6), dtype=np.uint8)
    masks[:, :, 3:] = 255
    x, m = next(iter(segmentation_dataset(images, masks, batch_size=2, shuffle=False)))
    assert x.shape == (2, 6, 6, 3) and x.dtype == tf.float32
    assert m.shape == (2, 6, 6, 1) and m.dtype == tf.float32
    assert set(np.unique(m.numpy()).tolist()) == {0.0, 1.0}
    assert (m.numpy()[:, :, 3:, 0] == 1).all() and (m.numpy()[:, :, :3, 0] == 0).all()
    _, m01 = next(iter(segmentation_dataset(images, (masks // 255)[..., None], 2,
                                            shuffle=False)))
    assert np.array_equal(m01.numpy(), m.numpy())  # 0/1 masks with a channel work too


def test_segmentation_shuffle_and_augment_keep_image_mask_pairs():
    images = numbered_images(8, size=4)
    masks = np.zeros((8, 4, 4), dtype=np.uint8)
    for i in range(8):
        masks[i, 0, 0] = 255 if i % 2 else 0  # odd images have the top-left pixel set

    def flip_both(image, mask):
        return tf.image.flip_left_right(image), tf.image.flip_left_right(mask)

    first = segmentation_dataset(images, masks, 3, seed=1, augment=flip_both)
    second = segmentation_dataset(images, masks, 3, seed=1, augment=flip_both)
    order = []
    for (x, m), (x2, _) in zip(first, second):
        assert np.array_equal(x.numpy(), x2.numpy())
        index = (x.numpy()[:, 0, 0, 0] // 10).astype(int)
        order += index.tolist()
        # flipped left-right: the marked pixel moved to the top-right corner
        assert m.numpy()[:, 0, 3, 0].tolist() == (index % 2).astype(float).tolist()
        assert (m.numpy()[:, 0, 0, 0] == 0).all()
    assert sorted(order) == list(range(8)) and order != list(range(8))


def test_bad_inputs_say_what_is_wrong():
    images = numbered_images(4)
    with pytest.raises(ValueError, match="same length"):
        classification_dataset(images, [0, 1, 0], 2)
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        classification_dataset(images[..., 0], [0, 1, 0, 1], 2)
    with pytest.raises(ValueError, match="batch_size"):
        classification_dataset(images, [0, 1, 0, 1], 0)
    with pytest.raises(ValueError, match="0 \\(benign\\) or 1"):
        classification_dataset(images, [0, 2, 0, 1], 2)
    with pytest.raises(ValueError, match="masks must have shape"):
        segmentation_dataset(images, np.zeros((4, 5, 5)), 2)


# --------------------------------------------------------------------------- injection points
def test_augment_with_seed_gets_a_fresh_seed_per_element_and_epoch():
    images = numbered_images(6)
    masks = np.zeros((6, 8, 8), np.uint8)

    def record_seed(image, mask, seed):
        # put the seed into the image so the batches show which seed each element got
        value = tf.cast(tf.math.floormod(seed[0], 1000), tf.float32)
        return image * 0 + value, mask

    def seeds_of(dataset):
        return [float(v) for x, _ in dataset for v in x.numpy()[:, 0, 0, 0]]

    dataset = segmentation_dataset(images, masks, 3, shuffle=False, augment_with_seed=record_seed,
                                   seed=4)
    first, second = seeds_of(dataset), seeds_of(dataset)
    assert len(set(first)) == 6, first                 # one seed per element
    assert first != second                             # new seeds every epoch
    again = segmentation_dataset(images, masks, 3, shuffle=False, augment_with_seed=record_seed,
                                 seed=4)
    assert seeds_of(again) == first                    # the same seed, the same sequence
    other = segmentation_dataset(images, masks, 3, shuffle=False, augment_with_seed=record_seed,
                                 seed=5)
    assert seeds_of(other) != first


def test_augment_with_seed_keeps_masks_aligned_with_augment_pair():
    from course_lib import augment

    rng = np.random.default_rng(0)
    lesion = (rng.random((5, 12, 12)) < 0.4)
    images = rng.integers(0, 256, (5, 12, 12, 3)).astype(np.uint8)
    images[..., 0] = lesion * 255
    dataset = segmentation_dataset(images, lesion.astype(np.uint8) * 255, 5,
                                   augment_with_seed=augment.augment_pair, seed=1)
    for _ in range(2):
        x, y = next(iter(dataset))
        assert x.shape == (5, 12, 12, 3) and y.shape == (5, 12, 12, 1) and y.dtype == tf.float32
        np.testing.assert_array_equal(x.numpy()[..., 0] > 128, y.numpy()[..., 0] > 0.5)


def test_load_splits_uses_the_split_it_is_given(monkeypatch, tmp_path):
    from course_lib import config, data

    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    profile = config.get_profile("smoke", n_train=30, n_test=6, synth_image_size=16,
                                 image_size=16)
    calls = []

    def my_split(source_ids, labels, val_fraction=0.2, seed=0):
        calls.append((np.asarray(source_ids).copy(), val_fraction, seed))
        return data.split_by_source(source_ids, labels, val_fraction, seed)

    default = data.load_splits(profile, val_fraction=0.3)
    injected = data.load_splits(profile, val_fraction=0.3, split=my_split)
    assert len(calls) == 1
    source_ids, val_fraction, seed = calls[0]
    np.testing.assert_array_equal(source_ids, np.arange(30))
    assert val_fraction == 0.3 and seed == profile.seed
    assert injected.ids_val == default.ids_val and injected.ids_train == default.ids_train

    def first_five(source_ids, labels, val_fraction=0.2, seed=0):
        return list(range(5, len(source_ids))), [0, 1, 2, 3, 4]

    fixed = data.load_splits(profile, split=first_five)
    assert fixed.ids_val == list(data.prepare_data(profile, "train").ids[:5])
    assert len(fixed.y_val) == 5 and len(fixed.y_train) == 25
