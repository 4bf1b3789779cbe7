"""Image transforms for re-id (torchvision ``transforms.v2`` on (3, H, W) uint8 RGB tensors).

Training follows the bag of tricks of Luo et al. (CVPRW 2019) that the papers build on: resize,
horizontal flip p=0.5, pad 10 then random crop back to size, ImageNet normalisation, random
erasing p=0.5 (Zhong et al. 2017). Per paper: GLAMOR §3.1/§6.2 and PGAN §4.2 flip and erase only
(``padding=0``); VAL §4 and AttributeNet §4.2 add the random crop / zoom. Colour jitter (the AI
City recipe, paper 001 §4) is off by default: it would blur the colour labels AttributeNet learns.
It jitters brightness and contrast only; saturation has its own ``saturation_jitter`` and hue is
never turned: for vehicles, paint is identity (a white car and the same model in red are two
vehicles), and a model trained to ignore it cannot tell them apart.
Low-resolution augmentation (off by default, not in the papers) shrinks an image to a random
fraction of its size before the resize: far vehicles reach the embedder as a few dozen blurred
pixels, while labelled re-id crops are mostly close-ups.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from mtmc.reid.embedder import IMAGENET_MEAN, IMAGENET_STD  # the normalisation the embedder deploys with

# Zhong et al. (2017) §3.1: erased area s in [0.02, 0.4] of the image, aspect ratio in [0.3, 1/0.3].
ERASING_SCALE = (0.02, 0.4)
ERASING_RATIO = (0.3, 1 / 0.3)


def train_transforms(
    size: tuple[int, int],
    flip_p: float = 0.5,
    padding: int = 10,
    colour_jitter: float = 0.0,
    erasing_p: float = 0.5,
    low_resolution_p: float = 0.0,
    low_resolution_min: float = 0.3,
    saturation_jitter: float = 0.0,
) -> v2.Compose:
    """uint8 (3, h, w) -> float32 (3, H, W) for ``size`` = (H, W): resize, flip with ``flip_p``,
    zero-pad by ``padding`` and crop a random (H, W) window (none when 0), jitter brightness and
    contrast by up to ``colour_jitter`` and saturation by up to ``saturation_jitter`` (none when 0;
    hue never: module docstring), normalise, and erase a random
    rectangle with ``erasing_p``; erased pixels are 0 after normalisation, the ImageNet mean
    (as Luo et al. fill with the mean). With ``low_resolution_p`` the image is first shrunk to a
    uniform random fraction in [``low_resolution_min``, 1] of its sides (antialiased)."""
    height, width = _check_size(size)
    _check_probability("flip_p", flip_p)
    _check_probability("erasing_p", erasing_p)
    if padding < 0:
        raise ValueError(f"padding must be >= 0 pixels, got {padding}")
    for name, value in (("colour_jitter", colour_jitter), ("saturation_jitter", saturation_jitter)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1] (0: off), got {value}")
    _check_probability("low_resolution_p", low_resolution_p)
    if not 0.0 < low_resolution_min <= 1.0:
        raise ValueError(f"low_resolution_min must lie in (0, 1], got {low_resolution_min}")
    steps: list[v2.Transform] = []
    if low_resolution_p:
        steps.append(v2.RandomApply([RandomShrink(low_resolution_min)], p=low_resolution_p))
    steps += [v2.Resize((height, width), antialias=True), v2.RandomHorizontalFlip(flip_p)]
    if padding:
        steps.append(v2.RandomCrop((height, width), padding=padding, fill=0))
    if colour_jitter or saturation_jitter:
        steps.append(v2.ColorJitter(brightness=colour_jitter, contrast=colour_jitter, saturation=saturation_jitter))
    steps += [
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        v2.RandomErasing(p=erasing_p, scale=ERASING_SCALE, ratio=ERASING_RATIO, value=0),
    ]
    return v2.Compose(steps)


class RandomShrink(torch.nn.Module):
    """Resize a (3, h, w) image to a uniform random fraction in [``min_scale``, 1] of its sides."""

    def __init__(self, min_scale: float) -> None:
        super().__init__()
        self.min_scale = min_scale

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        scale = self.min_scale + (1.0 - self.min_scale) * float(torch.rand(()))
        height, width = image.shape[-2:]
        size = [max(1, round(height * scale)), max(1, round(width * scale))]
        return v2.functional.resize(image, size, antialias=True)


def test_transforms(size: tuple[int, int]) -> v2.Compose:
    """uint8 (3, h, w) -> float32 (3, H, W): resize to ``size`` = (H, W) and normalise, nothing random."""
    height, width = _check_size(size)
    return v2.Compose(
        [
            v2.Resize((height, width), antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


test_transforms.__test__ = False  # type: ignore[attr-defined]  # a transform, not a pytest test


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    if len(size) != 2 or any(not isinstance(side, int) or side < 1 for side in size):
        raise ValueError(f"size must be (height, width), two integers >= 1, got {size}")
    return size[0], size[1]


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
