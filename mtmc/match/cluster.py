"""Constrained agglomerative clustering of tracklets into identities.

Start from singletons; repeatedly merge the two closest clusters while their linkage distance is
at most ``threshold``. The linkage of two clusters is the average (or the maximum: complete) of
the pair distances that are defined (not nan); clusters with no defined pair are never merged
directly, only through others. A merge that would put a cannot-link pair in one cluster is
refused. Ties break toward the lower index, so the result is deterministic.
"""

from __future__ import annotations

from typing import Literal

import numpy as np


def constrained_agglomerative(
    dist: np.ndarray,
    cannot: np.ndarray | None = None,
    threshold: float = 0.5,
    linkage: Literal["average", "complete"] = "average",
) -> np.ndarray:
    """(N,) cluster labels 0..K-1 (numbered by first member) for an (N, N) distance with nan = unknown."""
    dist = np.asarray(dist, np.float64)
    n = len(dist)
    if n == 0:
        return np.zeros(0, np.int64)
    defined = np.isfinite(dist)
    np.fill_diagonal(defined, False)
    values = np.where(defined, dist, 0.0)
    total = values.copy()  # average: sum of defined distances between clusters
    count = defined.astype(np.float64)  # number of defined pairs between clusters
    worst = np.where(defined, dist, -np.inf)  # complete: largest defined distance
    blocked = np.zeros((n, n), bool) if cannot is None else np.asarray(cannot, bool).copy()
    np.fill_diagonal(blocked, True)
    alive = np.ones(n, bool)
    members = [[i] for i in range(n)]
    while True:
        with np.errstate(invalid="ignore", divide="ignore"):
            link = total / count if linkage == "average" else worst.copy()
        link[(count == 0) | blocked] = np.inf
        link[~alive, :] = np.inf
        link[:, ~alive] = np.inf
        flat = int(np.argmin(link))
        a, b = divmod(flat, n)
        if not np.isfinite(link[a, b]) or link[a, b] > threshold:
            break
        a, b = min(a, b), max(a, b)
        total[a] += total[b]
        total[:, a] = total[a]
        count[a] += count[b]
        count[:, a] = count[a]
        worst[a] = np.maximum(worst[a], worst[b])
        worst[:, a] = worst[a]
        blocked[a] |= blocked[b]
        blocked[:, a] = blocked[a]
        blocked[a, a] = True
        alive[b] = False
        members[a].extend(members[b])
        members[b] = []
    labels = np.empty(n, np.int64)
    for label, group in enumerate(sorted((sorted(m) for m in members if m), key=lambda m: m[0])):
        labels[group] = label
    return labels
