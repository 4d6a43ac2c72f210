"""A classroom mirror of ISIC 2016: the official archives (or a stratified subset) served from a
teacher's machine, so that thirty students do not saturate the campus link at once.

Taught in 00_setup_and_metrics (where the data comes from). A teacher builds it once::

    course mirror make mirror/ --n-train 300 --n-test 120     # from data/isic2016
    cd mirror && python -m http.server 8000                    # any static web server

and the students point the course at it::

    COURSE_ISIC2016_MIRROR=http://teacher-laptop:8000/ jupyter lab
    course download isic2016 --mirror http://teacher-laptop:8000/

The mirror holds the official files and layout (the Part 1 zips, each with its folder inside,
and the Part 3 label CSVs) and ``mirror.json`` (per file: sha256, size, image and melanoma
counts), which a download from the mirror checks instead of the official counts (900 / 379).
"""
from __future__ import annotations

import csv
import json
import os
import zipfile
from pathlib import Path

from .. import config
from .isic2016 import _SPLIT_WORD, _sha256

__all__ = ["MIRROR_INDEX", "MIRROR_FORMAT", "make_mirror", "read_mirror_index", "mirror_url"]

MIRROR_INDEX = "mirror.json"
MIRROR_FORMAT = "dermalite-isic2016-mirror/1"


def mirror_url(url: str | None = None) -> str | None:
    """The mirror to download from: ``url``, else ``$COURSE_ISIC2016_MIRROR``, else None.
    Always ends with ``/``."""
    url = url if url is not None else os.environ.get("COURSE_ISIC2016_MIRROR", "").strip()
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"The ISIC 2016 mirror must be an http(s) URL, got {url!r} "
                         "(e.g. COURSE_ISIC2016_MIRROR=http://teacher-laptop:8000/).")
    return url if url.endswith("/") else url + "/"


def _zip(folder_name: str, files: list[tuple[Path, str]], archive: Path) -> None:
    """Write ``archive`` holding ``folder_name/<arcname>`` for every (path, arcname); files are
    stored (JPEG and PNG are compressed already), in a fixed order."""
    tmp = archive.with_name(archive.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as handle:
        for path, arcname in files:
            handle.write(path, f"{folder_name}/{arcname}")
    tmp.replace(archive)


def _write_labels(path: Path, record, split: str) -> None:
    """The Part 3 ground-truth CSV as the challenge wrote it: no header; training labels as
    words (benign / malignant), test labels as numbers (0.0 / 1.0)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        for image_id, label in zip(record.ids, record.labels):
            word = "malignant" if label else "benign"
            writer.writerow([image_id, word if split == "train" else f"{float(label):.1f}"])
    tmp.replace(path)


def make_mirror(out: str | Path, source: str | Path | None = None, *, n_train: int | None = None,
                n_test: int | None = None, seed: int = 0, progress: bool = True) -> dict:
    """Build a classroom mirror in ``out`` from a local ISIC 2016 folder ``source`` (default
    ``<data_dir>/isic2016``, as ``course download isic2016`` leaves it). ``n_train`` /
    ``n_test`` take a stratified subset (same melanoma share, seeded); None keeps everything.
    Returns the index written to ``out/mirror.json``.
    """
    from .isic2016 import load_isic2016

    source = Path(source) if source is not None else config.data_dir() / "isic2016"
    if not source.is_dir():
        raise FileNotFoundError(f"No ISIC 2016 folder at {source}. Download it first "
                                "(course download isic2016) or pass --source DIR.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = print if progress else (lambda *a, **k: None)
    index = {"format": MIRROR_FORMAT, "counts": {}, "files": {}}
    for split, wanted in (("train", n_train), ("test", n_test)):
        record = load_isic2016(source, split)
        if not record.has_masks:
            raise ValueError(f"{source} has no lesion mask for some {split} images; a mirror "
                             "holds the Part 1 images with their masks (course download "
                             "isic2016 without --part3).")
        if wanted is not None:
            record = record.stratified_subset(int(wanted), seed=seed)
        word = _SPLIT_WORD[split]
        n, melanoma = len(record), record.n_melanoma
        index["counts"][split] = [n, melanoma]
        images = f"ISBI2016_ISIC_Part1_{word}_Data"
        masks = f"ISBI2016_ISIC_Part1_{word}_GroundTruth"
        labels = f"ISBI2016_ISIC_Part3_{word}_GroundTruth.csv"
        _zip(images, [(p, p.name) for p in record.image_paths], out / f"{images}.zip")
        _zip(masks, [(p, p.name) for p in record.mask_paths], out / f"{masks}.zip")
        _write_labels(out / labels, record, split)
        for name in (f"{images}.zip", f"{masks}.zip", labels):
            path = out / name
            index["files"][name] = {"sha256": _sha256(path), "bytes": path.stat().st_size,
                                    "count": n, "melanoma": melanoma}
            say(f"{name}: {n} images ({melanoma} melanoma), {path.stat().st_size / 2**20:.1f} MB")
    tmp = out / (MIRROR_INDEX + ".tmp")
    tmp.write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / MIRROR_INDEX)
    say(f"Mirror ready in {out}. Serve it with: cd {out} && python -m http.server 8000; "
        "students set COURSE_ISIC2016_MIRROR=http://<this machine>:8000/")
    return index


def read_mirror_index(url: str, timeout: float = 30.0) -> dict:
    """Fetch and check ``<url>/mirror.json``; a clear error when it is missing or malformed."""
    import urllib.error
    import urllib.request

    address = mirror_url(url) + MIRROR_INDEX
    try:
        with urllib.request.urlopen(address, timeout=timeout) as response:  # noqa: S310
            index = json.loads(response.read().decode("utf-8"))
    except (urllib.error.URLError, OSError) as err:
        raise ConnectionError(f"Could not read the mirror's index {address} ({err}). Is the "
                              "teacher's server running, and is the URL right? Unset "
                              "COURSE_ISIC2016_MIRROR to download from the official "
                              "site instead.") from err
    except ValueError as err:
        raise ValueError(f"{address} is not a DermaLite mirror index (not JSON: {err}); build "
                         "it with course mirror make.") from err
    counts = index.get("counts") if isinstance(index, dict) else None
    if (not isinstance(index, dict) or index.get("format") != MIRROR_FORMAT
            or not isinstance(counts, dict) or set(counts) != {"train", "test"}
            or not isinstance(index.get("files"), dict)):
        raise ValueError(f"{address} is not a {MIRROR_FORMAT} index (format, counts for train "
                         "and test, files); rebuild the mirror with course mirror make.")
    return index
