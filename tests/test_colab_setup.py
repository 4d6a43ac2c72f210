"""Every notebook's setup cell on a simulated Colab: installs the course without touching Colab's
TensorFlow, exactly once, from the course repository; runtime.in_colab() sees Colab; the lab
profile warns when no GPU is attached."""
from __future__ import annotations

import re
import shlex
import sys
import types
from pathlib import Path

import nbformat
import pytest

from course_lib import config, runtime

SOLUTIONS = sorted((Path(__file__).resolve().parents[1] / "solutions").glob("*.ipynb"))
REPOSITORY_URL = f"git+https://github.com/{config.REPOSITORY}"


def setup_cell(path: Path) -> str:
    """The one code cell that mentions google.colab."""
    nb = nbformat.read(path, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and "google.colab" in c.source]
    assert len(cells) == 1, f"{path.name}: expected one setup cell mentioning google.colab, " \
                            f"found {len(cells)}"
    return cells[0]


def pip_lines(source: str) -> list[str]:
    """Shell/magic lines that run pip (``!pip``, ``%pip``, ``!python -m pip``)."""
    return [line.strip() for line in source.splitlines()
            if re.match(r"\s*[!%]\s*(pip|python3? -m pip)\b", line)]


class FakeShell:
    """Stands in for IPython's shell: records ``!`` commands and magics instead of running them."""

    def __init__(self):
        self.system_calls: list[str] = []
        self.magics: list[tuple[str, str]] = []

    def system(self, command: str) -> None:
        self.system_calls.append(command)

    def getoutput(self, command: str, split: bool = True):
        self.system_calls.append(command)
        return []

    def run_line_magic(self, name: str, line: str):
        self.magics.append((name, line))
        if name == "pip":
            self.system_calls.append(f"pip {line}")

    def run_cell_magic(self, name: str, line: str, cell: str):
        self.magics.append((name, line))


@pytest.fixture()
def fake_colab(monkeypatch, tmp_path):
    # "google" is a real namespace package (google.protobuf, needed by TensorFlow): import it
    # first and only add a fake google.colab beside it. Drive "mounts" into tmp_path.
    import google.protobuf  # noqa: F401
    import tensorflow  # noqa: F401

    colab = types.ModuleType("google.colab")
    drive = types.ModuleType("google.colab.drive")
    drive.mounted = []
    drive.mount = lambda where: drive.mounted.append(where)
    colab.drive = drive
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.drive", drive)
    monkeypatch.setattr(sys.modules["google"], "colab", colab, raising=False)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.setattr(runtime, "DRIVE_MOUNT", tmp_path / "drive")
    for variable in ("COURSE_DATA_DIR", "COURSE_RUNS_DIR"):
        monkeypatch.delenv(variable, raising=False)
    yield colab


def test_there_are_notebooks():
    assert SOLUTIONS, "solutions/ holds no notebooks"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_setup_cell_installs_without_tensorflow(path):
    lines = pip_lines(setup_cell(path))
    assert len(lines) == 1, f"{path.name}: the setup cell should run pip once, found {lines}"
    line = lines[0]
    assert "install" in line
    assert "tensorflow" not in line.lower(), "Colab ships TensorFlow: never reinstall it"
    assert not re.search(r"\[[^\]]*\b(cpu|gpu)\b[^\]]*\]", line), \
        "the [cpu]/[gpu] extras pull a second TensorFlow next to Colab's"
    assert REPOSITORY_URL in line


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_setup_cell_on_simulated_colab(path, fake_colab, capsys):
    from IPython.core.inputtransformer2 import TransformerManager

    assert runtime.in_colab()
    code = TransformerManager().transform_cell(setup_cell(path))
    shell = FakeShell()
    namespace = {"get_ipython": lambda: shell, "PROFILE": "lab", "USE_DRIVE": None,
                 "__name__": "__main__"}
    exec(compile(code, f"<{path.name} setup cell>", "exec"), namespace)  # noqa: S102

    pip_calls = [c for c in shell.system_calls if re.match(r"\s*(pip|python3? -m pip)\b", c)]
    assert len(pip_calls) == 1, shell.system_calls
    words = shlex.split(pip_calls[0])
    assert "install" in words
    assert any(REPOSITORY_URL in word for word in words)
    assert not any("tensorflow" in word.lower() for word in words)

    out = capsys.readouterr().out
    assert "Outputs produced with profile 'lab' on Google Colab" in out
    assert "Google Drive: data in" in out  # USE_DRIVE = None: Drive on Colab by default
    if not config.has_gpu():
        assert "Warning: no GPU visible" in out
        assert "Runtime > Change runtime type > GPU" in out


def test_no_install_outside_colab(monkeypatch):
    """Locally the setup cell's pip line must not run (the guard is the `if`)."""
    from IPython.core.inputtransformer2 import TransformerManager

    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert not runtime.in_colab()
    path = SOLUTIONS[0]
    code = TransformerManager().transform_cell(setup_cell(path))
    shell = FakeShell()
    exec(compile(code, path.name, "exec"),  # noqa: S102
         {"get_ipython": lambda: shell, "PROFILE": "smoke", "USE_DRIVE": None,
          "__name__": "__main__"})
    assert not [c for c in shell.system_calls if "pip" in c]


def test_colab_keeps_data_and_runs_on_google_drive(fake_colab, tmp_path, capsys, monkeypatch):
    import os

    profile = runtime.start_notebook("smoke")
    home = tmp_path / "drive" / "MyDrive" / "DermaLite"
    assert fake_colab.drive.mounted == [str(tmp_path / "drive")]
    assert os.environ["COURSE_DATA_DIR"] == str(home / "data")
    assert config.runs_dir(profile) == home / "runs" / "smoke"
    assert "Google Drive: data in" in capsys.readouterr().out
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "mine"))  # the user's choice wins
    runtime.use_google_drive()
    assert os.environ["COURSE_DATA_DIR"] == str(tmp_path / "mine")


def test_drive_can_be_switched_off_and_is_never_used_locally(fake_colab, tmp_path, monkeypatch):
    runtime.start_notebook("smoke", drive=False)
    assert fake_colab.drive.mounted == []
    monkeypatch.delitem(sys.modules, "google.colab")
    assert runtime.use_google_drive() is None
