"""Named, versioned evaluation protocols: everything that changes an FCN-score number.

A protocol fixes the dataset and split, the image size the generator sees, the filters that
shrink its inputs and the real photos, the test-time mode, the one rule that turns outputs into
uint8, how outputs reach the segmenter (resize filter and target size), the segmenter and its
weights, and the scored classes with their ignore value. Results record the whole protocol and
its digest; results of different protocols are never compared or tabulated together.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from p2pbench.data import SYNTHCITY_CLASSES
from p2pbench.data.aligned import list_aligned
from reference_models import TEST_TIME_MODES, Registry

QUANTIZATION = "round-half-even"
"""uint8 = round((clamp(x, -1, 1) + 1) / 2 * 255), halves to even (p2pbench.data.quantize_uint8)."""

SCORE_RESIZES = ("none", "pil-bilinear", "pil-nearest")
TASKS = ("labels2photo", "photo2labels", "paired")


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol. Change any field that changes numbers → bump `version`."""

    name: str
    version: int
    description: str
    paper_comparable: bool
    dataset: str  # "synthcity" or "cityscapes"
    split: str
    expected_images: int  # the whole split: evaluating fewer needs an explicit --limit
    dataset_seed: int  # synthcity's content seed (0 for real datasets)
    image_size: int  # generator input and output side
    label_resize: str  # filter that shrinks the colour label map to image_size (if needed)
    real_resize: str  # filter that shrinks real photos to image_size (the Ground-truth row)
    test_time_mode: str
    quantization: str
    score_resize: str  # how an image_size output reaches the label resolution
    label_size: tuple[int, int] | None  # None: labels at their native resolution, never resized
    segmenter: str
    class_train_ids: tuple[int, ...]  # trainIds of the scored classes, in class-index order
    class_names: tuple[str, ...]
    ignore_index: int = 255
    extra_channel: str = "original"  # what a prediction of channel n (= num classes) counts as
    task: str = "labels2photo"  # photo2labels: colour label maps; paired: no FCN-score
    label_downsample: str = "none"  # how labels reach label_size when it is set ("pil-nearest")
    direction: str = "BtoA"  # which half of an aligned pair is the generator's input
    data_path: str = ""  # where an aligned folder lies; not part of the protocol's identity

    def __post_init__(self) -> None:
        if self.test_time_mode not in TEST_TIME_MODES:
            raise ValueError(f"unknown test-time mode {self.test_time_mode!r}")
        if self.score_resize not in SCORE_RESIZES:
            raise ValueError(f"score_resize must be one of {SCORE_RESIZES}")
        if len(self.class_train_ids) != len(self.class_names):
            raise ValueError("class_train_ids and class_names differ in length")
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; valid: {', '.join(TASKS)}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def key(self) -> str:
        """`name@vN`, the identity results are grouped and compared by."""
        return f"{self.name}@v{self.version}"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """sha256 of every field but `data_path`: equal digests mean the same protocol."""
        fields = {k: v for k, v in self.as_dict().items() if k != "data_path"}
        text = json.dumps(fields, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()


PROTOCOLS: Registry[Protocol] = Registry("protocol")

PROTOCOLS.add(
    "synthcity",
    Protocol(
        name="synthcity",
        version=1,
        description=(
            "Built-in synthcity labels→photo at 64×64: the 100 val scenes of seed 0, generator in "
            "paper test-time mode, outputs scored at 64×64 by p2pbench's small FCN-8s trained on "
            "synthcity photos, 9 classes. For development and CI; not comparable to any paper."
        ),
        paper_comparable=False,
        dataset="synthcity",
        split="val",
        expected_images=100,
        dataset_seed=0,
        image_size=64,
        label_resize="none",
        real_resize="none",
        test_time_mode="paper",
        quantization=QUANTIZATION,
        score_resize="none",
        label_size=None,
        segmenter="fcn8s-synthcity64",
        class_train_ids=tuple(c.train_id for c in SYNTHCITY_CLASSES),
        class_names=tuple(c.name for c in SYNTHCITY_CLASSES),
        extra_channel="separate",
    ),
)


CITYSCAPES_CLASSES = (
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
)
PIX2PIX_2017 = Protocol(
    name="pix2pix-2017",
    version=1,
    description=(
        "The pix2pix paper's Cityscapes labels→photo FCN-score (Isola et al. 2017): all 500 val "
        "frames; the colour label map shrunk to 256×256 (bicubic, the PyTorch port's data) is "
        "the generator input; the generator runs in the paper's test-time mode; each 256×256 "
        "output is upsampled to 1024×2048 with PIL bilinear on uint8 and scored by the authors' "
        "FCN-8s (Caffe preprocessing) against native-resolution trainIds; one dataset-wide "
        "histogram over 19 classes with the original script's arithmetic."
    ),
    paper_comparable=True,
    dataset="cityscapes",
    split="val",
    expected_images=500,
    dataset_seed=0,
    image_size=256,
    label_resize="bicubic",
    real_resize="bicubic",
    test_time_mode="paper",
    quantization=QUANTIZATION,
    score_resize="pil-bilinear",
    label_size=None,
    segmenter="fcn8s-cityscapes",
    class_train_ids=tuple(range(19)),
    class_names=CITYSCAPES_CLASSES,
    extra_channel="original",
)
PROTOCOLS.add("pix2pix-2017", PIX2PIX_2017)
PROTOCOLS.add(
    "pix2pix-2017-lua",
    dataclasses.replace(
        PIX2PIX_2017,
        name="pix2pix-2017-lua",
        description=PIX2PIX_2017.description.replace(
            "(bicubic, the PyTorch port's data)", "(bilinear, as the paper's Lua data was made)"
        ),
        label_resize="bilinear",
        real_resize="bilinear",
    ),
)
PROTOCOLS.add(
    "pix2pix-2017-fast",
    dataclasses.replace(
        PIX2PIX_2017,
        name="pix2pix-2017-fast",
        description=(
            "Development variant of pix2pix-2017: outputs scored at 256×256 against trainIds "
            "nearest-downsampled to 256×256 (PIL nearest), 16× less FCN-8s work. NOT comparable "
            "to the paper or to pix2pix-2017 numbers."
        ),
        paper_comparable=False,
        score_resize="none",
        label_size=(256, 256),
        label_downsample="pil-nearest",
    ),
)
PROTOCOLS.add(
    "pix2pix-2017-photo2labels",
    dataclasses.replace(
        PIX2PIX_2017,
        name="pix2pix-2017-photo2labels",
        description=(
            "The paper's Table 6, Cityscapes photo→labels: the val photo shrunk to 256×256 "
            "(bicubic) is the generator input; each generated colour label map is mapped to "
            "classes by the nearest of the 19 Cityscapes class colours (squared RGB distance, "
            "ties to the lower trainId), upsampled to 1024×2048 with PIL nearest, and scored "
            "with the same histogram and arithmetic as labels→photo."
        ),
        task="photo2labels",
        segmenter="nearest-colour",
        score_resize="pil-nearest",
        extra_channel="separate",
    ),
)


def aligned_protocol(
    path: str, split: str | None = None, direction: str | None = None, size: int | None = None
) -> Protocol:
    """A paired-metrics protocol (FID, IS, KID, L1, PSNR, SSIM) for an aligned A|B folder.

    For datasets without a segmenter (facades, maps, edges2*, users' own): the split defaults
    to `test` if present, else `val`; the size to the pairs' height; the direction to AtoB.
    Named `aligned-<folder name>`, so the same dataset gives the same protocol anywhere.
    """
    root = Path(path)
    if split is None:
        split = "test" if (root / "test").is_dir() else "val"
    files = list_aligned(root, split)
    if size is None:
        with Image.open(files[0]) as im:
            size = im.height
    return Protocol(
        name=f"aligned-{root.resolve().name}",
        version=1,
        description=(
            f"Paired metrics on the aligned folder {root.resolve().name}/{split}: "
            f"{direction or 'AtoB'}, {size}×{size} (bicubic when resized), paper "
            "test-time mode; FID/IS/KID against the targets of the same split."
        ),
        paper_comparable=False,
        dataset="aligned",
        split=split,
        expected_images=len(files),
        dataset_seed=0,
        image_size=size,
        label_resize="bicubic",
        real_resize="bicubic",
        test_time_mode="paper",
        quantization=QUANTIZATION,
        score_resize="none",
        label_size=None,
        segmenter="none",
        class_train_ids=(),
        class_names=(),
        extra_channel="separate",
        task="paired",
        direction=direction or "AtoB",
        data_path=str(root),
    )


def get_protocol(name: str) -> Protocol:
    """The registered protocol `name`; an unknown name lists the valid ones."""
    return PROTOCOLS.get(name)


DEFAULT_PROTOCOLS: dict[tuple[str, str], str] = {
    ("synthcity", "labels2photo"): "synthcity",
    ("cityscapes", "labels2photo"): "pix2pix-2017",
    ("cityscapes", "photo2labels"): "pix2pix-2017-photo2labels",
}
"""The protocol `eval --data DATASET --task TASK` uses when none is given."""
DEFAULT_TASKS: tuple[str, ...] = tuple(dict.fromkeys(t for _, t in DEFAULT_PROTOCOLS))
"""The tasks a dataset name selects a protocol for (`eval --task`)."""


def default_protocol(dataset: str, task: str = "labels2photo") -> str:
    """The protocol `eval --data DATASET [--task TASK]` uses when none is given."""
    if (dataset, task) not in DEFAULT_PROTOCOLS:
        raise ValueError(
            f"no default FCN-score protocol for {dataset!r} ({task}); give --protocol "
            f"({', '.join(PROTOCOLS.names())})"
        )
    return DEFAULT_PROTOCOLS[(dataset, task)]


def resolve(
    data: str | None = None,
    protocol: str | None = None,
    *,
    task: str = "labels2photo",
    split: str | None = None,
    direction: str | None = None,
) -> Protocol:
    """The protocol an evaluation runs under, from what a user names.

    `protocol` (a registered name) wins; else `data`: a registered dataset's default protocol
    for `task`, or an aligned A|B folder (paired metrics, FID/IS/KID; `split`, `direction`).
    """
    if protocol is not None:
        return get_protocol(protocol)
    if data is None:
        raise ValueError("give a dataset (synthcity, cityscapes, or a folder) or a protocol")
    if Path(data).is_dir():
        return aligned_protocol(data, split, direction)
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid: {', '.join(TASKS)}")
    return get_protocol(default_protocol(data, task))
