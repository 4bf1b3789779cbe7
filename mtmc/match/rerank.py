"""k-reciprocal re-ranking (Zhong, Zheng, Cao, Li: "Re-ranking Person Re-identification with
k-reciprocal Encoding", CVPR 2017) of a square distance matrix, e.g. between tracklets.

Follows the authors' reference code with query = gallery = all items: original distances are
scaled by their column maxima, each item gets a k-reciprocal set R*(i, k1) (expanded by the
1/2 k1-reciprocal sets of its members that share more than 2/3 with it), encoded as a vector
V_i of Gaussian-kernel weights exp(-d); V is averaged over the k2 nearest neighbours (local
query expansion), and the Jaccard distance 1 - sum(min(V_i, V_j)) / sum(max(V_i, V_j)) is
blended with the original: d* = (1 - lambda) d_J + lambda d.
"""

from __future__ import annotations

import numpy as np


def k_reciprocal(rank: np.ndarray, i: int, k: int) -> np.ndarray:
    """Items among i's k nearest (itself included) that have i among their k nearest."""
    forward = rank[i, : k + 1]
    backward = rank[forward, : k + 1]
    return forward[np.any(backward == i, axis=1)]


def rerank(dist: np.ndarray, k1: int = 20, k2: int = 6, lambda_: float = 0.3) -> np.ndarray:
    """The re-ranked (N, N) distance; ``k1``, ``k2`` are clipped to N - 1."""
    dist = np.asarray(dist, np.float64)
    n = len(dist)
    if n < 2:
        return dist.copy()
    k1 = max(1, min(k1, n - 1))
    k2 = max(1, min(k2, n))
    scale = dist.max(axis=0)
    original = (dist / np.where(scale > 0, scale, 1.0)).T  # as the reference code: column maxima, transposed
    rank = np.argsort(original, axis=1, kind="stable")
    half = int(np.around(k1 / 2))
    v = np.zeros((n, n))
    for i in range(n):
        reciprocal = k_reciprocal(rank, i, k1)
        expansion = reciprocal
        for j in reciprocal:
            candidate = k_reciprocal(rank, int(j), half)
            if len(np.intersect1d(candidate, reciprocal)) > 2 / 3 * len(candidate):
                expansion = np.append(expansion, candidate)
        expansion = np.unique(expansion)
        weight = np.exp(-original[i, expansion])
        v[i, expansion] = weight / weight.sum()
    if k2 > 1:
        v = v[rank[:, :k2]].mean(axis=1)
    overlap = np.stack([np.minimum(v[i], v).sum(axis=1) for i in range(n)])
    jaccard = 1.0 - overlap / (2.0 - overlap)
    return jaccard * (1 - lambda_) + original * lambda_
