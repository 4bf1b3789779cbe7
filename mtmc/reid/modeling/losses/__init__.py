"""Re-id losses: batch-hard triplet, label-smoothed cross-entropy (and the papers' own, beside them)."""

from mtmc.reid.modeling.losses.cross_entropy import cross_entropy_ls
from mtmc.reid.modeling.losses.triplet import batch_hard_triplet

__all__ = ["batch_hard_triplet", "cross_entropy_ls"]
