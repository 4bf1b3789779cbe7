"""Rotation prediction as self-supervision (Gidaris, Singh & Komodakis 2018), VAL's self-supervised
branch (paper 002, Sec. 3.2): "we rotate each training image by 0, 90, 180 or 270 degrees and assign
0, 1, 2 or 3 as its pseudo label", and L_rot is the cross-entropy on those labels (Eq. 6)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

ROTATIONS = 4  # 0, 90, 180, 270 degrees


def rotate_batch(
    images: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, S, S) -> (each image turned counter-clockwise by label x 90 degrees, labels (B,) in 0..3).

    One rotation per image, drawn uniformly: the paper's "by 0, 90, 180 or 270 degrees" read as
    Gidaris et al. 2019's random-rotation mode (one rotated copy per image, not all four).
    Square images only, so that the turned images stack into one batch."""
    if images.dim() != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"rotate_batch needs square images (B, C, S, S); got shape {tuple(images.shape)}")
    labels = torch.randint(ROTATIONS, (images.shape[0],), generator=generator).to(images.device)
    turned = torch.stack([torch.rot90(images, k, dims=(2, 3)) for k in range(ROTATIONS)], dim=1)
    return turned[torch.arange(images.shape[0], device=images.device), labels], labels


def rotation_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_rot: mean cross-entropy of the (B, 4) rotation logits against the pseudo labels."""
    if logits.dim() != 2 or logits.shape[1] != ROTATIONS:
        raise ValueError(
            f"rotation logits must be (B, {ROTATIONS}), one column per rotation; got {tuple(logits.shape)}"
        )
    return F.cross_entropy(logits, labels)
