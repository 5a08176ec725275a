"""TFDS builders: prepare tiny folders offline and read exactly the records `formats` defines back."""

import fakedata
import numpy as np
import pytest
import tensorflow_datasets as tfds

from unitystyle_jax.data import builders, formats
from unitystyle_jax.data.formats import DatasetError


def _read(builder, split):
    return sorted(
        (e["file_name"].decode(), int(e["pid"]), int(e["camid"]), e["image"].shape, e["image"].dtype)
        for e in tfds.as_numpy(builder.as_dataset(split=split))
    )


def test_market_prepares_train_query_gallery_with_shared_relabelling(market_root, tmp_path):
    builder = builders.builder("market1501", str(tmp_path / "tfds"), market_root)
    builder.download_and_prepare()
    image = ((16, 8, 3), np.uint8)
    assert _read(builder, "train") == [
        ("0002_c1s1_000451_03.jpg", 0, 0, *image),
        ("0002_c2s1_000551_01.jpg", 0, 1, *image),
        ("0005_c6s1_000001_01.jpg", 1, 5, *image),
        ("0007_c1s2_000201_01.jpg", 2, 0, *image),
        ("0007_c3s1_000101_01.jpg", 2, 2, *image),
    ]
    assert [(n, p, c) for n, p, c, *_ in _read(builder, "query")] == [
        ("0003_c1s1_000100_01.jpg", 3, 0),
        ("0004_c2s1_000200_01.jpg", 4, 1),
    ]
    assert [(p, c) for _, p, c, *_ in _read(builder, "gallery")] == [(0, 0), (3, 0), (3, 1), (4, 2)]
    # A fresh builder over the prepared copy knows the split sizes and the dataset's metadata.
    reloaded = builders.builder("market1501", str(tmp_path / "tfds"), market_root)
    assert reloaded.is_prepared()  # reused, not prepared again
    assert {s: reloaded.info.splits[s].num_examples for s in formats.SPLITS} == {
        "train": 5,
        "query": 2,
        "gallery": 4,
    }
    assert dict(reloaded.info.metadata) == {"num_train_ids": 3, "cameras": [0, 1, 2, 5]}


def test_custom_folders_in_one_data_dir_do_not_collide(custom_root, tmp_path):
    other = fakedata.write_custom(
        tmp_path / "other",
        {"train.csv": [("x.jpg", 7, 5)], "query.csv": [("y.jpg", 8, 0)], "gallery.csv": [("z.jpg", 8, 1)]},
    )
    data_dir = str(tmp_path / "tfds")
    first, second = (builders.builder("custom", data_dir, root) for root in (custom_root, other))
    first.download_and_prepare()
    second.download_and_prepare()
    assert first.data_dir != second.data_dir
    assert [(n, p, c) for n, p, c, *_ in _read(first, "train")] == [
        ("imgs/a.png", 1, 0),
        ("imgs/b.jpg", 1, 3),
        ("imgs/c.jpeg", 0, 1),
    ]
    assert [(n, p, c) for n, p, c, *_ in _read(first, "gallery")] == [
        ("gal/g1.jpg", 20, 2),
        ("gal/g2.jpg", 21, 1),
    ]
    assert [(n, p, c) for n, p, c, *_ in _read(second, "train")] == [("x.jpg", 0, 5)]
    assert dict(first.info.metadata) == {"num_train_ids": 2, "cameras": [0, 1, 3]}


def test_bad_folder_fails_with_the_formats_error(tmp_path):
    fakedata.write_market(tmp_path / "m", {"bounding_box_train": ["0001_c9s1_000001_01.jpg"]})
    with pytest.raises(DatasetError, match=r"0001_c9s1_000001_01\.jpg: camera 9 out of range"):
        builders.builder("market1501", str(tmp_path / "tfds"), str(tmp_path / "m")).download_and_prepare()


def test_every_dataset_has_a_builder_and_unknown_names_are_refused(tmp_path):
    assert tuple(builders.BUILDERS) == formats.DATASETS
    for name, cls in builders.BUILDERS.items():
        assert cls.name == name and cls.MANUAL_DOWNLOAD_INSTRUCTIONS
    with pytest.raises(DatasetError, match=r"unknown dataset 'market'"):
        builders.builder("market", str(tmp_path), str(tmp_path))
