"""SynthDerm, the course's offline data set (course_lib.data.synthetic).

These tests read the written files with Pillow and csv directly, so they do not depend on the
ISIC 2016 loader; one test (at the end) checks load_synthderm once that loader exists.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course_lib.data import synthetic
from course_lib.data.synthetic import (
    ARTEFACT_PROBABILITIES, COLOUR_NAMES, make_synthderm, melanoma_count, render_lesion,
    sample_abcd, synthderm_ids, synthderm_labels,
)

TRAIN_IMAGES = "ISBI2016_ISIC_Part1_Training_Data"
TRAIN_MASKS = "ISBI2016_ISIC_Part1_Training_GroundTruth"
TEST_IMAGES = "ISBI2016_ISIC_Part1_Test_Data"
TEST_MASKS = "ISBI2016_ISIC_Part1_Test_GroundTruth"
TRAIN_CSV = "ISBI2016_ISIC_Part3_Training_GroundTruth.csv"
TEST_CSV = "ISBI2016_ISIC_Part3_Test_GroundTruth.csv"


def read_split(root: Path, split: str):
    """(ids, labels, images, masks) of a written split, read with csv and Pillow only."""
    csv_name, image_dir, mask_dir = ((TRAIN_CSV, TRAIN_IMAGES, TRAIN_MASKS) if split == "train"
                                     else (TEST_CSV, TEST_IMAGES, TEST_MASKS))
    text = (root / csv_name).read_text(encoding="ascii")
    rows = list(csv.reader(io.StringIO(text)))
    ids = [row[0] for row in rows]
    labels = np.array([1 if row[1] in ("malignant", "1.0") else 0 for row in rows])
    images = [np.asarray(Image.open(root / image_dir / f"{image_id}.jpg").convert("RGB"))
              for image_id in ids]
    masks = [np.asarray(Image.open(root / mask_dir / f"{image_id}_Segmentation.png"))
             for image_id in ids]
    return ids, labels, images, masks


def all_files(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob("*")) if path.is_file()}


# ------------------------------------------------------------------------------------------
# One image
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("label", [0, 1])
def test_render_lesion_returns_image_mask_and_attributes(label):
    image, mask, attributes = render_lesion(np.random.default_rng(3), label, image_size=64)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert mask.shape == (64, 64) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 255}
    assert 0.01 < (mask == 255).mean() < 0.9          # a lesion, and some skin around it
    assert attributes["label"] == label
    assert 0.0 <= attributes["asymmetry"] <= 1.0
    assert 0.0 <= attributes["border_irregularity"] <= 1.0
    assert 0.15 <= attributes["diameter"] <= 0.85
    assert attributes["diameter_mm"] == round(attributes["diameter"] * 12.0, 1)
    assert 1 <= len(attributes["colours"]) <= 6
    assert set(attributes["colours"]) <= set(COLOUR_NAMES)
    assert len(set(attributes["colours"])) == len(attributes["colours"])
    assert set(attributes["artefacts"]) <= set(ARTEFACT_PROBABILITIES)
    # The lesion is darker than the skin around it.
    inside, outside = image[mask == 255].mean(), image[mask == 0].mean()
    assert inside < outside


def test_render_lesion_same_seed_same_image_and_integer_seed():
    first = render_lesion(np.random.default_rng(11), 1, 48)
    second = render_lesion(11, 1, 48)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert first[2] == second[2]
    other = render_lesion(12, 1, 48)
    assert not np.array_equal(first[0], other[0])


def test_mask_is_the_lesion_before_artefacts():
    for seed in range(20):
        with_artefacts = render_lesion(seed, seed % 2, 40, artefacts=True)
        without = render_lesion(seed, seed % 2, 40, artefacts=False)
        assert np.array_equal(with_artefacts[1], without[1])
        assert without[2]["artefacts"] == []


@pytest.mark.parametrize("image_size", [16, 40, 257])
def test_any_image_size_works(image_size):
    image, mask, _ = render_lesion(5, 1, image_size)
    assert image.shape == (image_size, image_size, 3) and mask.shape == (image_size, image_size)
    assert mask.max() == 255


def test_render_lesion_rejects_bad_label_and_size():
    with pytest.raises(ValueError, match="0 \\(benign\\) or 1 \\(melanoma\\)"):
        render_lesion(0, 2, 32)
    with pytest.raises(ValueError, match="at least 16"):
        render_lesion(0, 1, 12)


# ------------------------------------------------------------------------------------------
# ABCD attributes: shifted by the label, overlapping
# ------------------------------------------------------------------------------------------

def test_abcd_attributes_follow_the_label_with_overlap():
    rng = np.random.default_rng(0)
    benign = [sample_abcd(rng, 0) for _ in range(3000)]
    melanoma = [sample_abcd(rng, 1) for _ in range(3000)]

    def values(samples, key):
        return np.array([sample[key] for sample in samples])

    # Beta(2.1, 3.9) has mean 2.1 / 6 = 0.35; Beta(2.9, 3.1) has mean 2.9 / 6 = 0.483.
    for key in ("asymmetry", "border_irregularity"):
        assert values(benign, key).mean() == pytest.approx(0.35, abs=0.015)
        assert values(melanoma, key).mean() == pytest.approx(0.483, abs=0.015)
    # Expected colour counts: benign 1 + (0*.38 + 1*.40 + 2*.17 + 3*.05) = 1.89,
    # melanoma 1 + (0*.07 + 1*.25 + 2*.36 + 3*.22 + 4*.10) = 3.03.
    n_colours_benign = np.array([len(sample["colours"]) for sample in benign])
    n_colours_melanoma = np.array([len(sample["colours"]) for sample in melanoma])
    assert n_colours_benign.mean() == pytest.approx(1.89, abs=0.05)
    assert n_colours_melanoma.mean() == pytest.approx(3.03, abs=0.05)
    # Log-normal diameters: median 0.48 (benign) and 0.56 (melanoma) of the image side.
    assert np.median(values(benign, "diameter")) == pytest.approx(0.48, abs=0.015)
    assert np.median(values(melanoma, "diameter")) == pytest.approx(0.56, abs=0.015)
    # Realistic overlap: a fair share of nevi look "melanoma-like" and vice versa.
    assert (values(benign, "asymmetry") > 0.5).mean() > 0.2
    assert (values(melanoma, "border_irregularity") < 0.35).mean() > 0.15
    assert (n_colours_melanoma == 1).mean() > 0.04
    assert (values(melanoma, "diameter") < np.median(values(benign, "diameter"))).mean() > 0.2
    # Blue-grey and black are more common in melanomas.
    for colour in ("black", "blue-grey"):
        share_benign = np.mean([colour in sample["colours"] for sample in benign])
        share_melanoma = np.mean([colour in sample["colours"] for sample in melanoma])
        assert share_melanoma > 2 * share_benign


def test_artefacts_do_not_depend_on_the_label():
    counts = {0: {name: 0 for name in ARTEFACT_PROBABILITIES},
              1: {name: 0 for name in ARTEFACT_PROBABILITIES}}
    n_images = 300
    for label in (0, 1):
        for index in range(n_images):
            _, _, attributes = render_lesion(1000 * label + index, label, 24)
            for name in attributes["artefacts"]:
                counts[label][name] += 1
    for name, probability in ARTEFACT_PROBABILITIES.items():
        # Standard error of a share of 300 is at most 0.029: allow 3.5 of them.
        for label in (0, 1):
            assert counts[label][name] / n_images == pytest.approx(probability, abs=0.1)


# ------------------------------------------------------------------------------------------
# Labels and ids
# ------------------------------------------------------------------------------------------

def test_melanoma_count_keeps_the_isic_ratio():
    assert melanoma_count(900, "train") == 173
    assert melanoma_count(379, "test") == 75
    assert melanoma_count(160, "train") == 31        # 160 * 173 / 900 = 30.76
    assert melanoma_count(60, "test") == 12          # 60 * 75 / 379 = 11.87
    assert melanoma_count(2, "train") == 0           # 0.38
    for n_images in range(5, 200):
        assert melanoma_count(n_images, "train") >= 1
        assert melanoma_count(n_images, "test") >= 1


def test_labels_hold_the_ratio_for_every_prefix():
    train = synthderm_labels(900, "train")
    assert train.sum() == 173 and set(np.unique(train)) == {0, 1}
    for n_images in (1, 5, 12, 100, 450, 451, 899):
        assert synthderm_labels(n_images, "train").sum() == round(n_images * 173 / 900)
        assert np.array_equal(synthderm_labels(n_images, "train"), train[:n_images])
    assert synthderm_labels(379, "test").sum() == 75
    # round(3 * 173 / 900) = 1, so the third training image is the first melanoma
    # (as ISIC_0000002 is in the real data set).
    assert list(train[:8]) == [0, 0, 1, 0, 0, 0, 0, 1]


def test_ids_are_isic_style_and_train_test_disjoint():
    train, test = synthderm_ids(900, "train"), synthderm_ids(379, "test")
    assert train[:8] == ["ISIC_0000000", "ISIC_0000001", "ISIC_0000002", "ISIC_0000004",
                         "ISIC_0000005", "ISIC_0000007", "ISIC_0000008", "ISIC_0000010"]
    assert test[:4] == ["ISIC_0000003", "ISIC_0000006", "ISIC_0000009", "ISIC_0000013"]
    assert len(set(train)) == 900 and len(set(test)) == 379 and not set(train) & set(test)
    assert all(len(image_id) == 12 for image_id in train + test)


# ------------------------------------------------------------------------------------------
# The data set on disk
# ------------------------------------------------------------------------------------------

def test_layout_and_csv_bytes(tmp_path):
    root = make_synthderm(tmp_path / "synthderm", n_train=12, n_test=7, image_size=32, seed=0)
    assert root == tmp_path / "synthderm"
    # Hand-computed: melanomas where round(n * 173 / 900) steps up (training images 2 and 7,
    # ids 2 and 10) and where round(n * 75 / 379) steps up (test image 2, id 9).
    train_rows = [("0000000", "benign"), ("0000001", "benign"), ("0000002", "malignant"),
                  ("0000004", "benign"), ("0000005", "benign"), ("0000007", "benign"),
                  ("0000008", "benign"), ("0000010", "malignant"), ("0000011", "benign"),
                  ("0000012", "benign"), ("0000014", "benign"), ("0000015", "benign")]
    test_rows = [("0000003", "0.0"), ("0000006", "0.0"), ("0000009", "1.0"),
                 ("0000013", "0.0"), ("0000016", "0.0"), ("0000019", "0.0"),
                 ("0000023", "0.0")]
    expected_train = "\r\n".join(f"ISIC_{number},{label}" for number, label in train_rows)
    expected_test = "\r\n".join(f"ISIC_{number},{label}" for number, label in test_rows)
    train_bytes = (root / TRAIN_CSV).read_bytes()
    test_bytes = (root / TEST_CSV).read_bytes()
    assert train_bytes == expected_train.encode("ascii")
    assert test_bytes == expected_test.encode("ascii")
    assert train_bytes.startswith(b"ISIC_0000000,benign\r\n")       # no header
    assert not train_bytes.endswith(b"\n") and not test_bytes.endswith(b"\n")
    assert b"\n" not in train_bytes.replace(b"\r\n", b"")           # CRLF only

    for image_dir, mask_dir, rows in ((TRAIN_IMAGES, TRAIN_MASKS, train_rows),
                                      (TEST_IMAGES, TEST_MASKS, test_rows)):
        names = sorted(path.name for path in (root / image_dir).iterdir())
        assert names == sorted(f"ISIC_{number}.jpg" for number, _ in rows)
        mask_names = sorted(path.name for path in (root / mask_dir).iterdir())
        assert mask_names == sorted(f"ISIC_{number}_Segmentation.png" for number, _ in rows)
        for number, _ in rows:
            image = Image.open(root / image_dir / f"ISIC_{number}.jpg")
            mask = Image.open(root / mask_dir / f"ISIC_{number}_Segmentation.png")
            assert image.format == "JPEG" and image.mode == "RGB" and image.size == (32, 32)
            # Quality 90 scales the standard luminance table's first entry 16 by 0.2 -> 3.
            assert image.quantization[0][0] == 3
            assert mask.format == "PNG" and mask.mode == "L" and mask.size == image.size
            assert set(np.unique(np.asarray(mask))) <= {0, 255}
    readme = (root / "README.txt").read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme and "seed=0" in readme
    parameters = json.loads((root / "synthderm.json").read_text(encoding="utf-8"))
    assert parameters == {"generator": "SynthDerm", "version": synthetic.GENERATOR_VERSION,
                          "seed": 0, "n_train": 12, "n_test": 7, "image_size": 32,
                          "complete": True}


def test_written_masks_match_render_lesion(tmp_path):
    root = make_synthderm(tmp_path, n_train=3, n_test=2, image_size=40, seed=4)
    _, labels, _, masks = read_split(root, "test")
    for index in range(2):
        _, mask, _ = render_lesion(synthetic.image_rng(4, "test", index), int(labels[index]), 40)
        assert np.array_equal(masks[index], mask)


def test_same_seed_gives_identical_bytes_other_seed_differs(tmp_path):
    first = all_files(make_synthderm(tmp_path / "a", 6, 4, image_size=48, seed=7))
    second = all_files(make_synthderm(tmp_path / "b", 6, 4, image_size=48, seed=7))
    other = all_files(make_synthderm(tmp_path / "c", 6, 4, image_size=48, seed=8))
    assert len(first) == 2 * 6 + 2 * 4 + 2 + 2      # images, masks, 2 CSVs, README, json
    assert first == second
    jpegs = [name for name in first if name.endswith(".jpg")]
    assert all(first[name] != other[name] for name in jpegs)
    # Labels depend on the counts only, so the CSVs agree across seeds.
    assert first[TRAIN_CSV] == other[TRAIN_CSV]


def test_images_do_not_depend_on_how_many_are_made(tmp_path):
    small = make_synthderm(tmp_path / "small", n_train=5, n_test=2, image_size=32, seed=1)
    large = make_synthderm(tmp_path / "large", n_train=9, n_test=6, image_size=32, seed=1)
    for image_dir, mask_dir in ((TRAIN_IMAGES, TRAIN_MASKS), (TEST_IMAGES, TEST_MASKS)):
        for path in (small / image_dir).iterdir():
            assert path.read_bytes() == (large / image_dir / path.name).read_bytes()
        for path in (small / mask_dir).iterdir():
            assert path.read_bytes() == (large / mask_dir / path.name).read_bytes()


@pytest.mark.parametrize("image_size", [40, 257])
def test_make_synthderm_any_image_size(tmp_path, image_size):
    root = make_synthderm(tmp_path, n_train=2, n_test=1, image_size=image_size)
    _, _, images, masks = read_split(root, "train")
    assert all(image.shape == (image_size, image_size, 3) for image in images)
    assert all(mask.shape == (image_size, image_size) for mask in masks)


def test_second_call_does_not_rewrite(tmp_path):
    root = make_synthderm(tmp_path, n_train=4, n_test=2, image_size=32, seed=0)
    stamps = {path: path.stat().st_mtime_ns for path in root.rglob("*") if path.is_file()}
    old = 1_000_000_000 * 10**9                    # 2001: any rewrite would change it
    for path in stamps:
        os.utime(path, ns=(old, old))
    assert make_synthderm(tmp_path, n_train=4, n_test=2, image_size=32, seed=0) == root
    assert all(path.stat().st_mtime_ns == old for path in stamps)


def test_other_parameters_or_missing_files_regenerate(tmp_path):
    make_synthderm(tmp_path, n_train=6, n_test=3, image_size=32, seed=0)
    make_synthderm(tmp_path, n_train=4, n_test=3, image_size=32, seed=0)
    assert len(list((tmp_path / TRAIN_IMAGES).iterdir())) == 4     # old extra files removed
    assert len(list((tmp_path / TRAIN_MASKS).iterdir())) == 4
    assert json.loads((tmp_path / "synthderm.json").read_text())["n_train"] == 4
    reference = all_files(tmp_path)
    missing = tmp_path / TEST_IMAGES / "ISIC_0000003.jpg"
    missing.unlink()
    make_synthderm(tmp_path, n_train=4, n_test=3, image_size=32, seed=0)
    assert all_files(tmp_path) == reference


def test_interrupted_generation_is_redone(tmp_path):
    make_synthderm(tmp_path, n_train=4, n_test=2, image_size=32, seed=0)
    reference = all_files(tmp_path)
    # What a run killed halfway leaves: the marker says incomplete, some files are missing.
    marker = tmp_path / "synthderm.json"
    marker.write_text(marker.read_text().replace('"complete": true', '"complete": false'))
    (tmp_path / TEST_MASKS / "ISIC_0000006_Segmentation.png").unlink()
    (tmp_path / TEST_CSV).unlink()
    make_synthderm(tmp_path, n_train=4, n_test=2, image_size=32, seed=0)
    assert all_files(tmp_path) == reference


def test_never_overwrites_a_folder_it_did_not_write(tmp_path):
    (tmp_path / TRAIN_IMAGES).mkdir()
    real = tmp_path / TRAIN_IMAGES / "ISIC_0000000.jpg"
    real.write_bytes(b"real data")
    with pytest.raises(FileExistsError, match="empty or new folder"):
        make_synthderm(tmp_path, n_train=2, n_test=1, image_size=32)
    assert real.read_bytes() == b"real data"


@pytest.mark.parametrize("arguments, message", [
    (dict(n_train=0, n_test=5), "n_train must be a positive integer"),
    (dict(n_train=-3, n_test=5), "n_train must be a positive integer"),
    (dict(n_train=2.5, n_test=5), "n_train must be a positive integer"),
    (dict(n_train=True, n_test=5), "n_train must be a positive integer"),
    (dict(n_train=5, n_test=0), "n_test must be a positive integer.*pass e.g. n_test=100"),
    (dict(n_train=5, n_test=5, image_size=15), "image_size must be an integer of at least 16"),
    (dict(n_train=5, n_test=5, image_size=64.0), "pass e.g. image_size=256"),
    (dict(n_train=5, n_test=5, seed=-1), "seed must be a non-negative integer"),
])
def test_argument_validation(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        make_synthderm(tmp_path / "never", **arguments)
    assert not (tmp_path / "never").exists()


# ------------------------------------------------------------------------------------------
# Learnable, but not trivially
# ------------------------------------------------------------------------------------------

def lesion_features(image: np.ndarray, mask: np.ndarray) -> list[float]:
    """Hand-made ABCD features: colours inside the mask, darkness, colour count, area,
    asymmetry about the principal axes, border irregularity."""
    lesion = mask > 127
    if lesion.sum() < 5:
        lesion = np.ones_like(lesion)
    pixels = image[lesion].astype(np.float32)
    skin = np.median(image[~lesion].astype(np.float32), axis=0) if (~lesion).any() else 255
    relative = pixels / np.maximum(skin, 1)
    brightness = pixels.mean(axis=1)
    # Asymmetry: mirror the lesion across each principal axis, count pixels that miss.
    rows, columns = np.nonzero(lesion)
    centred = np.stack([columns - columns.mean(), rows - rows.mean()], axis=1)
    _, axes = np.linalg.eigh(np.cov(centred.T))
    mismatch = []
    for axis in (0, 1):
        mirrored = centred @ axes
        mirrored[:, axis] *= -1
        back = mirrored @ axes.T
        x = np.clip(np.round(back[:, 0] + columns.mean()).astype(int), 0, lesion.shape[1] - 1)
        y = np.clip(np.round(back[:, 1] + rows.mean()).astype(int), 0, lesion.shape[0] - 1)
        mismatch.append(1.0 - lesion[y, x].mean())
    # Border: perimeter^2 / (4 pi area) is 1 for a disc, larger for ragged outlines.
    interior = lesion.copy()
    interior[1:-1, 1:-1] = (lesion[1:-1, 1:-1] & lesion[:-2, 1:-1] & lesion[2:, 1:-1]
                            & lesion[1:-1, :-2] & lesion[1:-1, 2:])
    perimeter = (lesion & ~interior).sum()
    # Colour count: colours relative to the skin in 4 levels per channel, bins over 5 %.
    levels = np.clip((relative * 3).astype(int), 0, 3)
    shares = np.bincount(levels @ np.array([16, 4, 1]), minlength=64) / len(levels)
    return [*pixels.mean(axis=0), *pixels.std(axis=0), *relative.mean(axis=0),
            (brightness < 60).mean(), (pixels[:, 2] > pixels[:, 0]).mean(),
            (shares > 0.05).sum(), lesion.mean(), min(mismatch), max(mismatch),
            perimeter ** 2 / (4 * np.pi * lesion.sum()), brightness.std()]


def test_simple_feature_baseline_learns_but_does_not_solve_it(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # 96 px: the smoke profile's SynthDerm size.
    root = make_synthderm(tmp_path, n_train=300, n_test=120, image_size=96, seed=0)
    _, train_labels, train_images, train_masks = read_split(root, "train")
    _, test_labels, test_images, test_masks = read_split(root, "test")
    assert train_labels.sum() == 58 and test_labels.sum() == 24   # round(57.67), round(23.75)
    train_features = [lesion_features(i, m) for i, m in zip(train_images, train_masks)]
    test_features = [lesion_features(i, m) for i, m in zip(test_images, test_masks)]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(train_features, train_labels)
    auc = roc_auc_score(test_labels, model.predict_proba(test_features)[:, 1])
    # Measured while tuning (this feature set, 300/120 images): seed 0 gives 0.82 at 96 px;
    # seeds 0-5 at 80 px gave 0.77-0.91; 900/379 images at 128 px gave 0.89-0.92.
    assert 0.70 <= auc <= 0.97, f"baseline ROC AUC {auc:.3f} outside [0.70, 0.97]"


# ------------------------------------------------------------------------------------------
# Loading through the ISIC 2016 loader
# ------------------------------------------------------------------------------------------

def test_load_synthderm_reads_through_the_isic2016_loader(tmp_path):
    pytest.importorskip("course_lib.data.isic2016",
                        reason="course_lib.data.isic2016 is not written yet")
    from course_lib.data import load_synthderm

    root = make_synthderm(tmp_path, n_train=8, n_test=5, image_size=32, seed=2)
    for split in ("train", "test"):
        record = load_synthderm(root, split)
        ids, labels, _, _ = read_split(root, split)
        assert list(record.ids) == ids
        assert np.array_equal(np.asarray(record.labels), labels)
        assert [Path(path).name for path in record.image_paths] == [f"{i}.jpg" for i in ids]
        assert [Path(path).name for path in record.mask_paths] == [
            f"{i}_Segmentation.png" for i in ids]
