"""Shared test setup. The smoke profile is the default for every test and for the notebook
kernels nbval and papermill start (they inherit this process's environment)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("COURSE_PROFILE", "smoke")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "samples"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def isic_samples() -> Path:
    """The 28 real ISIC 2016 images beside the project (skips when absent)."""
    root = SAMPLES / "isic2016"
    if not root.is_dir():
        pytest.skip("../shared/samples/isic2016 not present on this machine")
    return root
