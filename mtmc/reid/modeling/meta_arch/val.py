"""VAL: self-supervised visual attention learning (Li, Zhao, Lyu, Zhang; paper 002), three branches
(Sec. 3.1 Eq. 1-3, Sec. 3.2, Fig. 2):

    f_GB = ResNet50 conv1 .. conv3_x (stride 8)                                       shared trunk
    Global:          F_GB = BNNeck(GAP(conv4_x, conv5_x (f_GB(x))))                     Eq. 1
    Attentional:     h = ResNet18, stride 1 in conv4_x and conv5_x (stride 8);
                     Q = ACM(h(x));  F_AB = BNNeck(GAP(conv4'_x, conv5'_x (f_GB(x) * Q)))  Eq. 2
    Self-supervised: rotation logits = CC(GAP(two basic blocks (h(x'))))               Eq. 3

Each branch has its own loss (Eq. 6): batch-hard triplet + smoothed CE on the global and on the
attentional branch, rotation CE on the self-supervised branch. The rotation branch runs inside
``forward`` in training mode: the model rotates the batch itself. At test time only the first two
run and the feature is the concatenation of their features (Sec. 3.3).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from mtmc.reid.modeling.backbones.resnet import resnet, set_stride
from mtmc.reid.modeling.heads.bnneck import BNNeck
from mtmc.reid.modeling.heads.cosine import CosineClassifier
from mtmc.reid.modeling.layers.acm import AttentionComputingModule
from mtmc.reid.modeling.losses import batch_hard_triplet, cross_entropy_ls
from mtmc.reid.modeling.losses.rotation import ROTATIONS, rotate_batch, rotation_cross_entropy
from mtmc.reid.modeling.meta_arch.base import MODELS, ReidModel

DEPTHS = (18, 50)


@MODELS.register("val")
class VAL(ReidModel):
    """VAL with the paper's recipe as defaults: ResNet50 global branch and ResNet18 attention encoder
    (Sec. 3.2), K = 7 (Table 4), 256 x 256 input, triplet margin 0.5 (VeRi-776 / CityFlow; 0.7 on
    VehicleID), lambda_Tri^GB = lambda_SCE^GB = lambda_Tri^AB = lambda_SCE^AB = 0.5 and lambda_rot = 1.0
    (Eq. 6, Sec. 3.3). The smoothed CE's eps is not given; 0.1 (Szegedy et al., Luo et al.'s BNNeck).

    Eval: (B, 2 * C) = [F_GB, F_AB], the BNNeck-normalised features (Luo et al., whom Sec. 3.3 follows),
    concatenated and not L2-normalised: Sec. 3.3 normalises the concatenation as one vector, which is
    what the embedder / evaluator already do with every model's feature.
    """

    def __init__(
        self,
        num_classes: int,
        input_size: tuple[int, int] = (256, 256),
        global_depth: int = 50,
        attention_depth: int = 18,
        neighbourhood: int = 7,
        margin: float | None = 0.5,
        label_smoothing: float = 0.1,
        rotation_scale: float = 10.0,
        triplet_global_weight: float = 0.5,
        softmax_global_weight: float = 0.5,
        triplet_attention_weight: float = 0.5,
        softmax_attention_weight: float = 0.5,
        rotation_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1 (the training identities), got {num_classes}")
        if len(input_size) != 2 or min(input_size) < 1 or input_size[0] != input_size[1]:
            raise ValueError(
                f"input_size must be square (size, size) with size >= 1 (the paper uses 256 x 256; the "
                f"rotation branch turns images by 90 degrees and stacks them), got {input_size}"
            )
        if global_depth not in DEPTHS or attention_depth not in DEPTHS:
            raise ValueError(
                f"global_depth and attention_depth must be 18 or 50 (paper: 50 and 18), "
                f"got {global_depth}, {attention_depth}"
            )
        if margin is not None and margin <= 0:
            raise ValueError(f"margin must be > 0, or None for the soft margin; got {margin}")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {label_smoothing}")
        weights = (
            triplet_global_weight,
            softmax_global_weight,
            triplet_attention_weight,
            softmax_attention_weight,
            rotation_weight,
        )
        if min(weights) < 0:
            raise ValueError(f"loss weights must be >= 0, got {weights}")
        acm = AttentionComputingModule(neighbourhood)  # checks the neighbourhood before the heavy part

        backbone = resnet(global_depth, "bn", last_stride=1)  # Sec. 3.2: stride 1 in conv5_x
        self.trunk = nn.Sequential(backbone.stem, backbone.layer1, backbone.layer2)  # f_GB: conv1 .. conv3_x
        self.global_tail = nn.Sequential(backbone.layer3, backbone.layer4)  # conv4_x, conv5_x
        self.attention_tail = copy.deepcopy(self.global_tail)  # conv4'_x, conv5'_x: same layout, own weights
        self.attention_encoder = resnet(attention_depth, "bn", last_stride=1)  # h
        set_stride(self.attention_encoder.layer3, 1)  # Sec. 3.2: stride 1 in conv4_x and conv5_x -> /8
        self.acm = acm  # f_AB
        encoder_channels = self.attention_encoder.out_channels
        self.rotation_head = rotation_head(encoder_channels)  # g_SB: two basic blocks, then GAP and CC
        self.rotation_classifier = CosineClassifier(encoder_channels, ROTATIONS, rotation_scale)
        self.global_neck = BNNeck(backbone.out_channels, num_classes)
        self.attention_neck = BNNeck(backbone.out_channels, num_classes)

        self.feature_dim = 2 * backbone.out_channels
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.margin, self.label_smoothing = margin, label_smoothing
        (
            self.triplet_global_weight,
            self.softmax_global_weight,
            self.triplet_attention_weight,
            self.softmax_attention_weight,
            self.rotation_weight,
        ) = weights

    def attention_mask(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 1, H/8, W/8) soft mask Q (sums to 1 over each map; Fig. 4 upsamples it 8x)."""
        return self.acm(self.attention_encoder(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        """Eval: [F_GB, F_AB] (see the class). Train: the pooled features (triplet), the logits (smoothed
        CE), the mask Q, and the rotation logits with their pseudo labels for a rotated copy of the batch."""
        shared = self.trunk(images)
        mask = self.attention_mask(images)
        global_pooled = self.global_tail(shared).mean(dim=(2, 3))
        attention_pooled = self.attention_tail(shared * mask).mean(dim=(2, 3))
        global_feature, global_normalised, global_logits = self.global_neck(global_pooled)
        attention_feature, attention_normalised, attention_logits = self.attention_neck(attention_pooled)
        if not self.training:
            return torch.cat([global_normalised, attention_normalised], dim=1)
        rotated, rotation_labels = rotate_batch(images)
        rotation_features = self.rotation_head(self.attention_encoder(rotated)).mean(dim=(2, 3))
        return {
            "global_feature": global_feature,
            "global_logits": global_logits,
            "attention_feature": attention_feature,
            "attention_logits": attention_logits,
            "attention_mask": mask,
            "rotation_logits": self.rotation_classifier(rotation_features),
            "rotation_labels": rotation_labels,
        }

    def losses(
        self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Eq. 6: triplet and smoothed CE on each of the global and attentional branches, each applied
        to its branch alone rather than to the concatenation (Sec. 3.3), plus lambda_rot * L_rot."""
        pids = batch["pids"]
        return {
            "triplet_global": self.triplet_global_weight
            * batch_hard_triplet(outputs["global_feature"], pids, self.margin),
            "softmax_global": self.softmax_global_weight
            * cross_entropy_ls(outputs["global_logits"], pids, self.label_smoothing),
            "triplet_attention": self.triplet_attention_weight
            * batch_hard_triplet(outputs["attention_feature"], pids, self.margin),
            "softmax_attention": self.softmax_attention_weight
            * cross_entropy_ls(outputs["attention_logits"], pids, self.label_smoothing),
            "rotation": self.rotation_weight
            * rotation_cross_entropy(outputs["rotation_logits"], outputs["rotation_labels"]),
        }


def rotation_head(channels: int) -> nn.Sequential:
    """g_SB's convolutions (Sec. 3.2): "two basic blocks (with stride = 2 in the first convolutional
    layer)". Their width is not given; they keep the encoder's (512 for ResNet18, as its conv5_x)."""
    shortcut = nn.Sequential(nn.Conv2d(channels, channels, 1, stride=2, bias=False), nn.BatchNorm2d(channels))
    head = nn.Sequential(
        BasicBlock(channels, channels, stride=2, downsample=shortcut), BasicBlock(channels, channels)
    )
    for module in head.modules():
        if isinstance(module, nn.Conv2d):  # torchvision's ResNet initialisation
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    return head
