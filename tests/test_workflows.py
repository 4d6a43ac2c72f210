"""The GitHub workflows are safe to run on a self-hosted GPU machine: zizmor finds nothing of
medium severity or above, the GPU workflow cannot be started by a pull request, inputs reach the
shell only through allow-listed environment variables, and every action is pinned to a SHA."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parent.parent / ".github" / "workflows"


def _zizmor() -> str:
    found = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
    if not Path(found).exists():
        pytest.fail("zizmor is not installed: pip install -e '.[dev]' installs it")
    return found


def test_zizmor_finds_nothing_of_medium_severity_or_above():
    result = subprocess.run([_zizmor(), "--offline", "--format", "json", "--min-severity",
                             "medium", str(WORKFLOWS)], capture_output=True, text=True,
                            timeout=120)
    findings = json.loads(result.stdout or "[]")
    summary = [f"{f.get('ident')}: {f.get('desc')}" for f in findings]
    assert not findings, "zizmor findings:\n" + "\n".join(summary)
    assert result.returncode == 0, result.stderr[-2000:]


def test_zizmor_would_catch_an_injection(tmp_path):
    """The test above can fail: the old gpu.yml pattern is reported."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "name: bad\non:\n  workflow_dispatch:\n    inputs:\n      names:\n        type: string\n"
        "permissions:\n  contents: read\njobs:\n  a:\n    name: a\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: for n in ${{ inputs.names }}; do echo $n; done\n")
    result = subprocess.run([_zizmor(), "--offline", "--format", "json", "--min-severity",
                             "medium", str(bad)], capture_output=True, text=True, timeout=120)
    assert "template-injection" in {f.get("ident") for f in json.loads(result.stdout or "[]")}


def _load(name):
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    return data.get("on", data.get(True))  # YAML 1.1 reads the key `on` as True


def test_gpu_workflow_never_runs_for_pull_requests():
    triggers = _load("gpu.yml")
    assert set(triggers) == {"workflow_dispatch"}, triggers


def test_inputs_reach_the_shell_only_through_the_environment():
    text = (WORKFLOWS / "gpu.yml").read_text()
    for line in text.splitlines():
        if "${{" in line and "inputs." in line:
            assert re.match(r"\s*(PROFILE|SEEDS|EXPORT_MODELS|timeout-minutes):", line), line


@pytest.mark.parametrize("name", ["cpu.yml", "gpu.yml"])
def test_actions_are_pinned_and_permissions_read_only(name):
    text = (WORKFLOWS / name).read_text()
    uses = re.findall(r"uses:\s*(\S+)", text)
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses), uses
    data = yaml.safe_load(text)
    assert data["permissions"] == {"contents": "read"}
    assert "persist-credentials: false" in text
