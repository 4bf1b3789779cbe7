"""VAL's Attention Computing Module (paper 002, Sec. 3.2, Fig. 3): D2-Net's soft detection score
turned into a spatial attention mask. From the attention encoder's feature L (B, c, h, w):

    M(k, u, v) = exp L(k, u, v) / sum_{(m, n) in N(u, v)} exp L(k, m, n)   neighbourhood softmax
    G(k, u, v) = L(k, u, v) / max_t L(t, u, v)                              channel-wise max normalisation
    Q~(u, v)  = max_t M(t, u, v) * G(t, u, v),   Q(u, v) = Q~(u, v) / sum_{(m, n)} Q~(m, n)

with N(u, v) the K x K window around (u, v) (K = 7, Sec. 4.2 / Table 4). The module has no weights:
Eq. 2's f_AB is parameter-free, all the learning is in the encoder h that produces L.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def neighbourhood_softmax(features: torch.Tensor, size: int) -> torch.Tensor:
    """M: softmax of each channel over the ``size`` x ``size`` window around every position.
    The paper leaves the map border open; the window is cut to the positions inside the map."""
    peak = features.amax(dim=(2, 3), keepdim=True)  # constant per channel: cancels in the ratio, exp <= 1
    exp = torch.exp(features - peak)
    window_sum = F.avg_pool2d(exp, size, stride=1, padding=size // 2, count_include_pad=True) * (size * size)
    return exp / window_sum.clamp_min(torch.finfo(exp.dtype).tiny)


def channel_max_normalise(features: torch.Tensor) -> torch.Tensor:
    """G: each channel divided by the maximum over the channels at that position (the paper's
    "non-maximum suppression across all the channels"); in [0, 1] for non-negative (post-ReLU) L,
    0 where every channel is 0."""
    peak = features.amax(dim=1, keepdim=True)
    return features / peak.clamp_min(torch.finfo(features.dtype).tiny)


class AttentionComputingModule(nn.Module):
    """(B, c, h, w) non-negative feature L -> (B, 1, h, w) soft mask Q, summing to 1 over each map."""

    def __init__(self, neighbourhood: int = 7) -> None:
        super().__init__()
        if neighbourhood < 1 or neighbourhood % 2 == 0:
            raise ValueError(
                f"neighbourhood must be an odd integer >= 1 (the paper uses 7), got {neighbourhood}"
            )
        self.neighbourhood = neighbourhood

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        score = neighbourhood_softmax(features, self.neighbourhood) * channel_max_normalise(features)
        peak_score = score.amax(dim=1, keepdim=True)  # Q~
        total = peak_score.sum(dim=(2, 3), keepdim=True)
        return peak_score / total.clamp_min(torch.finfo(total.dtype).tiny)

    def extra_repr(self) -> str:
        return f"neighbourhood={self.neighbourhood}"
