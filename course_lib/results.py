"""One JSON file per result, so the report can compare notebooks, models and profiles.

Taught in 00_setup_and_metrics (recording a score) and used at the end of every notebook. Each
call of :func:`record_result` writes ``runs/<profile>/results/<notebook>__<task>__<model>.json``
(``...__seed<N>.json`` for a seed other than 0, so ``course run --seeds 0,1,2`` keeps one record
per seed); running a notebook again overwrites its own records and leaves the others alone.
Plain Python only (no pandas): :func:`load_results`, :func:`results_table` and
:func:`to_markdown` turn the files back into rows and a Markdown table.
"""
from __future__ import annotations

import json
import math
import numbers
import os
import platform
import re
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from course_lib import __version__
from course_lib import config

__all__ = ["SCHEMA_VERSION", "record_result", "load_results", "results_table", "to_markdown",
           "hardware_summary", "result_path"]

#: Bumped when the record layout changes.
SCHEMA_VERSION = 1

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


# --- Helpers ---
def _clean_notebook(notebook: str) -> str:
    """'solutions/01_data.ipynb' -> '01_data'."""
    name = Path(str(notebook)).name
    return name[:-len(".ipynb")] if name.endswith(".ipynb") else name


def _safe_part(value: str, what: str) -> str:
    text = _UNSAFE.sub("-", str(value)).strip("-.")
    if not text:
        raise ValueError(f"{what} {value!r} gives an empty file name; use letters, digits, "
                         "'_', '-' or '.'.")
    return text


def _profile_name(profile) -> str:
    name = profile.name if isinstance(profile, config.Profile) else str(profile or "").strip()
    if not name:
        raise ValueError("profile must be a config.Profile or a profile name such as 'smoke'; "
                         "got an empty value.")
    return name


def result_path(notebook: str, task: str, model: str, profile, seed: int | None = None) -> Path:
    """Where :func:`record_result` writes this key (the folder is created):
    ``runs/<profile>/results/<notebook>__<task>__<model>.json``, characters other than letters,
    digits, ``_ - .`` made ``-``, a trailing ``.ipynb`` dropped; a ``seed`` other than None or 0
    adds ``__seed<N>``."""
    parts = [_safe_part(_clean_notebook(notebook), "notebook"), _safe_part(task, "task"),
             _safe_part(model, "model")]
    if seed not in (None, 0):
        parts.append(f"seed{_safe_part(seed, 'seed')}")
    file_name = "__".join(parts) + ".json"
    folder = config.runs_dir(_profile_name(profile)) / "results"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / file_name


def _number(value, what: str) -> float | None:
    """A JSON-safe float: NaN/inf become None; numpy scalars and 0-d arrays are accepted."""
    if value is None:
        return None
    if hasattr(value, "item") and getattr(value, "size", 1) == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a number; got {value!r} ({type(value).__name__}).")
    value = float(value)
    return value if math.isfinite(value) else None


def _jsonable(value, what: str):
    """Recursively make ``value`` strict-JSON-safe (NaN -> None, numpy -> Python, Path -> str)."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return _number(value, what)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _jsonable(value.tolist(), what)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item, f"{what}[{key!r}]") for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(item, what) for item in value]
    raise ValueError(f"{what} holds a {type(value).__name__} ({value!r}) that cannot be stored "
                     "as JSON; convert it to a number, string, list or dict.")


def _versions() -> dict[str, str]:
    versions = {"course_lib": __version__, "python": platform.python_version()}
    for module_name in ("numpy", "tensorflow", "keras"):
        version = getattr(sys.modules.get(module_name), "__version__", None)
        if version:
            versions[module_name] = str(version)
    return versions


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def hardware_summary() -> str:
    """One line such as ``"Linux x86_64, 2 x AMD EPYC 7B13, GPU: NVIDIA A100"``. Taught in
    00_setup_and_metrics. GPUs are named only when TensorFlow is already imported (never here)."""
    parts = [f"{platform.system()} {platform.machine()}".strip(),
             f"{os.cpu_count() or '?'} x {_cpu_model()}"]
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        try:
            names = [(tf.config.experimental.get_device_details(gpu) or {}).get("device_name")
                     or gpu.name for gpu in tf.config.list_physical_devices("GPU")]
            parts.append("GPU: " + (", ".join(names) if names else "none visible to TensorFlow"))
        except Exception as err:  # hardware probing must never break a results record
            parts.append(f"GPU: unknown ({type(err).__name__})")
    return ", ".join(parts)


# --- Writing and reading ---
def record_result(notebook: str, task: str, model: str, metrics: Mapping[str, float], profile, *,
                  image_size: int | None = None, epochs: int | None = None,
                  seed: int | None = None, wall_seconds: float | None = None,
                  ci: Mapping[str, Sequence[float]] | None = None,
                  extra: Mapping | None = None) -> Path:
    """Write one result record to :func:`result_path` (overwriting the same key) and return its
    path. Taught in 00_setup_and_metrics.

    ``metrics`` maps names to numbers (NaN and infinities are stored as ``null``). With a
    :class:`config.Profile`, ``image_size`` and ``seed`` default to the profile's (with a name,
    ``seed`` defaults to ``$COURSE_SEED`` when set). ``ci`` maps a metric to ``(low, high)`` or a
    ``BootstrapCI`` ``(point, low, high)``, stored as ``[low, high]``. The record also holds
    ``hardware`` (:func:`hardware_summary`), ``time`` (UTC, ISO 8601) and ``versions``.
    """
    for value, what in ((notebook, "notebook"), (task, "task"), (model, "model")):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{what} must be a non-empty string (e.g. notebook="
                             f"'02_classification', task='classification', model='mobilenet'); "
                             f"got {value!r}.")
    if not isinstance(metrics, Mapping) or not metrics:
        raise ValueError("metrics must be a non-empty dict of name -> number, e.g. the output of "
                         "metrics.classification_scores(...).")
    profile_name = _profile_name(profile)
    if isinstance(profile, config.Profile):
        image_size = profile.image_size if image_size is None else image_size
        seed = profile.seed if seed is None else seed
    elif seed is None:
        seed = config.seed_from_environment()

    clean_metrics = {str(name): _number(value, f"metrics[{name!r}]")
                     for name, value in metrics.items()}
    clean_ci = None
    if ci:
        clean_ci = {}
        for name, interval in ci.items():
            try:
                values = tuple(interval)
            except TypeError as err:
                raise ValueError(f"ci[{name!r}] must be (low, high) or (point, low, high); got "
                                 f"{interval!r}.") from err
            if len(values) not in (2, 3):
                raise ValueError(f"ci[{name!r}] must be (low, high) or (point, low, high); got "
                                 f"{len(values)} values.")
            clean_ci[str(name)] = [_number(values[-2], f"ci[{name!r}] low"),
                                   _number(values[-1], f"ci[{name!r}] high")]

    record = {"schema": SCHEMA_VERSION, "notebook": _clean_notebook(notebook), "task": task,
              "model": model, "profile": profile_name, "metrics": clean_metrics, "ci": clean_ci,
              "image_size": _jsonable(image_size, "image_size"),
              "epochs": _jsonable(epochs, "epochs"), "seed": _jsonable(seed, "seed"),
              "wall_seconds": _number(wall_seconds, "wall_seconds"),
              "hardware": hardware_summary(),
              "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "versions": _versions(), "extra": _jsonable(dict(extra), "extra") if extra else {}}
    text = json.dumps(record, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    path = result_path(notebook, task, model, profile_name, seed=record["seed"])
    return config.write_atomic(path, text)  # never half a JSON file, even after a kill


def read_record_files(folder) -> list[tuple[Path, dict]]:
    """``(path, record)`` for every valid result file in ``folder`` (sorted by name); files that
    are not JSON or have no ``metrics`` dict are skipped with a warning. No folder: ``[]``."""
    folder = Path(folder)
    found = []
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith(".tmp-"):
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            warnings.warn(f"Skipping unreadable result file {path}: {err}", UserWarning,
                          stacklevel=2)
            continue
        if not isinstance(record, dict) or not isinstance(record.get("metrics"), dict):
            warnings.warn(f"Skipping {path}: not a result record (no 'metrics').",
                          UserWarning, stacklevel=2)
            continue
        found.append((path, record))
    return found


def load_results(profile=None, notebook: str | None = None, task: str | None = None
                 ) -> list[dict]:
    """Read the records of one profile (of every profile when ``profile`` is None), sorted by
    profile, notebook, task, model; optionally only one ``notebook`` (with or without
    ``.ipynb``) and/or ``task``. Invalid files are skipped with a warning. Taught in
    00_setup_and_metrics."""
    if profile is None:
        folders = sorted(path for path in config.runs_dir().glob("*/results") if path.is_dir())
    else:
        folders = [config.runs_dir(_profile_name(profile)) / "results"]
    wanted_notebook = _clean_notebook(notebook) if notebook is not None else None
    records = [record for folder in folders for _, record in read_record_files(folder)
               if (wanted_notebook is None or record.get("notebook") == wanted_notebook)
               and (task is None or record.get("task") == task)]
    records.sort(key=lambda r: tuple(str(r.get(k, "")) for k in
                                     ("profile", "notebook", "task", "model"))
                 + (r.get("seed") if isinstance(r.get("seed"), int) else -1,))
    return records


# --- Tables ---
_ROW_FIELDS = ("notebook", "task", "model", "profile", "image_size", "epochs")


def _metric_names(records: Iterable[Mapping], metrics: Sequence[str] | None) -> list[str]:
    if metrics is not None:
        return list(metrics)
    return list(dict.fromkeys(name for record in records for name in record.get("metrics", {})))


def results_table(records: Sequence[Mapping], metrics: Sequence[str] | None = None
                  ) -> list[dict]:
    """Flat rows, one per record: notebook, task, model, profile, image_size, epochs, one key
    per metric (None when missing or NaN), wall_seconds. Taught in 00_setup_and_metrics.
    ``metrics`` picks and orders the metric columns (default: all, in order of appearance)."""
    records = list(records)
    names = _metric_names(records, metrics)
    return [{**{field: record.get(field) for field in _ROW_FIELDS},
             **{name: record.get("metrics", {}).get(name) for name in names},
             "wall_seconds": record.get("wall_seconds")} for record in records]


def _cell(value) -> str:
    return "–" if value is None else str(value).replace("|", "\\|")


def to_markdown(records: Sequence[Mapping], metrics: Sequence[str] | None = ("AC", "AUC", "AP"),
                digits: int = 3) -> str:
    """A Markdown table of ``records`` for the report. Taught in 00_setup_and_metrics.

    Columns: Notebook, Task, Model, Profile, Size, Epochs, the chosen ``metrics`` (``None`` =
    all found), Time (s). A metric with an interval prints as ``0.832 [0.780, 0.880]``, a
    missing or NaN value as ``–``."""
    records = list(records)
    names = _metric_names(records, metrics)
    header = ["Notebook", "Task", "Model", "Profile", "Size", "Epochs", *names, "Time (s)"]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |",
             "|" + "|".join(["---"] * 6 + ["---:"] * (len(names) + 1)) + "|"]
    for record in records:
        cells = [_cell(record.get(field)) for field in _ROW_FIELDS]
        intervals = record.get("ci") or {}
        for name in names:
            value = record.get("metrics", {}).get(name)
            if value is None or not math.isfinite(float(value)):
                cells.append("–")
                continue
            text = f"{float(value):.{digits}f}"
            interval = intervals.get(name)
            if interval and None not in interval:
                text += f" [{float(interval[0]):.{digits}f}, {float(interval[1]):.{digits}f}]"
            cells.append(text)
        seconds = record.get("wall_seconds")
        cells.append("–" if seconds is None else f"{float(seconds):.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
