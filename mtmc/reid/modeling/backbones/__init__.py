"""Feature extractors: ResNet18/50 with a stride-1 last stage (batch or group norm) and MobileNetV2."""

from mtmc.reid.modeling.backbones.mobilenet import mobilenetv2_backbone
from mtmc.reid.modeling.backbones.resnet import ResNet, resnet

__all__ = ["ResNet", "mobilenetv2_backbone", "resnet"]
