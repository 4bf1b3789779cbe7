"""AttributeNet's own losses (Quispe et al., Sec. 3.2): the attribute-based triplet on attribute
patterns, and the Amelioration Constraint (Eq. 11-12), which asks the attribute-compensated feature
j(I) to be more discriminative than the plain re-id feature f(I) of the same images.

Eq. 13 (which of them train in each of the two steps) is the model's business: see
``meta_arch/anet.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from mtmc.reid.modeling.losses.triplet import batch_hard_triplet, pairwise_euclidean


def attribute_patterns(labels: Sequence[torch.Tensor], num_classes: Sequence[int]) -> torch.Tensor:
    """(B,) pattern id per image: one id per combination of attribute classes (the prod_i m_i
    "attribute patterns" of Sec. 3.2), in mixed radix ``((c_1 * m_2 + c_2) * m_3 + c_3) ...``;
    -1 where any of the image's attributes is unknown (-1)."""
    if len(labels) != len(num_classes) or not labels:
        raise ValueError(
            f"need one class count per attribute, got {len(labels)} labels and {len(num_classes)} counts"
        )
    pattern = torch.zeros_like(labels[0])
    known = torch.ones_like(labels[0], dtype=torch.bool)
    for label, classes in zip(labels, num_classes):
        pattern = pattern * classes + label.clamp_min(0)
        known &= label >= 0
    return torch.where(known, pattern, torch.full_like(pattern, -1))


def attribute_pattern_triplet(
    attribute_features: torch.Tensor, patterns: torch.Tensor, margin: float | None = 0.3
) -> torch.Tensor:
    """L_tri^g (Sec. 3.2): batch-hard triplet on g(I) = GAP(G(I)) that pulls together images of the
    same attribute pattern and pushes apart different ones. Images with an unknown pattern (-1) take
    no part: Sec. 4.2 does not back-propagate attribute losses for unlabelled images."""
    known = patterns >= 0
    return batch_hard_triplet(attribute_features[known], patterns[known], margin)


def amelioration_id(
    logits_j: torch.Tensor, logits_f: torch.Tensor, pids: torch.Tensor, epsilon: float = 0.1
) -> torch.Tensor:
    """AC_ID (Eq. 11): mean over images of softplus(L_ID^j(I) - L_ID^f(I)), where L_ID is each
    image's own label-smoothed cross-entropy (the ID loss of Sec. 4.2); lower when j classifies the
    image better than f does."""
    loss_j = F.cross_entropy(logits_j, pids, reduction="none", label_smoothing=epsilon)
    loss_f = F.cross_entropy(logits_f, pids, reduction="none", label_smoothing=epsilon)
    return F.softplus(loss_j - loss_f).mean()


def amelioration_triplet(
    features_j: torch.Tensor, features_f: torch.Tensor, pids: torch.Tensor
) -> torch.Tensor:
    """AC_tri (Eq. 12): mean over anchors I of softplus(D_j(I, I+) - D_f(I, I+)) +
    softplus(D_f(I, I-) - D_j(I, I-)), D Euclidean: j should bring the positive closer and push the
    negative farther than f does. The paper does not say which feature mines I+ and I-; we take the
    batch-hard positive and negative under j, the feature being trained (as L_tri^j mines them).
    Anchors without a positive or a negative in the batch are skipped (0 when none has both)."""
    dist_j = pairwise_euclidean(features_j)
    dist_f = pairwise_euclidean(features_f)
    same = pids[:, None] == pids[None, :]
    eye = torch.eye(len(pids), dtype=torch.bool, device=pids.device)
    positive, negative = same & ~eye, ~same
    usable = positive.any(1) & negative.any(1)
    if not usable.any():
        return (features_j.sum() + features_f.sum()) * 0.0
    hardest_positive = dist_j.masked_fill(~positive, float("-inf")).argmax(1, keepdim=True)
    hardest_negative = dist_j.masked_fill(~negative, float("inf")).argmin(1, keepdim=True)
    closer = dist_j.gather(1, hardest_positive) - dist_f.gather(1, hardest_positive)
    farther = dist_f.gather(1, hardest_negative) - dist_j.gather(1, hardest_negative)
    return (F.softplus(closer) + F.softplus(farther)).squeeze(1)[usable].mean()
