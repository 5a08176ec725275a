"""TFDS builders over `formats`: one `GeneratorBasedBuilder` per dataset, reading the images from
`manual_dir`.

What they are for: users who work with TFDS (`builder(name, data_dir, manual_dir).as_dataset(split=...)`, the
same dataset for other tools). Training does not read through them: `pipeline.py` decodes the image files with
tf.data directly, which keeps the GAN's, the transfer's and the IDE's sizes one decode away from the files and
needs no prepared copy. Since the splits come from `formats.load`, relabelling and junk rules are the same as
everywhere else.

Each builder is tied to one source folder: the config name carries a digest of the folder's absolute path, so
two custom (or synthetic) folders prepared into the same `data_dir` never overwrite or shadow each other. A
folder whose contents change needs its prepared copy deleted (TFDS does not re-read a prepared version).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds

from unitystyle_jax.data import formats
from unitystyle_jax.data.formats import DatasetError


class ReidBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Splits train/query/gallery of (image, pid, camid, file_name); train pids relabelled 0..N-1.

    Not registered with TFDS by name (a generic name like `custom` would clash in TFDS's global registry, and
    `tfds.builder(name)` could not pass the source folder): use `builder()`.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "First release."}

    def __init__(self, *, manual_dir: str, **kwargs):
        self.source = os.path.abspath(manual_dir)
        digest = hashlib.sha1(self.source.encode("utf-8")).hexdigest()[:12]
        config = tfds.core.BuilderConfig(
            name=f"source_{digest}", description=f"images read from {self.source}"
        )
        super().__init__(config=config, **kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3), dtype=np.uint8),
                    "pid": tfds.features.Scalar(dtype=np.int64),
                    "camid": tfds.features.Scalar(dtype=np.int64),
                    "file_name": tfds.features.Text(),
                }
            ),
            metadata=tfds.core.MetadataDict(),  # num_train_ids and the train cameras: set when preparing
            supervised_keys=("image", "pid"),
        )

    def download_and_prepare(self, *, download_config: tfds.download.DownloadConfig | None = None, **kwargs):
        """As TFDS's, with `manual_dir` defaulting to this builder's source folder."""
        config = download_config or tfds.download.DownloadConfig()
        if config.manual_dir is None:
            config = dataclasses.replace(config, manual_dir=self.source)
        super().download_and_prepare(download_config=config, **kwargs)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        splits = formats.load(self.name, os.fspath(dl_manager.manual_dir))
        self.info.metadata.update(num_train_ids=splits.num_train_ids, cameras=list(splits.cameras))
        return {split: self._generate_examples(getattr(splits, split)) for split in formats.SPLITS}

    def _generate_examples(self, records):
        for record in records:
            yield (
                record.name,
                {"image": record.path, "pid": record.pid, "camid": record.camid, "file_name": record.name},
            )


def _dataset_builder(class_name: str, name: str, folder: str, layout: str) -> type[ReidBuilder]:
    """The concrete builder of one dataset: the shared builder plus its name and manual_dir instructions."""
    namespace = {
        "name": name,
        "__module__": __name__,
        "__doc__": f"{folder} from manual_dir ({layout}).",
        "MANUAL_DOWNLOAD_INSTRUCTIONS": f"Give `builders.builder` the {folder} folder ({layout}).",
    }
    return type(class_name, (ReidBuilder,), namespace, skip_registration=True)


_MARKET_LAYOUT = "bounding_box_train/, bounding_box_test/, query/"
Market1501 = _dataset_builder("Market1501", "market1501", "Market-1501-v15.09.15", _MARKET_LAYOUT)
DukeMTMC = _dataset_builder("DukeMTMC", "dukemtmc", "DukeMTMC-reID", _MARKET_LAYOUT)
MSMT17 = _dataset_builder(
    "MSMT17", "msmt17", "MSMT17_V1", "train/, test/, list_{train,val,query,gallery}.txt"
)
Custom = _dataset_builder(
    "Custom", "custom", "custom dataset", "train.csv, query.csv, gallery.csv: path,pid,camid"
)
Synthetic = _dataset_builder("Synthetic", "synthetic", "synthetic dataset", "unitystyle-dataset synthetic")

BUILDERS = {cls.name: cls for cls in (Market1501, DukeMTMC, MSMT17, Custom, Synthetic)}


def builder(name: str, data_dir: str, manual_dir: str) -> ReidBuilder:
    """The builder for dataset `name` reading `manual_dir`, writing its TFRecords under `data_dir`."""
    if name not in BUILDERS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(formats.DATASETS)}")
    return BUILDERS[name](data_dir=data_dir, manual_dir=manual_dir)
