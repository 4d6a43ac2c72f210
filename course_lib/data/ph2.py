"""PH2 (Hospital Pedro Hispano, Portugal) as a second clinic: 200 dermoscopy images with lesion
masks and a clinical diagnosis, read as it is distributed.

Taught in 06_unet_segmentation (how much a U-Net trained on ISIC 2016 loses on another clinic's
images). Nothing downloads PH2: its licence asks users to request it from its authors. Put the
unpacked folder in ``<data_dir>/ph2`` or point ``COURSE_PH2_DIR`` at it::

    PH2Dataset/PH2_dataset.xlsx                  (or its text version PH2_dataset.txt)
    PH2Dataset/PH2 Dataset images/IMD002/IMD002_Dermoscopic_Image/IMD002.bmp
    PH2Dataset/PH2 Dataset images/IMD002/IMD002_lesion/IMD002_lesion.bmp
    PH2Dataset/PH2 Dataset images/IMD002/IMD002_roi/...                      (ignored)

:func:`load_ph2` returns the same :class:`DatasetRecord` as ``load_isic2016`` (ids ``IMDxxx``,
``labels`` 1 = melanoma), plus the clinical diagnosis as ``record.diagnosis`` (:data:`DIAGNOSES`).
"""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from .. import config
from .isic2016 import DatasetRecord

__all__ = ["DIAGNOSES", "ph2_root", "load_ph2", "read_ph2_sheet"]

#: The clinical diagnoses of PH2, in the order of the sheet's columns (and of the text
#: version's codes 0, 1, 2).
DIAGNOSES = ("common nevus", "atypical nevus", "melanoma")
_ID = re.compile(r"^IMD\d{3}$")
_IMAGES = "PH2 Dataset images"
_SHEET = "PH2_dataset.xlsx"
_TEXT = "PH2_dataset.txt"
_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def ph2_root() -> Path:
    """``$COURSE_PH2_DIR``, else ``<data_dir>/ph2``."""
    env = os.environ.get("COURSE_PH2_DIR", "").strip()
    return Path(env).expanduser() if env else config.data_dir() / "ph2"


def _find(root: Path, name: str) -> Path | None:
    """``root/name`` or one folder deeper (the archive unpacks into ``PH2Dataset/``)."""
    for candidate in [root / name, *(p / name for p in sorted(root.glob("*")) if p.is_dir())]:
        if candidate.exists():
            return candidate
    return None


def _xlsx_rows(path: Path) -> list[list[str]]:
    """The first sheet of an .xlsx as rows of strings (no extra package: an .xlsx is a zip of
    XML files; shared strings resolved, empty cells as "")."""
    with zipfile.ZipFile(path) as book:
        names = set(book.namelist())
        shared = []
        if "xl/sharedStrings.xml" in names:
            tree = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
            shared = ["".join(t.text or "" for t in item.iter(f"{{{_NS['m']}}}t"))
                      for item in tree.findall("m:si", _NS)]
        sheet = sorted(n for n in names if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))[0]
        tree = ElementTree.fromstring(book.read(sheet))
    rows = []
    for row in tree.iter(f"{{{_NS['m']}}}row"):
        cells: dict[int, str] = {}
        for cell in row.findall("m:c", _NS):
            letters = re.match(r"[A-Z]+", cell.get("r", "A")).group(0)
            column = 0
            for letter in letters:
                column = column * 26 + ord(letter) - 64
            value = cell.find("m:v", _NS)
            inline = cell.find("m:is", _NS)
            text = "" if value is None else (value.text or "")
            if cell.get("t") == "s" and text:
                text = shared[int(text)]
            elif inline is not None:
                text = "".join(t.text or "" for t in inline.iter(f"{{{_NS['m']}}}t"))
            cells[column - 1] = text.strip()
        if cells:
            rows.append([cells.get(i, "") for i in range(max(cells) + 1)])
    return rows


def _from_marked_columns(rows: list[list[str]], path: Path) -> dict[str, str]:
    """The sheet marks each image's clinical diagnosis with an X under one of three columns."""
    columns = {}
    for row in rows:
        for index, text in enumerate(row):
            for diagnosis in DIAGNOSES:
                if text.lower() == diagnosis:
                    columns[diagnosis] = index
        if len(columns) == len(DIAGNOSES):
            break
    if len(columns) != len(DIAGNOSES):
        raise ValueError(f"{path}: no 'Common Nevus', 'Atypical Nevus' and 'Melanoma' columns "
                         "found; is this the PH2_dataset.xlsx distributed with PH2?")
    found = {}
    for row in rows:
        name = next((text for text in row if _ID.match(text)), None)
        if name is None:
            continue
        marked = [d for d, i in columns.items() if i < len(row) and row[i].strip()]
        if len(marked) != 1:
            raise ValueError(f"{path}: row {name} marks {len(marked)} clinical diagnoses "
                             f"({', '.join(marked) or 'none'}); exactly one is expected.")
        found[name] = marked[0]
    return found


def _from_text(path: Path) -> dict[str, str]:
    """PH2_dataset.txt: ``||``-separated rows; the "Clinical Diagnosis" column holds 0, 1, 2."""
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
             if "||" in line]
    split = [[cell.strip() for cell in line.strip().strip("|").split("||")] for line in lines]
    header = next((row for row in split if any("clinical diagnosis" in c.lower() for c in row)),
                  None)
    if header is None:
        raise ValueError(f"{path}: no 'Clinical Diagnosis' column; is this the PH2_dataset.txt "
                         "distributed with PH2?")
    column = next(i for i, c in enumerate(header) if "clinical diagnosis" in c.lower())
    found = {}
    for row in split:
        if not row or not _ID.match(row[0]):
            continue
        code = row[column] if column < len(row) else ""
        if code not in ("0", "1", "2"):
            raise ValueError(f"{path}: row {row[0]} has clinical diagnosis {code!r}; expected "
                             "0 (common nevus), 1 (atypical nevus) or 2 (melanoma).")
        found[row[0]] = DIAGNOSES[int(code)]
    return found


def read_ph2_sheet(path: str | Path) -> dict[str, str]:
    """``{image id: clinical diagnosis}`` from PH2_dataset.xlsx or PH2_dataset.txt."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        found = _from_marked_columns(_xlsx_rows(path), path)
    else:
        found = _from_text(path)
    if not found:
        raise ValueError(f"{path}: no image rows (IMDxxx) found.")
    return found


def load_ph2(root: str | Path | None = None) -> DatasetRecord:
    """Read PH2 as distributed (module docstring) into a DatasetRecord with split ``"ph2"`` and
    ``record.diagnosis``. Images without a row, rows without an image and missing files raise
    ``ValueError``; a missing folder ``FileNotFoundError`` saying where to put it."""
    root = Path(root) if root is not None else ph2_root()
    if not root.is_dir():
        raise FileNotFoundError(
            f"No PH2 folder at {root}. PH2 is not downloaded by the course (its authors hand it "
            "out on request: https://www.fc.up.pt/addi/ph2%20database.html); unpack it there or "
            "set COURSE_PH2_DIR to its folder.")
    images_dir = _find(root, _IMAGES)
    sheet = _find(root, _SHEET) or _find(root, _TEXT)
    if images_dir is None or sheet is None:
        missing = [name for name, found in ((_IMAGES + "/", images_dir),
                                            (f"{_SHEET} (or {_TEXT})", sheet)) if found is None]
        raise FileNotFoundError(f"{root} is not the PH2 folder as distributed: "
                                f"{' and '.join(missing)} not found in it.")
    diagnosis = read_ph2_sheet(sheet)
    folders = {p.name: p for p in sorted(images_dir.iterdir()) if p.is_dir() and _ID.match(p.name)}
    no_row = sorted(set(folders) - set(diagnosis))
    no_image = sorted(set(diagnosis) - set(folders))
    ids = sorted(set(folders) & set(diagnosis))
    image_paths = [folders[i] / f"{i}_Dermoscopic_Image" / f"{i}.bmp" for i in ids]
    mask_paths = [folders[i] / f"{i}_lesion" / f"{i}_lesion.bmp" for i in ids]
    absent = [str(p) for p in image_paths + mask_paths if not p.is_file()]
    kinds = ((no_row, f"image folder(s) without a row in {sheet.name}", 5),
             (no_image, f"row(s) of {sheet.name} without an image folder", 5),
             (absent, "missing file(s)", 3))
    problems = [f"{len(names)} {what} ({', '.join(names[:shown])})"
                for names, what, shown in kinds if names]
    if problems:
        raise ValueError(f"PH2 in {root} is incomplete: " + "; ".join(problems)
                         + ". Unpack the PH2 archive again.")
    record = DatasetRecord(split="ph2", root=root, ids=ids,
                           labels=np.array([diagnosis[i] == "melanoma" for i in ids], np.int64),
                           image_paths=image_paths, mask_paths=mask_paths)
    record.diagnosis = [diagnosis[i] for i in ids]
    return record
