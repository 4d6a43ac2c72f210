"""Nothing half-written: writers killed with SIGKILL mid-way leave no damage that the next run
does not detect and repair, and a training run killed mid-epoch resumes from its backup and
ends with the planned number of epochs."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

try:
    import fixtures_isic as fx
except ImportError:  # pragma: no cover
    from tests import fixtures_isic as fx

REPO = Path(__file__).resolve().parents[1]


def _run_until_killed(script: str, env: dict, ready: Path, timeout: float = 120) -> None:
    """Start ``script`` in a child, wait until it creates ``ready``, then SIGKILL it."""
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], cwd=REPO,
                             env={**os.environ, **env}, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if child.poll() is not None:
            raise AssertionError(f"the child ended before it was killed:\n"
                                 f"{child.stdout.read().decode()[-3000:]}")
        assert time.monotonic() < deadline, "the child never reached the point to kill"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def test_killed_cache_and_result_writers_leave_nothing_half_written(tmp_path):
    from course_lib import results
    from course_lib.data import cache_path, load_arrays, load_isic2016

    root = fx.write_layout(tmp_path / "isic")
    env = {"COURSE_DATA_DIR": str(tmp_path / "data"), "COURSE_RUNS_DIR": str(tmp_path / "runs")}
    ready = tmp_path / "ready"
    # The child writes the decode cache and a result record; each write stops just before its
    # rename (the temporary file complete, the real one not there yet) and is killed.
    _run_until_killed(f"""
        import os, time
        from pathlib import Path
        real_replace = os.replace
        def stuck(source, target):
            if str(target).endswith("images.npz"):
                Path({str(ready)!r}).touch()
                time.sleep(600)
            real_replace(source, target)
        os.replace = stuck
        from course_lib.data import load_arrays, load_isic2016
        load_arrays(load_isic2016({str(root)!r}, "train"), 16)
    """, env, ready)
    os.environ.update(env)
    try:
        record = load_isic2016(root, "train")
        cache = cache_path(record, 16, "images")
        assert not cache.exists(), "a killed writer must not leave a cache file"
        assert list(cache.parent.glob(".tmp-*")), "the temporary file stays aside"
        images, masks = load_arrays(record, 16)         # the next run rebuilds it ...
        assert cache.exists()
        fresh, _ = load_arrays(record, 16, cache=False)
        np.testing.assert_array_equal(images, fresh)    # ... with the same numbers
        # Damage from outside (a full disk, an old version): a truncated cache is detected.
        cache.write_bytes(cache.read_bytes()[:100])
        again, _ = load_arrays(record, 16)
        np.testing.assert_array_equal(again, fresh)

        ready.unlink()
        _run_until_killed(f"""
            import os, time
            from pathlib import Path
            real_replace = os.replace
            def stuck(source, target):
                Path({str(ready)!r}).touch()
                time.sleep(600)
            os.replace = stuck
            from course_lib import results
            results.record_result("00_x", "classification", "m", {{"AUC": 0.75}}, "smoke")
        """, env, ready)
        assert results.load_results("smoke") == []       # nothing half-written is read
        results.record_result("00_x", "classification", "m", {"AUC": 0.75}, "smoke")
        assert [r["metrics"]["AUC"] for r in results.load_results("smoke")] == [0.75]
    finally:
        for key in env:
            os.environ.pop(key, None)


@pytest.mark.slow
def test_training_killed_mid_epoch_resumes_and_ends_with_the_planned_epochs(tmp_path):
    env = {"COURSE_RUNS_DIR": str(tmp_path / "runs"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    ready = tmp_path / "ready"
    script = f"""
        import os, time
        import numpy as np, keras
        from pathlib import Path
        from course_lib import config, train
        config.set_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer=train.paper_optimizer(), loss="categorical_crossentropy")
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 4)).astype("float32")
        y = np.eye(2, dtype="float32")[(x[:, 0] > 0).astype(int)]
        class Stop(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if KILL and self.epoch == 2 and batch == 3:   # in the middle of epoch 3
                    Path({str(ready)!r}).touch()
                    time.sleep(600)
            def on_epoch_begin(self, epoch, logs=None):
                self.epoch = epoch
        profile = config.get_profile("smoke", epochs=5)
        history = train.fit(model, x, (x, y), y=y, batch_size=8, profile=profile, name="tiny",
                            extra_callbacks=[Stop()], verbose=0)
        print("EPOCHS", history.epoch)
    """
    _run_until_killed("KILL = True\n" + textwrap.dedent(script), env, ready, timeout=300)
    run_dir = tmp_path / "runs" / "smoke" / "models" / "tiny"
    assert (run_dir / "backup").is_dir()
    done = subprocess.run([sys.executable, "-c", "KILL = False\n" + textwrap.dedent(script)],
                          cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "EPOCHS [2, 3, 4]" in done.stdout    # resumed at the unfinished epoch
    with open(run_dir / "history.csv", newline="") as handle:
        assert [int(row["epoch"]) for row in csv.DictReader(handle)] == [0, 1, 2, 3, 4]
    assert (tmp_path / "runs" / "smoke" / "models" / "tiny.keras").exists()
