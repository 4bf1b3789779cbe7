"""Re-id scored as a run embeds: each labelled image whole as the box, through an
:class:`~mtmc.reid.embedder.Embedder` (its resize, normalisation and L2-normalisation), so the
numbers are the deployed path's, not a training-time evaluation's.

A two-camera set (vehicle-reid-2cam) is scored in both directions (each camera's views as queries
of the other's) and their mean; any other labelled set on its own query / gallery split. With the
retrieval, the recolour AUC (:mod:`.recolour`) on vehicles whose query and gallery views are both
there. ``benchmarks/reid_2cam.py``, ``benchmarks/reid_cv.py`` and ``mtmc reid adapt``'s check read
these, so a number means one thing wherever it is printed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtmc.reid.evaluation.evaluator import evaluate
from mtmc.reid.evaluation.recolour import recolour_auc

if TYPE_CHECKING:
    from mtmc.reid.data import ReidSplits
    from mtmc.reid.embedder import Embedder

DIRECTIONS = ((1, "cam1->cam2"), (2, "cam2->cam1"))  # query camera (1-based), name


def bgr_image(path: Path) -> np.ndarray:
    """An image file as an HxWx3 uint8 BGR array, decoded as training decodes it."""
    from mtmc.reid.data.image_dataset import read_image

    return read_image(path).permute(1, 2, 0).numpy()[:, :, ::-1].copy()


def whole_images(embedder: Embedder) -> Callable[[list[np.ndarray]], np.ndarray]:
    """``embed(crops) -> (N, D)``: each crop whole as the box a detector would have given."""

    def embed(crops: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([embedder.embed(c, np.array([[0, 0, c.shape[1], c.shape[0]]], np.float32)) for c in crops])

    return embed


def embed_paths(embedder: Embedder, paths: Sequence[Path]) -> np.ndarray:
    """One unit feature per image file, in order."""
    embed = whole_images(embedder)
    return np.concatenate([embed([bgr_image(path)]) for path in paths])


def retrieval(features: Mapping[Path, np.ndarray], splits: ReidSplits) -> dict[str, float]:
    """mAP and rank-1 of one query / gallery split, from each image's feature."""

    def column(samples: Sequence[Any], field: str) -> np.ndarray:
        return np.array([getattr(s, field) for s in samples], np.int64)

    result = evaluate(
        np.stack([features[s.path] for s in splits.query]),
        np.stack([features[s.path] for s in splits.gallery]),
        column(splits.query, "pid"),
        column(splits.gallery, "pid"),
        column(splits.query, "camid"),
        column(splits.gallery, "camid"),
    )
    return {"mAP": float(result["mAP"]), "rank1": float(result["rank1"])}


def recolour(embedder: Embedder, splits: ReidSplits) -> dict[str, float]:
    """``recolour_auc`` on the vehicles with a query and a gallery view (coloured ones only)."""
    other = {s.pid: s.path for s in splits.gallery}
    pairs = [(bgr_image(s.path), bgr_image(other[s.pid])) for s in splits.query if s.pid in other]
    return recolour_auc(whole_images(embedder), pairs)


def deployed_scores(embedder: Embedder, directions: Mapping[str, ReidSplits]) -> dict[str, Any]:
    """Each direction's mAP / rank-1 (``directions``: name -> splits, e.g. :func:`two_camera_directions`),
    their mean, and the recolour AUC on the first direction's vehicles."""
    paths = sorted({s.path for splits in directions.values() for s in splits.query + splits.gallery})
    features = dict(zip(paths, embed_paths(embedder, paths)))
    result: dict[str, Any] = {name: retrieval(features, splits) for name, splits in directions.items()}
    result["mean"] = {k: float(np.mean([result[name][k] for name in directions])) for k in ("mAP", "rank1")}
    result["recolour"] = recolour(embedder, next(iter(directions.values())))
    return result


def two_camera_directions(root: str | Path, test_list: str, train: str | list[str] | None = None) -> dict[str, ReidSplits]:
    """vehicle-reid-2cam's ``test_list`` vehicles both ways (``cam1->cam2``, ``cam2->cam1``)."""
    from mtmc.reid.data import load_dataset

    options: dict[str, Any] = {"test_list": test_list, "train": [] if train is None else train}
    return {
        name: load_dataset("vehicle-reid-2cam", root, query_camera=camera, **options) for camera, name in DIRECTIONS
    }
