"""Optimal one-to-one assignment on sparse bipartite graphs, solved piece by piece.

A pair whose two ends share no other edge is always in an optimal assignment, so only the
entangled rest goes to scipy's ``linear_sum_assignment``, one connected piece (or one frame)
at a time, as a small dense matrix.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from mtmc.metrics.pairs import group_bounds, unshared


def solve_dense(rows: np.ndarray, cols: np.ndarray, weight: np.ndarray, maximize: bool) -> np.ndarray:
    """Indices of the chosen edges among one small group of edges.

    Minimising picks the most edges first and the least total weight among those (edges absent
    from the group cannot be chosen); maximising picks the largest total of positive weights.
    """
    r_keys, r = np.unique(rows, return_inverse=True)
    c_keys, c = np.unique(cols, return_inverse=True)
    shape = (len(r_keys), len(c_keys))
    if maximize:
        matrix = np.zeros(shape)
    else:
        # An absent edge costs more than any full set of real edges: cardinality comes first.
        matrix = np.full(shape, 2 * min(shape) * (np.abs(weight).max() + 1) + 1)
    matrix[r, c] = weight
    present = np.full(matrix.shape, -1, np.int64)
    present[r, c] = np.arange(len(rows))
    chosen_r, chosen_c = linear_sum_assignment(matrix, maximize=maximize)
    chosen = present[chosen_r, chosen_c]
    return chosen[chosen >= 0]


def assign_per_group(
    group: np.ndarray, rows: np.ndarray, cols: np.ndarray, weight: np.ndarray, maximize: bool
) -> np.ndarray:
    """Mask of chosen edges; edges are sorted by ``group`` and groups are solved independently."""
    chosen = unshared(rows, cols)
    todo = np.flatnonzero(~chosen)
    starts, stops = group_bounds(group[todo])
    for start, stop in zip(starts.tolist(), stops.tolist()):
        edges = todo[start:stop]
        chosen[edges[solve_dense(rows[edges], cols[edges], weight[edges], maximize)]] = True
    return chosen


def max_weight_total(rows: np.ndarray, cols: np.ndarray, weight: np.ndarray) -> float:
    """Largest total weight of a one-to-one assignment over a sparse bipartite graph."""
    if len(rows) == 0:
        return 0.0
    n_rows = int(rows.max()) + 1
    graph = coo_matrix((np.ones(len(rows)), (rows, n_rows + cols)), shape=(n_rows + int(cols.max()) + 1,) * 2)
    _, piece = connected_components(graph, directed=False)
    edge_piece = piece[rows]
    order = np.argsort(edge_piece, kind="stable")
    chosen = assign_per_group(edge_piece[order], rows[order], cols[order], weight[order], maximize=True)
    return float(weight[order][chosen].sum())
