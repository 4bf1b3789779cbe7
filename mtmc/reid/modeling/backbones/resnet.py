"""ResNet18/50 for re-id: the last stage at stride 1 (a 2x larger final map, as every paper here
uses) and a choice of batch norm or group norm (GLAMOR: 16 channels per group).

The stages stay addressable (``stem``, ``layer1`` .. ``layer4``) because the papers' models cut in
between them: GLAMOR attends after conv1 and at the first block, VAL splits after conv3_x.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

Norm = Literal["bn", "gn"]
GROUP_CHANNELS = 16


def norm_layer(kind: Norm):
    """A ``norm_layer(channels)`` factory: BatchNorm2d, or GroupNorm with 16 channels per group."""
    if kind == "bn":
        return nn.BatchNorm2d
    if kind == "gn":
        return lambda channels: nn.GroupNorm(max(1, channels // GROUP_CHANNELS), channels)
    raise ValueError(f"norm must be 'bn' or 'gn', got {kind!r}")


class ResNet(nn.Module):
    """torchvision's ResNet without its pooling and classifier: (B, 3, H, W) -> (B, C, H/s, W/s)."""

    def __init__(self, depth: int = 18, norm: Norm = "bn", last_stride: int = 1) -> None:
        super().__init__()
        from torchvision.models import resnet18, resnet50

        builders = {18: resnet18, 50: resnet50}
        if depth not in builders:
            raise ValueError(f"depth must be 18 or 50, got {depth}")
        if last_stride not in (1, 2):
            raise ValueError(f"last_stride must be 1 or 2, got {last_stride}")
        net = builders[depth](weights=None, norm_layer=norm_layer(norm))
        if last_stride == 1:
            set_stride(net.layer4, 1)
        self.depth, self.norm = depth, norm
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.out_channels = 512 if depth == 18 else 2048

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))


def set_stride(stage: nn.Sequential, stride: int) -> None:
    """Make a ResNet stage keep its input's resolution (its first block's strided conv and shortcut)."""
    block = stage[0]
    strided = block.conv2 if hasattr(block, "conv3") else block.conv1  # Bottleneck strides conv2
    strided.stride = (stride, stride)
    if block.downsample is not None:
        block.downsample[0].stride = (stride, stride)


def resnet(depth: int = 18, norm: Norm = "bn", last_stride: int = 1) -> ResNet:
    return ResNet(depth, norm, last_stride)
