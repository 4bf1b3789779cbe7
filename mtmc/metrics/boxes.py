"""Box overlap for paired rows of boxes."""

from __future__ import annotations

import numpy as np


def iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``a[i]`` with ``b[i]`` for (N,4) arrays of (x, y, w, h); 0 where they do not overlap."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.maximum(np.minimum(ax2, bx2) - np.maximum(a[:, 0], b[:, 0]), 0.0)
    ih = np.maximum(np.minimum(ay2, by2) - np.maximum(a[:, 1], b[:, 1]), 0.0)
    inter = iw * ih
    union = (
        np.maximum(a[:, 2], 0) * np.maximum(a[:, 3], 0)
        + np.maximum(b[:, 2], 0) * np.maximum(b[:, 3], 0)
        - inter
    )
    out = np.zeros(len(a))
    np.divide(inter, union, out=out, where=inter > 0)
    return out
