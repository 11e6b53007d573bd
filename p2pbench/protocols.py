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

from fcn.weights import read_converted
from p2pbench.base import sha256_file
from p2pbench.data import SYNTHCITY_CLASSES
from p2pbench.data.aligned import list_aligned
from p2pbench.data.colour_labels import ClassTable
from p2pbench.data.synthcity.dataset import parse_synthcity_name
from p2pbench.errors import FileAccessError, InvalidValueError
from p2pbench.registry import Registry
from reference_models import TEST_TIME_MODES

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
    dataset_version: int = 1  # synthcity's scene version (p2pbench.data.SYNTHCITY_VERSIONS)
    # aligned folders scored with a user-trained segmenter: each class's label-map colour; the
    # labels are the input half decoded by exact colour match (any other colour → ignore)
    class_colours: tuple[tuple[int, int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.test_time_mode not in TEST_TIME_MODES:
            raise ValueError(f"unknown test-time mode {self.test_time_mode!r}")
        if self.score_resize not in SCORE_RESIZES:
            raise ValueError(f"score_resize must be one of {SCORE_RESIZES}")
        if len(self.class_train_ids) != len(self.class_names):
            raise ValueError("class_train_ids and class_names differ in length")
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; valid: {', '.join(TASKS)}")
        if self.class_colours and len(self.class_colours) != len(self.class_names):
            raise ValueError("class_colours and class_names differ in length")

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
        """sha256 of every field but `data_path`: equal digests mean the same protocol.

        A field added after a protocol was released is left out while it holds its original
        default (`_ADDED_FIELDS`), so the digests of old results stay valid.
        """
        fields = {
            k: v
            for k, v in self.as_dict().items()
            if k != "data_path" and not (k in _ADDED_FIELDS and v == _ADDED_FIELDS[k])
        }
        text = json.dumps(fields, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()


_ADDED_FIELDS: dict[str, Any] = {"dataset_version": 1, "class_colours": ()}

PROTOCOLS: Registry[Protocol] = Registry("protocol")
"""Every protocol version, by key (`name@vN`); `get_protocol` also takes a bare name."""


def register(protocol: Protocol) -> Protocol:
    """Add `protocol` under its key `name@vN`."""
    return PROTOCOLS.add(protocol.key, protocol)


SYNTHCITY_V1 = register(
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
    )
)
SYNTHCITY_V2 = register(
    dataclasses.replace(
        SYNTHCITY_V1,
        version=2,
        description=(
            "Built-in synthcity labels→photo at 128×128: the 100 val scenes of seed 0 drawn by "
            "synthcity version 2 (poles, signs, lights and people wide enough for a stride-8 "
            "FCN), generator in paper test-time mode, outputs scored at 128×128 by p2pbench's "
            "small FCN-8s trained on 2,000 version-2 scenes of seed 1, 10 classes. For "
            "development, ablations and CI; not comparable to any paper."
        ),
        image_size=128,
        segmenter="fcn8s-synthcity128",
        dataset_version=2,
    )
)
SYNTHCITY_PHOTO2LABELS = register(
    dataclasses.replace(
        SYNTHCITY_V2,
        name="synthcity-photo2labels",
        version=1,
        description=(
            "Built-in synthcity photo→labels at 128×128 (the paper's Table 6 task): the 100 val "
            "photos of seed 0 (synthcity version 2) are the generator input; each generated "
            "colour label map becomes classes by the nearest of the 10 class colours (squared "
            "RGB distance, ties to the lower trainId) and is scored against the val trainIds "
            "with FCN-score's histogram. Not comparable to any paper."
        ),
        task="photo2labels",
        segmenter="nearest-colour",
    )
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
register(PIX2PIX_2017)
register(
    dataclasses.replace(
        PIX2PIX_2017,
        name="pix2pix-2017-lua",
        description=PIX2PIX_2017.description.replace(
            "(bicubic, the PyTorch port's data)", "(bilinear, as the paper's Lua data was made)"
        ),
        label_resize="bilinear",
        real_resize="bilinear",
    )
)
register(
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
    )
)
register(
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
    )
)


def aligned_protocol(
    path: str, split: str | None = None, direction: str | None = None, size: int | None = None
) -> Protocol:
    """A paired-metrics protocol (FID, IS, KID, L1, PSNR, SSIM) for an aligned A|B folder.

    For datasets without a segmenter (facades, maps, edges2*, users' own): the split defaults
    to `test` if present, else `val`; the size to the pairs' height; the direction to BtoA (B holds
    the label maps in the pix2pix datasets; AtoB for edges2* and maps).
    Named `aligned-<folder name>`, so the same dataset gives the same protocol anywhere.
    """
    root = Path(path)
    if split is None:
        split = "test" if (root / "test").is_dir() else "val"
    files = list_aligned(root, split)
    if size is None:
        try:
            with Image.open(files[0]) as im:
                size = im.height
        except (OSError, Image.DecompressionBombError) as e:
            raise FileAccessError(f"cannot read image {files[0]}: {e}") from e
    return Protocol(
        name=f"aligned-{root.resolve().name}",
        version=1,
        description=(
            f"Paired metrics on the aligned folder {root.resolve().name}/{split}: "
            f"{direction or 'BtoA'}, {size}×{size} (bicubic when resized), paper "
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
        direction=direction or "BtoA",
        data_path=str(root),
    )


USER_SEGMENTER_PREFIX = "file:"
"""`Protocol.segmenter` of a user-trained segmenter: `file:<sha256 of its weights file>`."""


def trained_class_table(weights_path: str | Path) -> tuple[ClassTable, dict[str, Any], int]:
    """(class table, training recipe, output channels) recorded in a weights file written by
    `p2pbench fcn train --data`; any other file is an error saying how to make one."""
    weights = read_converted(weights_path, mmap=True)
    recipe = weights.source.get("trained")
    classes = recipe.get("classes") if isinstance(recipe, dict) else None
    if classes is None:
        raise InvalidValueError(
            f"{weights_path} records no class table, so it cannot define FCN-score on a "
            "folder: train weights for your data with `p2pbench fcn train --data DIR "
            "--classes FILE.json --out FILE` and pass that file"
        )
    table = ClassTable.from_dict({"classes": classes}, origin=f"the class table of {weights_path}")
    channels = weights.architecture.num_classes
    if channels not in (len(table), len(table) + 1):
        raise InvalidValueError(
            f"{weights_path} holds an FCN-8s with {channels} output channels but records "
            f"{len(table)} classes; the file is inconsistent: train it again"
        )
    assert isinstance(recipe, dict)  # it holds the classes
    return table, recipe, channels


def user_fcn_protocol(
    path: str,
    weights_path: str | Path,
    split: str | None = None,
    direction: str | None = None,
) -> Protocol:
    """FCN-score on an aligned A|B folder with a segmenter from `p2pbench fcn train --data`.

    Everything comes from the folder and the weights file: the classes (names, train ids,
    colours) from the table recorded in the file, the segmenter as `file:<sha256 of the file>`
    (the evaluator loads that exact file), the labels from the colour half decoded by exact
    colour match (other colours are ignored). The colour half is the generator's input
    (labels → photo): the side the weights were trained with, unless `direction` says
    otherwise. The split defaults to `test` if present, else `val`; the size to the pairs'
    height, at which outputs are scored (no resize). Named `fcn-<folder name>`; the weights'
    sha256 is part of the digest, `data_path` is not.
    """
    root = Path(path)
    table, recipe, _ = trained_class_table(weights_path)
    if direction is None:
        direction = "AtoB" if recipe.get("labels_side") == "A" else "BtoA"
    base = aligned_protocol(path, split, direction)  # split, size, files, resizing
    sha = sha256_file(weights_path)
    name = root.resolve().name
    return dataclasses.replace(
        base,
        name=f"fcn-{name}",
        description=(
            f"FCN-score on the aligned folder {name}/{base.split}, labels → photo: the "
            f"{direction[0]} half, a colour label map, is the generator input; its colours "
            f"decode to {len(table)} classes by exact match (others ignored); "
            f"{base.image_size}×{base.image_size} (bicubic when resized), paper test-time "
            "mode; outputs scored at that size by the FCN-8s trained with `p2pbench fcn "
            f"train` (weights sha256 {sha[:12]}…). Not comparable to any paper or to other "
            "weights."
        ),
        segmenter=f"{USER_SEGMENTER_PREFIX}{sha}",
        class_train_ids=table.train_ids,
        class_names=table.names,
        task="labels2photo",
        class_colours=table.colours,
    )


def get_protocol(name: str) -> Protocol:
    """The protocol `name@vN`, or the newest version of `name`; an unknown name lists the valid."""
    if "@" in name:
        return PROTOCOLS.get(name)
    versions = [PROTOCOLS.get(k) for k in PROTOCOLS.names() if PROTOCOLS.get(k).name == name]
    if not versions:
        return PROTOCOLS.get(name)  # raises, listing the valid names
    return max(versions, key=lambda p: p.version)


def protocol_names() -> list[str]:
    """What `--protocol` accepts: every bare name (its newest version) and every `name@vN`."""
    bare = {PROTOCOLS.get(k).name for k in PROTOCOLS.names()}
    return sorted(bare | set(PROTOCOLS.names()))


DEFAULT_PROTOCOLS: dict[tuple[str, str], str] = {
    ("synthcity", "labels2photo"): "synthcity",
    ("synthcity", "photo2labels"): "synthcity-photo2labels",
    ("cityscapes", "labels2photo"): "pix2pix-2017",
    ("cityscapes", "photo2labels"): "pix2pix-2017-photo2labels",
}
"""The protocol `eval --data DATASET --task TASK` uses when none is given."""
DEFAULT_TASKS: tuple[str, ...] = tuple(dict.fromkeys(t for _, t in DEFAULT_PROTOCOLS))
"""The tasks a dataset name selects a protocol for (`eval --task`)."""


def default_protocol(dataset: str, task: str = "labels2photo") -> str:
    """The protocol `eval --data DATASET [--task TASK]` uses when none is given."""
    if (dataset, task) not in DEFAULT_PROTOCOLS:
        raise InvalidValueError(
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
    segmenter_weights: str | None = None,
) -> Protocol:
    """The protocol an evaluation runs under, from what a user names.

    `protocol` (a registered name) wins; else `data`: a registered dataset's default protocol
    for `task` (`synthcity@v1`: the protocol of that synthcity version), or an aligned A|B
    folder: FCN-score with `segmenter_weights` trained by `p2pbench fcn train --data`
    (`user_fcn_protocol`), else paired metrics and FID/IS/KID (`aligned_protocol`); `split`,
    `direction`.
    """
    if protocol is not None:
        return get_protocol(protocol)
    if data is None:
        raise InvalidValueError("give a dataset (synthcity, cityscapes, or a folder) or a protocol")
    if Path(data).is_dir():
        if segmenter_weights is not None:
            return user_fcn_protocol(data, segmenter_weights, split, direction)
        return aligned_protocol(data, split, direction)
    if task not in TASKS:
        raise InvalidValueError(f"unknown task {task!r}; valid: {', '.join(TASKS)}")
    version = parse_synthcity_name(data)
    if version is not None and data != "synthcity":  # "synthcity@vN": that scene version
        name = default_protocol("synthcity", task)
        matches = [
            PROTOCOLS.get(k)
            for k in PROTOCOLS.names()
            if PROTOCOLS.get(k).name == name and PROTOCOLS.get(k).dataset_version == version
        ]
        if not matches:
            raise InvalidValueError(f"no {task} protocol scores synthcity version {version}")
        return max(matches, key=lambda p: p.version)
    return get_protocol(default_protocol(data, task))
