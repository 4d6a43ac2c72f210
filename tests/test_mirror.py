"""The classroom mirror (course_lib.data.mirror): built from a local ISIC 2016 folder in the
official layout, served on 127.0.0.1, downloaded and checked against its mirror.json."""
from __future__ import annotations

import json
import zipfile

import pytest

from course_tools import cli
from course_lib.data import isic2016, mirror

try:
    import fixtures_isic as fx
except ImportError:  # pragma: no cover - run from the repository root
    from tests import fixtures_isic as fx

COUNTS = {"train": (10, 3), "test": (6, 2)}


@pytest.fixture
def isic_folder(tmp_path):
    return fx.write_layout(tmp_path / "isic2016", COUNTS)


def test_make_mirror_writes_official_names_subsets_and_an_index(tmp_path, isic_folder):
    index = mirror.make_mirror(tmp_path / "mirror", isic_folder, n_train=5, n_test=4,
                               progress=False)
    out = tmp_path / "mirror"
    assert index == json.loads((out / "mirror.json").read_text())
    assert index["counts"] == {"train": [5, 2], "test": [4, 1]}  # stratified: melanoma share kept
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([
        "ISBI2016_ISIC_Part1_Training_Data.zip", "ISBI2016_ISIC_Part1_Training_GroundTruth.zip",
        "ISBI2016_ISIC_Part3_Training_GroundTruth.csv", "ISBI2016_ISIC_Part1_Test_Data.zip",
        "ISBI2016_ISIC_Part1_Test_GroundTruth.zip", "ISBI2016_ISIC_Part3_Test_GroundTruth.csv",
        "mirror.json"])
    with zipfile.ZipFile(out / "ISBI2016_ISIC_Part1_Training_GroundTruth.zip") as bundle:
        members = bundle.namelist()
    assert len(members) == 5 and all(
        m.startswith("ISBI2016_ISIC_Part1_Training_GroundTruth/ISIC_")
        and m.endswith("_Segmentation.png") for m in members)
    assert (out / "ISBI2016_ISIC_Part3_Training_GroundTruth.csv").read_text().count(
        "malignant") == 2
    info = index["files"]["ISBI2016_ISIC_Part1_Test_Data.zip"]
    assert info["count"] == 4 and info["melanoma"] == 1 and len(info["sha256"]) == 64


def test_download_from_the_mirror_checks_its_counts_and_sha256(tmp_path, isic_folder,
                                                               monkeypatch):
    mirror.make_mirror(tmp_path / "mirror", isic_folder, n_train=5, n_test=4, progress=False)
    with fx.serve(tmp_path / "mirror") as server:
        monkeypatch.setenv("COURSE_ISIC2016_MIRROR", server.base_url)
        dest = isic2016.download_isic2016(tmp_path / "students", progress=False)
        assert "mirror.json" in server.downloads()
    train = isic2016.load_isic2016(dest, "train")
    assert (len(train), train.n_melanoma, train.has_masks) == (5, 2, True)
    assert len(isic2016.load_isic2016(dest, "test")) == 4


def test_a_damaged_mirror_file_is_named_and_deleted(tmp_path, isic_folder):
    out = tmp_path / "mirror"
    mirror.make_mirror(out, isic_folder, progress=False)
    with open(out / "ISBI2016_ISIC_Part3_Test_GroundTruth.csv", "a") as handle:
        handle.write("\r\n")  # the file changed after the index was written
    with fx.serve(out) as server:
        with pytest.raises(isic2016.VerificationError,
                           match="ISBI2016_ISIC_Part3_Test_GroundTruth.csv from the mirror"):
            isic2016.download_isic2016(tmp_path / "students", progress=False,
                                       mirror=server.base_url)
    assert not (tmp_path / "students" / "ISBI2016_ISIC_Part3_Test_GroundTruth.csv").exists()


def test_mirror_errors_say_what_to_do(tmp_path, isic_folder):
    with pytest.raises(ValueError, match="http"):
        mirror.mirror_url("teacher-laptop:8000")
    with pytest.raises(ValueError, match="Part 1 images with their masks"):
        isic2016.download_isic2016(tmp_path / "x", part3=True, mirror="http://127.0.0.1:1/")
    with pytest.raises(ConnectionError, match="Is the teacher's server running"):
        mirror.read_mirror_index(f"http://127.0.0.1:{fx.closed_port()}/", timeout=2)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "mirror.json").write_text('{"format": "other"}')
    with fx.serve(tmp_path / "empty") as server:
        with pytest.raises(ValueError, match="rebuild the mirror"):
            mirror.read_mirror_index(server.base_url)
    with pytest.raises(FileNotFoundError, match="course download isic2016"):
        mirror.make_mirror(tmp_path / "m", tmp_path / "nowhere", progress=False)


def test_course_mirror_make_command(tmp_path, isic_folder, capsys):
    assert cli.main(["mirror", "make", str(tmp_path / "m"), "--source", str(isic_folder),
                     "--n-train", "4"]) == 0
    assert "Mirror ready" in capsys.readouterr().out
    assert json.loads((tmp_path / "m" / "mirror.json").read_text())["counts"]["train"][0] == 4
    assert cli.main(["mirror", "make", str(tmp_path / "m2"), "--source", str(isic_folder),
                     "--n-test", "0"]) == 2
    assert "--n-test must be a positive number" in capsys.readouterr().err


def test_prepare_data_downloads_when_asked_and_prints_the_estimate(tmp_path, isic_folder,
                                                                  monkeypatch, capsys):
    from course_lib import config, data

    mirror.make_mirror(tmp_path / "mirror", isic_folder, progress=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    lab = config.get_profile("lab")
    with pytest.raises(FileNotFoundError, match="course download isic2016"):
        data.prepare_data(lab, "train")          # never a silent download (or SynthDerm)
    with fx.serve(tmp_path / "mirror") as server:
        monkeypatch.setenv("COURSE_ISIC2016_MIRROR", server.base_url)
        record = data.prepare_data(lab, "train", download=True)
        out = capsys.readouterr().out
        assert f"Downloading 6 ISIC 2016 files from the classroom mirror {server.base_url}" in out
        assert " GB, about " in out and "MB/s" in out
        assert (len(record), record.n_melanoma) == (10, 3)
        requests = len(server.requests)
        assert len(data.prepare_data(lab, "test", download=True)) == 6
        assert len(server.requests) == requests   # already there: nothing fetched again
        assert "nothing to download" in data.download_estimate(tmp_path / "data" / "isic2016",
                                                               mirror=server.base_url)
