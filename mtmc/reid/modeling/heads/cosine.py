"""Cosine classifier (Gidaris & Komodakis 2018; Wojke & Beyer 2018): logits are scaled cosine
similarities between the feature and one weight vector per class, the classifier (CC) of VAL's
self-supervised branch (paper 002, Sec. 3.2, Fig. 2)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class CosineClassifier(nn.Module):
    """(B, D) -> (B, num_classes) logits s * <x / |x|, w_k / |w_k|>, so |logit| <= s.

    VAL gives no scale; s = 10, learnt, as in the rotation head of Gidaris et al. 2019 (the work VAL
    cites for its CC), whose weights are also drawn from N(0, 2 / D)."""

    def __init__(
        self, in_features: int, num_classes: int, scale: float = 10.0, learn_scale: bool = True
    ) -> None:
        super().__init__()
        if in_features < 1 or num_classes < 1:
            raise ValueError(f"in_features and num_classes must be >= 1, got {in_features}, {num_classes}")
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.weight = nn.Parameter(torch.randn(num_classes, in_features) * math.sqrt(2.0 / in_features))
        initial = torch.tensor(float(scale))
        if learn_scale:
            self.scale = nn.Parameter(initial)
        else:
            self.register_buffer("scale", initial)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.scale * F.linear(F.normalize(features, dim=1), F.normalize(self.weight, dim=1))

    def extra_repr(self) -> str:
        classes, in_features = self.weight.shape
        learnt = isinstance(self.scale, nn.Parameter)
        return f"in_features={in_features}, num_classes={classes}, learn_scale={learnt}"
