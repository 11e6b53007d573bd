"""Paired image data: one `Sample` interface over synthcity, Cityscapes and aligned folders."""

from __future__ import annotations

from p2pbench.data.aligned import AlignedDataset
from p2pbench.data.cityscapes import (
    CityscapesDataset,
    CityscapesFrame,
    labelids_to_trainids,
    resolve_root,
    trainid_lut,
)
from p2pbench.data.colour_labels import (
    MAX_UNKNOWN_FRACTION,
    ClassEntry,
    ClassTable,
    ColourStats,
    cityscapes_class_table,
    decode_colours,
    read_class_table,
    scan_colour_labels,
)
from p2pbench.data.decode_cache import DecodeCache
from p2pbench.data.factory import DATASET_NAMES, build_dataset
from p2pbench.data.loading import load_batches
from p2pbench.data.sample import (
    IGNORE_ID,
    RESIZE_FILTERS,
    Batch,
    PairedDataset,
    Sample,
    Transform,
    collate_samples,
    quantize_uint8,
    sample_generator,
    save_png,
    to_tensor_image,
    to_uint8,
)
from p2pbench.data.synthcity.dataset import (
    SYNTHCITY_CLASSES,
    SYNTHCITY_DEFAULT_N,
    SYNTHCITY_VERSION,
    SYNTHCITY_VERSIONS,
    SynthCityDataset,
    SynthClass,
    colorize,
    synthcity_arrays,
)
from p2pbench.data.synthcity.write import read_manifest, verify_synthcity, write_synthcity
from p2pbench.data.transforms import Jitter, JitterParams

__all__ = [
    "DATASET_NAMES",
    "IGNORE_ID",
    "DecodeCache",
    "MAX_UNKNOWN_FRACTION",
    "RESIZE_FILTERS",
    "SYNTHCITY_CLASSES",
    "SYNTHCITY_DEFAULT_N",
    "SYNTHCITY_VERSION",
    "SYNTHCITY_VERSIONS",
    "AlignedDataset",
    "Batch",
    "CityscapesDataset",
    "CityscapesFrame",
    "ClassEntry",
    "ClassTable",
    "ColourStats",
    "Jitter",
    "JitterParams",
    "PairedDataset",
    "Sample",
    "SynthCityDataset",
    "SynthClass",
    "Transform",
    "build_dataset",
    "load_batches",
    "cityscapes_class_table",
    "collate_samples",
    "colorize",
    "decode_colours",
    "labelids_to_trainids",
    "quantize_uint8",
    "read_class_table",
    "read_manifest",
    "resolve_root",
    "sample_generator",
    "save_png",
    "scan_colour_labels",
    "synthcity_arrays",
    "to_tensor_image",
    "to_uint8",
    "trainid_lut",
    "verify_synthcity",
    "write_synthcity",
]
