"""Part proposers for PGAN's Part Extraction Module (Zhang et al., Sec. 3.2): top-D part boxes
and their binary masks on the feature map (Eq. 1).

The paper takes the D most confident boxes of an SSD detector trained on 16 vehicle-part
attributes (Appendix A.1) and ignores their labels. No vehicle-part detector exists in this
project, so the registered proposer, ``"activation-peaks"``, needs no labels: it places boxes at
the peaks of the backbone's own activation. To use a detector instead, either

- subclass :class:`PartProposer`, run the detector on ``images`` in ``forward``, keep its D most
  confident boxes (image pixels) and return ``project_boxes(boxes, images.shape[-2:], features.shape[-2:])``,
  and register it in :data:`PART_PROPOSERS`; or
- give precomputed boxes to the model, ``model(images, part_boxes=boxes)`` (the paper ran its
  detector offline, once per image), which projects them the same way.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from mtmc.registry import Registry


class PartProposals(NamedTuple):
    """``boxes``: (B, D, 4) long, (x1, y1, x2, y2) in feature-map cells, x2 and y2 exclusive;
    ``masks``: (B, D, H, W) float, 1 inside box i and 0 elsewhere (Eq. 1); every box covers a cell."""

    boxes: torch.Tensor
    masks: torch.Tensor


class PartProposer(nn.Module):
    """(B, C, H, W) feature map and the (B, 3, H_img, W_img) images it came from -> ``num_parts``
    boxes per image."""

    num_parts: int

    def forward(self, features: torch.Tensor, images: torch.Tensor) -> PartProposals:
        raise NotImplementedError


PART_PROPOSERS: Registry[PartProposer] = Registry("part proposer")


def boxes_to_masks(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, D, 4) cell boxes -> (B, D, height, width) binary masks (Eq. 1)."""
    rows = torch.arange(height, device=boxes.device)[:, None]
    cols = torch.arange(width, device=boxes.device)[None, :]
    x1, y1, x2, y2 = (boxes[..., k, None, None] for k in range(4))
    inside = (cols >= x1) & (cols < x2) & (rows >= y1) & (rows < y2)
    return inside.float()


def project_boxes(
    boxes: torch.Tensor, image_size: tuple[int, int], feature_size: tuple[int, int]
) -> PartProposals:
    """(B, D, 4) boxes (x1, y1, x2, y2) in image pixels -> the feature cells they overlap.

    Sec. 3.2: the part locations follow the network's stride and input size, and every A_i is
    forced inside H x W; a box outside the image or thinner than a cell keeps its nearest cell.
    """
    image_h, image_w = image_size
    height, width = feature_size
    scale = boxes.new_tensor([width / image_w, height / image_h, width / image_w, height / image_h])
    cells = boxes.float() * scale
    limit = boxes.new_tensor([width, height]).long()
    start = cells[..., :2].floor().long().clamp(min=0)
    start = torch.minimum(start, limit - 1)
    end = torch.maximum(cells[..., 2:].ceil().long(), start + 1)
    end = torch.minimum(end, limit)
    cell_boxes = torch.cat([start, end], dim=-1)
    return PartProposals(cell_boxes, boxes_to_masks(cell_boxes, height, width))


def fixed_size_boxes(height: int, width: int, box_size: torch.Tensor) -> torch.Tensor:
    """(H * W, 4) box of ``box_size`` = (h, w) cells around each cell (row-major), shifted inside the map."""
    device = box_size.device
    rows, cols = torch.meshgrid(
        torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij"
    )
    centres = torch.stack([cols.flatten(), rows.flatten()], dim=1)
    box_wh = box_size.flip(0)
    last_top_left = torch.stack([width - box_wh[0], height - box_wh[1]])
    top_left = torch.minimum((centres - box_wh // 2).clamp(min=0), last_top_left)
    return torch.cat([top_left, top_left + box_wh], dim=1)


def box_iou(boxes: torch.Tensor) -> torch.Tensor:
    """(N, 4) -> (N, N) intersection over union of cell boxes."""
    top_left = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    bottom_right = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    intersection = (bottom_right - top_left).clamp(min=0).prod(-1).float()
    area = (boxes[:, 2:] - boxes[:, :2]).prod(-1).float()
    return intersection / (area[:, None] + area[None, :] - intersection)


@PART_PROPOSERS.register("activation-peaks")
class ActivationPeaks(PartProposer):
    """Label-free stand-in for the paper's part detector: the top-D peaks of the channel-summed
    activation of the feature map, greedy non-maximum suppression, a fixed-size box at each peak.

    Like the detector's output (Sec. 3.2) the ranking is by "confidence" (here the activation at
    the peak) and D is fixed. A candidate box is dropped once it overlaps a chosen box by more than
    ``nms_iou``; when suppression leaves fewer than D, the best remaining peaks are taken anyway
    (the paper also notes its D boxes often cover each other, App. A.2). Boxes are
    ``round(box_fraction * H) x round(box_fraction * W)`` cells (at least one), kept inside the map.
    The selection is not differentiable and uses the detached map.
    """

    def __init__(self, num_parts: int = 8, box_fraction: float = 0.2, nms_iou: float = 0.3) -> None:
        super().__init__()
        if num_parts < 1:
            raise ValueError(f"num_parts must be >= 1, got {num_parts}")
        if not 0 < box_fraction <= 1:
            raise ValueError(f"box_fraction must lie in (0, 1], got {box_fraction}")
        if not 0 <= nms_iou < 1:
            raise ValueError(f"nms_iou must lie in [0, 1), got {nms_iou}")
        self.num_parts, self.box_fraction, self.nms_iou = num_parts, box_fraction, nms_iou

    def box_size(self, height: int, width: int) -> torch.Tensor:
        """(h, w) of the boxes in cells; tensor arithmetic so that an ONNX export keeps H, W dynamic."""
        traced = isinstance(height, torch.Tensor)  # while traced for ONNX: keep the sizes symbolic
        map_size = torch.stack([height, width]) if traced else torch.tensor([height, width])
        return (map_size * self.box_fraction).round().clamp(min=1).long()

    def forward(self, features: torch.Tensor, images: torch.Tensor) -> PartProposals:
        height, width = features.shape[-2:]
        candidates = fixed_size_boxes(height, width, self.box_size(height, width).to(features.device))
        overlaps = box_iou(candidates) > self.nms_iou
        saliency = features.detach().sum(1).flatten(1)
        available = torch.ones_like(saliency, dtype=torch.bool)
        chosen = torch.zeros_like(available)
        picks = []
        for _ in range(self.num_parts):
            best_available = saliency.masked_fill(~available, float("-inf")).max(1)
            best_unchosen = saliency.masked_fill(chosen, float("-inf")).max(1)
            pick = torch.where(
                available.any(1),
                best_available.indices,
                torch.where(chosen.all(1), saliency.argmax(1), best_unchosen.indices),
            )
            available = available & ~overlaps[pick]
            chosen = chosen | (torch.arange(saliency.shape[1], device=pick.device) == pick[:, None])
            picks.append(pick)
        boxes = candidates[torch.stack(picks, dim=1)]
        return PartProposals(boxes, boxes_to_masks(boxes, height, width))
