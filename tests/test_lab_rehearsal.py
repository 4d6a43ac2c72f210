"""The lab path rehearsed on this CPU: every solution notebook runs in the `lab` profile's code
path (data_source isic2016, the download through a classroom mirror on 127.0.0.1, real JPEG
decoding and resizing of ISIC-sized files) with `--set` overrides that fit CI (tiny images, one
epoch, few images, no ImageNet weights, which cannot be fetched here). This is the only run of
the lab path before a GPU runs it; it must pass in .ci/run."""
from __future__ import annotations

import json

import nbformat
import pytest

from course_tools import cli
from course_lib.data import mirror

try:
    import fixtures_isic as fx
except ImportError:  # pragma: no cover
    from tests import fixtures_isic as fx

OVERRIDES = ["image_size=64", "epochs=1", "seg_epochs=1", "weights=none", "n_train=60",
             "n_test=24", "batch_size=16", "large_models=false", "synth_image_size=96"]


@pytest.mark.slow
def test_every_notebook_runs_the_lab_path_from_a_mirror(tmp_path, monkeypatch, capsys):
    isic = fx.synthderm_at_isic_sizes(tmp_path / "teacher" / "isic2016", 60, 24)
    mirror.make_mirror(tmp_path / "mirror", isic, progress=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "student-data"))
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("COURSE_SET", raising=False)
    with fx.serve(tmp_path / "mirror") as server:
        monkeypatch.setenv("COURSE_ISIC2016_MIRROR", server.base_url)
        args = ["run", "--profile", "lab"] + [a for o in OVERRIDES for a in ("--set", o)]
        code = cli.main(args)
        fetched = set(server.downloads())
    out = capsys.readouterr().out
    log = json.loads((tmp_path / "runs" / "lab" / "run_log.json").read_text())
    failed = {e["name"]: e["error"] for e in log["notebooks"] if not e["ok"]}
    assert code == 0 and not failed, f"lab path failed: {failed}\n{out[-3000:]}"
    assert {"mirror.json", "ISBI2016_ISIC_Part1_Training_Data.zip",
            "ISBI2016_ISIC_Part1_Test_GroundTruth.zip"} <= fetched
    first = nbformat.read(tmp_path / "runs" / "lab" / "notebooks" / "00_setup_and_metrics.ipynb",
                          as_version=4)
    text = "".join(o.get("text", "") for c in first.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    assert "Outputs produced with profile 'lab' (overrides: image_size=64, epochs=1" in text
    assert "profile 'lab': isic2016, 64px, 60 train / 24 test images" in text
