"""From generated images to class maps at label resolution, as a protocol says.

Resizing happens on uint8 with PIL (what the original evaluation did through
scipy.misc.imresize); label maps are only ever resized where a protocol says so (the fast
development variant). Photo→labels outputs become classes by the nearest class colour.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from fcn.fcn8s import predict
from p2pbench.errors import InvalidValueError
from p2pbench.evaluation.segmenters import LoadedSegmenter
from p2pbench.protocols import Protocol

PIL_FILTERS = {"pil-bilinear": Image.Resampling.BILINEAR, "pil-nearest": Image.Resampling.NEAREST}


def resize_uint8(images: torch.Tensor, size: tuple[int, int], method: str) -> torch.Tensor:
    """uint8 N×C×h×w (or N×h×w) → H×W with PIL's filter `method`, one image at a time.

    PIL on uint8 is what the original evaluation did (scipy.misc.imresize). PIL sizes are
    (W, H): the swap is made here, once.
    """
    if tuple(images.shape[-2:]) == size:
        return images
    if method not in PIL_FILTERS:
        raise InvalidValueError(
            f"images are {tuple(images.shape[-2:])} but must be {size}, and the "
            f"protocol's resize is {method!r}"
        )
    height, width = size
    out = []
    for im in images.cpu():
        array = im.permute(1, 2, 0).numpy() if im.ndim == 3 else im.numpy()
        out.append(np.asarray(Image.fromarray(array).resize((width, height), PIL_FILTERS[method])))
    stacked = torch.from_numpy(np.stack(out))
    return stacked.permute(0, 3, 1, 2).contiguous() if images.ndim == 4 else stacked


def protocol_labels(label: torch.Tensor | None, protocol: Protocol) -> torch.Tensor:
    """trainIds at the protocol's label resolution (native unless label_size is set)."""
    if label is None:
        raise InvalidValueError(
            f"protocol {protocol.key} needs label maps, and the dataset has none"
        )
    if protocol.label_size is None:
        return label
    small = resize_uint8(label.to(torch.uint8), protocol.label_size, protocol.label_downsample)
    return small.to(torch.int64)


def predict_classes(
    segmenter: LoadedSegmenter | None,
    images: torch.Tensor,
    protocol: Protocol,
    label_size: tuple[int, int],
    *,
    channels_last: bool = False,
) -> torch.Tensor:
    """Class-index map per image at label resolution (channel n = the extra channel)."""
    if protocol.task == "photo2labels":
        classes = nearest_colour_classes(images, protocol)
        return (
            resize_uint8(classes.to(torch.uint8), label_size, protocol.score_resize)
            .to(torch.int64)
            .to(images.device)
        )
    assert segmenter is not None
    device = next(segmenter.module.parameters()).device
    full = resize_uint8(images, label_size, protocol.score_resize)
    return predict(segmenter.module, full.to(device), channels_last=channels_last)


def nearest_colour_classes(images: torch.Tensor, protocol: Protocol) -> torch.Tensor:
    """Each pixel's class: the nearest class colour (squared RGB distance; ties → lower index)."""
    palette = torch.tensor(class_colours(protocol), dtype=torch.int64)  # C×3
    x = images.to(torch.int64).permute(0, 2, 3, 1).unsqueeze(-2)  # N×H×W×1×3
    distance = ((x - palette) ** 2).sum(-1)  # N×H×W×C
    return distance.argmin(-1)  # argmin returns the first minimum


def class_colours(protocol: Protocol) -> list[tuple[int, int, int]]:
    """The official colour of each scored class (cityscapesScripts' label table)."""
    from cityscapesscripts.helpers.labels import trainId2label

    return [tuple(trainId2label[t].color) for t in protocol.class_train_ids]
