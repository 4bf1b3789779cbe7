"""Nearest identities by appearance: each global identity's track-averaged feature, searched exactly.

An identity is represented by one vector, the mean of its sightings' features weighted by how many
frames each track averaged (``feature_count``), L2-normalised: a long, well-seen track counts for
more than a glimpse. A query is answered by an exact inner-product scan (cosine similarity of unit
rows) with a partial sort for the top k: at 100,000 identities of 1280 dimensions the scan is
bound by memory bandwidth (~0.5 GB of float32): plain numpy answers in ~17 ms on 2 idle cores
(~55 ms on busy ones), faster than faiss-cpu's exact ``IndexFlatIP`` on the same data, so no index
library is needed (docs/search.md "Search by picture"; ``benchmarks/search_index.py`` measures it against
a brute-force scan).
"""

from __future__ import annotations

import numpy as np


def _row_norms(matrix: np.ndarray) -> np.ndarray:
    """(N, 1) row lengths without an (N, D) temporary (np.linalg.norm makes one: 18x slower here)."""
    return np.sqrt(np.einsum("ij,ij->i", matrix, matrix))[:, None]


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """``matrix`` (float32) with unit rows; normalised in a copy only when some row is not unit
    already (at 100,000 x 1280 a copy is half a gigabyte)."""
    norms = _row_norms(matrix)
    if np.allclose(norms, 1.0, atol=1e-5):
        return matrix
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def identity_features(ids: np.ndarray, counts: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sightings' global ids (N,), feature counts (N,) and features (N, D) -> (identity ids (M,)
    ascending, features (M, D) float32 unit rows): each identity's features averaged with the
    feature count as the weight (at least 1). ``features`` is scaled in place when it is float32."""
    ids = np.asarray(ids, np.int64).reshape(-1)
    weighted = np.asarray(features, np.float32)
    if weighted.ndim != 2 or not len(weighted) == len(ids) == len(counts):
        raise ValueError(f"need ids (N,), counts (N,) and features (N, D), got {len(ids)}, {len(counts)}, {weighted.shape}")
    unique, which = np.unique(ids, return_inverse=True)
    weighted *= np.maximum(np.asarray(counts, np.float32), 1)[:, None]
    if len(unique) == len(weighted):  # one sighting each: a reorder, no sums
        sums = np.empty_like(weighted)
        sums[which] = weighted
    else:
        sums = np.zeros((len(unique), weighted.shape[1]), np.float32)
        np.add.at(sums, which, weighted)
    del weighted
    sums /= np.maximum(_row_norms(sums), 1e-12)
    return unique, sums


class IdentityIndex:
    """``search(query, k) -> (ids, distances)``: the k identities nearest ``query`` by cosine distance
    (1 - cosine similarity, 0 = the same direction), nearest first; ties go to the smaller id."""

    def __init__(self, ids: np.ndarray, features: np.ndarray) -> None:
        ids = np.asarray(ids, np.int64).reshape(-1)
        features = np.asarray(features, np.float32)
        if features.ndim != 2 or len(features) != len(ids):
            raise ValueError(f"need ids (N,) and features (N, D), got {ids.shape} and {features.shape}")
        if len(ids) > 1 and not np.all(ids[1:] > ids[:-1]):
            order = np.argsort(ids, kind="stable")  # ascending ids: ties at equal scores go by id
            ids, features = ids[order], features[order]
        self.ids = ids
        self.features = np.ascontiguousarray(_unit_rows(features))

    @classmethod
    def from_store(cls, store) -> IdentityIndex:
        """Every decided identity of a ``SightingStore`` (its sightings' track-averaged features)."""
        return cls(*identity_features(*store.features()))

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids (m,), distances (m,) float32), m = min(k, len(self)); ``query`` (D,) need not be unit."""
        query = np.asarray(query, np.float32).reshape(-1)
        if query.size != self.dim:
            raise ValueError(f"a {query.size}-d query for an index of {self.dim}-d features")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        norm = float(np.linalg.norm(query))
        if not np.isfinite(norm) or norm == 0:
            raise ValueError("the query feature is zero or not finite")
        scores = self.features @ (query / norm)
        m = min(k, len(scores))
        if m == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if m < len(scores):
            kth = scores[np.argpartition(-scores, m - 1)[m - 1]]
            top = np.flatnonzero(scores >= kth)  # every tie at the cut, so the smaller ids win it
        else:
            top = np.arange(len(scores))
        top = top[np.lexsort((top, -scores[top]))][:m]  # best first, then by position (= by id)
        return self.ids[top], (1.0 - scores[top]).astype(np.float32)
