"""Batch-hard triplet loss (Hermans, Beyer, Leibe 2017): for each anchor, its farthest positive
and nearest negative in the batch, hinge with a margin."""

from __future__ import annotations

import torch


def pairwise_euclidean(features: torch.Tensor) -> torch.Tensor:
    """(B, B) Euclidean distances, with a floor inside the root so the gradient at 0 stays finite."""
    square = (features * features).sum(1)
    d2 = square[:, None] + square[None, :] - 2 * features @ features.T
    return d2.clamp_min(1e-12).sqrt()


def batch_hard_triplet(
    features: torch.Tensor, pids: torch.Tensor, margin: float | None = 0.3, camids: torch.Tensor | None = None
) -> torch.Tensor:
    """mean over anchors of max(0, d(a, hardest p) - d(a, hardest n) + margin); ``margin=None``:
    the soft margin log(1 + exp(d_p - d_n)). Anchors without a positive or a negative are skipped
    (0 when none has both). With ``camids``, negatives come only from the anchor's own camera (for
    labels that say "different" only within a camera); positives from any."""
    dist = pairwise_euclidean(features)
    same = pids[:, None] == pids[None, :]
    eye = torch.eye(len(pids), dtype=torch.bool, device=pids.device)
    positive = same & ~eye
    negative = ~same
    if camids is not None:
        negative &= camids[:, None] == camids[None, :]
    usable = positive.any(1) & negative.any(1)
    if not usable.any():
        return features.sum() * 0.0
    hardest_positive = dist.masked_fill(~positive, float("-inf")).max(1).values[usable]
    hardest_negative = dist.masked_fill(~negative, float("inf")).min(1).values[usable]
    gap = hardest_positive - hardest_negative
    if margin is None:
        return torch.nn.functional.softplus(gap).mean()
    return (gap + margin).clamp_min(0).mean()
