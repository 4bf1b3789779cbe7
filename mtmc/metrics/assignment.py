"""Optimal one-to-one assignment on sparse bipartite graphs.

For the largest total weight (identity and HOTA matching) only edges that compete need solving. An edge whose two ends touch no other edge is always
chosen; a connected piece whose edges all share one end (a star) takes its best edge. The
tangled rest is solved in one call to scipy's sparse LAPJV (``min_weight_full_bipartite_matching``)
on a graph padded so that leaving a node unmatched is allowed.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, min_weight_full_bipartite_matching

from mtmc.metrics.pairs import group_bounds, unshared


def min_cost_matching(rows: np.ndarray, cols: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Indices of the chosen edges of one small group: the most edges, then the least total cost.

    Groups are small and many (one contested frame each), so local numbering uses dicts rather
    than ``np.unique``; edges absent from the group cost more than any set of real ones.
    """
    row_of: dict[int, int] = {}
    col_of: dict[int, int] = {}
    r = [row_of.setdefault(x, len(row_of)) for x in rows.tolist()]
    c = [col_of.setdefault(x, len(col_of)) for x in cols.tolist()]
    shape = (len(row_of), len(col_of))
    matrix = np.full(shape, 2 * min(shape) * (np.abs(cost).max() + 1) + 1)
    matrix[r, c] = cost
    edge_at = {(i, j): e for e, (i, j) in enumerate(zip(r, c))}
    chosen_r, chosen_c = linear_sum_assignment(matrix)
    chosen = [edge_at.get(key) for key in zip(chosen_r.tolist(), chosen_c.tolist())]
    return np.array([e for e in chosen if e is not None], np.int64)


def max_weight_assignment(rows: np.ndarray, cols: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Mask of the edges of a one-to-one assignment with the largest total (positive) weight."""
    chosen = unshared(rows, cols)
    todo = np.flatnonzero(~chosen)
    if len(todo) == 0:
        return chosen
    row_keys, r = np.unique(rows[todo], return_inverse=True)
    _, c = np.unique(cols[todo], return_inverse=True)
    n_r = len(row_keys)
    size = n_r + int(c.max()) + 1
    graph = coo_matrix((np.ones(len(todo)), (r, n_r + c)), shape=(size, size))
    n_pieces, label = connected_components(graph, directed=False)
    piece = label[r]
    rows_in = np.bincount(label[:n_r], minlength=n_pieces)
    cols_in = np.bincount(label[n_r:], minlength=n_pieces)
    star = ((rows_in == 1) | (cols_in == 1))[piece]
    # A star holds one edge at most: its best.
    stars, star_piece = todo[star], piece[star]
    order = np.lexsort((-weight[stars], star_piece))
    starts, _ = group_bounds(star_piece[order])
    chosen[stars[order][starts]] = True
    # Tangled pieces go to the sparse solver in batches of whole pieces: its cost grows faster
    # than linearly with the graph, so many small calls beat one large one.
    tangled = np.flatnonzero(~star)
    if len(tangled) == 0:
        return chosen
    tangled = tangled[np.argsort(piece[tangled], kind="stable")]
    nodes = (rows_in + cols_in)[piece[tangled]]
    first = np.r_[True, piece[tangled][1:] != piece[tangled][:-1]]
    batch = np.cumsum(np.where(first, nodes, 0)) // BATCH_NODES
    local_r, local_c = _rank_in_batch(batch, r[tangled]), _rank_in_batch(batch, c[tangled])
    for start, stop in zip(*(b.tolist() for b in group_bounds(batch))):
        part = slice(start, stop)
        edges = todo[tangled[part]]
        chosen[edges[_sparse_lapjv(local_r[part], local_c[part], weight[edges])]] = True
    return chosen


BATCH_NODES = 1024


def _rank_in_batch(batch: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Rank of each value among the distinct values of its batch (``batch`` sorted)."""
    span = int(values.max()) + 1
    distinct, rank = np.unique(batch * span + values, return_inverse=True)
    return rank - np.searchsorted(distinct // span, batch, "left")


def _sparse_lapjv(r: np.ndarray, c: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Chosen edges of a maximum-weight matching where nodes may stay unmatched.

    Padding makes a full matching always exist at no gain: row i may take its own spare column
    and column j its own spare row, and the spare row of j may pair with the spare column of i
    whenever (i, j) is an edge. Costs are shifted to stay positive (scipy drops zero weights);
    every full matching has the same size, so the shift does not move the optimum.
    """
    n_rows, n_cols, n_edges = int(r.max()) + 1, int(c.max()) + 1, len(r)
    spare_col = n_cols + np.arange(n_rows)
    spare_row = n_rows + np.arange(n_cols)
    i = np.concatenate([r, np.arange(n_rows), spare_row, spare_row[c]])
    j = np.concatenate([c, spare_col, np.arange(n_cols), spare_col[r]])
    top = float(weight.max()) + 1.0
    cost = np.concatenate([top - weight, np.full(n_rows + n_cols + n_edges, top)])
    size = n_rows + n_cols
    graph = csr_matrix((cost, (i, j)), shape=(size, size))
    _, col_of_row = min_weight_full_bipartite_matching(graph)
    taken = col_of_row[r] == c
    return np.flatnonzero(taken)


def max_weight_total(rows: np.ndarray, cols: np.ndarray, weight: np.ndarray) -> float:
    """Largest total weight of a one-to-one assignment over a sparse bipartite graph."""
    return float(weight[max_weight_assignment(rows, cols, weight)].sum())
