"""The sparse engine equals a dense per-frame restatement of the definitions on random crowds."""

import numpy as np
import pytest

from mtmc.metrics.evaluate import evaluate_sequence
from mtmc.types import TrackRows

import reference_metrics as ref


def crowd(seed: int, frames: int = 30, objects: int = 8):
    """Objects crossing each other in a small area; the prediction jitters, drops, swaps ids."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(0, 60, (objects, 2))
    speed = rng.uniform(-2, 2, (objects, 2))
    size = rng.uniform(15, 30, (objects, 2))
    gt_rows, pred_rows = [], []
    for f in range(1, frames + 1):
        for k in range(objects):
            if rng.random() < 0.1:
                continue
            x, y = start[k] + speed[k] * f
            gt_rows.append((f, k + 1, x, y, *size[k]))
            if rng.random() < 0.85:
                pid = k + 1 + 100 * (f > frames // 2 and k % 3 == 0)  # some ids switch half-way
                jitter = rng.normal(0, 3, 4)
                pred_rows.append((f, pid, x + jitter[0], y + jitter[1], *(size[k] + jitter[2:])))
        for _ in range(rng.integers(0, 3)):
            pred_rows.append(
                (f, 500 + int(rng.integers(0, 4)), *rng.uniform(0, 80, 2), *rng.uniform(15, 30, 2))
            )
    return as_rows(gt_rows), as_rows(pred_rows)


def as_rows(boxes: list[tuple]) -> TrackRows:
    table = np.array(boxes, dtype=float)
    return TrackRows(frame=table[:, 0], id=table[:, 1], xywh=table[:, 2:6])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("min_iou", [0.3, 0.5])
def test_clear_and_identity_equal_reference(seed, min_iou):
    gt, pred = crowd(seed)
    got = evaluate_sequence(gt, pred, min_iou).metrics()
    want = ref.clear_and_identity(gt, pred, min_iou)
    assert got["num_matches"] == want["num_matches"]
    assert got["num_switches"] == want["num_switches"]
    assert got["motp"] == pytest.approx(want["motp"], abs=1e-12)
    assert got["idtp"] == want["idtp"]


@pytest.mark.parametrize("seed", range(6))
def test_hota_equals_reference(seed):
    gt, pred = crowd(seed)
    got = evaluate_sequence(gt, pred).metrics()
    want = ref.hota(gt, pred)
    for key in ("hota", "deta", "assa", "loca"):
        assert got[key] == pytest.approx(want[key], abs=1e-12), key
