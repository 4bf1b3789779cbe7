"""Optimal one-to-one assignment on sparse bipartite graphs, solved piece by piece.

Only edges that compete need solving. An edge whose two ends touch no other edge is always
chosen; a connected piece whose edges all share one end (a star) takes its best edge; only the
remaining tangled pieces go to scipy's ``linear_sum_assignment`` as small dense matrices.
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
    Groups are small and many, so local numbering uses dicts rather than ``np.unique``.
    """
    row_of: dict[int, int] = {}
    col_of: dict[int, int] = {}
    r = [row_of.setdefault(x, len(row_of)) for x in rows.tolist()]
    c = [col_of.setdefault(x, len(col_of)) for x in cols.tolist()]
    shape = (len(row_of), len(col_of))
    if maximize:
        matrix = np.zeros(shape)
    else:
        # An absent edge costs more than any full set of real edges: cardinality comes first.
        matrix = np.full(shape, 2 * min(shape) * (np.abs(weight).max() + 1) + 1)
    matrix[r, c] = weight
    edge_at = {(i, j): e for e, (i, j) in enumerate(zip(r, c))}
    chosen_r, chosen_c = linear_sum_assignment(matrix, maximize=maximize)
    chosen = [edge_at.get(key) for key in zip(chosen_r.tolist(), chosen_c.tolist())]
    return np.array([e for e in chosen if e is not None], np.int64)


def optimal_assignment(rows: np.ndarray, cols: np.ndarray, weight: np.ndarray, maximize: bool) -> np.ndarray:
    """Mask of the edges in an optimal one-to-one assignment (see ``solve_dense`` for the goal)."""
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
    order = np.lexsort((-weight[stars] if maximize else weight[stars], star_piece))
    starts, _ = group_bounds(star_piece[order])
    chosen[stars[order][starts]] = True
    tangled = todo[~star]
    by_piece = np.argsort(piece[~star], kind="stable")
    tangled, tangled_piece = tangled[by_piece], piece[~star][by_piece]
    for start, stop in zip(*(b.tolist() for b in group_bounds(tangled_piece))):
        edges = tangled[start:stop]
        chosen[edges[solve_dense(rows[edges], cols[edges], weight[edges], maximize)]] = True
    return chosen


def max_weight_total(rows: np.ndarray, cols: np.ndarray, weight: np.ndarray) -> float:
    """Largest total weight of a one-to-one assignment over a sparse bipartite graph."""
    return float(weight[optimal_assignment(rows, cols, weight, maximize=True)].sum())
