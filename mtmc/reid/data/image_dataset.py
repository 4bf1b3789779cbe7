"""Images of a split as a torch ``Dataset`` (fast-reid's ``CommDataset``), and the collate that
turns its items into the batch dict the trainer and ``ReidModel.losses`` read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from mtmc.errors import InputFormatError
from mtmc.reid.data.datasets.bases import ReidSample

Item = dict[str, torch.Tensor | int]


def read_image(path: Path) -> torch.Tensor:
    """(3, H, W) uint8 RGB. Decoded from bytes so non-ASCII paths work on every platform."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise InputFormatError(path, f"cannot be read: {error.strerror or error}") from error
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise InputFormatError(path, "cannot be decoded as an image")
    return torch.from_numpy(np.ascontiguousarray(bgr[:, :, ::-1])).permute(2, 0, 1).contiguous()


class ReidImageDataset(Dataset[Item]):
    """Item ``i``: ``image`` (``transform`` of the (3, H, W) uint8 RGB image), ``pid``, ``camid``,
    ``colour``, ``type`` (-1 where unknown) and ``index`` (``i``, to find the sample's path)."""

    def __init__(
        self, samples: Sequence[ReidSample], transform: Callable[[torch.Tensor], torch.Tensor]
    ) -> None:
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Item:
        sample = self.samples[index]
        return {
            "image": self.transform(read_image(sample.path)),
            "pid": sample.pid,
            "camid": sample.camid,
            "colour": sample.colour,
            "type": sample.type,
            "index": index,
        }


def collate_batch(items: Sequence[Item]) -> dict[str, torch.Tensor]:
    """``images`` (B, 3, H, W) as the transform gives them (float32 from :mod:`.transforms`) and,
    each (B,) int64: ``pids``, ``camids``, ``colours``,
    ``types`` (-1 where unknown, the losses skip those) and ``indices`` into the dataset."""
    images = torch.stack([torch.as_tensor(item["image"]).as_subclass(torch.Tensor) for item in items])

    def column(key: str) -> torch.Tensor:
        return torch.tensor([int(item[key]) for item in items], dtype=torch.int64)

    return {
        "images": images,
        "pids": column("pid"),
        "camids": column("camid"),
        "colours": column("colour"),
        "types": column("type"),
        "indices": column("index"),
    }
