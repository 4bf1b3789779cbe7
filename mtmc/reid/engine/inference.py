"""Features of a split's images and the query / gallery evaluation of one model or an ensemble
(fast-reid's ``inference_on_dataset`` + ``ReidEvaluator``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from mtmc.errors import MtmcError
from mtmc.reid.data import ReidImageDataset, ReidSample, ReidSplits, collate_batch, test_transforms
from mtmc.reid.evaluation import RerankConfig, evaluate


@torch.inference_mode()
def extract_features(
    model: nn.Module,
    samples: Sequence[ReidSample],
    size: tuple[int, int],
    *,
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
) -> np.ndarray:
    """(N, feature_dim) float32 inference features (eval mode, not normalised) of ``samples``
    resized to ``size`` (H, W). The loader draws from its own generator, so extracting features
    leaves the global random state, and thus a training run, untouched."""
    loader = DataLoader(
        ReidImageDataset(samples, test_transforms(size)),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate_batch,
        generator=torch.Generator(),
    )
    model.eval()
    features = [model(batch["images"].to(device)).float().cpu() for batch in loader]
    return torch.cat(features).numpy() if features else np.zeros((0, 0), np.float32)


def require_test_split(splits: ReidSplits) -> None:
    """One error when ``splits`` cannot give a local mAP."""
    if not splits.query or not splits.gallery:
        raise MtmcError(f"{splits.name} ({splits.root}) has no query / gallery split to evaluate on")
    if not splits.test_labelled:
        raise MtmcError(
            f"{splits.name} ({splits.root}): the query / gallery identities are not public, so no local mAP"
        )


def evaluate_on_splits(
    splits: ReidSplits,
    query_features: Sequence[np.ndarray],
    gallery_features: Sequence[np.ndarray],
    *,
    rerank: RerankConfig | None = None,
    average_tracks: bool = False,
) -> dict[str, float]:
    """mAP / CMC of one model's features (lists of one) or an ensemble's (001 §3.3: the models'
    distance matrices averaged), with the dataset's gallery tracks when it has them (VeRi's
    image-to-track protocol; ``average_tracks``: 001 §3.4.2 distance averaging by track)."""
    require_test_split(splits)
    tracks = np.array([sample.track for sample in splits.gallery], np.int64)
    has_tracks = bool((tracks >= 0).any())
    if average_tracks and not has_tracks:
        raise MtmcError(
            f"{splits.name}: the gallery has no track labels, so distances cannot be averaged by track"
        )

    def column(samples: Sequence[ReidSample], field: str) -> np.ndarray:
        return np.array([getattr(sample, field) for sample in samples], np.int64)

    return evaluate(
        list(query_features),
        list(gallery_features),
        column(splits.query, "pid"),
        column(splits.gallery, "pid"),
        column(splits.query, "camid"),
        column(splits.gallery, "camid"),
        gallery_tracks=tracks if has_tracks else None,
        rerank=rerank,
        average_tracks=average_tracks,
    )
