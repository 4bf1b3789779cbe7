"""Gallery tracks: VeRi-776's image-to-track protocol and 001's distance averaging by track.

Tracks are given as one integer label per image (VeRi's ``test_track.txt`` lines, AI City's
``test_track.txt``); a negative label puts the image in a track of its own.
"""

from __future__ import annotations

import numpy as np

REDUCTIONS = ("min", "mean")


def track_index(tracks: np.ndarray) -> tuple[np.ndarray, int]:
    """(per-image track index 0..T-1, T), negative labels made singleton tracks."""
    tracks = np.asarray(tracks, np.int64)
    if tracks.ndim != 1:
        raise ValueError(f"tracks must be one label per image, got shape {tracks.shape}")
    alone = tracks < 0
    labels = tracks.copy()
    labels[alone] = tracks.max(initial=0) + 1 + np.arange(alone.sum())
    unique, inverse = np.unique(labels, return_inverse=True)
    return inverse, len(unique)


def reduce_by_track(dist: np.ndarray, tracks: np.ndarray, reduce: str = "min") -> np.ndarray:
    """(Q, T) distance of each row to each track of the columns: the min or mean over its images."""
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {', '.join(map(repr, REDUCTIONS))}, got {reduce!r}")
    dist = np.asarray(dist, np.float64)
    index, count = track_index(tracks)
    if dist.shape[1] != len(index):
        raise ValueError(f"tracks must label the {dist.shape[1]} gallery images, got {len(index)} labels")
    order = np.argsort(index, kind="stable")
    starts = np.searchsorted(index[order], np.arange(count))
    grouped = dist[:, order]
    if reduce == "min":
        return np.minimum.reduceat(grouped, starts, axis=1)
    return np.add.reduceat(grouped, starts, axis=1) / np.bincount(index, minlength=count)


def average_by_track(
    dist: np.ndarray, gallery_tracks: np.ndarray | None = None, query_tracks: np.ndarray | None = None
) -> np.ndarray:
    """001 Sec. 3.4.2 distance averaging by track: each query-gallery distance replaced by the mean
    distance from the query to the gallery image's track (so a track's images rank together); with
    ``query_tracks`` also averaged over the query's track (for query sets cut from tracks)."""
    dist = np.asarray(dist, np.float64)
    if gallery_tracks is not None:
        index, _ = track_index(gallery_tracks)
        dist = reduce_by_track(dist, gallery_tracks, "mean")[:, index]
    if query_tracks is not None:
        index, _ = track_index(query_tracks)
        dist = reduce_by_track(dist.T, query_tracks, "mean")[:, index].T
    return dist


def image_to_track(
    dist: np.ndarray,
    gallery_tracks: np.ndarray,
    gallery_pids: np.ndarray,
    gallery_camids: np.ndarray,
    reduce: str = "min",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """VeRi-776's second protocol: the gallery is its tracks, ranked by the (Q, T) distance of the
    query to a track; returns it with each track's pid and camera. ``reduce="min"``: a track is as
    close as its closest image (VeRi's image-to-track search scores a track by its most similar
    image); ``"mean"``: 001's distance averaging by track. A track must hold one pid and one camera."""
    gallery_pids, gallery_camids = np.asarray(gallery_pids), np.asarray(gallery_camids)
    index, _ = track_index(gallery_tracks)
    if len(index) != len(gallery_pids):
        raise ValueError(
            f"gallery_tracks must label the {len(gallery_pids)} gallery images, got {len(index)} labels"
        )
    _, first = np.unique(index, return_index=True)  # each track's first image
    for name, values in (("identity", gallery_pids), ("camera", gallery_camids)):
        mixed = values != values[first][index]
        if mixed.any():
            bad = np.asarray(gallery_tracks)[np.argmax(mixed)]
            raise ValueError(
                f"track {bad} mixes more than one {name}: a track is one vehicle seen by one camera"
            )
    return reduce_by_track(dist, gallery_tracks, reduce), gallery_pids[first], gallery_camids[first]
