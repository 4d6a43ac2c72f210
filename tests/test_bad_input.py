"""Bad input across the public API: every case stops with an error of the stated type whose
message names the culprit and says what to do (docs/BAD_INPUT.md lists the same cases, one line
each; the last test keeps the two in step)."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from course_lib import augment, config, metrics, pairs
from course_tools import cli

try:
    import fixtures_isic as fx
except ImportError:  # pragma: no cover
    from tests import fixtures_isic as fx

DOC = Path(__file__).resolve().parents[1] / "docs" / "BAD_INPUT.md"


def _layout(tmp_path):
    return fx.write_layout(tmp_path / "isic")


def _data_case(change):
    def run(tmp_path):
        from course_lib.data import load_isic2016

        root = _layout(tmp_path)
        change(root)
        return load_isic2016(root, "train")
    return run


def _truncate(root):
    path = root / "ISBI2016_ISIC_Part1_Training_Data" / "ISIC_0000001.jpg"
    path.write_bytes(path.read_bytes()[:-200])


def _tiny_image(root):
    fx.write_jpeg(root / "ISBI2016_ISIC_Part1_Training_Data" / "ISIC_0000002.jpg", size=(1, 1))
    fx.write_mask(root / "ISBI2016_ISIC_Part1_Training_GroundTruth"
                  / "ISIC_0000002_Segmentation.png", size=(1, 1))


def _duplicate_ids(root):
    csv = root / "ISBI2016_ISIC_Part3_Training_GroundTruth.csv"
    csv.write_bytes(csv.read_bytes() + b"\r\nISIC_0000000,benign")


def _wrong_csv(root):
    csv = root / "ISBI2016_ISIC_Part3_Training_GroundTruth.csv"
    csv.write_text("ISIC_0000000;benign\r\nISIC_0000001;malignant")


def _mask_size(root):
    fx.write_mask(root / "ISBI2016_ISIC_Part1_Training_GroundTruth"
                  / "ISIC_0000003_Segmentation.png", size=(10, 10))


def _no_labels(root):
    (root / "ISBI2016_ISIC_Part3_Training_GroundTruth.csv").unlink()


def _course(*args):
    def run(tmp_path):
        code = cli.main([str(a) for a in args])
        if code:
            raise SystemExit(code)
    return run


def _keras(build):
    def run(tmp_path):
        from course_lib import losses  # noqa: F401 - imports Keras
        from course_lib.models import backbones, unet

        return build(backbones, unet)
    return run


# (case id, call(tmp_path), error type, words naming the culprit, words saying what to do)
CASES = [
    ("data/wrong-folder", lambda t: __import__("course_lib.data", fromlist=["x"]).load_isic2016(
        t / "nowhere", "train"), FileNotFoundError, ["nowhere", "does not exist"],
     ["course download isic2016"]),
    ("data/empty-folder", lambda t: __import__("course_lib.data", fromlist=["x"]).load_isic2016(
        t, "train"), FileNotFoundError, ["ISBI2016_ISIC_Part1_Training_Data"],
     ["course download isic2016"]),
    ("data/no-label-file", _data_case(_no_labels), FileNotFoundError,
     ["ISBI2016_ISIC_Part3_Training_GroundTruth.csv"], ["course download isic2016"]),
    ("data/wrong-csv", _data_case(_wrong_csv), ValueError, ["line 1", "ISIC_0000000;benign"],
     ["re-download"]),
    ("data/duplicate-ids", _data_case(_duplicate_ids), ValueError, ["ISIC_0000000",
                                                                    "already appeared"],
     ["re-download"]),
    ("data/truncated-jpeg", _data_case(_truncate), ValueError, ["ISIC_0000001.jpg",
                                                                "end-of-image marker"],
     ["course download isic2016"]),
    ("data/1x1-image", _data_case(_tiny_image), ValueError, ["ISIC_0000002.jpg", "1x1 px"],
     ["course download isic2016"]),
    ("data/mask-size", _data_case(_mask_size), ValueError, ["ISIC_0000003_Segmentation.png",
                                                            "10x10"],
     ["course download isic2016", "allow_missing"]),
    ("metrics/nan-scores", lambda t: metrics.classification_scores([0, 1, 1], [0.2, np.nan, 0.7]),
     ValueError, ["y_score", "NaN"], ["check the model output"]),
    ("metrics/unequal-lengths", lambda t: metrics.classification_scores([0, 1, 1], [0.2, 0.5]),
     ValueError, ["3 entries", "2"], ["one score per image"]),
    ("metrics/labels-not-binary", lambda t: metrics.classification_scores([0, 2, 1],
                                                                          [0.2, 0.5, 0.4]),
     ValueError, ["y_true"], ["0/1"]),
    ("metrics/mask-shapes", lambda t: metrics.segmentation_scores([np.zeros((4, 4))],
                                                                  [np.zeros((5, 4))]),
     ValueError, ["index 0", "(4, 4)", "(5, 4)"], ["resize the prediction"]),
    ("metrics/mask-lists-unequal", lambda t: metrics.segmentation_scores(
        [np.zeros((4, 4))] * 2, [np.zeros((4, 4))]), ValueError, ["2 truth masks", "1 predicted"],
     ["one prediction per truth mask"]),
    ("augment/wrong-dtype", lambda t: augment.apply("rot90", np.zeros((8, 8, 3)),
                                                    np.zeros((8, 8), np.uint8)),
     ValueError, ["float64"], ["uint8"]),
    ("augment/wrong-rank", lambda t: augment.apply("rot90", np.zeros((8, 8), np.uint8),
                                                   np.zeros((8, 8), np.uint8)),
     ValueError, ["shape (8, 8)"], ["RGB uint8"]),
    ("augment/unknown-op", lambda t: augment.apply("rotate", np.zeros((8, 8, 3), np.uint8),
                                                   np.zeros((8, 8), np.uint8)),
     ValueError, ["'rotate'"], ["Valid ops: rot90"]),
    ("pairs/one-hot-labels", lambda t: pairs.method1_indices(np.zeros((4, 2))), ValueError,
     ["shape (4, 2)"], ["argmax(axis=1)"]),
    ("pairs/labels-not-binary", lambda t: pairs.method1_indices(np.array([0, 2, 1, 1])),
     ValueError, ["[2]"], ["0 (benign) and 1 (melanoma) only", "Map the classes to 0/1"]),
    ("models/unknown-encoder", _keras(lambda b, u: u.build_unet("resnet7", (64, 64, 3))),
     ValueError, ["'resnet7'"], ["Valid encoders: mobilenet"]),
    ("models/unknown-backbone", _keras(lambda b, u: b.build_backbone("mobilenetv9",
                                                                      (64, 64, 3))),
     ValueError, ["'mobilenetv9'"], ["Valid backbones:"]),
    ("models/input-too-small", _keras(lambda b, u: b.build_backbone("mobilenet", (16, 16, 3))),
     ValueError, ["(16, 16, 3)"], [">= 32"]),
    ("models/unet-odd-size", _keras(lambda b, u: u.build_unet("mobilenet", (100, 100, 3))),
     ValueError, ["100x100", "multiples of 32"], ["Resize the images to e.g. 96 px"]),
    ("losses/bad-alpha", _keras(lambda b, u: __import__("course_lib.losses", fromlist=["x"])
                                .focal_loss(alpha=2)), ValueError, ["alpha", "2.0"], ["[0, 1]"]),
    ("losses/focal-shape", _keras(lambda b, u: __import__("course_lib.losses", fromlist=["x"])
                                  .focal_loss()(np.zeros((4, 1)), np.full((3, 1), 0.5))),
     ValueError, ["(4, 1)", "(3, 1)"], ["one label (or mask) per prediction"]),
    ("losses/dice-shape", _keras(lambda b, u: __import__("course_lib.losses", fromlist=["x"])
                                 .dice_loss(np.zeros((2, 8, 8, 1), "float32"),
                                            np.zeros((2, 4, 4, 1), "float32"))),
     ValueError, ["(2, 8, 8, 1)", "(2, 4, 4, 1)"], ["at the same image size"]),
    ("config/unknown-profile", lambda t: config.get_profile("huge"), ValueError, ["'huge'"],
     ["Valid profiles: smoke, laptop, showcase, lab, paper"]),
    ("config/bad-override", lambda t: config.parse_overrides("image_size=big"), ValueError,
     ["image_size", "'big'"], ["whole number", "image_size=128"]),
    ("config/unknown-override", lambda t: config.parse_overrides("epoch=3"), ValueError,
     ["'epoch'"], ["Valid fields: data_source, image_size"]),
    ("config/bad-COURSE_SEED", None, ValueError, ["COURSE_SEED", "'x'"], ["Unset it or fix"]),
    ("cli/unknown-profile", _course("run", "--profile", "huge"), SystemExit, ["'huge'"],
     ["Valid profiles"]),
    ("cli/bad-set", _course("run", "--set", "epochs=many"), SystemExit, ["epochs", "'many'"],
     ["whole number"]),
    ("cli/missing-notebook", _course("run", "42"), SystemExit, ["42"], ["Available: 00_"]),
]


@pytest.mark.parametrize("case, call, error, culprit, fix", CASES, ids=[c[0] for c in CASES])
def test_bad_input_names_the_culprit_and_the_fix(case, call, error, culprit, fix, tmp_path,
                                                 monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "runs"))
    if case == "config/bad-COURSE_SEED":
        monkeypatch.setenv("COURSE_SEED", "x")
        call = lambda t: config.get_profile("smoke")  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error) as info:
            call(tmp_path)
    message = str(info.value) if error is not SystemExit else capsys.readouterr().err
    if error is SystemExit:
        assert info.value.code == 2
    for word in culprit + fix:
        assert word in message, f"{case}: {word!r} not in {message!r}"


def test_docs_list_every_case_once():
    text = DOC.read_text(encoding="utf-8")
    listed = re.findall(r"^\| `([a-z]+/[A-Za-z0-9_-]+)` \|", text, flags=re.M)
    assert sorted(listed) == sorted(c[0] for c in CASES)
    assert len(CASES) >= 25
