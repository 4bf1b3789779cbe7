"""Cross-entropy with label smoothing (Szegedy et al. 2016; Luo et al.'s re-id "bag of tricks")."""

from __future__ import annotations

import torch


def cross_entropy_ls(logits: torch.Tensor, targets: torch.Tensor, epsilon: float = 0.1) -> torch.Tensor:
    """Mean over the batch of -sum_k q_k log p_k with q = (1 - eps) one-hot + eps / K.
    Rows whose target is negative (unknown label) are ignored (0 when all are)."""
    if not 0 <= epsilon < 1:
        raise ValueError(f"epsilon must lie in [0, 1), got {epsilon}")
    known = targets >= 0
    if not known.any():
        return logits.sum() * 0.0
    logits, targets = logits[known], targets[known]
    log_p = torch.log_softmax(logits, dim=1)
    classes = logits.shape[1]
    q = torch.full_like(log_p, epsilon / classes)
    q.scatter_(1, targets[:, None], 1 - epsilon + epsilon / classes)
    return -(q * log_p).sum(1).mean()
