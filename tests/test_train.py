"""The training protocol: paper callbacks, checkpoints, resume after an interruption."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from course_lib import config, train


@pytest.fixture()
def runs(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path))
    return tmp_path


def _tiny_model():
    import keras
    from keras import layers

    model = keras.Sequential([keras.Input((4,)), layers.Dense(8, activation="relu"),
                              layers.Dense(2, activation="softmax")])
    model.compile(optimizer=train.paper_optimizer(), loss="categorical_crossentropy")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = np.eye(2, dtype="float32")[(x[:, 0] > 0).astype(int)]
    return x, y


class _Interrupt(Exception):
    pass


def test_paper_callbacks_follow_the_paper(tmp_path):
    import keras

    callbacks = train.paper_callbacks(tmp_path)
    plateau = [c for c in callbacks if isinstance(c, keras.callbacks.ReduceLROnPlateau)][0]
    assert (plateau.factor, plateau.patience, plateau.monitor) == (0.5, 3, "val_loss")
    assert any(isinstance(c, keras.callbacks.BackupAndRestore) for c in callbacks)
    assert float(train.paper_optimizer().learning_rate.numpy()) == pytest.approx(1e-4)


def test_interrupted_run_resumes_where_it_stopped(runs):
    import keras

    profile = config.get_profile("smoke", epochs=4)
    x, y = _data()

    class InterruptAtEpoch2(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise _Interrupt()

    config.set_seed(0)
    model = _tiny_model()
    with pytest.raises(_Interrupt):
        train.fit(model, x, (x, y), profile=profile, name="tiny", y=y, batch_size=8,
                  extra_callbacks=[InterruptAtEpoch2()], verbose=0)
    run_dir = runs / "smoke" / "models" / "tiny"
    assert (run_dir / "backup").is_dir(), "the backup of the finished epochs must survive"

    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

    model = _tiny_model()  # a new process would rebuild the model the same way
    train.fit(model, x, (x, y), profile=profile, name="tiny", y=y, batch_size=8,
              extra_callbacks=[Record()], verbose=0)
    assert seen == [2, 3], "the second call must continue at epoch 2, not start over"
    with open(run_dir / "history.csv", newline="") as handle:
        epochs = [int(row["epoch"]) for row in csv.DictReader(handle)]
    assert epochs == [0, 1, 2, 3]
    assert (runs / "smoke" / "models" / "tiny.keras").is_file()
    assert not (run_dir / "backup").exists(), "a finished run deletes its backup"
    loaded = train.load_saved_model("smoke", "tiny")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


def test_missing_saved_model_says_which_notebook_to_run(runs):
    with pytest.raises(FileNotFoundError, match="course run --profile smoke"):
        train.load_saved_model("smoke", "nothing-here")


@pytest.mark.skipif(config.has_gpu(), reason="checks the CPU fallback")
def test_strategy_and_precision_on_cpu():
    import keras

    strategy = train.get_strategy(verbose=False)
    assert strategy.num_replicas_in_sync == 1
    try:
        assert train.use_mixed_precision(None, verbose=False) == "float32"
        with pytest.raises(RuntimeError, match="no GPU"):
            train.use_mixed_precision(True, verbose=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_recalibrate_batchnorm_sets_statistics_from_the_data():
    import keras
    from keras import layers

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(64, 4)) * 3 + 5).astype("float32")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layers.Dense(2)(layers.BatchNormalization(name="bn")(inputs)))
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.0)
    used = train.recalibrate_batchnorm(model, x, max_batches=2)
    assert used == 2 and bn.momentum == pytest.approx(0.99), "momentum must be restored"
    # two batches of 32: the moving mean is the average of the two batch means = the data mean
    np.testing.assert_allclose(bn.moving_mean.numpy(), x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(),
                               (x[:32].var(axis=0) + x[32:].var(axis=0)) / 2, rtol=1e-4)
    weights = [w.numpy().copy() for w in model.trainable_weights]
    train.recalibrate_batchnorm(model, x)
    for before, after in zip(weights, model.trainable_weights):
        np.testing.assert_array_equal(before, after.numpy())


def test_recalibrate_batchnorm_on_a_two_input_pair_source():
    import keras
    from keras import layers

    from course_lib.pairs import PairSequence

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    labels = np.array([0] * 12 + [1] * 4)
    x1, x2 = keras.Input((8, 8, 3)), keras.Input((8, 8, 3))
    shared = keras.Sequential([layers.Conv2D(2, 3), layers.BatchNormalization(name="bn"),
                               layers.GlobalAveragePooling2D()])
    model = keras.Model([x1, x2], layers.Concatenate()([shared(x1), shared(x2)]))
    pairs = PairSequence(images, labels, batch_size=8, seed=0)
    assert train.recalibrate_batchnorm(model, pairs) == 2
    assert float(np.abs(shared.get_layer("bn").moving_mean.numpy()).sum()) > 0


def _offset_regressor():
    import keras
    from keras import layers

    inputs = keras.Input((4,))
    outputs = layers.Dense(1)(layers.BatchNormalization(name="bn")(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(1e-9), loss="mse")  # weights barely move
    return model


def test_precise_batchnorm_runs_before_every_validation_pass_and_at_the_end():
    import keras

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(512, 4)) * 3 + 5).astype("float32")   # 16 steps of 32 per epoch
    y = np.zeros((512, 1), "float32")
    first_two = x[:64].mean(axis=0)   # 2 batches = an eighth of the epoch's steps
    seen = []

    class Spy(keras.callbacks.Callback):  # what the validation pass sees
        def on_test_begin(self, logs=None):
            seen.append(self.model.get_layer("bn").moving_mean.numpy().copy())

    model = _offset_regressor()
    callback = train.PreciseBatchNorm(x, max_batches=2)
    model.fit(x, y, batch_size=32, epochs=3, validation_data=(x, y), verbose=0,
              callbacks=[callback, Spy()])
    # 3 validation passes; the end of training finds nothing stale (validation came last)
    assert callback.calls == 3 and len(seen) == 3
    assert callback.batches() == 2
    for moving_mean in seen:  # momentum 0.99 alone would leave ~8 % of the way to 5
        np.testing.assert_allclose(moving_mean, first_two, rtol=1e-4)
    model = _offset_regressor()
    callback = train.PreciseBatchNorm(x, max_batches=2)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[callback])
    assert callback.calls == 1  # no validation data: once, after the last epoch
    np.testing.assert_allclose(model.get_layer("bn").moving_mean.numpy(), first_two, rtol=1e-4)


def test_every_profile_recalibrates_batchnorm():
    from course_lib import config

    for name, profile in config.PROFILES.items():
        assert profile.precise_bn_batches >= 1, name


def test_fit_logs_the_loss_of_every_batch_and_plot_history_draws_it(runs):
    from course_lib import viz

    profile = config.get_profile("smoke", epochs=2)
    x, y = _data()
    history = train.fit(_tiny_model(), x, (x, y), profile=profile, name="tiny-batches", y=y,
                        batch_size=8, verbose=0)
    steps = -(-len(x) // 8)
    assert len(history.history["batch_loss"]) == 2 * steps
    assert history.history["batch_epoch"][:2] == pytest.approx([1 / steps, 2 / steps])
    assert history.history["batch_epoch"][-1] == pytest.approx(2.0)
    # Keras reports the running mean: the last batch of an epoch equals the epoch's loss
    assert history.history["batch_loss"][steps - 1] == pytest.approx(history.history["loss"][0],
                                                                     rel=1e-5)
    fig = viz.plot_history(history)
    lines = fig.axes[0].get_lines()
    assert len(lines[0].get_xdata()) == 2 * steps   # the per-batch curve: many points
    assert [line.get_label() for line in lines][:2] == ["train, per batch (running mean)",
                                                        "train (end of epoch)"]


def test_fit_starts_adam_at_the_profiles_learning_rate(runs, capsys):
    x, y = _data()
    model = _tiny_model()  # compiled with the paper's 1e-4
    train.fit(model, x, (x, y), profile=config.get_profile("smoke", epochs=1), name="lr-paper",
              y=y, batch_size=8, verbose=0)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)
    model = _tiny_model()
    profile = config.get_profile("smoke", epochs=1, learning_rate=3e-3)
    train.fit(model, x, (x, y), profile=profile, name="lr-profile", y=y, batch_size=8, verbose=1)
    assert float(model.optimizer.learning_rate) == pytest.approx(3e-3)
    assert "Learning rate 0.003 (profile 'smoke'" in capsys.readouterr().out
