"""Packaging: pyproject <-> environment.yml in sync, README commands <-> .ci/run, version guard."""
from __future__ import annotations

import re
import sys
import tomllib
import types

import pytest
import yaml

import course_lib


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _spec(requirement: str) -> str:
    requirement = re.sub(r"\[.*?\]", "", requirement.strip())
    return requirement[len(_name(requirement)):].replace(" ", "")


def _pyproject(repo_root):
    return tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]


def test_environment_yml_matches_pyproject(repo_root):
    project = _pyproject(repo_root)
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"] \
        + project["optional-dependencies"]["cpu"]
    wanted = {_name(r): _spec(r) for r in wanted}
    env = yaml.safe_load((repo_root / "environment.yml").read_text())
    listed = {}
    pip_section = []
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            pip_section = entry["pip"]
        elif _name(entry) not in {"python", "pip"}:
            listed[_name(entry)] = _spec(entry)
    editable = [e for e in pip_section if e.startswith("-e")]
    assert editable == ['-e ".[cpu,dev]"'], "environment.yml's pip section must install the course"
    for entry in pip_section:
        if not entry.startswith("-e"):
            listed[_name(entry)] = _spec(entry)
    missing = sorted(set(wanted) - set(listed))
    extra = sorted(set(listed) - set(wanted))
    assert not missing and not extra, (
        f"environment.yml and pyproject.toml disagree: missing in environment.yml {missing}, "
        f"not in pyproject {extra}")
    differing = {k: (wanted[k], listed[k]) for k in wanted if wanted[k] != listed[k]}
    assert not differing, f"version bounds differ (pyproject, environment.yml): {differing}"


def test_tensorflow_is_only_an_extra(repo_root):
    """A hard TensorFlow dependency would replace Colab's TensorFlow or sit beside tensorflow-cpu."""
    project = _pyproject(repo_root)
    assert not [r for r in project["dependencies"] if _name(r).startswith("tensorflow")]
    extras = project["optional-dependencies"]
    assert [_name(r) for r in extras["cpu"]] == ["tensorflow-cpu"]
    assert [_name(r) for r in extras["gpu"]] == ["tensorflow"]
    for requirement in extras["cpu"] + extras["gpu"]:
        assert _spec(requirement) == ">={}.{}".format(*course_lib.MIN_TENSORFLOW)
    keras = [r for r in project["dependencies"] if _name(r) == "keras"]
    assert keras and _spec(keras[0]) == ">={}.{}".format(*course_lib.MIN_KERAS)


def _fenced_commands(readme: str) -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", readme, flags=re.S)


def test_readme_quick_start_has_two_commands_and_ci_runs_the_test_one(repo_root):
    readme = (repo_root / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = _fenced_commands(quick)
    assert len(commands) == 2, commands
    run_command, test_command = commands
    assert "course run --profile smoke" in run_command and '".[cpu]"' in run_command
    assert test_command.rstrip().endswith("pytest") and "[cpu,dev]" in test_command
    ci = (repo_root / ".ci" / "run").read_text()
    assert test_command.strip() in ci.splitlines(), ".ci/run must run the README's test command"


def test_readme_states_it_is_not_a_diagnostic_tool(repo_root):
    readme = (repo_root / "README.md").read_text()
    assert "Not a diagnostic tool" in readme
    assert (repo_root / "LICENSE").is_file()


def test_require_accepts_this_environment():
    found = course_lib.require(verbose=False)
    assert found["backend"] == "tensorflow"
    assert int(found["keras"].split(".")[0]) >= 3


def _fake_modules(monkeypatch, tf_version, keras_version, tf_keras_version=None):
    fake_keras = types.SimpleNamespace(__version__=keras_version,
                                       backend=types.SimpleNamespace(backend=lambda: "tensorflow"))
    fake_tf = types.SimpleNamespace(
        __version__=tf_version,
        keras=types.SimpleNamespace(__version__=tf_keras_version or keras_version))
    monkeypatch.setitem(sys.modules, "tensorflow", fake_tf)
    monkeypatch.setitem(sys.modules, "keras", fake_keras)


@pytest.mark.parametrize("tf_version, keras_version, fragment", [
    ("2.15.1", "3.10.0", "TensorFlow 2.15.1 is too old"),
    ("2.21.0", "2.15.0", "Keras 2.15.0 is Keras 2"),
    ("2.21.0", "3.8.0", "Keras 3.8.0 is too old"),
])
def test_require_rejects_old_versions(monkeypatch, tf_version, keras_version, fragment):
    _fake_modules(monkeypatch, tf_version, keras_version)
    with pytest.raises(course_lib.EnvironmentProblem, match=re.escape(fragment)) as info:
        course_lib.require(verbose=False)
    assert "pip install" in str(info.value)


def test_require_rejects_legacy_keras_switch(monkeypatch):
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "1")
    with pytest.raises(course_lib.EnvironmentProblem, match="TF_USE_LEGACY_KERAS"):
        course_lib.require(verbose=False)


def test_require_rejects_tf_keras_resolving_to_keras2(monkeypatch):
    _fake_modules(monkeypatch, "2.21.0", "3.15.0", tf_keras_version="2.15.0")
    with pytest.raises(course_lib.EnvironmentProblem, match="tf.keras resolves to Keras 2.15.0"):
        course_lib.require(verbose=False)


def test_the_course_command_points_at_an_installed_function(repo_root):
    """`pip install` writes a `course` script from [project.scripts]; it must name a function of a
    package that the install includes (a moved module would leave a script that cannot start)."""
    import fnmatch
    import importlib

    data = tomllib.loads((repo_root / "pyproject.toml").read_text())
    target = data["project"]["scripts"]["course"]
    module_name, _, attribute = target.partition(":")
    assert callable(getattr(importlib.import_module(module_name), attribute)), target
    included = data["tool"]["setuptools"]["packages"]["find"]["include"]
    package = module_name.split(".")[0]
    assert any(fnmatch.fnmatch(package, pattern) for pattern in included), (package, included)
    for name in ("course_lib", "course_tools"):
        assert any(fnmatch.fnmatch(name, pattern) for pattern in included), name
