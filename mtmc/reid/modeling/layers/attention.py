"""GLAMOR's attention modules (Suprem & Pu, "Looking GLAMORous", §5) and CBAM (Woo et al. 2018), the
local attention of the AI City 2020 GLAMOR / Counter-GLAMOR pair (paper 001, §3.3).

- :class:`GlobalAttention` (GA, §5.1): a sigmoid gate per channel and pixel from two 3x3 convs.
- :class:`ChannelAttention`, :class:`SpatialAttention`, :class:`CBAM`: CBAM's two attentions.
- :class:`GlamorPartAttention`: GLAMOR's own local attention (a per-channel spatial gate, then
  CBAM's channel attention).
- :class:`LocalAttention` (LA, §5.2): local features from one of the two, merged with the global
  features through the half-local / half-global channel mask (Eq. in §5.2; swapped: 001 Eq. 2).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

LocalKind = Literal["glamor", "cbam"]
LOCAL_KINDS: tuple[str, ...] = ("glamor", "cbam")


class GlobalAttention(nn.Module):
    """GA(F) = F * sigmoid(conv3x3(LeakyReLU(conv3x3(F)))) (§5.1). No pooling, and one map per
    channel rather than CBAM's shared spatial map: "we learn feature correction for each kernel";
    LeakyReLU keeps the negative responses of the conv it follows. Convs keep the channel count and
    have no bias (one reading of "two 3x3 convolutional layers"; the authors' code does the same)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.gate = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.LeakyReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class ChannelAttention(nn.Module):
    """CBAM channel attention: x * sigmoid(MLP(avgpool x) + MLP(maxpool x)), one MLP shared by both
    pools, hidden width channels / ``reduction`` (CBAM's r = 16), as 1x1 convs."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        if reduction < 1:
            raise ValueError(f"reduction must be >= 1, got {reduction}")
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=False),
        )

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, 1, 1) channel weights in (0, 1)."""
        average = self.mlp(x.mean(dim=(2, 3), keepdim=True))
        maximum = self.mlp(x.amax(dim=(2, 3), keepdim=True))
        return torch.sigmoid(average + maximum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights(x)


class SpatialAttention(nn.Module):
    """CBAM spatial attention: x * sigmoid(conv_k([mean over channels, max over channels])), one
    (B, 1, H, W) map shared by every channel; CBAM's kernel k = 7."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd integer >= 1, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) spatial weights in (0, 1)."""
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights(x)


class CBAM(nn.Module):
    """Convolutional Block Attention Module: channel attention, then spatial attention (CBAM's
    sequential order); paper 001 uses it as GLAMOR's local attention."""

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(x))


class GlamorPartAttention(nn.Module):
    """GLAMOR's local attention (§5.2, "spatial and channel attention"): its spatial part is a gate
    per channel with GA's structure (§5.1 contrasts this with CBAM's shared map), followed by CBAM's
    channel attention. The order (spatial, then channel) is the authors' code's; the paper does not say."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.spatial = GlobalAttention(channels)
        self.channel = ChannelAttention(channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.channel(self.spatial(x))


class LocalAttention(nn.Module):
    """LA (§5.2): F = M_G * F_G + M_L * F_L with F_L = attention(F_G), M_L = 1 - M_G and
    m_i of M_G = 0 for i < floor(C/2), 1 otherwise: channels [0, C/2) carry local features and
    [C/2, C) global ones. ``counter=True`` is Counter-GLAMOR (paper 001, Eq. 2):
    F = M_L * F_G + M_G * F_L, so the local features move to channels [C/2, C).

    ``kind``: "glamor" (:class:`GlamorPartAttention`) or "cbam" (:class:`CBAM`, paper 001).
    """

    local_channels: torch.Tensor

    def __init__(
        self, channels: int, kind: LocalKind = "glamor", counter: bool = False, reduction: int = 16
    ) -> None:
        super().__init__()
        if kind not in LOCAL_KINDS:
            raise ValueError(f"local attention kind must be one of {', '.join(LOCAL_KINDS)}; got {kind!r}")
        if channels < 2:
            raise ValueError(f"channels must be >= 2 to split into local and global halves, got {channels}")
        self.kind, self.counter = kind, counter
        self.attention = (
            GlamorPartAttention(channels, reduction) if kind == "glamor" else CBAM(channels, reduction)
        )
        first_half = torch.arange(channels) < channels // 2
        local = ~first_half if counter else first_half
        self.register_buffer("local_channels", local.float().view(1, channels, 1, 1), persistent=False)

    def forward(self, global_features: torch.Tensor) -> torch.Tensor:
        local_features = self.attention(global_features)
        mask = self.local_channels
        return mask * local_features + (1 - mask) * global_features
