"""ISIC 2016 (ISBI 2016) skin-lesion data: download, load, decode and cache.

Taught in 01_data_and_augmentation. :func:`download_isic2016` fetches, checks and extracts the
official files (:data:`ISIC2016_FILES`); :func:`load_isic2016` reads them (or SynthDerm, which
writes the same layout) into a :class:`DatasetRecord`; :func:`load_arrays` decodes them into
uint8 arrays, cached as ``.npz`` under ``<data_dir>/cache``. Official layout under ``root``::

    ISBI2016_ISIC_Part1_Training_Data/ISIC_0000000.jpg
    ISBI2016_ISIC_Part1_Training_GroundTruth/ISIC_0000000_Segmentation.png   (0/255)
    ISBI2016_ISIC_Part1_Test_Data/...  ISBI2016_ISIC_Part1_Test_GroundTruth/...
    ISBI2016_ISIC_Part3_Training_GroundTruth.csv   (ISIC_0000000,benign / malignant)
    ISBI2016_ISIC_Part3_Test_GroundTruth.csv       (ISIC_0000003,0.0 / 1.0)
    ISBI2016_ISIC_Part3_{Training,Test}_Data/...   (the Part 3 image zips: no masks)
"""
from __future__ import annotations

import dataclasses
import hashlib
import http.client
import io
import json
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import numpy as np

from .. import config
from ..paper import MASK_THRESHOLD

__all__ = [
    "download_estimate", "BASE_URL", "ISIC2016_COUNTS", "ISIC2016_FILES", "MANIFEST_NAME", "SPLITS",
    "RemoteFile", "DatasetRecord", "DownloadError", "UnsafeArchiveError", "VerificationError",
    "isic2016_files", "download_isic2016", "read_labels_csv", "load_isic2016", "load_arrays",
    "cache_path",
]

#: Where the ISIC 2016 challenge files are hosted (file name appended).
BASE_URL = "https://isic-challenge-data.s3.amazonaws.com/2016/"
#: Human page listing the same files, for downloading by hand.
CHALLENGE_PAGE = "https://challenge.isic-archive.com/data/#2016"
#: Manifest written in the download folder: sha256, size and source of every file.
MANIFEST_NAME = "manifest.json"
SPLITS = ("train", "test")
_SPLIT_WORD = {"train": "Training", "test": "Test"}
#: (images, melanoma) per split of the official challenge (its published label files).
ISIC2016_COUNTS: dict[str, tuple[int, int]] = {"train": (900, 173), "test": (379, 75)}
_IMAGE_SUFFIXES = (".jpg", ".jpeg")
_MASK_SUFFIX = "_Segmentation.png"
_CHUNK = 1 << 20


# -- Registry ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RemoteFile:
    """One official file. ``kind``: ``"zip"`` (extracts to a folder named like the zip) or
    ``"csv"``; ``content``: ``"images"``, ``"masks"`` or ``"labels"``; ``part``: ``"part1"``,
    ``"part3"`` or ``"labels"`` (always fetched); ``expected_count``: images or masks in the
    extracted folder, or CSV rows; ``expected_melanoma``: melanoma rows (CSV only)."""

    name: str
    kind: str
    split: str
    content: str
    part: str
    expected_count: int
    expected_melanoma: int | None = None

    @property
    def folder(self) -> str | None:
        """Folder the zip extracts to (``None`` for a CSV)."""
        return self.name[:-len(".zip")] if self.kind == "zip" else None


#: (name after ``ISBI2016_ISIC_``, kind, content, part) of each official file of a split.
_OFFICIAL = (("Part3_{}_GroundTruth.csv", "csv", "labels", "labels"),
             ("Part1_{}_Data.zip", "zip", "images", "part1"),
             ("Part1_{}_GroundTruth.zip", "zip", "masks", "part1"),
             ("Part3_{}_Data.zip", "zip", "images", "part3"))

#: The one registry of official ISIC 2016 files (name, kind, expected counts).
ISIC2016_FILES: list[RemoteFile] = [
    RemoteFile(f"ISBI2016_ISIC_{name.format(_SPLIT_WORD[split])}", kind, split, content, part,
               ISIC2016_COUNTS[split][0], ISIC2016_COUNTS[split][1] if kind == "csv" else None)
    for split in SPLITS for name, kind, content, part in _OFFICIAL]


def isic2016_files(part3: bool = False,
                   counts: dict[str, tuple[int, int]] | None = None) -> list[RemoteFile]:
    """The files :func:`download_isic2016` fetches: the two label CSVs, then the Part 1 image
    and mask zips (``part3=True``: the Part 3 image zips). ``counts`` replaces the expected
    ``(images, melanoma)`` per split, e.g. ``{"train": (6, 2), "test": (4, 1)}`` for a small
    fixture. Taught in 01_data_and_augmentation."""
    counts = {**ISIC2016_COUNTS, **(counts or {})}
    unknown = set(counts) - set(SPLITS)
    if unknown:
        raise ValueError(f"counts has unknown split(s) {sorted(unknown)}; use 'train' and 'test', "
                         "e.g. counts={'train': (900, 173), 'test': (379, 75)}.")
    wanted = {"labels", "part3" if part3 else "part1"}
    selected = []
    for entry in ISIC2016_FILES:
        if entry.part not in wanted:
            continue
        images, melanoma = counts[entry.split]
        selected.append(dataclasses.replace(
            entry, expected_count=int(images),
            expected_melanoma=int(melanoma) if entry.kind == "csv" else None))
    return sorted(selected, key=lambda entry: entry.kind != "csv")


# -- Errors ------------------------------------------------------------------------------------
class DownloadError(RuntimeError):
    """A download could not complete; the message says why and what to do."""


class UnsafeArchiveError(DownloadError):
    """A zip member would be written outside the target folder (zip-slip)."""


class VerificationError(DownloadError):
    """Downloaded files do not have the expected structure or counts."""


def _manual_help(dest: Path, files: Sequence[RemoteFile], base_url: str) -> str:
    names = "\n".join(f"  {_url(base_url, entry.name)}" for entry in files)
    return (f"To download by hand, fetch these files in a browser (or from {CHALLENGE_PAGE}):\n"
            f"{names}\nand put them, as they are (zips not extracted), in {dest} . Then run "
            "download_isic2016() (or `course download isic2016`) again: it checks, extracts and "
            "records the files it finds there without downloading them.")


# -- Download ----------------------------------------------------------------------------------
def _url(base_url: str, name: str) -> str:
    return base_url.rstrip("/") + "/" + urllib.parse.quote(name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_manifest(dest: Path) -> dict:
    path = dest / MANIFEST_NAME
    if not path.exists():
        return {"dataset": "ISIC 2016", "files": {}}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest.get("files"), dict):
            raise ValueError("no 'files' table")
        return manifest
    except (ValueError, AttributeError):
        warnings.warn(f"{path} is not a valid manifest; it will be rebuilt.", stacklevel=3)
        return {"dataset": "ISIC 2016", "files": {}}


def _write_manifest(dest: Path, manifest: dict) -> None:
    config.write_atomic(dest / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


class _Interrupted(Exception):
    """The connection broke after some bytes arrived; the .part file holds them."""


def _fetch(url: str, target: Path, *, timeout: float, progress: bool, retries: int,
           offline_help: str) -> None:
    """Download ``url`` to ``target`` through ``target.part``, resuming with HTTP Range."""
    part = target.with_name(target.name + ".part")
    for attempt in range(retries + 1):
        try:
            _fetch_once(url, part, timeout=timeout, progress=progress, offline_help=offline_help)
            os.replace(part, target)
            return
        except _Interrupted as err:
            if attempt == retries:
                size = part.stat().st_size if part.exists() else 0
                raise DownloadError(
                    f"The download of {url} was interrupted ({err}) after {size:,} bytes, "
                    f"{retries + 1} time(s). The partial file {part} is kept: run "
                    "download_isic2016() again to resume where it stopped.") from None
            time.sleep(min(0.5 * (attempt + 1), 5.0))


def _fetch_once(url: str, part: Path, *, timeout: float, progress: bool,
                offline_help: str) -> None:
    from tqdm.auto import tqdm

    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "dermalite-course"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # the .part is not a prefix of this file: start again
            part.unlink()
            raise _Interrupted("the server refused to resume; starting again") from None
        raise DownloadError(
            f"The server answered HTTP {err.code} ({err.reason}) for {url}. The file may have "
            f"moved: check {CHALLENGE_PAGE}.\n{offline_help}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, socket.timeout, OSError) as err:
        reason = getattr(err, "reason", err)
        host = urllib.parse.urlsplit(url).netloc
        raise DownloadError(
            f"Could not connect to {host} to download {url} ({reason}). This machine looks "
            f"offline, or the host is unreachable (proxy, firewall).\n{offline_help}") from None

    with response:
        if offset and getattr(response, "status", 200) == 206:
            content_range = response.headers.get("Content-Range", "")
            match = re.match(r"bytes (\d+)-", content_range)
            if not match or int(match.group(1)) != offset:
                part.unlink()
                raise _Interrupted(f"unexpected Content-Range {content_range!r}; starting again")
            mode = "ab"
        else:  # 200: the server ignored Range (or there was nothing to resume): start clean
            offset, mode = 0, "wb"
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        written = offset
        bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                   desc=part.name[:-len(".part")], disable=not progress, leave=True)
        try:
            with open(part, mode) as handle:
                while True:
                    try:
                        block = response.read(_CHUNK)
                    except (http.client.IncompleteRead, ConnectionError, TimeoutError,
                            socket.timeout, OSError) as err:
                        raise _Interrupted(f"{type(err).__name__}: {err}") from None
                    if not block:
                        break
                    handle.write(block)
                    written += len(block)
                    bar.update(len(block))
        finally:
            bar.close()
        if total is not None and written < total:
            raise _Interrupted(f"connection closed at {written:,} of {total:,} bytes")


def _check_member(archive: Path, member: str, target: Path) -> None:
    path = PurePosixPath(member.replace("\\", "/"))
    escapes = (path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", member)
               or not (target / path).resolve().is_relative_to(target.resolve()))
    if escapes:
        raise UnsafeArchiveError(
            f"{archive.name} contains the member {member!r}, whose path leads outside "
            f"{target}. Nothing was extracted. This is not an official ISIC file (or it was "
            f"tampered with): delete {archive} and download it again from the official site.")


def _extract(archive: Path, dest: Path) -> None:
    """Extract ``archive`` into ``dest`` after checking every member path (zip-slip)."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            for member in members:
                _check_member(archive, member.filename, dest)
            for member in members:
                bundle.extract(member, dest)
    except UnsafeArchiveError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        archive.unlink(missing_ok=True)
        raise DownloadError(
            f"{archive.name} is not a valid zip file ({err}); the damaged file was deleted. Run "
            f"download_isic2016() again to download it again. If this keeps happening, download "
            f"it by hand from {CHALLENGE_PAGE} and put it in {dest}.") from None


def _count(folder: Path, content: str) -> int:
    if content == "masks":
        return sum(1 for path in folder.iterdir() if path.name.endswith(_MASK_SUFFIX))
    return sum(1 for path in folder.iterdir() if path.suffix.lower() in _IMAGE_SUFFIXES)


def _verify(entry: RemoteFile, dest: Path) -> dict:
    """Check one extracted folder or CSV against the registry; return what was found."""
    if entry.kind == "csv":
        ids, labels = read_labels_csv(dest / entry.name)
        found = {"rows": len(ids), "melanoma": int(labels.sum())}
        wrong_melanoma = (entry.expected_melanoma is not None
                          and found["melanoma"] != entry.expected_melanoma)
        if len(ids) != entry.expected_count or wrong_melanoma:
            raise VerificationError(
                f"{entry.name} has {len(ids)} rows with {found['melanoma']} melanoma; expected "
                f"{entry.expected_count} rows with {entry.expected_melanoma} melanoma. It is not "
                f"the official file (or it is incomplete): delete {dest / entry.name} and run "
                "download_isic2016() again.")
        return found
    folder = dest / entry.folder
    if not folder.is_dir():
        raise VerificationError(
            f"{entry.name} did not contain the folder {entry.folder}/ (looked in {dest}). It is "
            f"not the official file: delete {dest / entry.name} and run download_isic2016() again.")
    found_count = _count(folder, entry.content)
    if found_count != entry.expected_count:
        raise VerificationError(
            f"{folder} holds {found_count} {entry.content} but {entry.expected_count} were "
            f"expected. The download or the extraction is incomplete: delete {folder} (and "
            f"{entry.name} if present) and run download_isic2016() again.")
    return {entry.content: found_count}


def _present(entry: RemoteFile, dest: Path) -> bool:
    target = dest / (entry.folder if entry.kind == "zip" else entry.name)
    if not target.exists():
        return False
    try:
        _verify(entry, dest)
    except (VerificationError, ValueError, OSError):
        return False
    return True


def _remote_size(url: str, timeout: float) -> int | None:
    """Content-Length of a HEAD request, or None when the server does not say."""
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            length = response.headers.get("Content-Length")
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return int(length) if length and length.isdigit() else None


def download_estimate(dest: str | Path | None = None, part3: bool = False,
                      base_url: str = BASE_URL, mirror: str | None = None,
                      timeout: float = 10.0, mb_per_second: tuple[float, float] = (5.0, 25.0)
                      ) -> str:
    """One line to print before a download: how many files, how many bytes (from the mirror's
    index or HEAD requests; "size unknown" when the server does not say) and how long that
    takes at ``mb_per_second`` (a slow and a fast connection)."""
    from .mirror import mirror_url, read_mirror_index

    dest = Path(dest) if dest is not None else config.data_dir() / "isic2016"
    url = mirror_url(mirror)
    sizes: dict[str, int] = {}
    if url is not None:
        index = read_mirror_index(url, timeout=timeout)
        base_url = url
        sizes = {name: int(info.get("bytes") or 0) for name, info in index["files"].items()}
        files = isic2016_files(counts={s: tuple(index["counts"][s]) for s in SPLITS})
    else:
        files = isic2016_files(part3=part3)
    missing = [entry for entry in files if not _present(entry, dest)]
    if not missing:
        return f"ISIC 2016 is complete in {dest}: nothing to download."
    found = [sizes.get(entry.name) or _remote_size(_url(base_url, entry.name), timeout)
             for entry in missing]
    total, unknown = sum(size for size in found if size), sum(1 for size in found if not size)
    where = f"the classroom mirror {base_url}" if url else base_url
    if total == 0:
        return f"Downloading {len(missing)} ISIC 2016 files from {where} (size unknown)."
    slow, fast = (total / 2**20 / rate / 60 for rate in mb_per_second)
    note = f" (+{unknown} of unknown size)" if unknown else ""
    return (f"Downloading {len(missing)} ISIC 2016 files from {where}: {total / 2**30:.2f} GB"
            f"{note}, about {max(fast, 0.1):.0f}–{max(slow, 0.1):.0f} min at "
            f"{mb_per_second[1]:.0f}–{mb_per_second[0]:.0f} MB/s, once (later runs reuse it).")


def _mirror_source(mirror: str | None, part3: bool, base_url: str,
                   counts: dict[str, tuple[int, int]] | None, timeout: float
                   ) -> tuple[str, dict[str, tuple[int, int]] | None, dict[str, str]]:
    """``(base_url, counts, expected_sha)`` for :func:`download_isic2016`: the arguments as
    given, or, with a classroom mirror, its URL, its counts and the sha256 of its files."""
    from .mirror import mirror_url, read_mirror_index

    expected_sha: dict[str, str] = {}
    url = mirror_url(mirror)
    if url is not None:
        if part3:
            raise ValueError("A classroom mirror holds the Part 1 images with their masks and "
                             "the label CSVs; download without part3 (--part3), or unset "
                             "COURSE_ISIC2016_MIRROR to use the official site.")
        index = read_mirror_index(url, timeout=timeout)
        base_url, counts = url, {split: tuple(index["counts"][split]) for split in SPLITS}
        expected_sha = {name: str(info.get("sha256")) for name, info in index["files"].items()
                        if isinstance(info, dict)}
    return base_url, counts, expected_sha


def _download_entry(entry: RemoteFile, dest: Path, manifest: dict, base_url: str,
                    expected_sha: dict[str, str], *, say: Callable[..., None], timeout: float,
                    progress: bool, retries: int, offline_help: str, keep_zips: bool) -> None:
    """Bring one registry entry into ``dest`` for :func:`download_isic2016`: skip it when the
    manifest or an extracted folder shows it is there, else use the file found in ``dest`` or
    fetch it; then check it, extract it (zips) and record it in the manifest."""
    archive = dest / entry.name
    if manifest["files"].get(entry.name) and _present(entry, dest):
        say(f"{entry.name}: already there (manifest), skipped")
        return
    if entry.kind == "zip" and not archive.exists() and _present(entry, dest):
        manifest["files"][entry.name] = {
            "sha256": None, "bytes": None, "source": "extracted folder found in place",
            "found": _verify(entry, dest), "recorded": _now()}
        _write_manifest(dest, manifest)
        say(f"{entry.name}: extracted folder {entry.folder}/ found and checked, skipped")
        return
    if archive.exists():
        source = "found in place"
        say(f"{entry.name}: found in {dest}, checking it")
    else:
        source = _url(base_url, entry.name)
        _fetch(source, archive, timeout=timeout, progress=progress, retries=retries,
               offline_help=offline_help)
    record = {"sha256": _sha256(archive), "bytes": archive.stat().st_size, "source": source}
    wanted_sha = expected_sha.get(entry.name)
    if wanted_sha and record["sha256"] != wanted_sha:
        archive.unlink()
        raise VerificationError(
            f"{entry.name} from the mirror {base_url} has sha256 {record['sha256'][:12]}… "
            f"but the mirror's index says {wanted_sha[:12]}…: the file is damaged or the "
            "mirror changed. It was deleted; run the download again, or ask the teacher "
            "to rebuild the mirror (course mirror make).")
    if entry.kind == "zip":
        _extract(archive, dest)
    record.update(found=_verify(entry, dest), recorded=_now())
    manifest["files"][entry.name] = record
    _write_manifest(dest, manifest)
    if entry.kind == "zip" and not keep_zips:
        archive.unlink()
    say(f"{entry.name}: OK {record['found']}")


def download_isic2016(dest: str | Path | None = None, part3: bool = False,
                      base_url: str = BASE_URL, progress: bool = True, *,
                      counts: dict[str, tuple[int, int]] | None = None,
                      keep_zips: bool = False, timeout: float = 60.0,
                      retries: int = 3, mirror: str | None = None) -> Path:
    """Download, check and extract the official ISIC 2016 files into ``dest``; return ``dest``.

    Taught in 01_data_and_augmentation (and run by ``course download isic2016``). ``dest``
    defaults to ``<data_dir>/isic2016``; ``part3=True`` fetches the Part 3 image zips instead of
    the Part 1 images and masks. Downloads go to ``<name>.part`` and resume (HTTP Range,
    ``retries`` times per call, again on the next call). Each zip is checked for member paths
    outside ``dest`` (zip-slip), extracted and counted against ``counts`` (default
    :data:`ISIC2016_COUNTS`: 900/379 images, 173/75 melanoma); every file's sha256 goes into
    ``dest/manifest.json``, so a second call downloads nothing. Files put in ``dest`` by hand
    (zips or extracted folders) are used as they are; zips are deleted after extraction unless
    ``keep_zips=True``. ``mirror`` (default ``$COURSE_ISIC2016_MIRROR``, built by ``course
    mirror make``) is the source instead, and its ``mirror.json`` gives the counts and sha256.
    """
    base_url, counts, expected_sha = _mirror_source(mirror, part3, base_url, counts, timeout)
    dest = (Path(dest) if dest is not None else config.data_dir() / "isic2016").expanduser()
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}; the default is "
                         f"{BASE_URL!r}.")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}.")
    files = isic2016_files(part3=part3, counts=counts)
    dest.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(dest)
    manifest["base_url"] = base_url
    offline_help = _manual_help(dest, files, base_url)
    say = print if progress else (lambda *args, **kwargs: None)
    for entry in files:
        _download_entry(entry, dest, manifest, base_url, expected_sha, say=say, timeout=timeout,
                        progress=progress, retries=retries, offline_help=offline_help,
                        keep_zips=keep_zips)
    # The folders and the CSV must also agree id by id (raises a clear error if not).
    for split in SPLITS:
        load_isic2016(dest, split)
    return dest


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# -- Loading -----------------------------------------------------------------------------------
@dataclass(eq=False)
class DatasetRecord:
    """One split of a dataset: parallel lists of ids, labels (1 = melanoma) and file paths.
    Taught in 01_data_and_augmentation. ``mask_paths`` holds ``None`` where an image has no mask.
    """

    split: str
    root: Path
    ids: list[str]
    labels: np.ndarray
    image_paths: list[Path]
    mask_paths: list[Path | None]

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.ids = list(self.ids)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.image_paths = [Path(path) for path in self.image_paths]
        self.mask_paths = [None if path is None else Path(path) for path in self.mask_paths]
        lengths = {"ids": len(self.ids), "labels": len(self.labels),
                   "image_paths": len(self.image_paths), "mask_paths": len(self.mask_paths)}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"DatasetRecord fields must have the same length, got {lengths}.")
        if len(self.labels) and not np.isin(self.labels, (0, 1)).all():
            raise ValueError("DatasetRecord labels must be 0 (benign) or 1 (melanoma), got "
                             f"{sorted(set(self.labels.tolist()))}.")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_melanoma(self) -> int:
        """Number of melanoma (label 1) images."""
        return int(self.labels.sum())

    @property
    def has_masks(self) -> bool:
        """True when every image has a mask file."""
        return len(self) > 0 and all(path is not None for path in self.mask_paths)

    def subset(self, indices) -> "DatasetRecord":
        """A new record with the rows at ``indices`` (integers or a boolean mask), in that order."""
        indices = np.asarray(indices)
        if indices.dtype == bool:
            if indices.shape != (len(self),):
                raise ValueError(f"A boolean mask must have length {len(self)}, got shape "
                                 f"{indices.shape}.")
            indices = np.flatnonzero(indices)
        indices = indices.astype(np.int64).reshape(-1)
        if len(indices) and (indices.min() < -len(self) or indices.max() >= len(self)):
            raise ValueError(f"Indices must lie in [0, {len(self)}), got {indices.min()}.."
                             f"{indices.max()}.")
        return DatasetRecord(
            split=self.split, root=self.root, ids=[self.ids[i] for i in indices],
            labels=self.labels[indices], image_paths=[self.image_paths[i] for i in indices],
            mask_paths=[self.mask_paths[i] for i in indices])

    def with_masks(self, verbose: bool = True) -> "DatasetRecord":
        """The rows that have a mask (what segmentation can use); says how many when some lack
        one."""
        keep = [path is not None for path in self.mask_paths]
        if verbose and not all(keep):
            print(f"{self.split}: {sum(keep)} of {len(self)} images have a lesion mask; "
                  "segmentation uses those.")
        return self.subset(np.asarray(keep, dtype=bool))

    def stratified_subset(self, n: int, seed: int = 0) -> "DatasetRecord":
        """``n`` rows drawn without replacement, keeping the melanoma fraction (rounded), in
        the original order. ``n >= len(self)`` returns the whole record."""
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}.")
        if n >= len(self):
            return self.subset(np.arange(len(self)))
        positives = np.flatnonzero(self.labels == 1)
        negatives = np.flatnonzero(self.labels == 0)
        n_positive = int(round(n * len(positives) / len(self)))
        if len(positives) and n >= 2:
            n_positive = max(n_positive, 1)
        if len(negatives) and n >= 2:
            n_positive = min(n_positive, n - 1)
        n_positive = min(max(n_positive, n - len(negatives)), len(positives))
        rng = np.random.default_rng(seed)
        chosen = np.concatenate([rng.choice(positives, n_positive, replace=False),
                                 rng.choice(negatives, n - n_positive, replace=False)])
        return self.subset(np.sort(chosen))

    def __repr__(self) -> str:
        share = 100.0 * self.n_melanoma / len(self) if len(self) else 0.0
        n_masks = sum(path is not None for path in self.mask_paths)
        masks = "all" if self.has_masks else ("none" if n_masks == 0 else f"{n_masks}")
        return (f"DatasetRecord(split={self.split!r}, images={len(self)}, "
                f"melanoma={self.n_melanoma} ({share:.1f}%), masks={masks}, "
                f"root='{self.root}')")


def _parse_label(text: str) -> int | None:
    word = text.strip().lower()
    if word in {"benign", "b"}:
        return 0
    if word in {"malignant", "melanoma", "m"}:
        return 1
    try:
        value = float(word)
    except ValueError:
        return None
    return int(value) if value in (0.0, 1.0) else None


def _is_header(fields: Sequence[str]) -> bool:
    """A first row such as ``image_id,melanoma`` or ``image,label``: words, no digits."""
    return all(field and not any(ch.isdigit() for ch in field) for field in fields)


def read_labels_csv(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read an ISIC 2016 Part 3 ground-truth CSV: ``(ids, labels)`` with 1 = melanoma.

    Taught in 01_data_and_augmentation. Reads the official files (no header, ``benign`` /
    ``malignant`` or ``0.0`` / ``1.0``, CRLF or LF) and re-hosted copies (byte-order mark,
    header row, no final line break); a malformed row raises ``ValueError`` naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Label file {path} does not exist. Run download_isic2016() "
                                "(or `course download isic2016`) to fetch it.")
    text = path.read_bytes().decode("utf-8-sig")
    ids: list[str] = []
    labels: list[int] = []
    seen: dict[str, int] = {}
    first_row = True
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        label = _parse_label(fields[1]) if len(fields) == 2 else None
        header = first_row and len(fields) == 2 and _is_header(fields)
        first_row = False
        if header:  # e.g. "image_id,melanoma" in a re-hosted copy: skipped
            continue
        if len(fields) != 2 or not fields[0] or label is None or "/" in fields[0]:
            raise ValueError(
                f"{path}, line {number}: cannot read {line!r}. Each row must be "
                "'<image id>,<label>' with label benign/malignant or 0.0/1.0 (no header). "
                "Fix or re-download the file.")
        if fields[0] in seen:
            raise ValueError(f"{path}, line {number}: id {fields[0]} already appeared on line "
                             f"{seen[fields[0]]}. Fix or re-download the file.")
        seen[fields[0]] = number
        ids.append(fields[0])
        labels.append(label)
    return ids, np.asarray(labels, dtype=np.int64)


def _few(names: Sequence[str], limit: int = 5) -> str:
    names = sorted(names)
    return f"{len(names)} ({', '.join(names[:limit])}{', ...' if len(names) > limit else ''})"


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    return split


def _split_files(root: Path, split: str) -> tuple[Path, Path]:
    """``(image_dir, csv_path)`` of one split under ``root`` for :func:`load_isic2016` (the
    Part 1 image folder, else the Part 3 one); ``FileNotFoundError`` saying how to fetch them
    when the folder, the images or the labels are missing."""
    word = _SPLIT_WORD[split]
    fetch_hint = ("Run download_isic2016() (or `course download isic2016`), or download the "
                  f"official files by hand from {CHALLENGE_PAGE} and extract them into {root}.")
    if not root.is_dir():
        raise FileNotFoundError(f"Data folder {root} does not exist. {fetch_hint}")
    candidates = [root / f"ISBI2016_ISIC_{part}_{word}_Data" for part in ("Part1", "Part3")]
    image_dir = next((folder for folder in candidates if folder.is_dir()), None)
    if image_dir is None:
        raise FileNotFoundError(f"No {split} image folder in {root}: expected "
                                f"{candidates[0].name}/ or {candidates[1].name}/. {fetch_hint}")
    csv_path = root / f"ISBI2016_ISIC_Part3_{word}_GroundTruth.csv"
    if not csv_path.is_file():
        raise FileNotFoundError(f"No {split} label file {csv_path.name} in {root}. {fetch_hint}")
    return image_dir, csv_path


def _split_problems(csv_path: Path, image_dir: Path, no_image: Sequence[str],
                    no_row: Sequence[str], broken_images: dict[str, str],
                    broken_masks: dict[str, str]) -> list[str]:
    """One phrase per kind of problem :func:`load_isic2016` found (empty: none)."""
    problems = []
    if no_image:
        problems.append(f"{_few(no_image)} id(s) of {csv_path.name} have no image in "
                        f"{image_dir.name}/")
    for broken, what in ((broken_images, "image file(s) are truncated or corrupt"),
                         (broken_masks, "mask file(s) do not fit their image")):
        if broken:
            problems.append(f"{_few(broken)} {what} ({broken[sorted(broken)[0]]})")
    if no_row:
        problems.append(f"{_few(no_row)} image(s) in {image_dir.name}/ have no row in "
                        f"{csv_path.name}")
    return problems


def load_isic2016(root: str | Path, split: str, allow_missing: bool = False) -> DatasetRecord:
    """Read one split of the official ISIC 2016 layout under ``root`` into a DatasetRecord.

    Taught in 01_data_and_augmentation. Images come from the Part 1 folder, else the Part 3 one;
    labels from the Part 3 CSV (row order kept); masks from the Part 1 ground-truth folder when
    it exists. An image without a mask keeps ``None`` (a warning counts them;
    :meth:`DatasetRecord.with_masks` keeps the others). CSV ids without an image, images without
    a row, truncated or corrupt JPEGs and masks whose size differs from their image's raise
    ``ValueError`` naming the files and the repair; ``allow_missing=True`` keeps the complete
    rows instead (a broken mask becomes ``None``) and warns about the rest.
    """
    split = _check_split(split)
    root = Path(root).expanduser()
    word = _SPLIT_WORD[split]
    image_dir, csv_path = _split_files(root, split)
    csv_ids, csv_labels = read_labels_csv(csv_path)
    images = {path.stem: path for path in sorted(image_dir.iterdir())
              if path.suffix.lower() in _IMAGE_SUFFIXES and path.is_file()}
    mask_dir = root / f"ISBI2016_ISIC_Part1_{word}_GroundTruth"
    masks = ({path.name[:-len(_MASK_SUFFIX)]: path for path in mask_dir.iterdir()
              if path.name.endswith(_MASK_SUFFIX)} if mask_dir.is_dir() else None)
    no_image = [name for name in csv_ids if name not in images]
    no_row = sorted(set(images) - set(csv_ids))
    listed = [name for name in csv_ids if name in images]
    broken_images, sizes = _broken_jpegs([images[name] for name in listed])
    broken_masks = _broken_masks(images, masks or {}, listed, sizes)
    problems = _split_problems(csv_path, image_dir, no_image, no_row, broken_images,
                               broken_masks)
    if problems and not allow_missing:
        repair = ("Delete the damaged files and run `course download isic2016` (or "
                  "download_isic2016()) again to fetch them" if broken_images or broken_masks
                  else "Re-run download_isic2016() to repair it")
        raise ValueError(f"ISIC 2016 {split} split in {root} is incomplete: "
                         + "; ".join(problems) + f". {repair}, or pass allow_missing=True to "
                         "continue with the complete rows.")
    if problems:
        warnings.warn(f"ISIC 2016 {split} split in {root}: " + "; ".join(problems)
                      + ". Continuing without them (allow_missing=True).", stacklevel=2)
    dropped = set(no_image) | {Path(p).stem for p in broken_images}
    keep = [i for i, name in enumerate(csv_ids) if name not in dropped]
    ids = [csv_ids[i] for i in keep]
    mask_paths = [masks.get(name) if masks is not None else None for name in ids]
    mask_paths = [None if path is not None and str(path) in broken_masks else path
                  for path in mask_paths]
    without = sum(path is None for path in mask_paths)
    if masks is not None and without:
        warnings.warn(f"ISIC 2016 {split} split in {root}: {without} of {len(ids)} images have "
                      f"no mask in {mask_dir.name}/. Classification keeps all {len(ids)}; "
                      "segmentation uses the images with masks (record.with_masks()).",
                      stacklevel=2)
    return DatasetRecord(
        split=split, root=root, ids=ids, labels=csv_labels[keep],
        image_paths=[images[name] for name in ids], mask_paths=mask_paths)


def _broken_jpegs(paths: Sequence[Path]) -> tuple[dict[str, str], dict[str, tuple]]:
    """``({path: reason}, {path: (width, height)})``: JPEGs that are empty, cut short or
    unreadable, and the size of every readable one. Cheap: headers only, plus the end-of-image
    marker FF D9 in the last bytes (about 1 s for 1,279 files: benchmarks/bench_loader.py)."""
    from PIL import Image, UnidentifiedImageError

    broken, sizes = {}, {}
    for path in paths:
        try:
            with open(path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                length = handle.tell()
                handle.seek(max(0, length - 64))
                tail = handle.read()
            if length == 0:
                broken[str(path)] = f"{path.name} is empty"
                continue
            with Image.open(path) as image:
                kind, size = image.format, image.size
            sizes[str(path)] = size
            if kind == "JPEG" and b"\xff\xd9" not in tail:
                broken[str(path)] = f"{path.name} ends before the JPEG end-of-image marker"
            elif min(size) < 2:
                broken[str(path)] = f"{path.name} is {size[0]}x{size[1]} px"
        except (OSError, UnidentifiedImageError, SyntaxError) as err:
            broken[str(path)] = f"{path.name} cannot be read ({type(err).__name__})"
    return broken, sizes


def _broken_masks(images: dict, masks: dict, names: Sequence[str],
                  image_sizes: dict) -> dict[str, str]:
    """``{mask path: reason}`` for masks whose size differs from their image's (headers only;
    grey levels are checked when the masks are decoded, :func:`load_arrays`)."""
    from PIL import Image, UnidentifiedImageError

    broken = {}
    for name in names:
        mask, image_size = masks.get(name), image_sizes.get(str(images[name]))
        if mask is None or image_size is None:  # no mask, or an unreadable image (reported)
            continue
        try:
            with Image.open(mask) as opened:
                mask_size = opened.size
        except (OSError, UnidentifiedImageError, SyntaxError) as err:
            broken[str(mask)] = f"{Path(mask).name} cannot be read ({type(err).__name__})"
            continue
        if mask_size != image_size:
            broken[str(mask)] = (f"{Path(mask).name} is {mask_size[0]}x{mask_size[1]} but its "
                                 f"image is {image_size[0]}x{image_size[1]}")
    return broken


# -- Decoding and the cache --------------------------------------------------------------------
_CACHE_VERSION = 1


def cache_path(record: DatasetRecord, image_size: int, what: str = "images") -> Path:
    """The ``.npz`` file :func:`load_arrays` uses for ``record`` at ``image_size`` px; its hash
    covers the root, the ids and each file's size and mtime, so changed files make a new cache."""
    if what not in {"images", "masks"}:
        raise ValueError(f"what must be 'images' or 'masks', got {what!r}.")
    paths = record.image_paths + ([p for p in record.mask_paths if p is not None]
                                  if what == "masks" else [])
    digest = hashlib.sha1()
    digest.update(json.dumps([_CACHE_VERSION, str(record.root.resolve()), record.split,
                              record.ids, int(image_size), what]).encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    name = (f"{record.root.name}_{record.split}_{image_size}px_{len(record)}_"
            f"{digest.hexdigest()[:16]}_{what}.npz")
    return config.data_dir() / "cache" / name


def _decode_image(path: Path, size: int) -> tuple[np.ndarray, list[str]]:
    from PIL import Image

    notes = []
    with Image.open(path) as image:
        mode = image.mode
        if image.format == "JPEG":
            image.draft("RGB", (size, size))  # decode at 1/2, 1/4 or 1/8 scale when possible
        image.load()
        if mode != "RGB":
            notes.append(f"{path} is {mode}, not RGB: converted to RGB.")
        image = image.convert("RGB").resize((size, size), Image.BILINEAR)
        return np.asarray(image, dtype=np.uint8), notes


def _decode_mask(image_path: Path, mask_path: Path, size: int) -> tuple[np.ndarray, list[str]]:
    from PIL import Image

    notes = []
    with Image.open(image_path) as image:
        image_size = image.size
    with Image.open(mask_path) as mask:
        if mask.size != image_size:
            raise ValueError(
                f"Mask {mask_path} is {mask.size[0]}x{mask.size[1]} but its image {image_path} "
                f"is {image_size[0]}x{image_size[1]}: a mask must have its image's size. "
                "Re-download the ground truth (download_isic2016()) or fix the file.")
        values = np.asarray(mask.convert("L"), dtype=np.uint8)
    unique = np.unique(values)
    if not np.isin(unique, (0, 255)).all():
        if np.isin(unique, (0, 1)).all():
            notes.append(f"Mask {mask_path} holds 0/1 instead of 0/255: scaled to 0/255.")
            values = values * np.uint8(255)
        else:
            notes.append(f"Mask {mask_path} is not binary ({len(unique)} grey levels): "
                         "thresholded at > 128.")
            values = np.where(values > MASK_THRESHOLD, 255, 0).astype(np.uint8)
    resized = Image.fromarray(values).resize((size, size), Image.NEAREST)
    return np.asarray(resized, dtype=np.uint8), notes


def _decode_all(decode, jobs, workers: int, progress: bool, description: str,
                allow_missing: bool):
    """Run ``decode`` over ``jobs`` in threads (Pillow releases the GIL while decoding)."""
    from PIL import UnidentifiedImageError
    from tqdm.auto import tqdm

    def run(job):
        try:
            return decode(*job)
        except ValueError:
            raise
        except (OSError, UnidentifiedImageError, SyntaxError, zlib.error) as err:
            return err

    arrays, kept, notes, failures = [], [], [], []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(run, jobs)
        for index, result in enumerate(tqdm(results, total=len(jobs), desc=description,
                                            disable=not progress)):
            if isinstance(result, Exception):
                failures.append((jobs[index][0], result))
                continue
            array, messages = result
            arrays.append(array)
            kept.append(index)
            notes += messages
    for message in notes:
        warnings.warn(message, stacklevel=3)
    if failures and not allow_missing:
        path, err = failures[0]
        raise ValueError(
            f"Could not decode {path} ({type(err).__name__}: {err}); "
            f"{len(failures)} unreadable file(s) in all. The file is corrupt or truncated: delete "
            "it and run download_isic2016() again, or pass allow_missing=True to skip it.")
    if failures:
        warnings.warn(f"Skipped {_few([str(path) for path, _ in failures], 3)} unreadable "
                      "file(s) (allow_missing=True).", stacklevel=3)
    return arrays, np.asarray(kept, dtype=np.int64)


def _load_cached(path: Path, n: int, allow_missing: bool):
    try:
        with np.load(path) as cached:
            array, kept = cached["array"], cached["kept"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None
    if len(array) != len(kept) or (not allow_missing and len(kept) != n):
        return None
    return array, kept


def _save_cached(path: Path, array: np.ndarray, kept: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, array=array, kept=kept)
    config.write_atomic(path, buffer.getvalue())  # a killed writer leaves no half cache


def load_arrays(record: DatasetRecord, image_size: int, masks: bool = True, cache: bool = True,
                progress: bool = False, allow_missing: bool = False, workers: int | None = None):
    """Decode ``record`` into ``(images, masks)``: uint8 ``(N, S, S, 3)`` and ``(N, S, S)`` 0/255.

    Taught in 01_data_and_augmentation. Images become RGB (a warning names converted files),
    resized bilinearly; masks must have their image's size, are thresholded at > 128 if not
    binary (with a warning) and resized nearest-neighbour. ``masks=False`` (or a record without
    masks) gives ``None`` masks. ``cache=True`` keeps the arrays as ``.npz`` (:func:`cache_path`)
    for the next call. An unreadable file raises ``ValueError``; with ``allow_missing=True`` it
    is skipped and THREE values come back, ``(images, masks, kept_record)``.
    """
    if not isinstance(record, DatasetRecord):
        raise ValueError(f"record must be a DatasetRecord (from load_isic2016), got "
                         f"{type(record).__name__}.")
    if not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}.")
    image_size = int(image_size)
    if masks and not record.has_masks:
        if any(path is not None for path in record.mask_paths):
            raise ValueError(f"{sum(p is None for p in record.mask_paths)} of {len(record)} "
                             "rows have no mask: keep the rows with masks "
                             "(record.subset([p is not None for p in record.mask_paths])) or "
                             "pass masks=False.")
        masks = False
    workers = workers or min(8, os.cpu_count() or 1)

    def produce(what: str):
        path = cache_path(record, image_size, what) if cache else None
        if path is not None and path.exists():
            cached = _load_cached(path, len(record), allow_missing)
            if cached is not None:
                return cached
        if what == "images":
            decode, jobs = _decode_image, [(image, image_size) for image in record.image_paths]
            empty = (0, image_size, image_size, 3)
        else:
            decode, empty = _decode_mask, (0, image_size, image_size)
            jobs = [(image_path, mask_path, image_size)
                    for image_path, mask_path in zip(record.image_paths, record.mask_paths)]
        arrays, kept = _decode_all(decode, jobs, workers, progress,
                                   f"{record.split} {what} {image_size}px", allow_missing)
        array = np.stack(arrays) if arrays else np.zeros(empty, dtype=np.uint8)
        if path is not None:
            _save_cached(path, array, kept)
        return array, kept

    images, image_kept = produce("images")
    mask_array, mask_kept = produce("masks") if masks else (None, image_kept)
    kept = np.intersect1d(image_kept, mask_kept)
    if len(kept) != len(image_kept):
        images = images[np.isin(image_kept, kept)]
    if mask_array is not None and len(kept) != len(mask_kept):
        mask_array = mask_array[np.isin(mask_kept, kept)]
    if allow_missing:
        return images, mask_array, record.subset(kept)
    return images, mask_array
