"""AttributeNet, ANet (Quispe, Lan, Zeng, Pedrini 2021): attribute features distilled into the re-id
feature.

- VAN (Sec. 3.1, Fig. 2): backbone map F; re-id head f = FC(GAP(F)); per attribute (colour, type)
  an SE-attention branch A_i = F * Att_i(F) with a_i = FC(GAP(A_i)) and a classifier.
- Joint Module (Sec. 3.2, Fig. 3): G = sum A_i + theta_A(sum A_i); G_reid = theta_g1(theta_g2(G));
  J = F + G_reid; j = FC(GAP(J)) is the feature used for matching.
- Losses: L = L_JM + lambda L_VAN (Eq. 4, 9, 10); after ``first_stage_epochs`` the second step
  freezes everything that computes f and trains L' (Eq. 13): the losses on f give way to the
  Amelioration Constraint (Eq. 11-12).

Recipe (Sec. 4.2): 256x256 input, ResNet-50 (IBN), s_f = s_j = 512, s_a = 128, SE reduction 16,
label-smoothed CE + batch-hard triplet (Bag of Tricks), lambda = lambda_A = lambda_G = 1, batches
of 4 images per id, Amsgrad at 6e-4 decayed x0.1 at epochs 60, 120, 150; 210 epochs of which the
first 150 are step one.
"""

from __future__ import annotations

import torch
from torch import nn

from mtmc.reid.modeling.backbones import resnet
from mtmc.reid.modeling.backbones.resnet import Norm
from mtmc.reid.modeling.heads import BNNeck
from mtmc.reid.modeling.layers import SqueezeExcite
from mtmc.reid.modeling.losses import batch_hard_triplet, cross_entropy_ls
from mtmc.reid.modeling.losses.amelioration import (
    amelioration_id,
    amelioration_triplet,
    attribute_pattern_triplet,
    attribute_patterns,
)
from mtmc.reid.modeling.meta_arch.base import MODELS, ReidModel

ATTRIBUTE_BATCH_KEYS = {"colour": "colours", "type": "types"}
"""The n = 2 attributes of Sec. 4.2 and the batch entries holding their labels (-1: unknown); the
branches are stored under the batch key ("type" would shadow ``nn.Module.type``)."""


def conv_bn_relu(channels: int, kernel_size: int) -> nn.Sequential:
    """theta(x) = ReLU(BN(W x)) with W in R^{c x c} (Eq. 5: 1x1 for theta_A; Eq. 6: 3x3 for
    theta_g1, theta_g2), padded so the map keeps its h x w and can be added to F."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
    )


class EmbeddingHead(nn.Module):
    """GAP -> FC (Eq. 1 for f, Eq. 8 for j) -> BNNeck: the triplet loss sees the FC output, the ID
    classifier its batch-normalised copy (Bag of Tricks, which Sec. 4.2 follows)."""

    def __init__(self, in_channels: int, dim: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_channels, dim)
        self.neck = BNNeck(dim, num_classes)

    def forward(self, feature_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        feature, normalised, logits = self.neck(self.fc(feature_map.mean((2, 3))))
        assert logits is not None
        return feature, normalised, logits


class AttributeBranch(nn.Module):
    """The i-th attribute branch of VAN (Eq. 2-3): A_i = F * Att_i(F), a_i = FC(GAP(A_i)), then a
    classifier over the attribute's m_i classes. The text says "spatial and channel attention" but
    gives Att_i in R^c and builds it on SE (Sec. 4.2), so Att_i is channel SE."""

    def __init__(self, channels: int, dim: int, num_classes: int, reduction: int) -> None:
        super().__init__()
        self.attention = SqueezeExcite(channels, reduction)
        self.fc = nn.Linear(channels, dim)
        self.classifier = nn.Linear(dim, num_classes)

    def forward(self, feature_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, c, h, w) F -> (A_i (B, c, h, w), logits (B, m_i))."""
        attribute_map = self.attention(feature_map)
        return attribute_map, self.classifier(self.fc(attribute_map.mean((2, 3))))


class JointModule(nn.Module):
    """Joint Module (Sec. 3.2, Fig. 3): merges the attribute maps into G (Eq. 5), distils the
    re-id-helpful part G_reid (Eq. 6) and adds it onto the backbone map: J = F + G_reid (Eq. 7)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.theta_a = conv_bn_relu(channels, 1)
        self.theta_g2 = conv_bn_relu(channels, 3)
        self.theta_g1 = conv_bn_relu(channels, 3)

    def forward(
        self, feature_map: torch.Tensor, attribute_maps: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """F and [A_1 .. A_n], all (B, c, h, w) -> (G, G_reid, J), each (B, c, h, w)."""
        summed = torch.stack(attribute_maps).sum(0)
        merged = summed + self.theta_a(summed)
        distilled = self.theta_g1(self.theta_g2(merged))
        return merged, distilled, feature_map + distilled


@MODELS.register("anet")
class AttributeNet(ReidModel):
    """ANet: VAN + Joint Module, trained in two steps (Sec. 3.2, 4.2); inference feature: the
    BNNeck-normalised j (s_j = ``feature_size``). Training outputs: ``feature_f``, ``logits_f``,
    ``feature_j``, ``logits_j``, ``feature_g`` (GAP of G), ``logits_colour``, ``logits_type``.

    ``num_colours`` / ``num_types`` default to VeRi-776's 10 colours and 9 types (the paper gives no
    counts; these are the dataset's). The backbone is the project's ResNet without IBN (not
    available here), last stage at stride 1.
    """

    def __init__(
        self,
        num_classes: int,
        num_colours: int = 10,
        num_types: int = 9,
        depth: int = 50,
        norm: Norm = "bn",
        feature_size: int = 512,
        attribute_size: int = 128,
        se_reduction: int = 16,
        first_stage_epochs: int = 150,
        margin: float | None = 0.3,
        label_smoothing: float = 0.1,
        van_weight: float = 1.0,
        attribute_weight: float = 1.0,
        pattern_triplet_weight: float = 1.0,
    ) -> None:
        super().__init__()
        for name, value, least in (
            ("num_classes", num_classes, 2),
            ("num_colours", num_colours, 2),
            ("num_types", num_types, 2),
            ("feature_size", feature_size, 1),
            ("attribute_size", attribute_size, 1),
            ("first_stage_epochs", first_stage_epochs, 0),
        ):
            if value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value}")
        for name, value in (
            ("van_weight", van_weight),
            ("attribute_weight", attribute_weight),
            ("pattern_triplet_weight", pattern_triplet_weight),
        ):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        self.feature_dim = feature_size
        self.input_size = (256, 256)
        self.first_stage_epochs = first_stage_epochs
        self.margin = margin
        self.label_smoothing = label_smoothing
        self.van_weight = van_weight
        self.attribute_weight = attribute_weight
        self.pattern_triplet_weight = pattern_triplet_weight
        self.attribute_classes = {"colour": num_colours, "type": num_types}

        self.backbone = resnet(depth, norm, last_stride=1)
        channels = self.backbone.out_channels
        self.head_f = EmbeddingHead(channels, feature_size, num_classes)
        self.attribute_branches = nn.ModuleDict(
            {
                ATTRIBUTE_BATCH_KEYS[name]: AttributeBranch(channels, attribute_size, classes, se_reduction)
                for name, classes in self.attribute_classes.items()
            }
        )
        self.joint = JointModule(channels)
        self.head_j = EmbeddingHead(channels, feature_size, num_classes)

        self._frozen_in_second_step = [
            name
            for name, parameter in self.named_parameters()
            if name.startswith(("backbone.", "head_f.")) and parameter.requires_grad
        ]
        self.stage = 1

    def forward(self, images: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        feature_map = self.backbone(images)
        branches = {
            name: self.attribute_branches[key](feature_map) for name, key in ATTRIBUTE_BATCH_KEYS.items()
        }
        merged, _, joint = self.joint(feature_map, [attribute_map for attribute_map, _ in branches.values()])
        feature_j, normalised_j, logits_j = self.head_j(joint)
        if not self.training:
            return normalised_j
        feature_f, _, logits_f = self.head_f(feature_map)
        outputs = {
            "feature_f": feature_f,
            "logits_f": logits_f,
            "feature_j": feature_j,
            "logits_j": logits_j,
            "feature_g": merged.mean((2, 3)),
        }
        outputs.update({f"logits_{name}": logits for name, (_, logits) in branches.items()})
        return outputs

    @torch.no_grad()
    def attributes(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-class probabilities of each attribute, {"colour": (B, num_colours), "type": (B, num_types)},
        for metadata re-ranking; call in eval mode, as for the feature."""
        feature_map = self.backbone(images)
        return {
            name: self.attribute_branches[key](feature_map)[1].softmax(1)
            for name, key in ATTRIBUTE_BATCH_KEYS.items()
        }

    def losses(
        self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Step one: L = L_JM + lambda L_VAN (Eq. 10), i.e. L_tri^j + L_ID^j + lambda_G L_tri^g
        (Eq. 9) + lambda (L_tri^f + L_ID^f + lambda_A sum_i L_att^i) (Eq. 4). Step two: L' (Eq. 13)
        = L + AC_tri + AC_ID - lambda (L_tri^f + L_ID^f). Attribute losses skip unknown (-1) labels."""
        pids = batch["pids"]
        labels = {name: self._attribute_labels(batch, name, pids) for name in self.attribute_classes}
        losses: dict[str, torch.Tensor] = {}
        if self.stage == 1:
            losses["tri_f"] = self.van_weight * batch_hard_triplet(outputs["feature_f"], pids, self.margin)
            losses["id_f"] = self.van_weight * cross_entropy_ls(
                outputs["logits_f"], pids, self.label_smoothing
            )
        for name, label in labels.items():
            attribute_loss = cross_entropy_ls(outputs[f"logits_{name}"], label, self.label_smoothing)
            losses[f"att_{name}"] = self.van_weight * self.attribute_weight * attribute_loss
        patterns = attribute_patterns(list(labels.values()), list(self.attribute_classes.values()))
        losses["tri_g"] = self.pattern_triplet_weight * attribute_pattern_triplet(
            outputs["feature_g"], patterns, self.margin
        )
        losses["tri_j"] = batch_hard_triplet(outputs["feature_j"], pids, self.margin)
        losses["id_j"] = cross_entropy_ls(outputs["logits_j"], pids, self.label_smoothing)
        if self.stage == 2:
            losses["ac_tri"] = amelioration_triplet(outputs["feature_j"], outputs["feature_f"], pids)
            losses["ac_id"] = amelioration_id(
                outputs["logits_j"], outputs["logits_f"], pids, self.label_smoothing
            )
        return losses

    def _attribute_labels(
        self, batch: dict[str, torch.Tensor], name: str, pids: torch.Tensor
    ) -> torch.Tensor:
        """The batch's labels for attribute ``name``; all unknown when the dataset has none."""
        key = ATTRIBUTE_BATCH_KEYS[name]
        label = batch.get(key)
        if label is None:
            return torch.full_like(pids, -1)
        classes = self.attribute_classes[name]
        if len(label) and int(label.max()) >= classes:
            raise ValueError(
                f"batch['{key}'] holds class {int(label.max())} but the model has num_{key}={classes}: "
                f"labels must lie in [0, {classes - 1}] or be -1 (unknown)"
            )
        return label

    def on_epoch(self, epoch: int) -> None:
        """Two-step schedule (Sec. 3.2): step one for epochs [0, first_stage_epochs), step two after."""
        self.set_stage(2 if epoch >= self.first_stage_epochs else 1)

    def set_stage(self, stage: int) -> None:
        """Step two freezes "the backbone (all operations before f)" (Sec. 3.2). We also freeze f's FC
        and classifier: AC compares j with f, and a trainable f could lower AC by getting worse."""
        if stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {stage}")
        self.stage = stage
        parameters = dict(self.named_parameters())
        for name in self._frozen_in_second_step:
            parameters[name].requires_grad_(stage == 1)
        self.train(self.training)

    def train(self, mode: bool = True) -> AttributeNet:
        """As ``nn.Module.train``, but in step two the frozen part keeps its batch-norm statistics."""
        super().train(mode)
        if self.stage == 2:
            self.backbone.eval()
            self.head_f.eval()
        return self
