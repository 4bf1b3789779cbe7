"""k-reciprocal re-ranking (Zhong, Zheng, Cao, Li: "Re-ranking Person Re-identification with
k-reciprocal Encoding", CVPR 2017): one implementation for the matcher (a square distance between
tracklets, ``rerank``) and re-id evaluation (query rows of the query + gallery distance, ``rerank_rows``).

Follows the authors' reference code: original distances are scaled by their column maxima and
transposed, each item gets a k-reciprocal set R*(i, k1) (expanded by the 1/2 k1-reciprocal sets of
its members that share more than 2/3 with it), encoded as a vector V_i of Gaussian-kernel weights
exp(-d) normalised to sum 1; V is averaged over the k2 nearest neighbours (local query expansion),
and the Jaccard distance 1 - sum(min(V_i, V_j)) / sum(max(V_i, V_j)) is blended with the original:
d* = (1 - lambda) d_J + lambda d. V is sparse (as the reference's inverted index), so the Jaccard
step costs the overlap of the encodings, not N^2 per row.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

ROW_BLOCK_ELEMENTS = 1 << 22  # rows argsorted at a time: bounds the sort's scratch memory


def nearest(original: np.ndarray, count: int) -> np.ndarray:
    """(N, count) indices of each row's nearest items; ties in index order (a stable sort)."""
    n = len(original)
    block = max(1, ROW_BLOCK_ELEMENTS // max(n, 1))
    parts = [
        np.argsort(original[s : s + block], axis=1, kind="stable")[:, :count] for s in range(0, n, block)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, count), np.int64)


def k_reciprocal(rank: np.ndarray, i: int, k: int) -> np.ndarray:
    """Items among i's k nearest (itself included) that have i among their k nearest."""
    forward = rank[i, : k + 1]
    backward = rank[forward, : k + 1]
    return forward[np.any(backward == i, axis=1)]


def k_reciprocal_encoding(original: np.ndarray, k1: int, k2: int) -> csr_matrix:
    """(N, N) sparse V: row i holds exp(-d) weights on the expanded R*(i, k1), summing to 1,
    then averaged over i's k2 nearest rows (local query expansion) when k2 > 1."""
    n = len(original)
    rank = nearest(original, max(k1 + 1, k2))
    half = int(np.around(k1 / 2))
    rows, cols, weights = [], [], []
    for i in range(n):
        reciprocal = k_reciprocal(rank, i, k1)
        expansion = reciprocal
        for j in reciprocal:
            candidate = k_reciprocal(rank, int(j), half)
            if len(np.intersect1d(candidate, reciprocal)) > 2 / 3 * len(candidate):
                expansion = np.append(expansion, candidate)
        expansion = np.unique(expansion)
        weight = np.exp(-original[i, expansion])
        rows.append(np.full(len(expansion), i))
        cols.append(expansion)
        weights.append(weight / weight.sum())
    v = csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    if k2 > 1:
        neighbours = rank[:, :k2]
        mean = csr_matrix(
            (np.full(neighbours.size, 1.0 / k2), (np.repeat(np.arange(n), k2), neighbours.ravel())), (n, n)
        )
        v = (mean @ v).tocsr()
    return v


def jaccard_distance(v: csr_matrix, rows: np.ndarray) -> np.ndarray:
    """(len(rows), N) Jaccard distance 1 - m / (2 - m), m = sum_c min(V_i[c], V_j[c]) (rows of V
    sum to 1, so the union is 2 - m); only items sharing a column with row i are visited."""
    n = v.shape[0]
    columns = v.tocsc()
    out = np.empty((len(rows), n))
    for k, i in enumerate(rows):
        start, end = v.indptr[i], v.indptr[i + 1]
        shared = columns[:, v.indices[start:end]].tocoo()
        mine = v.data[start:end][shared.col]
        overlap = np.bincount(shared.row, weights=np.minimum(shared.data, mine), minlength=n)
        out[k] = 1.0 - overlap / (2.0 - overlap)
    return out


def rerank_rows(
    dist: np.ndarray, rows: np.ndarray, k1: int = 20, k2: int = 6, lambda_: float = 0.3
) -> np.ndarray:
    """The re-ranked distances of ``rows`` to all N items of the square ``dist``, shape (len(rows), N):
    with rows = the queries of a query + gallery matrix this is the reference code's query/gallery
    form. ``k1``, ``k2`` are clipped to N - 1 and N (a no-op on re-id benchmarks)."""
    dist = np.asarray(dist, np.float64)
    rows = np.asarray(rows, np.int64)
    n = len(dist)
    if n < 2:
        return dist[rows].copy()
    k1 = max(1, min(k1, n - 1))
    k2 = max(1, min(k2, n))
    scale = dist.max(axis=0)
    original = (dist / np.where(scale > 0, scale, 1.0)).T  # as the reference code: column maxima, transposed
    v = k_reciprocal_encoding(original, k1, k2)
    return jaccard_distance(v, rows) * (1 - lambda_) + original[rows] * lambda_


def rerank(dist: np.ndarray, k1: int = 20, k2: int = 6, lambda_: float = 0.3) -> np.ndarray:
    """The re-ranked (N, N) distance; ``k1``, ``k2`` are clipped to N - 1."""
    return rerank_rows(dist, np.arange(len(dist)), k1, k2, lambda_)
