"""course_lib.results: JSON result records, loading, tables."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import numpy as np
import pytest

from course_lib import __version__, config, results


@pytest.fixture(autouse=True)
def runs_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path))
    return tmp_path


def _strict_json(path):
    """Parse with NaN/Infinity forbidden (json.loads accepts them by default)."""
    def reject(constant):
        raise AssertionError(f"non-standard JSON constant {constant} in {path}")
    return json.loads(path.read_text(encoding="utf-8"), parse_constant=reject)


def test_record_round_trip(runs_in_tmp):
    path = results.record_result(
        "00_setup_and_metrics", "classification", "mobilenet",
        {"AC": 0.865, "AUC": np.float32(0.832), "AP": np.float64(0.6)}, "smoke",
        image_size=64, epochs=1, seed=0, wall_seconds=12.5,
        ci={"AUC": (0.78, 0.88)}, extra={"n_test": np.int64(60), "note": "toy"})
    assert path == (runs_in_tmp / "smoke" / "results"
                    / "00_setup_and_metrics__classification__mobilenet.json")
    record = _strict_json(path)
    assert record["notebook"] == "00_setup_and_metrics"
    assert record["task"] == "classification"
    assert record["model"] == "mobilenet"
    assert record["profile"] == "smoke"
    assert record["metrics"]["AC"] == 0.865
    assert record["metrics"]["AUC"] == pytest.approx(0.832, abs=1e-6)
    assert record["ci"] == {"AUC": [0.78, 0.88]}
    assert (record["image_size"], record["epochs"], record["seed"]) == (64, 1, 0)
    assert record["wall_seconds"] == 12.5
    assert record["extra"] == {"n_test": 60, "note": "toy"}
    assert record["versions"]["course_lib"] == __version__
    assert isinstance(record["hardware"], str) and record["hardware"]
    stamp = datetime.fromisoformat(record["time"])
    assert stamp.utcoffset().total_seconds() == 0
    assert results.load_results("smoke") == [record]


def test_profile_object_fills_image_size_and_seed(runs_in_tmp):
    profile = config.get_profile("smoke", seed=5)
    path = results.record_result("02_classification.ipynb", "classification", "vgg",
                                 {"AC": 0.5}, profile, epochs=3)
    record = _strict_json(path)
    assert path.parent == runs_in_tmp / "smoke" / "results"
    assert record["notebook"] == "02_classification"  # .ipynb dropped
    assert record["profile"] == "smoke"
    assert record["image_size"] == 64 and record["seed"] == 5 and record["epochs"] == 3


def test_same_key_overwrites(runs_in_tmp):
    first = results.record_result("nb", "segmentation", "unet", {"JA": 0.5}, "lab")
    second = results.record_result("nb", "segmentation", "unet", {"JA": 0.7}, "lab")
    assert first == second
    loaded = results.load_results("lab")
    assert len(loaded) == 1 and loaded[0]["metrics"] == {"JA": 0.7}
    assert len(list((runs_in_tmp / "lab" / "results").iterdir())) == 1


def test_file_name_is_sanitised(runs_in_tmp):
    path = results.record_result("03 seg/../x", "segmentation", "U-Net (α=1.0)/v2",
                                 {"JA": 0.1}, "smoke")
    assert path.parent == runs_in_tmp / "smoke" / "results"
    assert path.name == "x__segmentation__U-Net-1.0-v2.json"
    with pytest.raises(ValueError, match="empty file name"):
        results.record_result("nb", "task", "///", {"JA": 0.1}, "smoke")


def test_nan_and_infinity_become_null(runs_in_tmp):
    path = results.record_result("nb", "classification", "m",
                                 {"AC": 0.5, "AUC": float("nan"), "AP": np.inf}, "smoke",
                                 ci={"AUC": (float("nan"), 0.9, float("nan"))},
                                 extra={"curve": np.array([0.1, np.nan])})
    record = _strict_json(path)
    assert record["metrics"] == {"AC": 0.5, "AUC": None, "AP": None}
    assert record["ci"] == {"AUC": [0.9, None]}  # (point, low, high) -> [low, high]
    assert record["extra"] == {"curve": [0.1, None]}
    assert "NaN" not in path.read_text(encoding="utf-8")


def test_filtering_and_all_profiles(runs_in_tmp):
    results.record_result("01_data", "classification", "a", {"AC": 0.1}, "smoke")
    results.record_result("02_cls", "classification", "b", {"AC": 0.2}, "smoke")
    results.record_result("02_cls", "segmentation", "c", {"JA": 0.3}, "smoke")
    results.record_result("02_cls", "classification", "d", {"AC": 0.4}, "lab")
    assert [r["model"] for r in results.load_results("smoke")] == ["a", "b", "c"]
    assert [r["model"] for r in results.load_results("smoke", notebook="02_cls")] == ["b", "c"]
    assert [r["model"] for r in results.load_results("smoke", notebook="02_cls.ipynb",
                                                     task="classification")] == ["b"]
    assert [r["model"] for r in results.load_results(config.get_profile("lab"))] == ["d"]
    assert [r["model"] for r in results.load_results(None)] == ["d", "a", "b", "c"]  # lab < smoke
    assert results.load_results("paper") == []


def test_unreadable_file_is_skipped_with_warning(runs_in_tmp):
    results.record_result("nb", "classification", "good", {"AC": 0.5}, "smoke")
    (runs_in_tmp / "smoke" / "results" / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.warns(UserWarning, match="broken.json"):
        loaded = results.load_results("smoke")
    assert [r["model"] for r in loaded] == ["good"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(notebook="", task="t", model="m", metrics={"AC": 1.0}, profile="smoke"), "notebook"),
    (dict(notebook="n", task="t", model="m", metrics={}, profile="smoke"), "metrics"),
    (dict(notebook="n", task="t", model="m", metrics={"AC": "high"}, profile="smoke"), "number"),
    (dict(notebook="n", task="t", model="m", metrics={"AC": 1.0}, profile=""), "profile"),
    (dict(notebook="n", task="t", model="m", metrics={"AC": 1.0}, profile="smoke",
          ci={"AC": (1, 2, 3, 4)}), "ci"),
    (dict(notebook="n", task="t", model="m", metrics={"AC": 1.0}, profile="smoke",
          extra={"f": object()}), "JSON"),
])
def test_record_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        results.record_result(**kwargs)


def _two_records():
    results.record_result("02_cls", "classification", "mobilenet",
                          {"AC": 0.8654, "AUC": 0.8321, "AP": float("nan")}, "smoke",
                          image_size=64, epochs=1, wall_seconds=61.4,
                          ci={"AUC": (0.78, 0.88)})
    results.record_result("02_cls", "classification", "vgg|16", {"AC": 0.5}, "smoke",
                          image_size=64)
    return results.load_results("smoke")


def test_results_table_rows():
    rows = results.results_table(_two_records())
    assert rows[0] == {"notebook": "02_cls", "task": "classification", "model": "mobilenet",
                       "profile": "smoke", "image_size": 64, "epochs": 1, "AC": 0.8654,
                       "AUC": 0.8321, "AP": None, "wall_seconds": 61.4}
    assert rows[1]["AUC"] is None and rows[1]["model"] == "vgg|16"
    assert list(results.results_table(_two_records(), metrics=["AUC"])[0]) == [
        "notebook", "task", "model", "profile", "image_size", "epochs", "AUC", "wall_seconds"]


def test_to_markdown():
    text = results.to_markdown(_two_records())
    assert text == (
        "| Notebook | Task | Model | Profile | Size | Epochs | AC | AUC | AP | Time (s) |\n"
        "|---|---|---|---|---|---|---:|---:|---:|---:|\n"
        "| 02_cls | classification | mobilenet | smoke | 64 | 1 | 0.865 | 0.832 [0.780, 0.880] "
        "| – | 61 |\n"
        "| 02_cls | classification | vgg\\|16 | smoke | 64 | – | 0.500 | – | – | – |\n")


def test_hardware_summary_does_not_import_tensorflow():
    code = ("import sys; from course_lib import results; line = results.hardware_summary(); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'; print(line)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert " x " in done.stdout  # "<count> x <CPU model>"
    assert "GPU" not in done.stdout
