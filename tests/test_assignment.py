"""Sparse piece-by-piece assignment equals one dense scipy assignment."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from mtmc.metrics.assignment import max_weight_assignment, max_weight_total, min_cost_matching


def random_graph(seed: int, n_rows: int = 40, n_cols: int = 40, edges: int = 70):
    rng = np.random.default_rng(seed)
    keys = np.unique(rng.integers(0, n_rows * n_cols, edges))
    rows, cols = keys // n_cols, keys % n_cols
    return rows, cols, rng.uniform(0.01, 1.0, len(keys))


@pytest.mark.parametrize("seed", range(10))
def test_maximum_weight_equals_dense(seed):
    rows, cols, weight = random_graph(seed)
    dense = np.zeros((rows.max() + 1, cols.max() + 1))
    dense[rows, cols] = weight
    r, c = linear_sum_assignment(dense, maximize=True)
    assert max_weight_total(rows, cols, weight) == pytest.approx(dense[r, c].sum(), abs=1e-12)
    chosen = max_weight_assignment(rows, cols, weight)
    assert len(np.unique(rows[chosen])) == chosen.sum() == len(np.unique(cols[chosen]))  # one-to-one


@pytest.mark.parametrize("seed", range(10))
def test_minimum_cost_maximises_cardinality_first(seed):
    rows, cols, cost = random_graph(seed, n_rows=6, n_cols=5, edges=12)
    dense = np.full((rows.max() + 1, cols.max() + 1), 1e6)
    dense[rows, cols] = cost
    r, c = linear_sum_assignment(dense)
    real = dense[r, c] < 1e6
    chosen = min_cost_matching(rows, cols, cost)
    assert len(chosen) == real.sum()
    assert cost[chosen].sum() == pytest.approx(dense[r, c][real].sum(), abs=1e-12)
