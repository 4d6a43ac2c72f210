"""The reproduction report (course_tools.report), `course report`, seeds and the run log."""
from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_lib import config, paper, results
from course_tools import cli, report


@pytest.fixture()
def runs(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("COURSE_SEED", raising=False)
    return tmp_path / "runs"


def _line(text: str, model: str, metric: str) -> str:
    """The report line of one model and metric (the first table holding it)."""
    prefix = f"| {model} | {metric} |"
    return next(line for line in text.splitlines() if line.startswith(prefix))


def _section(text: str, number: str) -> str:
    start = text.index(f"## Table {number} —")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def _mobilenet(seed: int, ac: float, notebook: str = "03_lightweight_cnns", profile="lab"):
    return results.record_result(
        notebook, "classification", "mobilenet", {"AC": ac, "AUC": 0.80, "AP": 0.60}, profile,
        epochs=8, seed=seed, wall_seconds=100.0,
        ci={"AC": (ac - 0.04, ac + 0.04), "AUC": (0.75, 0.85), "AP": (0.50, 0.62)})


def test_report_rows_intervals_and_not_run(runs):
    for seed, ac in ((0, 0.80), (1, 0.82), (2, 0.84)):
        _mobilenet(seed, ac)
    results.record_result("06_unet_segmentation", "segmentation", "unet-mobilenet",
                          {"AC": 0.95, "DC": 0.90, "JA": 0.83, "SE": 0.92, "SP": 0.96}, "lab",
                          epochs=8, ci={"JA": (0.81, 0.85)})
    results.record_result("00_setup_and_metrics", "classification", "darkness-baseline",
                          {"AC": 0.5}, "lab")
    markdown, png = report.write_report("lab")
    assert markdown == runs / "lab" / "report.md"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = markdown.read_text(encoding="utf-8")

    for number in report.TABLE_ORDER:
        assert f"## Table {number} — {paper.table(number)['title']}" in text
    assert "NOT meaningful" not in text
    assert "Lab profile" in text
    # ours = the lowest seed (0): AC 0.80 [0.76, 0.84]; the paper's 0.829 lies inside
    ac = _line(text, "mobilenet", "AC").split(" | ")
    assert ac[2:7] == ["0.829", "0.800", "[0.760, 0.840]", "-0.029", "yes"]
    assert "0.820 ± 0.020 [0.800, 0.840] (n=3)" in ac[7]  # spread over the three seeds
    assert "03_lightweight_cnns, seed 0, 8 epoch(s)" in ac[8]
    # AP 0.60 [0.50, 0.62]: the paper's 0.645 is above the interval
    assert _line(text, "mobilenet", "AP").split(" | ")[5:7] == ["-0.045", "no (paper above)"]
    # a metric without a stored interval says so instead of inventing one
    assert _line(text, "unet-mobilenet", "DC").split(" | ")[4:7] == ["–", "-0.019",
                                                                     "no interval recorded"]
    assert _line(text, "unet-mobilenet", "JA").split(" | ")[4:7] == ["[0.810, 0.850]", "-0.029",
                                                                     "no (paper above)"]
    # each table opens as the paper prints it (paper.compare): ours [95 % CI] / paper per model
    assert ("| mobilenet | 0.800 [0.76, 0.84] / 0.829 | 0.800 [0.75, 0.85] / 0.830 | "
            "0.600 [0.50, 0.62] / 0.645 | – / 3,230,914 |") in _section(text, "III")
    assert "| squeezenet | – / 0.789 | – / 0.757 | – / 0.494 | – / 1,237,498 (no record) |" in text
    # rows nobody recorded: "not run", never a number
    for model in ("squeezenet", "densenet121", "dc-mobilenet", "fusion", "unet-fusion"):
        line = _line(text, model, "AC")
        assert line.split(" | ")[3] == "not run"
    assert _line(text, "BL-CNN [31]", "AC").split(" | ")[3] == "other authors' method, quoted"
    # parameter counts are shown but never judged against an interval
    assert _line(text, "squeezenet", "params").split(" | ")[2] == "1,237,498"
    # summary: mobilenet appears in III, IV, V (3 rows), unet-mobilenet in VIII, IX, X, XI (4)
    assert "Course models run: 7 of 37 table rows" in text
    # inside: mobilenet AC, AUC (0.83 in [0.75, 0.85]) in III, IV, V = 6; unet JA no; others no
    assert "inside our 95 % interval for 6 of 13 metric values" in text
    assert "darkness-baseline" in text.split("## Other recorded results")[1]
    assert "**Seeds:** 0, 1, 2" in text and "**Epochs (per record):** 8" in text
    assert "300 s over 3 record(s)" in text


def test_smoke_header_and_empty_results(runs):
    markdown, png = report.write_report("smoke", figure=False)
    assert png is None and not (runs / "smoke" / "report.png").exists()
    text = markdown.read_text(encoding="utf-8")
    assert text.splitlines()[2].startswith("> **Smoke profile: these numbers are NOT meaningful")
    assert "Course models run: 0 of 37 table rows" in text
    assert "0 of 0 metric values that have an interval" in text
    body = "\n".join(line for line in text.splitlines() if line.startswith("| squeezenet"))
    assert body.count("not run") == 4  # AC, AUC, AP, params


def test_table_prefers_its_notebook(runs):
    _mobilenet(0, 0.70, notebook="03_lightweight_cnns")
    results.record_result("07_fusion", "classification", "dc-mobilenet",
                          {"AC": 0.86, "AUC": 0.83, "AP": 0.66}, "lab")
    results.record_result("04_discriminant_network", "classification", "dc-mobilenet",
                          {"AC": 0.81, "AUC": 0.80, "AP": 0.61}, "lab")
    text = report.build_report("lab", results.load_results("lab"))
    assert "| 0.810 |" in _line(_section(text, "V"), "dc-mobilenet", "AC")
    assert "| 0.860 |" in _line(_section(text, "VII"), "dc-mobilenet", "AC")
    assert "04_discriminant_network" in _line(_section(text, "VI"), "dc-mobilenet", "AC")


def test_run_log_and_bench_appear_in_report(runs):
    log = cli.write_run_log(runs / "smoke" / "run_log.json", "smoke", [
        cli.RunResult("00_setup_and_metrics", runs / "x.ipynb", 12.25),
        cli.RunResult("01_data", runs / "y.ipynb", 3.0, error="ValueError: boom")])
    assert log["total_seconds"] == 15.25
    (runs / "smoke" / "bench.json").write_text(json.dumps(
        {"model": "tiny", "image_size": 32, "batch_size": 4, "steps": 2,
         "model_only_images_per_s": 100.0, "pipeline_images_per_s": 95.0, "ratio": 0.95,
         "variants": "skipped: no GPU"}))
    text = report.write_report("smoke", figure=False)[0].read_text(encoding="utf-8")
    assert "| 00_setup_and_metrics | – | ok | 12.2 |" in text
    assert "| 01_data | – | FAILED: ValueError: boom | 3.0 |" in text
    assert "15 s in total" in text
    assert "Ratio pipeline / model only: 0.95" in text
    assert "Mixed precision / XLA: skipped: no GPU" in text


def test_gpu_variants_and_tflite_exports_appear_in_report(runs):
    (runs / "smoke" / "bench.json").parent.mkdir(parents=True, exist_ok=True)
    (runs / "smoke" / "bench.json").write_text(json.dumps(
        {"model": "mobilenet", "image_size": 224, "batch_size": 32, "steps": 20,
         "model_only_images_per_s": 400.0, "pipeline_images_per_s": 380.0, "ratio": 0.95,
         "variants": {"mixed precision (mixed_float16)": 1000.0,
                      "XLA (jit_compile)": "failed: XlaRuntimeError: x"}}))
    text = report.write_report("smoke", figure=False)[0].read_text(encoding="utf-8")
    assert "- mixed precision (mixed_float16): 1000.0 images/s (×2.50 vs model only)" in text
    assert "- XLA (jit_compile): failed: XlaRuntimeError: x" in text
    assert "Not run: `course export --model fusion`" in _section_named(text, "Deployment")

    (runs / "smoke" / "tflite").mkdir()
    (runs / "smoke" / "tflite" / "unet-mobilenet.json").write_text(json.dumps(
        {"model": "unet-mobilenet", "task": "segmentation", "image_size": 64, "n_images": 30,
         "results": {"int8": {"size_bytes": 8_674_000, "latency_ms_per_image": 1.24,
                              "keras_latency_ms_per_image": 9.51, "max_abs_diff": 0.64,
                              "agreement": 0.888,
                              "score_change": {"JA": -0.004, "DC": -0.0023}}}}))
    section = _section_named(report.write_report("smoke", figure=False)[0]
                             .read_text(encoding="utf-8"), "Deployment")
    assert "**unet-mobilenet** (64 px, 30 test images; agreement = pixels" in section
    assert "| JA change | DC change |" in section
    assert "| int8 | 8.67 | 1.24 | 9.51 | 6.4e-01 | 0.888 | -0.0040 | -0.0023 |" in section


def _section_named(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start:] if end < 0 else text[start:end]


def test_course_report_command(runs, capsys):
    _mobilenet(0, 0.80, profile="smoke")
    assert cli.main(["report", "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {runs / 'smoke' / 'report.md'} and {runs / 'smoke' / 'report.png'}" in out
    assert "Course models run: 3 of 37" in out and "NOT meaningful" in out
    assert cli.main(["report", "--profile", "huge"]) == 2


# --------------------------------------------------------------------------- seeds
def test_course_seed_overrides_profile_seed(monkeypatch):
    monkeypatch.setenv("COURSE_SEED", "3")
    assert config.get_profile("smoke").seed == 3
    assert config.get_profile("smoke", seed=5).seed == 5  # an explicit override wins
    monkeypatch.setenv("COURSE_SEED", "-1")
    with pytest.raises(ValueError, match="non-negative"):
        config.get_profile("lab")
    monkeypatch.setenv("COURSE_SEED", "one")
    with pytest.raises(ValueError, match="COURSE_SEED must be"):
        config.get_profile("lab")
    monkeypatch.delenv("COURSE_SEED")
    assert config.get_profile("lab").seed == 0


def test_result_file_names_carry_the_seed(runs, monkeypatch):
    assert _mobilenet(0, 0.8).name == "03_lightweight_cnns__classification__mobilenet.json"
    assert _mobilenet(2, 0.8).name == "03_lightweight_cnns__classification__mobilenet__seed2.json"
    monkeypatch.setenv("COURSE_SEED", "1")
    path = results.record_result("nb", "classification", "m", {"AC": 0.5}, "lab")
    assert path.name == "nb__classification__m__seed1.json"
    assert json.loads(path.read_text())["seed"] == 1
    path = results.record_result("nb", "classification", "m", {"AC": 0.5},
                                 config.get_profile("lab"))
    assert path.name == "nb__classification__m__seed1.json"
    assert [r["seed"] for r in results.load_results("lab", notebook="03_lightweight_cnns")] == [0, 2]


def test_parse_seeds():
    assert cli.parse_seeds(None) is None
    assert cli.parse_seeds("0, 1,2,1") == [0, 1, 2]
    for bad in ("", "a,b", "-1"):
        with pytest.raises(cli.CommandError, match="--seeds"):
            cli.parse_seeds(bad)


def test_run_with_seeds_writes_log_per_seed(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("COURSE_RUNS_DIR", raising=False)
    monkeypatch.delenv("COURSE_SEED", raising=False)
    (tmp_path / "solutions").mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'toy'\n")
    nb = new_notebook(cells=[new_code_cell(
        "import os\nprint('seed=' + os.environ.get('COURSE_SEED', 'unset'))")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, tmp_path / "solutions" / "00_seed.ipynb")
    assert cli.main(["--root", str(tmp_path), "run", "--profile", "smoke", "--seeds",
                     "0,1", "--store"]) == 2  # --store takes one seed only
    assert cli.main(["--root", str(tmp_path), "run", "--profile", "smoke", "--seeds",
                     "0,1"]) == 0
    out = capsys.readouterr().out
    assert "00_seed (seed 0)" in out and "00_seed (seed 1)" in out
    executed = tmp_path / "runs" / "smoke" / "notebooks"
    for path, seed in ((executed / "00_seed.ipynb", "0"),
                       (executed / "seed1" / "00_seed.ipynb", "1")):
        cell = nbformat.read(path, as_version=4).cells[0]
        assert cell.outputs[0].text == f"seed={seed}\n"
    log = json.loads((tmp_path / "runs" / "smoke" / "run_log.json").read_text())
    assert [(e["name"], e["seed"], e["ok"]) for e in log["notebooks"]] == [
        ("00_seed", 0, True), ("00_seed", 1, True)]
    assert all(e["seconds"] > 0 for e in log["notebooks"])
    assert "COURSE_SEED" not in __import__("os").environ  # restored after the run
