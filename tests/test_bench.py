"""course bench (course_tools.bench), hardware settings and the out-of-memory message (train)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_lib import config, train
from course_tools import bench, cli


@pytest.fixture()
def runs(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def test_course_bench_measures_both_paths_in_one_run(runs, capsys):
    """Tiny sizes: checks the fields and that every throughput is a positive number (no
    timing assertions: the machine is shared)."""
    assert cli.main(["bench", "--profile", "smoke", "--image-size", "32", "--batch-size", "4",
                     "--steps", "2", "--rounds", "1", "--model", "tiny"]) == 0
    out = capsys.readouterr().out
    for label in ("model only", "full pipeline", "input alone", "ratio"):
        assert label in out
    result = json.loads((runs / "smoke" / "bench.json").read_text())
    assert (result["model"], result["image_size"], result["batch_size"], result["steps"]) == (
        "tiny", 32, 4, 2)
    assert result["n_images"] == 12  # one epoch of steps + 1 batches
    for key in ("model_only_images_per_s", "pipeline_images_per_s", "input_only_images_per_s",
                "ratio", "seconds"):
        assert isinstance(result[key], float) and result[key] > 0, key
    assert result["ratio"] == pytest.approx(result["pipeline_images_per_s"]
                                            / result["model_only_images_per_s"])
    if not config.has_gpu():
        assert result["variants"] == "skipped: no GPU"
        assert "mixed precision / XLA: skipped: no GPU" in out


def test_bench_rejects_bad_arguments(capsys):
    with pytest.raises(ValueError, match="model must be one of"):
        bench.run_benchmark(model="vgg16")
    with pytest.raises(ValueError, match="image_size must be an integer >= 32"):
        bench.run_benchmark(image_size=16, model="tiny")
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        bench.run_benchmark(steps=0, model="tiny")
    assert cli.main(["bench", "--steps", "0", "--model", "tiny"]) == 2
    assert "steps must be" in capsys.readouterr().err


def test_bench_notebooks_prints_the_run_log(runs, capsys):
    assert cli.main(["bench", "--notebooks", "--profile", "smoke"]) == 2
    assert "course run --profile smoke" in capsys.readouterr().err
    log_path = cli.run_log_path(runs, "smoke")
    cli.write_run_log(log_path, "smoke", [cli.RunResult("00_setup", Path("a"), 40.0),
                                          cli.RunResult("01_data", Path("b"), 20.5)])
    # a later run of one notebook replaces its entry and keeps the others
    cli.write_run_log(log_path, "smoke", [cli.RunResult("01_data", Path("b"), 10.0,
                                                        error="ValueError: x")])
    assert cli.main(["bench", "--notebooks", "--profile", "smoke"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["notebook", "seed", "status", "seconds", "when"]
    assert lines[1].split()[:4] == ["00_setup", "-", "ok", "40.0"]
    assert lines[2].split()[:4] == ["01_data", "-", "FAILED", "10.0"]
    assert lines[3].split() == ["total", "50.0"]


def test_memory_estimate_by_hand():
    """tiny_classifier(32): Rescaling 32*32*3 = 3072, Conv 15*15*8 = 1800, Conv 7*7*16 = 784,
    pooling 16, Dense 2 -> 5674 activations per image; 224 + 1168 + 34 = 1426 parameters."""
    model = bench.tiny_classifier(32)
    assert model.count_params() == 1426
    estimate = bench.estimate_training_memory(model, batch_size=10)
    assert estimate["parameters_bytes"] == 1426 * 16
    assert estimate["activations_bytes"] == int(5674 * 10 * 4 * 1.5)
    assert estimate["total_bytes"] == 1426 * 16 + int(5674 * 10 * 4 * 1.5)
    half = bench.estimate_training_memory(model, batch_size=10, mixed_precision=True)
    assert half["activations_bytes"] == estimate["activations_bytes"] // 2


@pytest.mark.skipif(config.has_gpu(), reason="checks the CPU settings")
def test_configure_for_hardware_keeps_float32_without_xla_on_cpu(capsys):
    import keras

    for name in ("smoke", "lab", "paper"):
        settings = train.configure_for_hardware(name)
        assert settings["policy"] == "float32" and settings["jit_compile"] is False
        assert settings["gpus"] == 0 and "no GPU" in settings["reason"]
        assert keras.mixed_precision.global_policy().name == "float32"
    assert "jit_compile=False" in capsys.readouterr().out


def test_out_of_memory_names_the_parameter_to_lower(runs):
    import tensorflow as tf

    class _Model:
        def fit(self, *args, **kwargs):
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    with pytest.raises(tf.errors.ResourceExhaustedError) as caught:
        train.fit(_Model(), None, None, profile="lab", name="densenet121")
    message = caught.value.message
    assert "Out of memory while training 'densenet121'" in message
    assert "batch size 32" in message and "BATCH_SIZE = 16" in message
    assert "batch_size=16" in message and "image size" in message
    assert "OOM when allocating tensor" in message  # the original error is kept


def test_gpu_variants_run_on_the_cpu_when_asked(runs, capsys):
    """--cpu-variants runs the GPU-only code (mixed precision, XLA, both, MirroredStrategy) on
    this CPU: every variant must give a throughput, not a 'failed: ...' string."""
    import keras

    assert cli.main(["bench", "--profile", "smoke", "--image-size", "32", "--batch-size", "4",
                     "--steps", "2", "--rounds", "1", "--model", "tiny", "--cpu-variants"]) == 0
    out = capsys.readouterr().out
    result = json.loads((runs / "smoke" / "bench.json").read_text())
    variants = result["variants"]
    assert isinstance(variants, dict) and len(variants) == 4, variants
    for name, value in variants.items():
        assert isinstance(value, float) and value > 0, (name, value)
    assert any(name.startswith("MirroredStrategy") for name in variants)
    assert "vs model only" in out
    assert keras.mixed_precision.global_policy().name == "float32"  # left as found


def test_memory_estimate_counts_a_shared_backbone_once_per_call():
    """A DC model runs its one backbone on both images of a pair: its kept activations are
    twice the backbone's plus the small head, not the backbone's single output tensor."""
    from course_lib.models import build_dc_model

    backbone = bench.tiny_classifier(32)
    single = bench.estimate_training_memory(backbone, batch_size=1)["activations_bytes"]
    dc = build_dc_model("mobilenet", (32, 32, 3), weights=None)
    classifier_like = next(layer for layer in dc.layers if layer.name == "backbone")
    per_backbone = bench._kept_elements(classifier_like)
    assert per_backbone > 10_000  # the whole MobileNet, not one feature vector
    assert 2 * per_backbone < bench._kept_elements(dc) < 2 * per_backbone + 5_000
    assert single == int(5674 * 4 * 1.5)  # a flat model is counted as before
