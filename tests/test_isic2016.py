"""ISIC 2016 data layer (course_lib.data.isic2016 and prepare_data).

The download tests run the real download code against a local HTTP server on 127.0.0.1
serving tiny files in the official formats (tests/fixtures_isic.py)."""
from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course_lib import config
from course_lib.data import isic2016
from course_lib.data import (DatasetRecord, DownloadError, UnsafeArchiveError, VerificationError,
                             download_isic2016, load_arrays, load_isic2016, prepare_data,
                             read_labels_csv)

try:
    import fixtures_isic as fx
except ImportError:  # tests/ imported as a package
    from tests import fixtures_isic as fx

SMALL = fx.SMALL_COUNTS
PART1_FILES = ["ISBI2016_ISIC_Part3_Training_GroundTruth.csv",
               "ISBI2016_ISIC_Part3_Test_GroundTruth.csv",
               "ISBI2016_ISIC_Part1_Training_Data.zip",
               "ISBI2016_ISIC_Part1_Training_GroundTruth.zip",
               "ISBI2016_ISIC_Part1_Test_Data.zip",
               "ISBI2016_ISIC_Part1_Test_GroundTruth.zip"]
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "isic2016"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Caches go to a temporary data dir; no proxy between us and 127.0.0.1."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def served(tmp_path):
    return fx.build_served_files(tmp_path / "server")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------- registry
def test_registry_lists_the_official_files_with_official_counts():
    assert [entry.name for entry in isic2016.isic2016_files()] == PART1_FILES
    part3 = [entry.name for entry in isic2016.isic2016_files(part3=True)]
    assert part3 == PART1_FILES[:2] + ["ISBI2016_ISIC_Part3_Training_Data.zip",
                                       "ISBI2016_ISIC_Part3_Test_Data.zip"]
    by_name = {entry.name: entry for entry in isic2016.ISIC2016_FILES}
    train_csv = by_name["ISBI2016_ISIC_Part3_Training_GroundTruth.csv"]
    assert (train_csv.expected_count, train_csv.expected_melanoma) == (900, 173)
    test_masks = by_name["ISBI2016_ISIC_Part1_Test_GroundTruth.zip"]
    assert (test_masks.kind, test_masks.content, test_masks.expected_count) == ("zip", "masks", 379)
    assert test_masks.folder == "ISBI2016_ISIC_Part1_Test_GroundTruth"
    small = {e.name: e for e in isic2016.isic2016_files(counts=SMALL)}
    assert small["ISBI2016_ISIC_Part3_Test_GroundTruth.csv"].expected_melanoma == 1
    assert small["ISBI2016_ISIC_Part1_Training_Data.zip"].expected_count == 6
    with pytest.raises(ValueError, match="unknown split"):
        isic2016.isic2016_files(counts={"validation": (1, 0)})


# --------------------------------------------------------------------------------- download
def test_download_verifies_records_manifest_and_rerun_downloads_nothing(tmp_path, served):
    dest = tmp_path / "isic"
    with fx.serve(served) as server:
        result = download_isic2016(dest, base_url=server.base_url, progress=False, counts=SMALL)
        assert result == dest
        assert sorted(server.downloads()) == sorted(PART1_FILES)
        assert all(header is None for _, header in server.requests)
        first_requests = len(server.requests)
        download_isic2016(dest, base_url=server.base_url, progress=False, counts=SMALL)
        assert len(server.requests) == first_requests  # second run: nothing downloaded

    assert len(list((dest / "ISBI2016_ISIC_Part1_Training_Data").glob("*.jpg"))) == 6
    assert len(list((dest / "ISBI2016_ISIC_Part1_Test_GroundTruth").glob("*.png"))) == 4
    assert not list(dest.glob("*.zip")) and not list(dest.glob("*.part"))
    manifest = json.loads((dest / "manifest.json").read_text())
    assert set(manifest["files"]) == set(PART1_FILES)
    for name in PART1_FILES:
        assert manifest["files"][name]["sha256"] == sha256(served / name)
        assert manifest["files"][name]["bytes"] == (served / name).stat().st_size
    assert manifest["files"]["ISBI2016_ISIC_Part3_Training_GroundTruth.csv"]["found"] == {
        "rows": 6, "melanoma": 2}
    record = load_isic2016(dest, "train")
    assert len(record) == 6 and record.n_melanoma == 2 and record.has_masks


def test_download_part3_fetches_classification_images_without_masks(tmp_path):
    served = fx.build_served_files(tmp_path / "server", part3=True)
    dest = tmp_path / "isic"
    with fx.serve(served) as server:
        download_isic2016(dest, part3=True, base_url=server.base_url, progress=False,
                          counts=SMALL)
        assert "ISBI2016_ISIC_Part3_Test_Data.zip" in server.downloads()
        assert not any("Part1" in name for name in server.downloads())
    record = load_isic2016(dest, "test")
    assert record.image_paths[0].parent.name == "ISBI2016_ISIC_Part3_Test_Data"
    assert record.mask_paths == [None] * 4 and record.n_melanoma == 1


def test_download_resumes_with_range_after_the_connection_drops(tmp_path, served):
    name = "ISBI2016_ISIC_Part1_Training_Data.zip"
    size = (served / name).stat().st_size
    dest = tmp_path / "isic"
    with fx.serve(served) as server:
        server.drop_first = {name}
        download_isic2016(dest, base_url=server.base_url, progress=False, counts=SMALL,
                          retries=1)
        requests = [header for requested, header in server.requests if requested == name]
    assert requests == [None, f"bytes={size // 2}-"]
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["files"][name]["sha256"] == sha256(served / name)


def test_interrupted_download_keeps_part_file_and_next_call_resumes(tmp_path, served):
    name = "ISBI2016_ISIC_Part1_Test_GroundTruth.zip"
    size = (served / name).stat().st_size
    dest = tmp_path / "isic"
    with fx.serve(served) as server:
        server.drop_first = {name}
        with pytest.raises(DownloadError, match="interrupted") as caught:
            download_isic2016(dest, base_url=server.base_url, progress=False, counts=SMALL,
                              retries=0)
        assert "again to resume" in str(caught.value)
        assert (dest / f"{name}.part").stat().st_size == size // 2
        before = len(server.requests)
        download_isic2016(dest, base_url=server.base_url, progress=False, counts=SMALL)
        # Only the interrupted file is requested again, and from where it stopped.
        assert server.requests[before:] == [(name, f"bytes={size // 2}-")]
    assert not (dest / f"{name}.part").exists()
    assert len(list((dest / "ISBI2016_ISIC_Part1_Test_GroundTruth").iterdir())) == 4


def test_server_ignoring_range_restarts_cleanly(tmp_path, served):
    name = "ISBI2016_ISIC_Part1_Test_Data.zip"
    dest = tmp_path / "isic"
    dest.mkdir()
    (dest / f"{name}.part").write_bytes(b"stale bytes from another file")
    with fx.serve(served) as server:
        server.ignore_range = True
        download_isic2016(dest, base_url=server.base_url, progress=False, counts=SMALL)
        assert (name, "bytes=29-") in server.requests
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["files"][name]["sha256"] == sha256(served / name)


def test_corrupt_zip_is_deleted_with_a_clear_error_and_redownloaded(tmp_path, served):
    name = "ISBI2016_ISIC_Part1_Test_Data.zip"
    good = (served / name).read_bytes()
    (served / name).write_bytes(b"PK\x03\x04 this is not really a zip" * 10)
    dest = tmp_path / "isic"
    with fx.serve(served) as server:
        with pytest.raises(DownloadError, match=f"{name} is not a valid zip") as caught:
            download_isic2016(dest, base_url=server.base_url, progress=False, counts=SMALL)
        assert "download_isic2016() again" in str(caught.value)
        assert not (dest / name).exists() and not (dest / f"{name}.part").exists()
        (served / name).write_bytes(good)
        before = len(server.requests)
        download_isic2016(dest, base_url=server.base_url, progress=False, counts=SMALL)
        # Files finished before the failure are not fetched again.
        assert server.downloads()[before:] == [name, "ISBI2016_ISIC_Part1_Test_GroundTruth.zip"]


def test_wrong_image_count_fails_verification(tmp_path):
    work = tmp_path / "server"
    served = fx.build_served_files(work)
    folder = work / "staging" / "ISBI2016_ISIC_Part1_Training_Data"
    (folder / "ISIC_0000005.jpg").unlink()
    fx.zip_folder(folder, served / "ISBI2016_ISIC_Part1_Training_Data.zip")
    dest = tmp_path / "isic"
    with fx.serve(served) as server:
        with pytest.raises(VerificationError, match="holds 5 images but 6 were expected"):
            download_isic2016(dest, base_url=server.base_url, progress=False, counts=SMALL)
    assert "ISBI2016_ISIC_Part1_Training_Data.zip" not in json.loads(
        (dest / "manifest.json").read_text())["files"]


def test_wrong_label_counts_fail_verification(tmp_path, served):
    with fx.serve(served) as server:
        with pytest.raises(VerificationError, match="6 rows with 2 melanoma; expected 6 rows "
                                                    "with 3 melanoma"):
            download_isic2016(tmp_path / "isic", base_url=server.base_url, progress=False,
                              counts={"train": (6, 3), "test": (4, 1)})


@pytest.mark.parametrize("member", ["../evil.txt",
                                    "ISBI2016_ISIC_Part1_Training_Data/../../evil.txt",
                                    "/tmp/evil_isic_test.txt"])
def test_zip_slip_is_rejected_before_anything_is_extracted(tmp_path, served, member):
    name = "ISBI2016_ISIC_Part1_Training_Data.zip"
    with zipfile.ZipFile(served / name, "w") as bundle:
        bundle.writestr("ISBI2016_ISIC_Part1_Training_Data/ISIC_0000000.jpg", b"harmless")
        info = zipfile.ZipInfo(member)
        bundle.writestr(info, b"escaped")
    dest = tmp_path / "isic"
    with fx.serve(served) as server:
        with pytest.raises(UnsafeArchiveError, match="leads outside") as caught:
            download_isic2016(dest, base_url=server.base_url, progress=False, counts=SMALL)
    assert name in str(caught.value)
    assert not (tmp_path / "evil.txt").exists() and not (dest / "evil.txt").exists()
    assert not (dest / "ISBI2016_ISIC_Part1_Training_Data").exists()


def test_offline_gives_one_clear_error_with_manual_instructions(tmp_path):
    dest = tmp_path / "isic"
    base_url = f"http://127.0.0.1:{fx.closed_port()}/2016/"
    with pytest.raises(DownloadError) as caught:
        download_isic2016(dest, base_url=base_url, progress=False, counts=SMALL, timeout=5)
    message = str(caught.value)
    assert "offline" in message and "host is unreachable" in message
    assert "download by hand" in message and str(dest) in message
    assert base_url + "ISBI2016_ISIC_Part1_Test_GroundTruth.zip" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_http_error_names_the_status(tmp_path, served):
    (served / "ISBI2016_ISIC_Part3_Test_GroundTruth.csv").unlink()
    with fx.serve(served) as server:
        with pytest.raises(DownloadError, match="HTTP 404"):
            download_isic2016(tmp_path / "isic", base_url=server.base_url, progress=False,
                              counts=SMALL)


def test_files_placed_by_hand_are_used_without_network(tmp_path, served):
    dest = tmp_path / "isic"
    dest.mkdir()
    for name in PART1_FILES:
        (dest / name).write_bytes((served / name).read_bytes())
    offline = f"http://127.0.0.1:{fx.closed_port()}/2016/"
    download_isic2016(dest, base_url=offline, progress=False, counts=SMALL)
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["files"]["ISBI2016_ISIC_Part1_Test_Data.zip"]["source"] == "found in place"
    assert len(load_isic2016(dest, "test")) == 4


def test_download_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="http"):
        download_isic2016(tmp_path, base_url="ftp://example.org/", progress=False)


# --------------------------------------------------------------------------------- labels CSV
@pytest.mark.parametrize("form", ["words", "floats"])
@pytest.mark.parametrize("newline,final_newline,bom", [("\r\n", False, False), ("\n", True, False),
                                                       ("\r\n", True, True)])
def test_labels_csv_forms(tmp_path, form, newline, final_newline, bom):
    path = fx.write_csv(tmp_path / "labels.csv", ["ISIC_0000000", "ISIC_0000001", "ISIC_0000002"],
                        [0, 1, 0], form=form, newline=newline, final_newline=final_newline, bom=bom)
    ids, labels = read_labels_csv(path)
    assert ids == ["ISIC_0000000", "ISIC_0000001", "ISIC_0000002"]
    assert labels.tolist() == [0, 1, 0] and labels.dtype == np.int64


@pytest.mark.parametrize("bad_row", ["ISIC_0000002,maybe", "ISIC_0000002", "ISIC_0000002,0.5",
                                     "ISIC_0000002,benign,extra", ",benign"])
def test_malformed_csv_row_names_file_and_line(tmp_path, bad_row):
    path = tmp_path / "labels.csv"
    path.write_text(f"ISIC_0000000,benign\r\nISIC_0000001,malignant\r\n{bad_row}\r\n")
    with pytest.raises(ValueError, match=r"labels\.csv, line 3"):
        read_labels_csv(path)


def test_duplicate_csv_id_is_an_error(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("ISIC_0000000,benign\nISIC_0000000,malignant")
    with pytest.raises(ValueError, match="line 2: id ISIC_0000000 already appeared on line 1"):
        read_labels_csv(path)


# --------------------------------------------------------------------------------- loading
def test_load_official_layout(tmp_path):
    root = fx.write_layout(tmp_path / "isic")
    train = load_isic2016(root, "train")
    assert train.ids == fx.split_ids("train", 6)
    assert train.labels.tolist() == [0, 0, 0, 0, 1, 1] and train.n_melanoma == 2
    assert train.image_paths[0] == root / "ISBI2016_ISIC_Part1_Training_Data" / "ISIC_0000000.jpg"
    assert train.mask_paths[5] == (root / "ISBI2016_ISIC_Part1_Training_GroundTruth"
                                   / "ISIC_0000005_Segmentation.png")
    assert train.split == "train" and train.root == root and len(train) == 6
    assert "images=6" in repr(train) and "melanoma=2 (33.3%)" in repr(train)
    assert "masks=all" in repr(train)
    test = load_isic2016(root, "test")
    assert test.ids == fx.split_ids("test", 4) and test.labels.tolist() == [0, 0, 0, 1]


def test_missing_ground_truth_folder_gives_no_masks(tmp_path):
    root = fx.write_layout(tmp_path / "isic", masks=False)
    record = load_isic2016(root, "train")
    assert record.mask_paths == [None] * 6 and not record.has_masks
    assert "masks=none" in repr(record)


def test_part3_folder_is_used_when_part1_is_absent(tmp_path):
    root = fx.write_layout(tmp_path / "isic", part="Part3", masks=False)
    record = load_isic2016(root, "train")
    assert record.image_paths[0].parent.name == "ISBI2016_ISIC_Part3_Training_Data"


def test_missing_folders_and_bad_split_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="download_isic2016"):
        load_isic2016(tmp_path / "nowhere", "train")
    root = fx.write_layout(tmp_path / "isic")
    (root / "ISBI2016_ISIC_Part3_Test_GroundTruth.csv").unlink()
    with pytest.raises(FileNotFoundError, match="ISBI2016_ISIC_Part3_Test_GroundTruth.csv"):
        load_isic2016(root, "test")
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_isic2016(root, "validation")


def test_missing_image_is_an_error_unless_allowed(tmp_path):
    root = fx.write_layout(tmp_path / "isic")
    (root / "ISBI2016_ISIC_Part1_Training_Data" / "ISIC_0000004.jpg").unlink()
    with pytest.raises(ValueError, match=r"1 \(ISIC_0000004\) id\(s\) of .* have no image"):
        load_isic2016(root, "train")
    with pytest.warns(UserWarning, match=r"1 \(ISIC_0000004\)"):
        record = load_isic2016(root, "train", allow_missing=True)
    assert len(record) == 5 and "ISIC_0000004" not in record.ids and record.n_melanoma == 1
    assert record.has_masks


def test_image_without_csv_row_is_an_error_unless_allowed(tmp_path):
    root = fx.write_layout(tmp_path / "isic")
    for index in (7, 8):
        fx.write_jpeg(root / "ISBI2016_ISIC_Part1_Training_Data" / f"ISIC_000000{index}.jpg")
    with pytest.raises(ValueError, match=r"2 \(ISIC_0000007, ISIC_0000008\) image\(s\) .* no row"):
        load_isic2016(root, "train")
    with pytest.warns(UserWarning, match="no row"):
        record = load_isic2016(root, "train", allow_missing=True)
    assert len(record) == 6


def test_masks_are_optional_per_image(tmp_path, capsys):
    """Real partial folders: an image without a mask is kept for classification (no mask path,
    a warning that counts them); segmentation selects the others and says how many."""
    root = fx.write_layout(tmp_path / "isic")
    (root / "ISBI2016_ISIC_Part1_Test_GroundTruth" / "ISIC_0001000_Segmentation.png").unlink()
    with pytest.warns(UserWarning, match=r"1 of 4 images have no mask .* Classification keeps "
                                         r"all 4"):
        record = load_isic2016(root, "test")
    assert record.ids == ["ISIC_0001000", "ISIC_0001001", "ISIC_0001002", "ISIC_0001003"]
    assert record.mask_paths[0] is None and not record.has_masks
    segmentation = record.with_masks()
    assert "test: 3 of 4 images have a lesion mask" in capsys.readouterr().out
    assert segmentation.ids == ["ISIC_0001001", "ISIC_0001002", "ISIC_0001003"]
    assert segmentation.has_masks
    (root / "ISBI2016_ISIC_Part1_Test_Data" / "ISIC_0001002.jpg").unlink()
    with pytest.raises(ValueError, match=r"ISIC_0001002\) id\(s\) of .* have no image"):
        load_isic2016(root, "test")  # strict mode still stops for a missing labelled image


def test_a_header_row_is_accepted(tmp_path):
    path = fx.write_csv(tmp_path / "labels.csv", ["ISIC_0000000", "ISIC_0000001"], [0, 1])
    path.write_bytes(b"image_id,melanoma\r\n" + path.read_bytes())
    ids, labels = read_labels_csv(path)
    assert ids == ["ISIC_0000000", "ISIC_0000001"] and labels.tolist() == [0, 1]
    path.write_bytes(path.read_bytes().replace(b"ISIC_0000001,malignant", b"ISIC_0000001,maybe"))
    with pytest.raises(ValueError, match="line 3"):
        read_labels_csv(path)


def test_a_truncated_jpeg_is_named_with_the_repair_command(tmp_path):
    root = fx.write_layout(tmp_path / "isic")
    image = root / "ISBI2016_ISIC_Part1_Training_Data" / "ISIC_0000003.jpg"
    image.write_bytes(image.read_bytes()[:-300])  # a download cut short
    with pytest.raises(ValueError, match=r"ISIC_0000003\.jpg\) image file\(s\) are truncated .*"
                                         r"ends before the JPEG end-of-image marker.*"
                                         r"course download isic2016"):
        load_isic2016(root, "train")
    with pytest.warns(UserWarning, match="truncated or corrupt"):
        record = load_isic2016(root, "train", allow_missing=True)
    assert "ISIC_0000003" not in record.ids and len(record) == 5
    image.write_bytes(b"not a jpeg at all")
    with pytest.raises(ValueError, match=r"ISIC_0000003\.jpg cannot be read"):
        load_isic2016(root, "train")


def test_a_mask_of_the_wrong_size_is_named(tmp_path):
    root = fx.write_layout(tmp_path / "isic")
    mask = root / "ISBI2016_ISIC_Part1_Training_GroundTruth" / "ISIC_0000002_Segmentation.png"
    fx.write_mask(mask, size=(20, 15))
    with pytest.raises(ValueError, match=r"ISIC_0000002_Segmentation\.png is 20x15 but its "
                                         r"image is 40x30"):
        load_isic2016(root, "train")
    with pytest.warns(UserWarning, match="do not fit their image"):
        record = load_isic2016(root, "train", allow_missing=True)
    assert len(record) == 6 and record.mask_paths[2] is None  # the image stays, its mask goes


def test_error_lists_the_first_few_and_the_count(tmp_path):
    root = fx.write_layout(tmp_path / "isic", counts={"train": (8, 2)})
    for path in (root / "ISBI2016_ISIC_Part1_Training_Data").glob("*.jpg"):
        path.unlink()
    with pytest.raises(ValueError, match=r"8 \(ISIC_0000000, .*ISIC_0000004, \.\.\.\)"):
        load_isic2016(root, "train")


def test_subset_and_stratified_subset():
    labels = np.array([0] * 15 + [1] * 5)
    record = DatasetRecord(split="train", root=Path("/x"), ids=[f"id{i}" for i in range(20)],
                           labels=labels, image_paths=[Path(f"/x/{i}.jpg") for i in range(20)],
                           mask_paths=[None] * 20)
    picked = record.subset([3, 17])
    assert picked.ids == ["id3", "id17"] and picked.labels.tolist() == [0, 1]
    assert picked.image_paths == [Path("/x/3.jpg"), Path("/x/17.jpg")]
    assert record.subset(labels == 1).n_melanoma == 5
    small = record.stratified_subset(8, seed=1)
    assert len(small) == 8 and small.n_melanoma == 2  # 8 * 5/20 = 2
    assert small.ids == sorted(small.ids, key=lambda name: int(name[2:]))  # original order
    assert record.stratified_subset(8, seed=1).ids == small.ids
    assert {tuple(record.stratified_subset(8, seed=s).ids) for s in range(5)} != {tuple(small.ids)}
    assert record.stratified_subset(3, seed=0).n_melanoma == 1  # round(0.75) = 1
    assert len(record.stratified_subset(50)) == 20
    with pytest.raises(ValueError, match="same length"):
        DatasetRecord("train", Path("/x"), ["a"], np.array([0, 1]), [Path("a")], [None])
    with pytest.raises(ValueError, match="positive integer"):
        record.stratified_subset(0)


# --------------------------------------------------------------------------------- arrays
def test_load_arrays_shapes_values_and_mask_geometry(tmp_path):
    root = fx.write_layout(tmp_path / "isic")
    solid = root / "ISBI2016_ISIC_Part1_Training_Data" / "ISIC_0000000.jpg"
    Image.new("RGB", (40, 30), (200, 100, 50)).save(solid, "JPEG", quality=95)
    record = load_isic2016(root, "train")
    images, masks = load_arrays(record, 16, cache=False)
    assert images.shape == (6, 16, 16, 3) and images.dtype == np.uint8
    assert masks.shape == (6, 16, 16) and masks.dtype == np.uint8
    assert np.abs(images[0].astype(int) - [200, 100, 50]).max() <= 3
    # 40 px wide, right half 255: nearest resize to 16 keeps columns 0-7 at 0 and 8-15 at 255
    # (column j samples source x = (j + 0.5) * 40 / 16).
    assert (masks[:, :, :8] == 0).all() and (masks[:, :, 8:] == 255).all()
    images_only, no_masks = load_arrays(record, 16, masks=False, cache=False)
    assert no_masks is None and np.array_equal(images_only, images)


def test_wrong_size_mask_names_both_files(tmp_path):
    """The decoder checks again (a file replaced after load_isic2016 read the folder)."""
    root = fx.write_layout(tmp_path / "isic")
    record = load_isic2016(root, "train")
    mask = root / "ISBI2016_ISIC_Part1_Training_GroundTruth" / "ISIC_0000002_Segmentation.png"
    fx.write_mask(mask, size=(20, 15))
    with pytest.raises(ValueError, match=r"ISIC_0000002_Segmentation\.png is 20x15 but its "
                                         r"image .*ISIC_0000002\.jpg is 40x30"):
        load_arrays(record, 16, cache=False)


def test_non_binary_mask_warns_and_is_thresholded(tmp_path):
    root = fx.write_layout(tmp_path / "isic")
    mask = root / "ISBI2016_ISIC_Part1_Training_GroundTruth" / "ISIC_0000001_Segmentation.png"
    fx.write_mask(mask, values=(100, 200))
    record = load_isic2016(root, "train")
    with pytest.warns(UserWarning, match=r"ISIC_0000001_Segmentation\.png is not binary"):
        _, masks = load_arrays(record, 16, cache=False)
    assert set(np.unique(masks[1]).tolist()) == {0, 255}
    assert (masks[1][:, :8] == 0).all() and (masks[1][:, 8:] == 255).all()


def test_grayscale_and_rgba_images_warn_and_become_rgb(tmp_path):
    root = fx.write_layout(tmp_path / "isic", masks=False)
    folder = root / "ISBI2016_ISIC_Part1_Test_Data"
    fx.write_jpeg(folder / "ISIC_0001000.jpg", mode="L")
    fx.write_jpeg(folder / "ISIC_0001001.jpg", mode="RGBA")
    record = load_isic2016(root, "test")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images, masks = load_arrays(record, 12, cache=False)
    messages = [str(item.message) for item in caught]
    assert any("ISIC_0001000.jpg is L, not RGB" in m for m in messages)
    assert any("ISIC_0001001.jpg is RGBA, not RGB" in m for m in messages)
    assert len(messages) == 2
    assert images.shape == (4, 12, 12, 3) and masks is None
    assert (images[0, ..., 0] == images[0, ..., 1]).all()  # grey: R = G = B


def test_corrupt_jpeg_is_an_error_or_skipped(tmp_path):
    """The decoder checks again (a file damaged after load_isic2016 read the folder)."""
    root = fx.write_layout(tmp_path / "isic")
    record = load_isic2016(root, "train")
    broken = root / "ISBI2016_ISIC_Part1_Training_Data" / "ISIC_0000003.jpg"
    broken.write_bytes(broken.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"Could not decode .*ISIC_0000003\.jpg .*allow_missing"):
        load_arrays(record, 16, cache=False)
    with pytest.warns(UserWarning, match=r"Skipped 1 .*ISIC_0000003\.jpg"):
        images, masks, kept = load_arrays(record, 16, allow_missing=True)
    assert images.shape == (5, 16, 16, 3) and masks.shape == (5, 16, 16)
    assert kept.ids == [name for name in record.ids if name != "ISIC_0000003"]
    # The cached partial result is not returned to a caller that does not allow missing files.
    with pytest.raises(ValueError, match="Could not decode"):
        load_arrays(record, 16)


def test_cache_hit_returns_identical_arrays_without_decoding(tmp_path, monkeypatch):
    root = fx.write_layout(tmp_path / "isic")
    record = load_isic2016(root, "train")
    images, masks = load_arrays(record, 16)
    cache_dir = Path(os.environ["COURSE_DATA_DIR"]) / "cache"
    assert sorted(p.name.rsplit("_", 1)[-1] for p in cache_dir.glob("*.npz")) == [
        "images.npz", "masks.npz"]
    assert isic2016.cache_path(record, 16).parent == cache_dir

    def no_decoding(*args):
        raise AssertionError("decoded although a cache exists")

    monkeypatch.setattr(isic2016, "_decode_image", no_decoding)
    monkeypatch.setattr(isic2016, "_decode_mask", no_decoding)
    again_images, again_masks = load_arrays(record, 16)
    assert np.array_equal(again_images, images) and np.array_equal(again_masks, masks)
    # Another size, a subset or a changed file is another cache entry.
    assert isic2016.cache_path(record, 24) != isic2016.cache_path(record, 16)
    assert isic2016.cache_path(record.subset([0, 1]), 16) != isic2016.cache_path(record, 16)
    before = isic2016.cache_path(record, 16)
    os.utime(record.image_paths[0], ns=(1, 1))
    assert isic2016.cache_path(record, 16) != before


def test_load_arrays_without_cache_writes_nothing(tmp_path):
    root = fx.write_layout(tmp_path / "isic", masks=False)
    load_arrays(load_isic2016(root, "test"), 8, cache=False)
    assert not (Path(os.environ["COURSE_DATA_DIR"]) / "cache").exists()
    with pytest.raises(ValueError, match="image_size"):
        load_arrays(load_isic2016(root, "test"), 0)


# --------------------------------------------------------------------------------- prepare_data
def test_prepare_data_isic2016_absent_says_how_to_download():
    with pytest.raises(FileNotFoundError, match="course download isic2016") as caught:
        prepare_data(config.get_profile("lab"), "train")
    assert "download_isic2016()" in str(caught.value) and "by hand" in str(caught.value)


def test_prepare_data_isic2016_takes_a_stratified_subset():
    fx.write_layout(config.data_dir() / "isic2016", counts={"train": (20, 5), "test": (8, 2)})
    profile = config.get_profile("lab", n_train=8, n_test=None, seed=3)
    train = prepare_data(profile, "train")
    assert len(train) == 8 and train.n_melanoma == 2
    assert prepare_data(profile, "train").ids == train.ids  # seeded
    assert len(prepare_data(profile, "test")) == 8
    with pytest.raises(ValueError, match="'train' or 'test'"):
        prepare_data(profile, "val")


def test_prepare_data_synthderm_generates_once_and_loads():
    profile = config.get_profile("smoke", n_train=12, n_test=6, synth_image_size=48)
    record = prepare_data(profile, "train")
    assert len(record) == 12 and record.has_masks and record.split == "train"
    assert record.root.name == "s48_n12_6_seed0"
    assert record.root.parent == config.data_dir() / "synthderm"
    assert len(prepare_data(profile, "test")) == 6


# --------------------------------------------------------------------------------- real samples
@pytest.fixture
def samples():
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples/isic2016 not present on this machine")
    return SAMPLES


def test_real_samples_load(samples):
    train = load_isic2016(samples, "train")
    test = load_isic2016(samples, "test")
    assert (len(train), train.n_melanoma, len(test), test.n_melanoma) == (20, 10, 8, 4)
    assert train.mask_paths == [None] * 20 and test.mask_paths == [None] * 8
    assert train.ids[0] == "ISIC_0000024" and train.labels[2] == 1  # ISIC_0000029,malignant
    assert test.ids[0] == "ISIC_0000013" and test.labels[0] == 1    # ISIC_0000013,1.0


def test_real_samples_decode_at_64px(samples):
    test = load_isic2016(samples, "test")
    images, masks = load_arrays(test, 64)
    assert images.shape == (8, 64, 64, 3) and images.dtype == np.uint8 and masks is None
    assert 20 < images.mean() < 235  # real photographs, not blank
