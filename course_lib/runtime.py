"""What the notebook runs on, and the setup call of every notebook (00_setup_and_metrics)."""
from __future__ import annotations

import logging
import os
import platform
import sys
import time
from pathlib import Path

from . import config

__all__ = ["in_colab", "runtime_info", "start_notebook", "Timer", "use_google_drive",
           "DRIVE_MOUNT", "DRIVE_FOLDER"]

#: Where Colab mounts Google Drive, and the course's folder in it (data/ and runs/ go there).
DRIVE_MOUNT = Path("/content/drive")
DRIVE_FOLDER = "DermaLite"


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def runtime_info() -> dict:
    """Versions, place (Colab/local), CPU and GPUs as TensorFlow sees them."""
    import keras
    import numpy
    import tensorflow as tf
    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            details = tf.config.experimental.get_device_details(gpu)
            names.append(details.get("device_name", gpu.name))
        except (RuntimeError, ValueError):
            names.append(gpu.name)
    return {"where": "Google Colab" if in_colab() else "local",
            "python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": numpy.__version__,
            "cpu": f"{_cpu_name()} ({os.cpu_count()} logical cores)", "gpus": names}


def hardware_line(info: dict | None = None) -> str:
    """A short hardware description for result records and output notes."""
    info = info or runtime_info()
    gpu = ", ".join(info["gpus"]) if info["gpus"] else "no GPU"
    return f"{info['cpu']}, {gpu}"


def use_google_drive(folder: str = DRIVE_FOLDER) -> Path | None:
    """On Colab: mount Google Drive and keep data and runs in ``MyDrive/<folder>/data`` and
    ``.../runs`` (``COURSE_DATA_DIR`` / ``COURSE_RUNS_DIR``; variables already set win), so they
    outlive the Colab runtime. Returns the folder, or None outside Colab."""
    if not in_colab():
        return None
    from google.colab import drive  # noqa: PLC0415 - only exists on Colab
    drive.mount(str(DRIVE_MOUNT))
    home = DRIVE_MOUNT / "MyDrive" / folder
    for variable, sub in (("COURSE_DATA_DIR", "data"), ("COURSE_RUNS_DIR", "runs")):
        if not os.environ.get(variable):
            os.environ[variable] = str(home / sub)
            (home / sub).mkdir(parents=True, exist_ok=True)
    print(f"Google Drive: data in {os.environ['COURSE_DATA_DIR']}, runs in "
          f"{os.environ['COURSE_RUNS_DIR']} (kept between notebooks and sessions).")
    return home


def start_notebook(profile_name: str | None = None, *, quiet: bool = False,
                   drive: bool | None = None) -> config.Profile:
    """The setup every notebook runs: version guard, profile, seeds, hardware settings
    (:func:`course_lib.train.configure_for_hardware`), and a note of the profile and hardware behind
    the stored outputs. ``drive`` (None = yes on Colab): :func:`use_google_drive`."""
    from . import require
    require(verbose=False)
    if drive or (drive is None and in_colab()):
        use_google_drive()
    # TensorFlow's "retracing" notices would land in stored outputs; errors still show.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    profile = config.get_profile(profile_name)
    config.set_seed(profile.seed, deterministic=profile.deterministic)
    from . import train
    settings = train.configure_for_hardware(profile, verbose=False)
    if not quiet:
        info = runtime_info()
        changed = config.overrides_from_environment()
        label = f"'{profile.name}'" + (f" (overrides: {config.format_overrides(changed)})"
                                       if changed else "")
        print(f"Outputs produced with profile {label} on {info['where']} "
              f"{hardware_line(info)}; TensorFlow {info['tensorflow']}, Keras {info['keras']}.")
        print(profile.describe())
        print(f"Hardware settings: {settings['policy']}, XLA "
              f"{'on' if settings['jit_compile'] else 'off'} — {settings['reason']}.")
        if profile.name == "smoke":
            print("Smoke profile: tiny synthetic data and runs — the numbers below show that the "
                  "code works, they are NOT meaningful results.")
        elif profile.name == "showcase":
            print("Showcase profile: SynthDerm, random initial weights, a CPU budget — the models "
                  "learn, but the numbers are about synthetic lesions, not ISIC 2016: compare "
                  "with the paper only in lab or paper.")
        if not os.environ.get("COURSE_PROFILE"):
            print("Change the profile in the parameters cell, or with COURSE_PROFILE=lab "
                  "before starting Jupyter.")
        if profile.data_source == "isic2016" and not info["gpus"]:
            print("Warning: no GPU visible — the lab/paper profiles will be very slow on a CPU. "
                  "On Colab: Runtime > Change runtime type > GPU.")
    return profile


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds`` — wall time for result records."""

    def __enter__(self):
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        return False
