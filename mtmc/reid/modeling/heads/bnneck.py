"""BNNeck (Luo et al. 2019, "Bag of tricks"): the triplet loss sees the pooled feature, the
classifier sees it after a batch norm without shift, and inference uses the normalised one."""

from __future__ import annotations

import torch
from torch import nn


class BNNeck(nn.Module):
    """(B, D) pooled feature -> (feature, normalised feature, logits); ``num_classes=0``: no classifier."""

    def __init__(self, dim: int, num_classes: int = 0) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(dim)
        self.bn.bias.requires_grad_(False)
        nn.init.ones_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)
        self.classifier = nn.Linear(dim, num_classes, bias=False) if num_classes > 0 else None
        if self.classifier is not None:
            nn.init.normal_(self.classifier.weight, std=0.001)

    def forward(self, feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        normalised = self.bn(feature)
        logits = self.classifier(normalised) if self.classifier is not None else None
        return feature, normalised, logits
