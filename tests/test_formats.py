"""formats: parsing of each dataset's naming, relabelling, junk rules, and one clear error per bad input."""

import os
import re

import fakedata
import pytest
from PIL import Image

from unitystyle_jax.data import formats
from unitystyle_jax.data.formats import DatasetError


def _ids_cams(records):
    return [(r.pid, r.camid) for r in records]


def test_market_load_relabels_train_keeps_raw_test_ids_and_drops_junk(market_root):
    splits = formats.load("market1501", market_root)
    assert [r.name for r in splits.train] == sorted(
        n for n in fakedata.MARKET["bounding_box_train"] if n != "Thumbs.db"
    )
    # sorted names: 0002_c1, 0002_c2, 0005_c6, 0007_c1, 0007_c3; raw ids 2, 5, 7 -> 0, 1, 2; cameras 0-based
    assert _ids_cams(splits.train) == [(0, 0), (0, 1), (1, 5), (2, 0), (2, 2)]
    assert _ids_cams(splits.query) == [(3, 0), (4, 1)]
    assert _ids_cams(splits.gallery) == [(0, 0), (3, 0), (3, 1), (4, 2)]  # distractor 0 kept, junk -1 dropped
    # the cameras the training split has (c1, c2, c3, c6), not the six Market allows; gaps kept
    assert (splits.num_train_ids, splits.cameras) == (3, (0, 1, 2, 5))
    assert (splits.cameras_of("query"), splits.cameras_of("gallery")) == ((0, 1), (0, 1, 2))
    for record in splits.train + splits.query + splits.gallery:
        assert os.path.isabs(record.path) and os.path.isfile(record.path)
        assert os.path.basename(record.path) == record.name


def test_read_split_keeps_raw_ids(market_root):
    assert sorted({r.pid for r in formats.read_split("market1501", market_root, "train")}) == [2, 5, 7]


def test_duke_has_eight_cameras(tmp_path):
    splits = formats.load("dukemtmc", fakedata.write_duke(tmp_path))
    assert _ids_cams(splits.train) == [(0, 1), (0, 7), (1, 4)]
    assert _ids_cams(splits.gallery) == [(5, 0), (5, 6), (6, 7)]
    assert (len(splits.query), splits.num_train_ids, splits.cameras) == (1, 2, (1, 4, 7))


def test_msmt17_train_includes_val_and_cameras_come_from_the_third_field(tmp_path):
    splits = formats.load("msmt17", fakedata.write_msmt(tmp_path))
    assert [r.name for r in splits.train] == [
        "0000/0000_000_01_0303morning_0015_0.jpg",
        "0000/0000_001_15_0303morning_0016_0.jpg",
        "0003/0003_000_05_0303noon_0100_1.jpg",
    ]
    assert _ids_cams(splits.train) == [(0, 0), (0, 14), (1, 4)]
    assert _ids_cams(splits.query) == [(0, 1)]
    assert _ids_cams(splits.gallery) == [(0, 8), (1, 1)]
    assert splits.query[0].path == str(tmp_path / "test" / "0000" / "0000_000_02_0303morning_0020_0.jpg")
    assert (splits.num_train_ids, splits.cameras) == (2, (0, 4, 14))


def test_custom_csv_counts_cameras_from_the_data(custom_root):
    splits = formats.load("custom", custom_root)
    assert [r.name for r in splits.train] == ["imgs/a.png", "imgs/b.jpg", "imgs/c.jpeg"]
    assert _ids_cams(splits.train) == [(1, 0), (1, 3), (0, 1)]  # raw 10, 10, 4 -> 1, 1, 0
    assert _ids_cams(splits.gallery) == [(20, 2), (21, 1)]  # junk row dropped
    assert (splits.num_train_ids, splits.cameras, splits.num_cameras) == (2, (0, 1, 3), 3)


def test_market_file_name_round_trips_through_the_parser(tmp_path):
    names = [formats.market_file_name(pid, camid, 2, 451) for pid, camid in ((2, 0), (0, 5), (-1, 3))]
    assert names[0] == "0002_c1s2_000451_01.jpg"
    fakedata.write_market(tmp_path, {"query": names})
    assert _ids_cams(formats.read_split("market1501", str(tmp_path), "query")) == [(0, 5), (2, 0)]


def _expect_error(pattern, name, root, split=None):
    """Exactly one line, matching `pattern` (which names the culprit)."""
    with pytest.raises(DatasetError) as info:
        if split:
            formats.read_split(name, str(root), split)
        else:
            formats.load(name, str(root))
    message = str(info.value)
    assert "\n" not in message
    assert re.search(pattern, message), message


def test_error_missing_root(tmp_path):
    _expect_error(
        rf"{re.escape(str(tmp_path / 'nowhere'))} does not exist", "market1501", tmp_path / "nowhere"
    )


def test_error_missing_split_folder(market_root):
    os.rename(os.path.join(market_root, "query"), os.path.join(market_root, "elsewhere"))
    _expect_error(r"missing split folder .*/query$", "market1501", market_root)


def test_error_empty_split_ignores_non_images(tmp_path):
    fakedata.write_market(tmp_path, {"query": ["Thumbs.db", "notes.txt"]})
    _expect_error(r"split 'query' under .* has no images", "market1501", tmp_path, "query")


def test_error_only_junk_is_an_empty_split(tmp_path):
    fakedata.write_market(tmp_path, {"query": ["-1_c1s1_000001_01.jpg"]})
    _expect_error(r"has no images", "market1501", tmp_path, "query")


@pytest.mark.parametrize(
    "name, file_name, pattern",
    [
        ("market1501", "c1s1_000451_03.jpg", r"c1s1_000451_03\.jpg: file name does not match"),
        ("market1501", "0002_c7s1_000451_03.jpg", r"0002_c7s1_000451_03\.jpg: camera 7 out of range 1\.\.6"),
        ("market1501", "0002_c0s1_000451_03.jpg", r"0002_c0s1_000451_03\.jpg: camera 0 out of range"),
        ("dukemtmc", "0001_c9_f0046182.jpg", r"0001_c9_f0046182\.jpg: camera 9 out of range 1\.\.8"),
        ("market1501", "-2_c1s1_000451_03.jpg", r"-2_c1s1_000451_03\.jpg: identity -2 is negative"),
        (
            "market1501",
            "1-2_c1s1_000451_03.jpg",
            r"1-2_c1s1_000451_03\.jpg: identity '1-2' is not an integer",
        ),
    ],
)
def test_error_bad_file_names(tmp_path, name, file_name, pattern):
    fakedata.write_market(tmp_path, {"query": ["0001_c1s1_000001_01.jpg", file_name]})
    _expect_error(pattern, name, tmp_path, "query")


def _msmt_with(tmp_path, list_name, line):
    root = fakedata.write_msmt(tmp_path)
    with open(os.path.join(root, list_name), "a", encoding="utf-8") as f:
        f.write(line + "\n")
    return root


@pytest.mark.parametrize(
    "line, pattern",
    [
        ("../outside.jpg 3", r"list_val\.txt:2: path '\.\./outside\.jpg' escapes the dataset root"),
        ("/etc/passwd 3", r"list_val\.txt:2: path '/etc/passwd' escapes the dataset root"),
        (
            "0003/0003_000_05_missing.jpg 3",
            r"list_val\.txt:2: listed image .*0003_000_05_missing\.jpg does not exist",
        ),
        ("0003/0003_000_05_0303noon_0100_1.jpg", r"list_val\.txt:2: expected '<path> <label>'"),
        ("0003/0003_000_05_0303noon_0100_1.jpg three", r"list_val\.txt:2: expected '<path> <label>'"),
    ],
)
def test_error_msmt_list_lines(tmp_path, line, pattern):
    _expect_error(pattern, "msmt17", _msmt_with(tmp_path, "list_val.txt", line))


def test_error_msmt_camera_out_of_range(tmp_path):
    fakedata.write_image(str(tmp_path / "test" / "0000" / "0000_000_16_0303morning_0020_0.jpg"))
    root = _msmt_with(tmp_path, "list_query.txt", "0000/0000_000_16_0303morning_0020_0.jpg 0")
    _expect_error(r"list_query\.txt:2: camera 16 out of range 1\.\.15", "msmt17", root)


def test_error_msmt_missing_list_file(tmp_path):
    root = fakedata.write_msmt(tmp_path)
    os.remove(os.path.join(root, "list_gallery.txt"))
    _expect_error(r"missing list file .*list_gallery\.txt$", "msmt17", root)


@pytest.mark.parametrize(
    "rows, pattern",
    [
        (["path,id,cam"], r"gallery\.csv:1: header must be path,pid,camid"),
        (["path,pid,camid", "gal/g1.jpg,abc,0"], r"gallery\.csv:2: pid 'abc' is not an integer"),
        (["path,pid,camid", "gal/g1.jpg,1,0", "gal/g2.jpg,1"], r"gallery\.csv:3: expected 3 fields"),
        (["path,pid,camid", "gal/g1.jpg,1,-1"], r"gallery\.csv:2: camid -1 out of range"),
        (
            ["path,pid,camid", "../gal/g1.jpg,1,0"],
            r"gallery\.csv:2: path '\.\./gal/g1\.jpg' escapes the dataset root",
        ),
        (["path,pid,camid", "gal/none.jpg,1,0"], r"gallery\.csv:2: listed image .*none\.jpg does not exist"),
    ],
)
def test_error_custom_csv(custom_root, rows, pattern):
    fakedata.write_text(custom_root, "gallery.csv", rows)
    _expect_error(pattern, "custom", custom_root)


def test_error_list_file_not_text(custom_root):
    with open(os.path.join(custom_root, "query.csv"), "wb") as f:
        f.write(b"path,pid,camid\n\xff\xfe\xfa,1,0\n")
    _expect_error(r"query\.csv: cannot read as a UTF-8 text list", "custom", custom_root)


def test_error_unknown_dataset_and_split(market_root):
    _expect_error(r"unknown dataset 'market'", "market", market_root)
    _expect_error(r"unknown split 'val'", "market1501", market_root, "val")


def test_synthetic_camera_limit_comes_from_meta_json(tmp_path):
    fakedata.write_market(
        tmp_path,
        {
            "bounding_box_train": ["0001_c2s1_000001_01.jpg"],
            "query": ["0002_c1s1_000001_01.jpg"],
            "bounding_box_test": ["0002_c3s1_000001_01.jpg"],
        },
    )
    assert formats.load("synthetic", str(tmp_path)).cameras == (1,)  # no meta.json: no limit
    fakedata.write_text(tmp_path, "meta.json", ['{"spec": {"num_cameras": 4}}'])
    assert formats.load("synthetic", str(tmp_path)).cameras == (1,)  # the limit is not the data's cameras
    fakedata.write_text(tmp_path, "meta.json", ['{"spec": {"num_cameras": 2}}'])
    _expect_error(r"0002_c3s1_000001_01\.jpg: camera 3 out of range 1\.\.2", "synthetic", tmp_path)
    fakedata.write_text(tmp_path, "meta.json", ["{not json"])
    _expect_error(r"meta\.json: unreadable metadata", "synthetic", tmp_path)


def _corrupt(record, keep_bytes=20):
    with open(record.path, "rb") as f:
        head = f.read(keep_bytes)
    with open(record.path, "wb") as f:
        f.write(head)


def test_verify_images_names_a_corrupt_file(market_root):
    records = formats.read_split("market1501", market_root, "train")
    assert formats.verify_images(records) == records
    _corrupt(records[1])
    with pytest.raises(DatasetError, match=rf"^{re.escape(records[1].path)}: not a readable image$"):
        formats.verify_images(records)


def test_verify_images_skip_bad_warns_once_with_the_count(market_root):
    records = formats.read_split("market1501", market_root, "train")
    _corrupt(records[0])
    with open(records[3].path, "wb") as f:
        f.write(b"not an image at all")
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable image\(s\)") as caught:
        kept = formats.verify_images(records, skip_bad=True)
    assert len(caught) == 1
    assert kept == [records[1], records[2], records[4]]
    with Image.open(kept[0].path) as image:
        assert image.size == (8, 16)


def test_read_images_of_a_market_named_folder_keeps_junk_and_identities(market_root):
    records, known = formats.read_images(os.path.join(market_root, "bounding_box_test"))
    assert known
    assert [(r.name, r.pid, r.camid) for r in records][:2] == [
        ("-1_c2s1_000600_01.jpg", -1, 1),
        ("0000_c1s1_000500_01.jpg", 0, 0),
    ]
    assert len(records) == 5  # junk and distractors too: every image gets a feature


def test_read_images_of_a_csv_with_and_without_identities(tmp_path):
    fakedata.write_image(tmp_path / "a" / "x.jpg")
    fakedata.write_image(tmp_path / "y.png")
    fakedata.write_text(tmp_path, "plain.csv", ["path,camid", "a/x.jpg,2", f"{tmp_path / 'y.png'},0"])
    fakedata.write_text(tmp_path, "labelled.csv", ["path,pid,camid", "a/x.jpg,7,2"])
    records, known = formats.read_images(str(tmp_path / "plain.csv"))
    assert not known and [(r.name, r.camid, r.pid) for r in records] == [
        (str(tmp_path / "y.png"), 0, formats.JUNK_PID),
        ("a/x.jpg", 2, formats.JUNK_PID),
    ]
    assert records[1].path == str(tmp_path / "a" / "x.jpg")
    records, known = formats.read_images(str(tmp_path / "labelled.csv"))
    assert known and (records[0].pid, records[0].camid) == (7, 2)


@pytest.mark.parametrize(
    "lines, pattern",
    [
        (["file,camera", "a.jpg,1"], r"bad.csv:1: header must be path,camid or path,pid,camid"),
        (["path,camid", "missing.jpg,0"], r"bad.csv:2: listed image .*missing.jpg does not exist"),
        (["path,camid", "a.jpg,-1"], r"bad.csv:2: camid -1 out of range"),
        (["path,camid", "a.jpg,one"], r"bad.csv:2: camid 'one' is not an integer"),
        (["path,camid", "a.jpg"], r"bad.csv:2: expected 2 fields path,camid, got 1"),
    ],
)
def test_read_images_names_a_bad_list_line(tmp_path, lines, pattern):
    fakedata.write_image(tmp_path / "a.jpg")
    fakedata.write_text(tmp_path, "bad.csv", lines)
    with pytest.raises(DatasetError, match=pattern):
        formats.read_images(str(tmp_path / "bad.csv"))
    with pytest.raises(DatasetError, match="neither a folder of images nor a CSV file"):
        formats.read_images(str(tmp_path / "nowhere"))
