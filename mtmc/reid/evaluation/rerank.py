"""k-reciprocal re-ranking of query/gallery distances with metadata (001 Sec. 3.4.1, Eq. 5-7).

Zhong et al.'s reference code in query/gallery form: the original distance is that of all items
(query + gallery) to all, the k-reciprocal encodings are built over all of them, and the Jaccard
distance is computed for the query rows against the gallery columns. 001 adds weighted metadata
distances to the original distance first (Eq. 5): d'(p, g) = d(p, g) + sum_j gamma_j D_j(p, g),
D_j the Euclidean distance between attribute embeddings (colour, type: the attribute classifier's
features before its last fully-connected layer, Sec. 3.2.2); then d* = (1 - lambda) d_J + lambda d'.
The algorithm itself is shared with the matcher (:mod:`mtmc.match.rerank`).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtmc.match.rerank import rerank_rows
from mtmc.reid.evaluation.distances import euclidean_distance


@dataclass(frozen=True)
class RerankConfig:
    """Zhong et al.'s values (k1=20, k2=6, lambda=0.3), which 001 keeps (it gives none of its own)."""

    k1: int = 20
    k2: int = 6
    lambda_: float = 0.3

    def __post_init__(self) -> None:
        if not (isinstance(self.k1, numbers.Integral) and self.k1 >= 1):
            raise ValueError(f"k1 (k-reciprocal neighbours) must be an integer >= 1, got {self.k1!r}")
        if not (isinstance(self.k2, numbers.Integral) and self.k2 >= 1):
            raise ValueError(
                f"k2 (query expansion neighbours; 1 = none) must be an integer >= 1, got {self.k2!r}"
            )
        if not 0 <= self.lambda_ <= 1:
            raise ValueError(
                f"lambda_ (weight of the original distance) must lie in [0, 1], got {self.lambda_!r}"
            )


@dataclass(frozen=True)
class Metadata:
    """One metadata attribute of 001 Eq. 5: query and gallery embeddings (e.g. of colour or type)
    and its weight gamma_j (001 tunes it and gives no value)."""

    query: np.ndarray
    gallery: np.ndarray
    gamma: float
    name: str = ""

    def __post_init__(self) -> None:
        if self.gamma < 0:
            raise ValueError(f"gamma of metadata {self.name!r} must be >= 0, got {self.gamma}")
        query, gallery = np.shape(self.query), np.shape(self.gallery)
        if len(query) != 2 or len(gallery) != 2 or query[1] != gallery[1]:
            raise ValueError(
                f"metadata {self.name!r} must be (Q, D) and (G, D) embeddings, got {query} and {gallery}"
            )


def metadata_distance(metadata: Sequence[Metadata], all_pairs: bool = False) -> np.ndarray:
    """sum_j gamma_j D_j (001 Eq. 5): (Q, G), or (Q + G, Q + G) over query + gallery when ``all_pairs``."""
    if not metadata:
        raise ValueError("metadata_distance needs at least one Metadata")
    total = 0.0
    for item in metadata:
        rows = np.concatenate([item.query, item.gallery]) if all_pairs else item.query
        columns = rows if all_pairs else item.gallery
        total = total + item.gamma * euclidean_distance(rows, columns)
    return total


def k_reciprocal_rerank(
    all_dist: np.ndarray, num_query: int, config: RerankConfig | None = None
) -> np.ndarray:
    """(Q, G) re-ranked distance from the (Q + G, Q + G) original distance of query + gallery (query
    first, metadata distances already added): the square re-ranking's query rows x gallery columns."""
    config = config or RerankConfig()
    all_dist = np.asarray(all_dist, np.float64)
    if all_dist.ndim != 2 or all_dist.shape[0] != all_dist.shape[1] or not 0 < num_query < len(all_dist):
        raise ValueError(
            f"all_dist must be square over query + gallery with 0 < num_query < its size, got {all_dist.shape}, {num_query}"
        )
    return rerank_rows(all_dist, np.arange(num_query), config.k1, config.k2, config.lambda_)[:, num_query:]
