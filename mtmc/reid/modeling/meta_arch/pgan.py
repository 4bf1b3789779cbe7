"""PGAN, the Part-Guided Attention Network (Zhang, Zhang, Cao, Gong, You, Shen; Fig. 2).

A ResNet50 (last stride 1, as the "bag of tricks" baseline it follows, Sec. 4.2) gives the global
map F_g; a part proposer gives D = 8 part masks M_i (Sec. 3.2); the Part Attention Module weighs
the masked maps F_i = M_i * F_g (Eq. 2) and adds F_g back, F_p = sum_i w_i F_i + F_g (Eq. 3);
the fusion [F_g, F_p] and F_g, F_p on their own are refined (SE + residual block) and pooled
(Sec. 3.4); L = lambda L_c + L_f + L_g + L_p (Eq. 5). Inference uses the batch-normalised
refined fusion feature (Sec. 3.5), 2C' = 512 wide.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from mtmc.reid.modeling.backbones import resnet
from mtmc.reid.modeling.backbones.resnet import Norm
from mtmc.reid.modeling.heads import BNNeck
from mtmc.reid.modeling.layers import SqueezeExcite
from mtmc.reid.modeling.layers.parts import PART_PROPOSERS, PartProposals, project_boxes
from mtmc.reid.modeling.losses import batch_hard_triplet, cross_entropy_ls
from mtmc.reid.modeling.meta_arch.base import MODELS, ReidModel


def mask_guided_average_pool(features: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """MGAP (Sec. 3.3): (B, C, H, W) F_g and (B, D, H, W) masks -> (B, D, C), each channel of
    F_i = M_i * F_g summed and divided by ||M_i||_1 (the part's area), not by H x W."""
    sums = torch.einsum("bdhw,bchw->bdc", masks, features)
    return sums / masks.sum((2, 3))[..., None]


def part_guided_feature(features: torch.Tensor, masks: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Eq. 3, F_p = sum_i w_i (M_i * F_g) + F_g, computed as F_g * (1 + sum_i w_i M_i)."""
    attention_map = torch.einsum("bd,bdhw->bhw", weights, masks)
    return features * (1 + attention_map[:, None])


class PartAttention(nn.Module):
    """PAM's weights (Eq. 4): w = softmax over parts of psi(MGAP(F_i, M_i)).

    psi as Fig. 2 draws it: weight-normalised FC (C -> C / ``reduction``), layer norm, ReLU,
    weight-normalised FC back to C, then the channel-wise mean gives one score per part.
    Eq. 4 has no temperature; the authors' release multiplies the scores by 10 before the softmax,
    which ``temperature`` keeps (1 gives Eq. 4 as printed).
    """

    def __init__(self, channels: int, reduction: int = 4, temperature: float = 10.0) -> None:
        super().__init__()
        if reduction < 1 or channels // reduction < 1:
            raise ValueError(f"reduction must lie in [1, {channels}] (the channels), got {reduction}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        hidden = channels // reduction
        self.temperature = temperature
        self.psi = nn.Sequential(
            weight_norm(nn.Linear(channels, hidden, bias=False), dim=None),
            nn.LayerNorm(hidden),
            nn.ReLU(inplace=True),
            weight_norm(nn.Linear(hidden, channels, bias=False), dim=None),
        )

    def forward(self, features: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) F_g, (B, D, H, W) masks -> (B, D) weights, each row summing to 1."""
        scores = self.psi(mask_guided_average_pool(features, masks)).mean(-1)
        return torch.softmax(self.temperature * scores, dim=1)


class ResidualBlock(nn.Module):
    """Refine's residual block [38], a bottleneck (1x1 -> 3x3 -> 1x1, width out / 4) that changes
    C to C'. The paper names only "Residual Block"; this is the pre-activation form (BN-ReLU before
    each conv, the shortcut a 1x1 conv when the width changes) that the authors' release uses."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        width = out_channels // 4
        self.preact = nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True))
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, out_channels, 1, bias=False),
        )
        same_width = in_channels == out_channels
        self.shortcut = None if same_width else nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.preact(x)
        residual = x if self.shortcut is None else self.shortcut(activated)
        return self.body(activated) + residual


class Refine(nn.Sequential):
    """Sec. 3.4: SE block [37] then residual block, (B, C_in, H, W) -> (B, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, se_reduction: int = 8) -> None:
        super().__init__(SqueezeExcite(in_channels, se_reduction), ResidualBlock(in_channels, out_channels))


@MODELS.register("pgan")
class PGAN(ReidModel):
    """PGAN with the paper's recipe as defaults.

    ``embed_dim`` is C' (Fig. 2): F~_g and F~_p have C', the fusion F~_f and the inference feature
    2C' = 512 (Sec. 4.4). ``id_weight`` is lambda in Eq. 5 (best at 2, Fig. 3b); the triplet
    losses are batch-hard [34] with the baseline's margin 0.3 [35]; L_c is plain softmax
    cross-entropy (``label_smoothing=0``). ``part_proposer`` names an entry of ``PART_PROPOSERS``
    (built with ``num_parts`` and ``proposer_options``); boxes given to ``forward`` override it.
    """

    def __init__(
        self,
        num_classes: int,
        depth: int = 50,
        norm: Norm = "bn",
        last_stride: int = 1,
        num_parts: int = 8,
        part_proposer: str = "activation-peaks",
        proposer_options: dict[str, Any] | None = None,
        embed_dim: int = 256,
        se_reduction: int = 8,
        attention_reduction: int = 4,
        attention_temperature: float = 10.0,
        id_weight: float = 2.0,
        triplet_margin: float | None = 0.3,
        label_smoothing: float = 0.0,
        input_size: tuple[int, int] = (224, 224),
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1 (the training identities), got {num_classes}")
        if embed_dim < 4 or embed_dim % 4:
            raise ValueError(f"embed_dim must be a positive multiple of 4, got {embed_dim}")
        if id_weight < 0:
            raise ValueError(f"id_weight must be >= 0, got {id_weight}")
        if triplet_margin is not None and triplet_margin <= 0:
            raise ValueError(f"triplet_margin must be > 0 or None (soft margin), got {triplet_margin}")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {label_smoothing}")
        if len(input_size) != 2 or min(input_size) < 1:
            raise ValueError(f"input_size must be (height, width) with both >= 1, got {input_size}")
        self.backbone = resnet(depth, norm, last_stride)
        channels = self.backbone.out_channels
        proposer_options = {**(proposer_options or {}), "num_parts": num_parts}
        self.part_proposer = PART_PROPOSERS.build(part_proposer, **proposer_options)
        self.part_attention = PartAttention(channels, attention_reduction, attention_temperature)
        self.refine_global = Refine(channels, embed_dim, se_reduction)
        self.refine_part = Refine(channels, embed_dim, se_reduction)
        self.refine_fusion = Refine(2 * channels, 2 * embed_dim, se_reduction)
        self.neck = BNNeck(2 * embed_dim, num_classes)
        self.num_parts = num_parts
        self.id_weight, self.triplet_margin, self.label_smoothing = id_weight, triplet_margin, label_smoothing
        self.feature_dim = 2 * embed_dim
        self.input_size = tuple(input_size)

    def forward(
        self, images: torch.Tensor, part_boxes: torch.Tensor | None = None
    ) -> torch.Tensor | dict[str, torch.Tensor]:
        """``part_boxes``: optional (B, num_parts, 4) detector boxes, (x1, y1, x2, y2) in pixels of
        ``images``, used instead of the proposer."""
        global_map = self.backbone(images)
        parts = self.propose(global_map, images, part_boxes)
        weights = self.part_attention(global_map, parts.masks)
        part_map = part_guided_feature(global_map, parts.masks, weights)
        fusion = self.refine_fusion(torch.cat([global_map, part_map], dim=1)).mean((2, 3))
        fusion, fusion_bn, logits = self.neck(fusion)
        if not self.training:
            return fusion_bn
        return {
            "fusion": fusion,
            "global": self.refine_global(global_map).mean((2, 3)),
            "part": self.refine_part(part_map).mean((2, 3)),
            "logits": logits,
            "part_weights": weights,
            "part_boxes": parts.boxes,
        }

    def propose(
        self, global_map: torch.Tensor, images: torch.Tensor, part_boxes: torch.Tensor | None
    ) -> PartProposals:
        if part_boxes is None:
            return self.part_proposer(global_map, images)
        if part_boxes.shape != (len(images), self.num_parts, 4):
            raise ValueError(
                f"part_boxes must have shape (batch, num_parts, 4) = ({len(images)}, {self.num_parts}, 4), "
                f"got {tuple(part_boxes.shape)}"
            )
        return project_boxes(part_boxes, images.shape[-2:], global_map.shape[-2:])

    def losses(
        self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Eq. 5: lambda L_c on the fusion logits, triplet L_f, L_g, L_p on F~_f, F~_g, F~_p."""
        pids = batch["pids"]
        return {
            "id": self.id_weight * cross_entropy_ls(outputs["logits"], pids, self.label_smoothing),
            "triplet_fusion": batch_hard_triplet(outputs["fusion"], pids, self.triplet_margin),
            "triplet_global": batch_hard_triplet(outputs["global"], pids, self.triplet_margin),
            "triplet_part": batch_hard_triplet(outputs["part"], pids, self.triplet_margin),
        }
