"""Profiles, paths and seeds (course_lib.config)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from course_lib import config


def test_profiles_exist_and_are_frozen():
    assert set(config.PROFILES) == {"smoke", "laptop", "showcase", "lab", "paper"}
    smoke = config.get_profile("smoke")
    with pytest.raises(dataclasses.FrozenInstanceError):
        smoke.epochs = 3  # type: ignore[misc]


def test_paper_profile_is_the_papers_protocol():
    paper = config.get_profile("paper")
    assert (paper.epochs, paper.batch_size, paper.image_size) == (50, 32, 224)
    assert paper.weights == "imagenet" and paper.data_source == "isic2016"
    assert (paper.expand_classification, paper.expand_segmentation) == (4430, 6900)


def test_smoke_profile_is_small_and_offline():
    smoke = config.get_profile("smoke")
    assert smoke.data_source == "synthderm" and smoke.weights is None
    assert smoke.image_size <= 64 and smoke.epochs <= 2 and smoke.deterministic


def test_unknown_profile_lists_valid_names():
    with pytest.raises(ValueError, match="smoke, laptop, showcase, lab, paper"):
        config.get_profile("huge")


def test_overrides_and_bad_override():
    assert config.get_profile("smoke", epochs=3).epochs == 3
    with pytest.raises(ValueError, match="Unknown profile field"):
        config.get_profile("smoke", epoch=3)


def test_default_profile_from_environment(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "paper")
    assert config.default_profile_name() == "paper"
    assert config.get_profile().name == "paper"
    monkeypatch.delenv("COURSE_PROFILE")
    monkeypatch.setattr(config, "has_gpu", lambda: False)
    assert config.default_profile_name() == "smoke"
    monkeypatch.setattr(config, "has_gpu", lambda: True)
    assert config.default_profile_name() == "lab"


def test_data_and_runs_dirs_follow_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "r"))
    assert config.data_dir() == tmp_path / "d" and (tmp_path / "d").is_dir()
    assert config.runs_dir("smoke") == tmp_path / "r" / "smoke"
    assert config.runs_dir(config.get_profile("lab")) == tmp_path / "r" / "lab"


def test_runs_dir_is_git_ignored(repo_root):
    assert "runs/" in (repo_root / ".gitignore").read_text().splitlines()


def _tiny_training_run(seed: int) -> list[float]:
    import keras
    from keras import layers

    config.set_seed(seed, deterministic=True)
    x = np.random.default_rng(0).normal(size=(64, 8, 8, 3)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0).astype("float32")
    model = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 3, activation="relu"),
                              layers.GlobalAveragePooling2D(), layers.Dropout(0.3),
                              layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    history = model.fit(x, y, epochs=3, batch_size=16, shuffle=True, verbose=0)
    return history.history["loss"]


def test_set_seed_makes_training_repeatable():
    first, second = _tiny_training_run(7), _tiny_training_run(7)
    assert first == second
    assert _tiny_training_run(8) != first


def test_set_seed_seeds_numpy_and_python():
    import random

    config.set_seed(3)
    a = (random.random(), np.random.rand())
    config.set_seed(3)
    assert (random.random(), np.random.rand()) == a


def test_paper_tables_agree_with_facts():
    """Spot checks against counts verified with Keras and the paper's text, and the cross-table consistency of the paper."""
    from course_lib import paper

    assert paper.table("III")["rows"]["mobilenet"]["params"] == 3_230_914
    assert paper.table("V")["rows"]["dc-densenet121"]["params"] == 7_483_782
    assert paper.table("VII")["rows"]["fusion"] == {"AC": 0.876, "AP": 0.724, "AUC": 0.854}
    assert paper.table("XI")["rows"]["EXB [35]"]["JA"] == 0.843
    for name in ("dc-mobilenet", "dc-densenet121"):
        assert paper.table("V")["rows"][name]["AP"] == paper.table("VII")["rows"][name]["AP"]
    assert paper.table("VIII")["rows"]["unet-mobilenet"]["JA"] == \
        paper.table("IX")["rows"]["unet-mobilenet"]["JA"]
    with pytest.raises(ValueError, match="transcribes"):
        paper.table("XII")


# --------------------------------------------------------------------------- overrides
def test_parse_overrides_types_and_none():
    parsed = config.parse_overrides("image_size=128, epochs=3,weights=none,deterministic=true")
    assert parsed == {"image_size": 128, "epochs": 3, "weights": None, "deterministic": True}
    assert config.parse_overrides(["n_train=none", "weights=imagenet"]) == {
        "n_train": None, "weights": "imagenet"}
    assert config.parse_overrides("") == {}
    assert config.parse_overrides("learning_rate=1e-3") == {"learning_rate": 0.001}
    assert config.format_overrides({"image_size": 128, "weights": None}) == (
        "image_size=128, weights=none")


@pytest.mark.parametrize("text, culprit", [
    ("imagesize=128", "Unknown profile field 'imagesize'"),
    ("image_size=big", "image_size takes a whole number"),
    ("epochs", "not of the form field=value"),
    ("deterministic=maybe", "deterministic takes true or false"),
    ("learning_rate=fast", "learning_rate takes a number"),
    ("name=lab", "Unknown profile field 'name'"),
])
def test_bad_overrides_name_the_culprit_and_list_the_fields(text, culprit):
    with pytest.raises(ValueError) as info:
        config.parse_overrides(text)
    assert culprit in str(info.value)
    if "Unknown" in culprit or "form" in culprit:
        assert "Valid fields: data_source, image_size" in str(info.value)


def test_course_set_reaches_get_profile_and_code_overrides_win(monkeypatch):
    monkeypatch.setenv("COURSE_SET", "image_size=128,epochs=3,weights=none")
    lab = config.get_profile("lab")
    assert (lab.image_size, lab.epochs, lab.weights, lab.data_source) == (128, 3, None, "isic2016")
    assert config.get_profile("lab", epochs=5).epochs == 5
    monkeypatch.setenv("COURSE_SET", "image_size=huge")
    with pytest.raises(ValueError, match="COURSE_SET='image_size=huge'.*Fix or unset COURSE_SET"):
        config.get_profile("lab")


def test_laptop_profile_is_isic_at_128_with_mobilenets_only():
    laptop = config.get_profile("laptop")
    assert (laptop.data_source, laptop.image_size, laptop.weights) == ("isic2016", 128, "imagenet")
    assert not laptop.large_models and config.get_profile("lab").large_models


def test_showcase_profile_learns_on_a_cpu_and_only_it_leaves_the_papers_learning_rate():
    showcase = config.get_profile("showcase")
    assert showcase.data_source == "synthderm" and showcase.weights is None
    assert not showcase.large_models and not showcase.run_eagerly
    assert showcase.learning_rate == 1e-3 and "learning rate 0.001" in showcase.describe()
    assert showcase.n_train > config.get_profile("smoke").n_train
    for name in ("smoke", "laptop", "lab", "paper"):
        assert config.get_profile(name).learning_rate == 1e-4, name
        assert "learning rate" not in config.get_profile(name).describe()
