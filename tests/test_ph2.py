"""PH2 as a second clinic (course_lib.data.ph2): a small fixture in the distributed layout (BMP
images and lesion masks in per-image folders, the diagnosis sheet as .xlsx or its text version)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course_lib.data import load_arrays, ph2

IDS = ["IMD002", "IMD003", "IMD004", "IMD058"]
DIAG = ["common nevus", "atypical nevus", "melanoma", "melanoma"]


def _bmp(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="BMP")


def _xlsx(path: Path, rows: list[list[str]]) -> None:
    """A minimal .xlsx (inline strings) as Excel writes one sheet."""
    def column(index):
        return chr(65 + index)
    body = "".join(
        f'<row r="{r + 1}">' + "".join(
            f'<c r="{column(c)}{r + 1}" t="inlineStr"><is><t>{text}</t></is></c>'
            for c, text in enumerate(row) if text) + "</row>" for r, row in enumerate(rows))
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
             'openxmlformats.org/spreadsheetml/2006/main"><sheetData>' + body
             + "</sheetData></worksheet>")
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("xl/worksheets/sheet1.xml", sheet)
        book.writestr("[Content_Types].xml", "<Types/>")


def make_ph2(root: Path, sheet: str = "xlsx") -> Path:
    base = root / "PH2Dataset"
    rng = np.random.default_rng(0)
    for image_id in IDS:
        folder = base / "PH2 Dataset images" / image_id
        _bmp(folder / f"{image_id}_Dermoscopic_Image" / f"{image_id}.bmp",
             rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        mask = np.zeros((48, 64), np.uint8)
        mask[10:30, 20:50] = 255
        _bmp(folder / f"{image_id}_lesion" / f"{image_id}_lesion.bmp", mask)
    if sheet == "xlsx":
        rows = [["Image Name", "Histological Diagnosis", "Clinical Diagnosis", "", ""],
                ["", "", "Common Nevus", "Atypical Nevus", "Melanoma"]]
        for image_id, diagnosis in zip(IDS, DIAG):
            marks = ["X" if d == diagnosis else "" for d in ph2.DIAGNOSES]
            rows.append([image_id, ""] + marks)
        _xlsx(base / "PH2_dataset.xlsx", rows)
    else:
        lines = ["|| Name || Histological Diagnosis || Clinical Diagnosis || Asymmetry ||"]
        lines += [f"|| {i} ||   ||  {ph2.DIAGNOSES.index(d)}  ||  0  ||" for i, d in zip(IDS, DIAG)]
        (base / "PH2_dataset.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.parametrize("sheet", ["xlsx", "txt"])
def test_load_ph2_reads_the_distributed_layout(tmp_path, sheet, monkeypatch):
    root = make_ph2(tmp_path / "ph2", sheet)
    record = ph2.load_ph2(root)
    assert record.ids == IDS and record.diagnosis == DIAG
    assert record.labels.tolist() == [0, 0, 1, 1] and record.has_masks
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    images, masks = load_arrays(record, 32, cache=False)
    assert images.shape == (4, 32, 32, 3) and set(np.unique(masks)) == {0, 255}
    monkeypatch.setenv("COURSE_PH2_DIR", str(root))
    assert ph2.load_ph2().ids == IDS


def test_ph2_errors_say_where_and_what(tmp_path):
    with pytest.raises(FileNotFoundError, match="COURSE_PH2_DIR"):
        ph2.load_ph2(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="PH2 Dataset images/ and PH2_dataset.xlsx"):
        ph2.load_ph2(tmp_path / "empty")
    root = make_ph2(tmp_path / "ph2")
    (root / "PH2Dataset" / "PH2 Dataset images" / "IMD003" / "IMD003_lesion"
     / "IMD003_lesion.bmp").unlink()
    with pytest.raises(ValueError, match="1 missing file"):
        ph2.load_ph2(root)
    text = make_ph2(tmp_path / "text", "txt") / "PH2Dataset" / "PH2_dataset.txt"
    text.write_text(text.read_text().replace("||  2  ||", "||  7  ||", 1))
    with pytest.raises(ValueError, match="clinical diagnosis '7'"):
        ph2.read_ph2_sheet(text)


def test_a_unet_is_scored_on_ph2_the_challenge_way(tmp_path, monkeypatch):
    """What notebook 06's PH2 section does: PH2 arrays at the model's size, masks at their
    original size, per-image JA through recipes.evaluate_unet (nothing recorded)."""
    from course_lib import recipes
    from course_lib.models import unet

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "runs"))
    record = ph2.load_ph2(make_ph2(tmp_path / "ph2"))
    images, _ = load_arrays(record, 64)
    masks = unet.load_original_masks(record)
    assert [m.shape for m in masks] == [(48, 64)] * 4
    model = unet.build_unet("mobilenet", (64, 64, 3))
    result = recipes.evaluate_unet(model, images, masks, name="u on PH2", profile="smoke",
                                record=False, n_boot=20, verbose=False)
    assert 0.0 <= result["metrics"]["JA"] <= 1.0 and len(result["per_image"]["JA"]) == 4
    assert not (tmp_path / "runs" / "smoke" / "results").exists()
