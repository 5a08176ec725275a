"""Re-ID data: dataset file formats, the synthetic dataset, TFDS builders and the tf.data pipeline.

Only the light `formats` API is re-exported here, so importing the package never pulls in TensorFlow.
"""

from unitystyle_jax.data.formats import (
    DATASETS,
    DatasetError,
    Record,
    Splits,
    load,
    read_split,
    verify_images,
)

__all__ = ["DATASETS", "DatasetError", "Record", "Splits", "load", "read_split", "verify_images"]
