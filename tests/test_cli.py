"""The ``course`` command (course_tools.cli) on throw-away course checkouts in tmp_path."""
from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_lib import config
from course_tools import cli
from course_tools.exercises import sync_exercises

# Lint-clean solution notebook and repo builder shared with the generator tests.
from test_exercises import NAME, make_repo, solution_notebook  # noqa: E402


def course(*args: str) -> int:
    return cli.main([str(a) for a in args])


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_RUNS_DIR", raising=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_PROFILE", "smoke")


def tiny_notebooks(root: Path) -> None:
    """00_ok prints the profile its kernel sees; 01_fail raises. No TensorFlow import."""
    ok = new_notebook(cells=[
        new_markdown_cell("# OK"),
        new_code_cell('import os\nPROFILE = os.environ.get("COURSE_PROFILE", "smoke")',
                      metadata={"tags": ["parameters"]}),
        new_code_cell('print(f"profile={PROFILE} cwd={os.getcwd()}")'),
    ])
    fail = new_notebook(cells=[new_code_cell("print('before')"),
                               new_code_cell("raise ValueError('boom\\nsecond line')"),
                               new_code_cell("print('never')")])
    for nb in (ok, fail):
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
    (root / "solutions").mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'toy'\n")
    nbformat.write(ok, root / "solutions" / "00_ok.ipynb")
    nbformat.write(fail, root / "solutions" / "01_fail.ipynb")


# --------------------------------------------------------------------------- help & info
def test_console_script_help_lists_subcommands():
    script = Path(sys.executable).with_name("course")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "course_tools.cli"]
    done = subprocess.run(command + ["--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for sub in ("run", "exercises", "download", "lint", "info"):
        assert sub in done.stdout
    assert "usage: course" in done.stdout


def test_no_subcommand_prints_help(capsys):
    assert course() == 2
    assert "usage: course" in capsys.readouterr().out


def test_info(capsys, clean_env, tmp_path):
    assert course("--root", make_repo(tmp_path), "info") == 0
    out = capsys.readouterr().out
    assert "course_lib" in out and "tensorflow" in out and "keras" in out
    assert "profile      smoke (from COURSE_PROFILE)" in out
    assert f"data dir     {tmp_path / 'data'}" in out
    assert f"runs dir     {tmp_path / 'runs'}" in out
    assert f"repo root    {tmp_path}" in out
    assert "GPU          " in out


# --------------------------------------------------------------------------- exercises & lint
def test_exercises_check_then_write(capsys, tmp_path):
    root = make_repo(tmp_path)
    assert course("--root", root, "exercises", "--check") == 1
    out = capsys.readouterr().out
    assert f"missing: notebooks/{NAME}" in out
    assert "Fix: run `course exercises`" in out
    assert not (root / "notebooks").exists()

    assert course("--root", root, "exercises") == 0
    assert f"wrote   notebooks/{NAME}" in capsys.readouterr().out
    assert course("--root", root, "exercises", "--check") == 0
    assert "in sync" in capsys.readouterr().out

    (root / "notebooks" / "05_orphan.ipynb").write_text(nbformat.writes(new_notebook()))
    assert course("--root", root, "exercises", "--check") == 1
    assert "extra:   notebooks/05_orphan.ipynb" in capsys.readouterr().out


def test_exercises_reports_marker_errors(capsys, tmp_path):
    nb = solution_notebook()
    nb.cells[4].source = nb.cells[4].source.replace("    ### END SOLUTION\n", "")
    root = make_repo(tmp_path, {NAME: nb})
    assert course("--root", root, "exercises") == 1
    out = capsys.readouterr().out
    assert f"error: solutions/{NAME}, cell 5" in out and "never closed" in out


def test_lint_command(capsys, tmp_path):
    root = make_repo(tmp_path)
    sync_exercises(root)
    assert course("--root", root, "lint") == 1  # the course's rule: four exercises
    assert "needs at least 4 exercise cells, found 2" in capsys.readouterr().out
    assert course("--root", root, "lint", "--min-exercises", "2") == 0  # a toy: two
    assert "OK" in capsys.readouterr().out
    nb = nbformat.read(root / "solutions" / NAME, as_version=4)
    nb.cells.pop()  # no Summary
    nbformat.write(nb, root / "solutions" / NAME)
    assert course("--root", root, "lint", "--min-exercises", "2") == 1
    assert "'## Summary' heading" in capsys.readouterr().out


def test_commands_need_a_checkout(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(config, "repo_root", lambda: None)
    monkeypatch.chdir(tmp_path)
    assert course("exercises", "--check") == 2
    err = capsys.readouterr().err
    assert "needs a course checkout" in err and "--root" in err
    assert course("--root", tmp_path, "lint") == 2
    assert "has no solutions/ folder" in capsys.readouterr().err


# --------------------------------------------------------------------------- run
def test_resolve_notebooks(tmp_path):
    tiny_notebooks(tmp_path)
    solutions = tmp_path / "solutions"
    assert [p.name for p in cli.resolve_notebooks(tmp_path, [])] == ["00_ok.ipynb",
                                                                      "01_fail.ipynb"]
    assert cli.resolve_notebooks(tmp_path, ["1"]) == [solutions / "01_fail.ipynb"]
    assert cli.resolve_notebooks(tmp_path, ["00"]) == [solutions / "00_ok.ipynb"]
    assert cli.resolve_notebooks(tmp_path, ["00_ok", "01_fail.ipynb"]) == [
        solutions / "00_ok.ipynb", solutions / "01_fail.ipynb"]
    assert cli.resolve_notebooks(tmp_path, [str(solutions / "01_fail.ipynb")]) == [
        solutions / "01_fail.ipynb"]
    with pytest.raises(cli.CommandError, match="Available: 00_ok, 01_fail"):
        cli.resolve_notebooks(tmp_path, ["07"])
    with pytest.raises(cli.CommandError, match="course exercises"):
        cli.resolve_notebooks(tmp_path, [], exercises=True)


def test_run_refusals(capsys, tmp_path):
    tiny_notebooks(tmp_path)
    assert course("--root", tmp_path, "run", "--exercises", "--store") == 2
    assert "cannot be combined with --exercises" in capsys.readouterr().err
    assert course("--root", tmp_path, "run", "--profile", "huge") == 2
    assert "Unknown profile 'huge'" in capsys.readouterr().err


def test_run_table_profile_and_store(capsys, clean_env, tmp_path):
    tiny_notebooks(tmp_path)
    failing_before = (tmp_path / "solutions" / "01_fail.ipynb").read_bytes()
    assert course("--root", tmp_path, "run", "--profile", "lab", "--store") == 1
    assert os.environ["COURSE_PROFILE"] == "smoke"  # restored after the run
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("notebook"))
    assert lines[header].split() == ["notebook", "status", "seconds"]
    assert lines[header + 1].split()[:2] == ["00_ok", "ok"]
    assert lines[header + 2].startswith("01_fail") and "FAILED: ValueError: boom" in lines[header + 2]
    assert "second line" not in out  # only the first error line
    assert lines[header + 3].split()[0] == "total"
    assert float(lines[header + 3].split()[-1]) > 0

    executed = tmp_path / "runs" / "lab" / "notebooks"
    assert (executed / "00_ok.ipynb").exists() and (executed / "01_fail.ipynb").exists()
    assert "papermill" in (executed / "00_ok.ipynb").read_text()

    stored_text = (tmp_path / "solutions" / "00_ok.ipynb").read_text()
    assert "papermill" not in stored_text and "iopub" not in stored_text
    stored = nbformat.read(tmp_path / "solutions" / "00_ok.ipynb", as_version=4)
    assert len(stored.cells) == 3  # no injected-parameters cell
    assert stored.cells[1].metadata == {"tags": ["parameters"]}
    assert stored.cells[2].execution_count == 2
    assert stored.cells[2].outputs[0].text == f"profile=lab cwd={tmp_path}\n"
    assert stored.cells[0].metadata == {}
    # a failed notebook is never stored
    assert (tmp_path / "solutions" / "01_fail.ipynb").read_bytes() == failing_before


def test_run_exercise_copy_reaches_the_end(capsys, clean_env, tmp_path):
    """An exercise copy runs top to bottom and its check cells report 'not implemented'."""
    root = make_repo(tmp_path)
    sync_exercises(root)
    assert course("--root", root, "run", "--exercises", "00", "--timeout", "60") == 0
    executed = nbformat.read(root / "runs" / "smoke" / "exercises" / NAME, as_version=4)
    check_outputs = ["".join(o.get("text", "") for o in cell.outputs)
                     for cell in executed.cells if "checks.run(" in cell.source]
    assert len(check_outputs) == 2
    for text in check_outputs:
        assert text.startswith("✗ Exercise 0.") and "not implemented yet" in text


# --------------------------------------------------------------------------- download
def fake_isic_module(monkeypatch, function):
    module = types.ModuleType("course_lib.data.isic2016")
    module.download_isic2016 = function
    monkeypatch.setitem(sys.modules, "course_lib.data.isic2016", module)


def test_download_passes_options(capsys, monkeypatch, tmp_path):
    calls = []

    def download_isic2016(**kwargs):
        calls.append(kwargs)
        return tmp_path / "isic"

    fake_isic_module(monkeypatch, download_isic2016)
    assert course("download", "isic2016") == 0
    assert course("download", "isic2016", "--part3", "--dest", tmp_path, "--base-url",
                  "http://mirror.example/isic") == 0
    assert calls == [{"part3": False},
                     {"part3": True, "dest": str(tmp_path),
                      "base_url": "http://mirror.example/isic"}]
    assert f"ISIC 2016 is ready in {tmp_path / 'isic'}" in capsys.readouterr().out


def test_download_failure_is_friendly(capsys, monkeypatch):
    def download_isic2016(**kwargs):
        raise ConnectionError("challenge.isic-archive.com unreachable; try --base-url")

    fake_isic_module(monkeypatch, download_isic2016)
    assert course("download", "isic2016") == 2
    captured = capsys.readouterr()
    assert "course download: isic2016 failed: ConnectionError: challenge.isic-archive.com" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_run_set_overrides_reach_the_kernel(capsys, clean_env, tmp_path):
    tiny_notebooks(tmp_path)
    nb = nbformat.read(tmp_path / "solutions" / "00_ok.ipynb", as_version=4)
    nb.cells.append(new_code_cell(
        "from course_lib import config\np = config.get_profile(PROFILE)\n"
        "print(os.environ.get('COURSE_SET'), p.image_size, p.epochs, p.weights)"))
    nbformat.write(nb, tmp_path / "solutions" / "00_ok.ipynb")
    assert course("--root", tmp_path, "run", "00", "--profile", "lab", "--set",
                  "image_size=96", "--set", "epochs=2", "--set", "weights=none") == 0
    assert "profile lab with overrides: image_size=96, epochs=2, weights=none" in (
        capsys.readouterr().out)
    executed = nbformat.read(tmp_path / "runs" / "lab" / "notebooks" / "00_ok.ipynb",
                             as_version=4)
    assert executed.cells[-1].outputs[0].text == "image_size=96,epochs=2,weights=none 96 2 None\n"
    assert "COURSE_SET" not in os.environ


def test_run_bad_set_and_store_with_set_are_refused(capsys, clean_env, tmp_path):
    tiny_notebooks(tmp_path)
    assert course("--root", tmp_path, "run", "--set", "epoch=2") == 2
    err = capsys.readouterr().err
    assert "Unknown profile field 'epoch'" in err and "Valid fields:" in err
    assert course("--root", tmp_path, "run", "--set", "epochs=2", "--store") == 2
    assert "run without --set" in capsys.readouterr().err
