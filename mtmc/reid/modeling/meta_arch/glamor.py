"""GLAMOR (Suprem & Pu, "Looking GLAMORous: Vehicle Re-Id in Heterogeneous Cameras Networks with
Global and Local Attention") and Counter-GLAMOR (paper 001, AI City 2020 Track 2, Eq. 2).

    conv1 -> Global Attention -> norm, relu, maxpool -> layer1[0] -> Local Attention (half of the
    channels local, half global) -> layer1[1:] .. layer4 (stride 1) -> GAP -> f  (triplet loss)
    -> LayerNorm -> f_n (inference feature) -> Linear -> logits (label-smoothed softmax loss)

No dense layer on the feature path (§3.1): the classifier is the only ``nn.Linear``. Group norm
inside the ResNet, layer norm between the triplet and softmax features (§4.6).

``backbone="mobilenetv2"`` (not in the papers) puts the same attention at the same places of
MobileNetV2: GA after its stem conv, LA after its first inverted-residual block, the last strided
block at stride 1 (output stride 16, as the ResNet's stride-1 last stage). It exists because
MobileNetV2 is the only ImageNet initialisation available offline (``pretrained=True``), and
because its 2.25 M parameters export to about 9 MB in fp32 (under 5 MB in fp16) and run fast on CPU
(issue 7).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from mtmc.reid.modeling.backbones.mobilenet import mobilenetv2_backbone
from mtmc.reid.modeling.backbones.resnet import Norm, resnet
from mtmc.reid.modeling.layers.attention import (
    LOCAL_KINDS,
    ChannelAttention,
    GlobalAttention,
    LocalAttention,
    LocalKind,
    SpatialAttention,
)
from mtmc.reid.modeling.losses import batch_hard_triplet, cross_entropy_ls
from mtmc.reid.modeling.meta_arch.base import MODELS, ReidModel

COUNTER_GLAMOR_RECIPE: dict[str, Any] = {
    "depth": 50,  # 001 §3.3: "an end-to-end ResNet50-backboned re-identification model"
    "local": "cbam",  # 001 §3.3: CBAM instead of the original Local Attention Module
    "input_size": (128, 256),  # 001 §4: 128 x 256, "width larger than the height"
    "triplet_weight": 10.0,  # 001 §4: "the 10 : 1 ratio between triplet loss and softmax loss"
    "softmax_weight": 1.0,
}
Backbone = Literal["resnet", "mobilenetv2"]
BACKBONES: tuple[str, ...] = ("resnet", "mobilenetv2")
MOBILENETV2_LAST_STRIDED = 14  # features[14]: 96 -> 160 channels, the last block with stride 2


@MODELS.register("glamor")
class Glamor(ReidModel):
    """GLAMOR; defaults are paper 000's recipe: ResNet18 with group norm (§6.2), 208 x 208 input
    (§5.2, §6.2), batch-hard triplet with margin 0.3 (§6.2) plus softmax with label smoothing
    eps = 0.2 (§6.3; §4.3's "eps = 1/N" formula does not sum to 1, so the experiments' value is used),
    summed with equal weights (§4.4: L = L_Triplet + L_Softmax).

    ``counter=True`` swaps the local / global channel mask (Counter-GLAMOR, 001 Eq. 2);
    ``local``: "glamor" (GLAMOR's local attention) or "cbam" (001's).

    ``backbone``: "resnet" (the papers'; ``depth`` 18 or 50, ``norm`` "gn" by default or "bn") or
    "mobilenetv2" (batch norm, as its ImageNet statistics come with it; ``depth`` and ``norm`` do not
    apply). ``pretrained=True`` starts MobileNetV2 from ImageNet; no ImageNet ResNet weights exist
    offline, so the ResNet is always randomly initialised. A checkpoint's state dict replaces
    whatever ``pretrained`` loaded.

    ``per_camera=True`` is for labels whose "different" holds only within a camera, as when each
    track of each camera is its own identity (TAUDL's per-camera tracklet discrimination, Li et al.
    ECCV 2018), and tracks merged across cameras only where confident: an image's triplet negatives
    and softmax classes come from its own camera (a class belongs to every camera it has images in),
    its positives from any. Otherwise the same vehicle's unmerged tracks in other cameras, labelled
    as other identities, are pushed away, and camera style (colour, background) becomes the easiest
    way to tell identities apart. Batches must carry ``camids``.
    """

    def __init__(
        self,
        num_classes: int,
        depth: int | None = None,
        norm: Norm | None = None,
        local: LocalKind = "glamor",
        counter: bool = False,
        input_size: tuple[int, int] = (208, 208),
        margin: float | None = 0.3,
        label_smoothing: float = 0.2,
        triplet_weight: float = 1.0,
        softmax_weight: float = 1.0,
        backbone: Backbone = "resnet",
        pretrained: bool = False,
        per_camera: bool = False,
    ) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}; got {backbone!r}")
        if backbone == "mobilenetv2" and (depth is not None or norm not in (None, "bn")):
            raise ValueError(
                f"depth and norm are ResNet options; backbone mobilenetv2 has batch norm and one depth "
                f"(got depth {depth!r}, norm {norm!r}): leave them unset"
            )
        if backbone == "resnet" and pretrained:
            raise ValueError(
                "pretrained: no ImageNet ResNet weights exist offline; use backbone mobilenetv2 or pretrained false"
            )
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
        self.backbone_name = backbone
        if backbone == "resnet":
            self.backbone = resnet(18 if depth is None else depth, norm or "gn", last_stride=1)
            self.feature_dim = self.backbone.out_channels
        else:
            self.backbone = mobilenetv2_backbone(pretrained)
            self.backbone[MOBILENETV2_LAST_STRIDED].conv[1][0].stride = (1, 1)  # its depthwise conv
            self.feature_dim = self.backbone[-1].out_channels
        first_conv, _, first_block, _ = self.cuts()
        self.global_attention = GlobalAttention(first_conv.out_channels)
        self.local_attention = LocalAttention(block_channels(first_block), local, counter)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.norm = nn.LayerNorm(self.feature_dim)
        self.norm.bias.requires_grad_(False)  # no shift, as the BNNeck norm it replaces (§4.6, [22])
        self.classifier = nn.Linear(self.feature_dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        self.margin, self.label_smoothing = margin, label_smoothing
        self.triplet_weight, self.softmax_weight = triplet_weight, softmax_weight
        self.per_camera = per_camera
        # per_camera: camera id -> which classes have images there (seen in training); state, not weights
        self.classes_in_camera: dict[int, torch.Tensor] = {}
        if pretrained:
            self._keep_the_pretrained_function()

    def _keep_the_pretrained_function(self) -> None:
        """Insert the attention into ImageNet MobileNetV2 without changing what it computes: randomly
        initialised gates (about 1/2 everywhere, differently per pixel) scramble the pretrained
        features (GLAMOR at init scored half the ImageNet features' mAP on SynthCity crops, LA's
        quartered channels feeding a 1x1 conv that mixes them with the rest). So the last conv of
        every gate starts at zero (each gate is exactly sigmoid(0) = 1/2, as a zero-initialised
        residual branch starts as nothing, Goyal et al. 2017) and the next layer absorbs the constant:
        the stem's batch norm statistics GA's 1/2, the first conv of block 2 the local channels' 1/4
        (GA-style gate, then channel attention). The model then starts as exactly the ImageNet network
        (but for the last stride) and its gates learn from there."""
        gates = [self.global_attention.gate[2]]
        for module in self.local_attention.attention.modules():
            if isinstance(module, GlobalAttention):
                gates.append(module.gate[2])
            elif isinstance(module, ChannelAttention):
                gates.append(module.mlp[2])
            elif isinstance(module, SpatialAttention):
                gates.append(module.conv)
        for conv in gates:
            nn.init.zeros_(conv.weight)
        local_factor = 0.5 ** (len(gates) - 1)  # the local attention's gates, applied one after the other
        stem_norm, block = self.backbone[0][1], self.backbone[2]
        expansion = block.conv[0][0]
        assert not block.use_res_connect and expansion.kernel_size == (1, 1), "block 2 must start with a 1x1 conv"
        with torch.no_grad():
            stem_norm.running_mean.mul_(0.5)  # BN(x / 2) with halved mean and quartered variance = BN(x)
            stem_norm.running_var.mul_(0.25)
            local = self.local_attention.local_channels.flatten().bool()
            expansion.weight[:, local] /= local_factor

    def cuts(self) -> tuple[nn.Module, nn.Module, nn.Module, nn.Module]:
        """The backbone cut where the attention goes: (first conv, rest of the stem, first block,
        the remaining blocks). ResNet: conv1 | norm, relu, maxpool | layer1[0] | layer1[1:] .. layer4.
        MobileNetV2: features[0]'s conv | its norm, relu6 | features[1] | features[2:]."""
        if self.backbone_name == "resnet":
            b = self.backbone
            return b.stem[0], b.stem[1:], b.layer1[0], nn.Sequential(b.layer1[1:], b.layer2, b.layer3, b.layer4)
        features = self.backbone
        stem = list(features[0])  # a Conv2dNormActivation, which cannot be sliced into its own class
        return stem[0], nn.Sequential(*stem[1:]), features[1], features[2:]

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C, H/16, W/16). GA right after conv1, before its norm (§5.1, "inserted
        after the first conv layer"); LA on the first block's output ("global features F_G from the
        first ResNet basic block after GA", §5.2; read as layer1[0], the authors' code's place)."""
        first_conv, stem_rest, first_block, blocks = self.cuts()
        x = stem_rest(self.global_attention(first_conv(images)))
        return blocks(self.local_attention(first_block(x)))

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
        """lambda_t * batch-hard triplet on the pooled feature + lambda_s * smoothed softmax (001 Eq. 3);
        with ``per_camera``, negatives from the anchor's camera and a softmax per camera of the batch
        over that camera's classes, weighted by its share of the batch."""
        pids = batch["pids"]
        if not self.per_camera:
            return {
                "triplet": self.triplet_weight * batch_hard_triplet(outputs["features"], pids, self.margin),
                "softmax": self.softmax_weight * cross_entropy_ls(outputs["logits"], pids, self.label_smoothing),
            }
        if "camids" not in batch:
            raise ValueError("per_camera losses need the batch's camids")
        cameras = batch["camids"]
        softmax = outputs["logits"].sum() * 0.0
        for camera in torch.unique(cameras).tolist():
            rows = cameras == camera
            seen = self.classes_in_camera.setdefault(
                camera, torch.zeros(len(self.classifier.weight), dtype=torch.bool, device=pids.device)
            )
            seen[pids[rows]] = True  # a class with images in a camera is one of that camera's identities
            classes = torch.nonzero(seen).flatten()  # sorted
            logits = outputs["logits"][rows][:, classes]
            targets = torch.searchsorted(classes, pids[rows])
            softmax = softmax + rows.float().mean() * cross_entropy_ls(logits, targets, self.label_smoothing)
        triplet = batch_hard_triplet(outputs["features"], pids, self.margin, camids=cameras)
        return {"triplet": self.triplet_weight * triplet, "softmax": self.softmax_weight * softmax}


@MODELS.register("counter-glamor")
def counter_glamor(num_classes: int, **options: Any) -> Glamor:
    """Counter-GLAMOR (001 Eq. 2: F = M_L * F_G + M_G * F_L), with 001's recipe as defaults
    (:data:`COUNTER_GLAMOR_RECIPE`); 001 gives no label smoothing eps, so GLAMOR's stays. The
    recipe's ResNet50 depth is left out when ``backbone`` is another one."""
    recipe = dict(COUNTER_GLAMOR_RECIPE)
    if options.get("backbone", "resnet") != "resnet":
        del recipe["depth"]
    return Glamor(num_classes, counter=True, **{**recipe, **options})


def block_channels(block: nn.Module) -> int:
    """Output channels of a torchvision BasicBlock (last conv: conv2), Bottleneck (conv3) or
    InvertedResidual (its block's last conv)."""
    if hasattr(block, "out_channels"):  # torchvision's InvertedResidual records it
        return block.out_channels
    last_conv = block.conv3 if hasattr(block, "conv3") else block.conv2
    return last_conv.out_channels
