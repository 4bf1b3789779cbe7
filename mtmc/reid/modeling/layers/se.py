"""Squeeze-and-excitation (Hu et al. 2018): channel weights from globally pooled context."""

from __future__ import annotations

import torch
from torch import nn


class SqueezeExcite(nn.Module):
    """x * sigmoid(W2 relu(W1 avgpool(x))), reduction ``r`` (at least one hidden channel)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        if reduction < 1:
            raise ValueError(f"reduction must be >= 1, got {reduction}")
        hidden = max(1, channels // reduction)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)
