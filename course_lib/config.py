"""Profiles, paths and seeds: the one place that decides how big a run is.

Taught in 00_setup_and_metrics. Every notebook's ``parameters`` cell sets ``PROFILE`` (from
``$COURSE_PROFILE`` or :func:`default_profile_name`) and calls :func:`get_profile`, so
papermill (``-p PROFILE lab``), nbval and a student editing the cell drive the same switch.
"""
from __future__ import annotations

import dataclasses
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import paper

__all__ = [
    "Profile", "PROFILES", "REPOSITORY", "get_profile", "default_profile_name", "set_seed",
    "repo_root", "data_dir", "runs_dir", "has_gpu", "seed_from_environment", "as_profile",
]

#: GitHub owner/name of the course. Colab badges are built from this one value.
REPOSITORY = "dermalite/dermalite-course"
#: Branch the Colab badges open.
BRANCH = "main"


@dataclass(frozen=True)
class Profile:
    """How big a run is. Frozen: change one with ``dataclasses.replace(profile, epochs=3)``.
    ``None`` for a count means "all of it"."""

    name: str
    data_source: str            # "synthderm" (generated offline) or "isic2016" (downloaded)
    image_size: int             # side of the square model input, pixels
    n_train: int | None         # training images taken from the source (None = all 900)
    n_test: int | None          # test images taken from the source (None = all 379)
    epochs: int                 # classification epochs (paper: 50)
    seg_epochs: int             # segmentation epochs (paper: 50)
    batch_size: int             # paper: 32
    weights: str | None         # backbone initialisation: None or "imagenet"
    seed: int = 0
    deterministic: bool = False  # TF op determinism (slower; smoke uses it for repeatable numbers)
    expand_classification: int | None = None  # offline expansion target (paper: 900 -> 4430)
    expand_segmentation: int | None = None    # paper: 900 -> 6900
    synth_image_size: int = 256  # side of SynthDerm images written to disk
    run_eagerly: bool = False    # skip graph tracing (worth it for tiny smoke steps on CPU)
    large_models: bool = True    # also train DenseNet-121 and the heavier encoders
    learning_rate: float = paper.LEARNING_RATE  # Adam's start; from random weights on a CPU
    #                              budget (showcase) 1e-3 learns in far fewer steps
    precise_bn_batches: int = 4  # batches that recompute BatchNorm statistics before every
    #                              validation pass and after training (train.PreciseBatchNorm)
    description: str = ""

    def describe(self) -> str:
        """One human line: what this profile runs."""
        n_train, n_test = ("all" if n is None else n for n in (self.n_train, self.n_test))
        return (f"profile '{self.name}': {self.data_source}, {self.image_size}px, "
                f"{n_train} train / {n_test} test images, {self.epochs} epoch(s), "
                f"batch {self.batch_size}, weights={self.weights}, seed={self.seed}"
                + ("" if self.learning_rate == paper.LEARNING_RATE
                   else f", learning rate {self.learning_rate:g}"))


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", data_source="synthderm", image_size=64, n_train=160, n_test=60,
        epochs=1, seg_epochs=1, batch_size=16, weights=None, seed=0, deterministic=True,
        synth_image_size=96, run_eagerly=True, large_models=False,
        description="SynthDerm, tiny images, one short epoch: proves the code runs (2 CPU cores, "
                    "about a minute per notebook). Its numbers are NOT meaningful."),
    "laptop": Profile(
        name="laptop", data_source="isic2016", image_size=128, n_train=None, n_test=None,
        epochs=4, seg_epochs=3, batch_size=32, weights="imagenet", seed=0, deterministic=False,
        large_models=False,
        description="ISIC 2016 at 128 px, ImageNet weights, a few epochs, MobileNet models only: "
                    "a classroom without GPUs (planned for about 10 min per notebook on a "
                    "4-core laptop CPU; see the README's syllabus)."),
    "showcase": Profile(  # sizes chosen from measured runs (the README's showcase results)
        name="showcase", data_source="synthderm", image_size=64, n_train=960, n_test=160,
        epochs=12, seg_epochs=12, batch_size=32, weights=None, seed=0, deterministic=False,
        synth_image_size=128, large_models=False, learning_rate=1e-3,
        description="SynthDerm at a size where the models learn on a CPU (random weights, "
                    "Adam 1e-3): the stored outputs of the solutions come from it. The whole "
                    "course took 33-37 min on 2 CPU cores (measured); its numbers are about "
                    "synthetic lesions, not ISIC 2016."),
    "lab": Profile(
        name="lab", data_source="isic2016", image_size=224, n_train=None, n_test=None,
        epochs=8, seg_epochs=8, batch_size=32, weights="imagenet", seed=0, deterministic=False,
        description="ISIC 2016 at 224 px, ImageNet weights, a few epochs with on-the-fly "
                    "augmentation: one Colab GPU, minutes per notebook."),
    "paper": Profile(
        name="paper", data_source="isic2016", image_size=224, n_train=None, n_test=None,
        epochs=paper.EPOCHS, seg_epochs=paper.EPOCHS, batch_size=paper.BATCH_SIZE,
        weights="imagenet", seed=0, deterministic=False,
        expand_classification=paper.EXPAND_CLASSIFICATION,
        expand_segmentation=paper.EXPAND_SEGMENTATION,
        description="The paper's protocol: 50 epochs, batch 32, offline expansion "
                    "900 -> 4430 (classification) / 6900 (segmentation). Hours on a GPU."),
}


def has_gpu() -> bool:
    """True when an NVIDIA driver is visible, without importing TensorFlow."""
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def seed_from_environment() -> int | None:
    """``$COURSE_SEED`` (set by ``course run --seeds 0,1,2``) as an integer, or None when it is
    unset or empty."""
    text = os.environ.get("COURSE_SEED", "").strip()
    if not text:
        return None
    try:
        seed = int(text)
    except ValueError:
        raise ValueError(f"COURSE_SEED must be a non-negative integer such as 0 or 1; got "
                         f"{text!r}. Unset it or fix its value.") from None
    if seed < 0:
        raise ValueError(f"COURSE_SEED must be a non-negative integer; got {seed}.")
    return seed


def default_profile_name() -> str:
    """``$COURSE_PROFILE`` if set, else ``lab`` on a GPU machine and ``smoke`` elsewhere."""
    return os.environ.get("COURSE_PROFILE", "").strip() or ("lab" if has_gpu() else "smoke")


#: Profile fields that ``--set`` / ``COURSE_SET`` may change (the name is chosen otherwise).
OVERRIDABLE = tuple(f.name for f in dataclasses.fields(Profile) if f.name != "name")


def _field_types() -> dict[str, str]:
    return {f.name: str(f.type).replace(" ", "") for f in dataclasses.fields(Profile)}


def _parse_value(key: str, text: str):
    """``text`` as the type of profile field ``key`` (int, bool, str, or one of them | None)."""
    kind = _field_types()[key]
    raw = text.strip()
    if kind.endswith("|None") and raw.lower() in ("none", "null", ""):
        return None
    base = kind.split("|")[0]
    if base in ("float", "int"):
        try:
            return float(raw) if base == "float" else int(raw)
        except ValueError:
            what, example = (("a number", "0.001") if base == "float" else (
                f"a whole number{' or none' if kind.endswith('|None') else ''}", "128"))
            raise ValueError(f"--set {key}={text!r}: {key} takes {what}, e.g. "
                             f"{key}={example}.") from None
    if base == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--set {key}={text!r}: {key} takes true or false.")
    return raw


def parse_overrides(items) -> dict:
    """Profile overrides from ``"image_size=128,epochs=3"`` or ``["image_size=128", ...]``,
    each value parsed to its field's type (``weights=none`` gives None)."""
    if isinstance(items, str):
        items = items.split(",")
    overrides = {}
    for item in items or ():
        item = str(item).strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"Profile override {item!r} is not of the form field=value, e.g. "
                             f"image_size=128. Valid fields: {', '.join(OVERRIDABLE)}.")
        if key not in OVERRIDABLE:
            raise ValueError(f"Unknown profile field {key!r} in override {item!r}. Valid "
                             f"fields: {', '.join(OVERRIDABLE)}.")
        overrides[key] = _parse_value(key, value)
    return overrides


def overrides_from_environment() -> dict:
    """``$COURSE_SET`` parsed by :func:`parse_overrides` (empty when unset)."""
    text = os.environ.get("COURSE_SET", "")
    try:
        return parse_overrides(text)
    except ValueError as err:
        raise ValueError(f"COURSE_SET={text!r}: {err} Fix or unset COURSE_SET.") from None


def format_overrides(overrides: dict) -> str:
    """``{"image_size": 128, "weights": None}`` → ``"image_size=128, weights=none"``."""
    return ", ".join(f"{k}={'none' if v is None else v}" for k, v in overrides.items())


def as_profile(profile) -> Profile:
    """``profile`` itself when it is a :class:`Profile`, else :func:`get_profile` of its name
    (None: the default profile); anything else raises ``ValueError``."""
    if isinstance(profile, Profile):
        return profile
    if profile is None or isinstance(profile, str):
        return get_profile(profile)
    raise ValueError(f"profile must be a Profile or a profile name, got "
                     f"{type(profile).__name__}; use config.get_profile('smoke').")


def get_profile(name: str | None = None, **overrides) -> Profile:
    """Return the profile called ``name`` (default: :func:`default_profile_name`).
    Applied in order: ``$COURSE_SEED`` (unless ``seed=`` is passed), ``$COURSE_SET``, then
    keyword overrides, e.g. ``get_profile("smoke", epochs=2)``."""
    name = (name or default_profile_name()).strip().lower()
    if name not in PROFILES:
        raise ValueError(f"Unknown profile {name!r}. Valid profiles: {', '.join(PROFILES)}. "
                         "Set COURSE_PROFILE or pass one of these names.")
    profile = PROFILES[name]
    seed = seed_from_environment()
    if seed is not None and "seed" not in overrides:
        profile = dataclasses.replace(profile, seed=seed)
    overrides = {**overrides_from_environment(), **overrides}
    if overrides:
        if unknown := set(overrides) - {f.name for f in dataclasses.fields(Profile)}:
            raise ValueError(f"Unknown profile field(s) {sorted(unknown)}; valid fields: "
                             f"{[f.name for f in dataclasses.fields(Profile)]}")
        profile = dataclasses.replace(profile, **overrides)
    return profile


def set_seed(seed: int = 0, deterministic: bool = False) -> None:
    """Seed Python, NumPy and TensorFlow/Keras; ``deterministic=True`` also turns on TF op
    determinism (slower on GPU). Taught in 00_setup_and_metrics."""
    import numpy as np
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    try:
        import keras
    except ImportError:  # numpy-only use of the library
        return
    keras.utils.set_random_seed(seed)
    if deterministic:
        import tensorflow as tf
        tf.config.experimental.enable_op_determinism()


def write_atomic(path, content: str | bytes) -> Path:
    """Write ``content`` to ``path`` through a temporary file and a rename, so that a crash
    never leaves half a file behind."""
    import tempfile
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def repo_root() -> Path | None:
    """The course checkout holding this package, or None when installed elsewhere."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() and (here / "solutions").is_dir() else None


def _location(variable: str, folder: str, fallback: Callable[[], Path]) -> Path:
    """``$variable``, else ``<repo>/<folder>``, else ``fallback()``."""
    if env := os.environ.get(variable):
        return Path(env).expanduser()
    return fallback() if repo_root() is None else repo_root() / folder


def data_dir() -> Path:
    """Where downloads and caches live: ``$COURSE_DATA_DIR``, else ``<repo>/data``, else
    ``~/course_data``."""
    path = _location("COURSE_DATA_DIR", "data", lambda: Path.home() / "course_data")
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir(profile: str | Profile | None = None) -> Path:
    """``runs/`` or ``runs/<profile>/``: executed notebooks, models, results.
    ``$COURSE_RUNS_DIR`` overrides the location (default ``<repo>/runs`` or ``./runs``)."""
    base = _location("COURSE_RUNS_DIR", "runs", lambda: Path.cwd() / "runs")
    if profile is not None:
        base = base / (profile.name if isinstance(profile, Profile) else str(profile))
    base.mkdir(parents=True, exist_ok=True)
    return base


def as_rng(rng=None):
    """A NumPy Generator from ``None`` (fresh, unseeded), an int seed or a Generator."""
    import numpy as np
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng must be a numpy Generator (np.random.default_rng(seed)), an int seed "
                     f"or None; got {type(rng).__name__}.")
