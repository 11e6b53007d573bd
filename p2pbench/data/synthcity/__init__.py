"""synthcity: procedural street scenes with Cityscapes classes and colours, from a seed.

`scene` holds the classes and drawing primitives, `objects` and `layout` draw a scene's label
map, `render` paints its photo, `dataset` serves (seed, split, index) samples, and `write` puts
a dataset on disk in the aligned format with a hashed manifest.
"""

from p2pbench.data.synthcity.dataset import (
    SYNTHCITY_DEFAULT_N,
    SYNTHCITY_SIZES,
    SYNTHCITY_VERSION,
    SYNTHCITY_VERSIONS,
    SynthCityDataset,
    colorize,
    synthcity_arrays,
)
from p2pbench.data.synthcity.scene import SYNTHCITY_CLASSES, SynthClass
from p2pbench.data.synthcity.write import read_manifest, verify_synthcity, write_synthcity

__all__ = [
    "SYNTHCITY_CLASSES",
    "SYNTHCITY_DEFAULT_N",
    "SYNTHCITY_SIZES",
    "SYNTHCITY_VERSION",
    "SYNTHCITY_VERSIONS",
    "SynthClass",
    "SynthCityDataset",
    "colorize",
    "read_manifest",
    "synthcity_arrays",
    "verify_synthcity",
    "write_synthcity",
]
