"""GLAMOR (Suprem & Pu, "Looking GLAMORous: Vehicle Re-Id in Heterogeneous Cameras Networks with
Global and Local Attention") and Counter-GLAMOR (paper 001, AI City 2020 Track 2, Eq. 2).

    conv1 -> Global Attention -> norm, relu, maxpool -> layer1[0] -> Local Attention (half of the
    channels local, half global) -> layer1[1:] .. layer4 (stride 1) -> GAP -> f  (triplet loss)
    -> LayerNorm -> f_n (inference feature) -> Linear -> logits (label-smoothed softmax loss)

No dense layer on the feature path (§3.1): the classifier is the only ``nn.Linear``. Group norm
inside the ResNet, layer norm between the triplet and softmax features (§4.6).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mtmc.reid.modeling.backbones.resnet import Norm, resnet
from mtmc.reid.modeling.layers.attention import LOCAL_KINDS, GlobalAttention, LocalAttention, LocalKind
from mtmc.reid.modeling.losses import batch_hard_triplet, cross_entropy_ls
from mtmc.reid.modeling.meta_arch.base import MODELS, ReidModel

COUNTER_GLAMOR_RECIPE: dict[str, Any] = {
    "depth": 50,  # 001 §3.3: "an end-to-end ResNet50-backboned re-identification model"
    "local": "cbam",  # 001 §3.3: CBAM instead of the original Local Attention Module
    "input_size": (128, 256),  # 001 §4: 128 x 256, "width larger than the height"
    "triplet_weight": 10.0,  # 001 §4: "the 10 : 1 ratio between triplet loss and softmax loss"
    "softmax_weight": 1.0,
}


@MODELS.register("glamor")
class Glamor(ReidModel):
    """GLAMOR; defaults are paper 000's recipe: ResNet18 with group norm (§6.2), 208 x 208 input
    (§5.2, §6.2), batch-hard triplet with margin 0.3 (§6.2) plus softmax with label smoothing
    eps = 0.2 (§6.3; §4.3's "eps = 1/N" formula does not sum to 1, so the experiments' value is used),
    summed with equal weights (§4.4: L = L_Triplet + L_Softmax).

    ``counter=True`` swaps the local / global channel mask (Counter-GLAMOR, 001 Eq. 2);
    ``local``: "glamor" (GLAMOR's local attention) or "cbam" (001's).
    """

    def __init__(
        self,
        num_classes: int,
        depth: int = 18,
        norm: Norm = "gn",
        local: LocalKind = "glamor",
        counter: bool = False,
        input_size: tuple[int, int] = (208, 208),
        margin: float | None = 0.3,
        label_smoothing: float = 0.2,
        triplet_weight: float = 1.0,
        softmax_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1 (the training identities), got {num_classes}")
        if local not in LOCAL_KINDS:
            raise ValueError(f"local must be one of {', '.join(LOCAL_KINDS)}; got {local!r}")
        if len(input_size) != 2 or min(input_size) < 1:
            raise ValueError(f"input_size must be (height, width) with both >= 1, got {input_size}")
        if margin is not None and margin <= 0:
            raise ValueError(f"margin must be > 0, or None for the soft margin; got {margin}")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {label_smoothing}")
        if triplet_weight < 0 or softmax_weight < 0:
            raise ValueError(
                f"loss weights must be >= 0, got triplet {triplet_weight}, softmax {softmax_weight}"
            )
        self.backbone = resnet(depth, norm, last_stride=1)
        self.global_attention = GlobalAttention(self.backbone.stem[0].out_channels)
        self.local_attention = LocalAttention(block_channels(self.backbone.layer1[0]), local, counter)
        self.feature_dim = self.backbone.out_channels
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.norm = nn.LayerNorm(self.feature_dim)
        self.norm.bias.requires_grad_(False)  # no shift, as the BNNeck norm it replaces (§4.6, [22])
        self.classifier = nn.Linear(self.feature_dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        self.margin, self.label_smoothing = margin, label_smoothing
        self.triplet_weight, self.softmax_weight = triplet_weight, softmax_weight

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C, H/16, W/16). GA right after conv1, before its norm (§5.1, "inserted
        after the first conv layer"); LA on the first block's output ("global features F_G from the
        first ResNet basic block after GA", §5.2; read as layer1[0], the authors' code's place)."""
        stem, layer1 = self.backbone.stem, self.backbone.layer1
        x = stem[1:](self.global_attention(stem[0](images)))
        x = layer1[1:](self.local_attention(layer1[0](x)))
        return self.backbone.layer4(self.backbone.layer3(self.backbone.layer2(x)))

    def forward(self, images: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        """Eval: the layer-normed feature, the one §6.3 calls the output features ("we need each output
        feature to contribute equally to the distance metric"). Train: features (triplet), normalised,
        logits (softmax)."""
        features = self.feature_map(images).mean(dim=(2, 3))
        normalised = self.norm(features)
        if not self.training:
            return normalised
        return {"features": features, "normalised": normalised, "logits": self.classifier(normalised)}

    def losses(
        self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """lambda_t * batch-hard triplet on the pooled feature + lambda_s * smoothed softmax (001 Eq. 3)."""
        pids = batch["pids"]
        return {
            "triplet": self.triplet_weight * batch_hard_triplet(outputs["features"], pids, self.margin),
            "softmax": self.softmax_weight * cross_entropy_ls(outputs["logits"], pids, self.label_smoothing),
        }


@MODELS.register("counter-glamor")
def counter_glamor(num_classes: int, **options: Any) -> Glamor:
    """Counter-GLAMOR (001 Eq. 2: F = M_L * F_G + M_G * F_L), with 001's recipe as defaults
    (:data:`COUNTER_GLAMOR_RECIPE`); 001 gives no label smoothing eps, so GLAMOR's stays."""
    return Glamor(num_classes, counter=True, **{**COUNTER_GLAMOR_RECIPE, **options})


def block_channels(block: nn.Module) -> int:
    """Output channels of a torchvision BasicBlock (last conv: conv2) or Bottleneck (conv3)."""
    last_conv = block.conv3 if hasattr(block, "conv3") else block.conv2
    return last_conv.out_channels
