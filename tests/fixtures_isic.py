"""Tiny ISIC 2016 look-alikes for the data tests: files in the official formats and a local
HTTP server (127.0.0.1) that serves them, with Range support and a "drop the connection"
switch. Imported by tests/test_isic2016.py; not a test module itself."""
from __future__ import annotations

import contextlib
import http.server
import shutil
import socket
import threading
import urllib.parse
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

WORD = {"train": "Training", "test": "Test"}
#: Small counts used by the download tests: (images, melanoma) per split.
SMALL_COUNTS = {"train": (6, 2), "test": (4, 1)}


def write_jpeg(path: Path, size=(40, 30), mode: str = "RGB", seed: int = 0) -> Path:
    """A small random JPEG; ``mode="L"`` a grayscale JPEG, ``mode="RGBA"`` an RGBA PNG saved
    under the .jpg name (JPEG cannot hold alpha)."""
    rng = np.random.default_rng(seed)
    width, height = size
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "L":
        image.convert("L").save(path, "JPEG", quality=90)
    elif mode == "RGBA":
        image.convert("RGBA").save(path, "PNG")
    else:
        image.save(path, "JPEG", quality=90)
    return path


def write_mask(path: Path, size=(40, 30), values=(0, 255)) -> Path:
    """A mask PNG: left half ``values[0]``, right half ``values[1]``."""
    width, height = size
    mask = np.full((height, width), values[0], dtype=np.uint8)
    mask[:, width // 2:] = values[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask, "L").save(path)
    return path


def split_ids(split: str, n: int) -> list[str]:
    start = 0 if split == "train" else 1000
    return [f"ISIC_{start + i:07d}" for i in range(n)]


def split_labels(n: int, n_melanoma: int) -> list[int]:
    """The last ``n_melanoma`` rows are melanoma."""
    return [0] * (n - n_melanoma) + [1] * n_melanoma


def write_csv(path: Path, ids, labels, form: str = "words", newline: str = "\r\n",
              final_newline: bool = False, bom: bool = False) -> Path:
    """A Part 3 ground-truth CSV: ``words`` = benign/malignant, ``floats`` = 0.0/1.0."""
    if form == "words":
        rows = [f"{name},{'malignant' if label else 'benign'}" for name, label in zip(ids, labels)]
    else:
        rows = [f"{name},{float(label):.1f}" for name, label in zip(ids, labels)]
    text = newline.join(rows) + (newline if final_newline else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def write_layout(root: Path, counts=SMALL_COUNTS, masks: bool = True, part: str = "Part1",
                 size=(40, 30)) -> Path:
    """The extracted official layout under ``root`` (train labels as words, test as floats,
    CRLF, no final line break, as the official CSVs)."""
    for split, (n, n_melanoma) in counts.items():
        word = WORD[split]
        ids = split_ids(split, n)
        labels = split_labels(n, n_melanoma)
        for index, name in enumerate(ids):
            write_jpeg(root / f"ISBI2016_ISIC_{part}_{word}_Data" / f"{name}.jpg", size,
                       seed=index)
            if masks:
                write_mask(root / f"ISBI2016_ISIC_Part1_{word}_GroundTruth"
                           / f"{name}_Segmentation.png", size)
        write_csv(root / f"ISBI2016_ISIC_Part3_{word}_GroundTruth.csv", ids, labels,
                  form="words" if split == "train" else "floats")
    return root


def zip_folder(folder: Path, archive: Path) -> Path:
    """Zip ``folder`` with its name as the top-level directory, as the official zips."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.iterdir()):
            bundle.write(path, f"{folder.name}/{path.name}")
    return archive


def build_served_files(work: Path, counts=SMALL_COUNTS, part3: bool = False) -> Path:
    """The official download files (zips + CSVs) for a small layout, in ``work/served``."""
    staging = write_layout(work / "staging", counts, masks=not part3,
                           part="Part3" if part3 else "Part1")
    served = work / "served"
    served.mkdir(parents=True, exist_ok=True)
    for path in staging.iterdir():
        if path.is_dir():
            zip_folder(path, served / f"{path.name}.zip")
        else:
            shutil.copy(path, served / path.name)
    return served


class FileServer:
    """What the test server does and saw: ``requests`` lists (file name, Range header)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.requests: list[tuple[str, str | None]] = []
        self.drop_first: set[str] = set()   # names whose first GET is cut half-way
        self.ignore_range = False           # answer 200 with the whole file even to Range
        self.base_url = ""

    def downloads(self) -> list[str]:
        return [name for name, _ in self.requests]


def _handler(state: FileServer):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def do_GET(self):  # noqa: N802 (http.server API)
            name = urllib.parse.unquote(self.path).rsplit("/", 1)[-1]
            range_header = self.headers.get("Range")
            state.requests.append((name, range_header))
            path = state.directory / name
            if not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            start = 0
            if range_header and not state.ignore_range:
                start = int(range_header.split("=")[1].split("-")[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if name in state.drop_first:
                state.drop_first.discard(name)
                self.wfile.write(body[:len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` on 127.0.0.1 (a free port) for the duration of the ``with``."""
    state = FileServer(directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/2016/"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


#: Image sizes (width, height) of real ISIC 2016 files, used in turn by the lab rehearsal.
ISIC_SIZES = [(1024, 768), (722, 542), (1022, 767), (640, 480)]


def synthderm_at_isic_sizes(root: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """SynthDerm in the official ISIC 2016 layout under ``root``, each image and its mask
    re-saved at a real ISIC size and aspect ratio (:data:`ISIC_SIZES` in turn), so that the
    lab path decodes and resizes JPEGs as it does on ISIC 2016."""
    from course_lib.data import make_synthderm

    staging = make_synthderm(root.parent / f"{root.name}-square", n_train, n_test,
                             image_size=192, seed=seed)
    root.mkdir(parents=True, exist_ok=True)
    for path in sorted(staging.rglob("*")):
        relative = path.relative_to(staging)
        target = root / relative
        if path.is_dir() or path.suffix not in (".jpg", ".png", ".csv"):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".csv":
            shutil.copy(path, target)
            continue
        image_id = path.name.split("_Segmentation")[0].removesuffix(".jpg")
        size = ISIC_SIZES[int(image_id.rsplit("_", 1)[-1]) % len(ISIC_SIZES)]
        with Image.open(path) as image:
            if path.suffix == ".jpg":
                image.convert("RGB").resize(size, Image.BICUBIC).save(target, "JPEG",
                                                                       quality=90)
            else:
                image.resize(size, Image.NEAREST).save(target, "PNG")
    return root
