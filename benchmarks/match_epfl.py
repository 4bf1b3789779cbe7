"""Cross-camera association accuracy on EPFL Laboratory 6p ground truth, without appearance (issue 9a).

Each camera's VATIC ground truth is cut into single-camera tracks as a tracker might give them:
broken at visibility gaps and into pieces of at most 200 frames, with scrambled local ids. Then
``mtmc match configs/epfl-laboratory.yaml --tracks DIR -o OUT`` associates them by geometry and
time only, and the AI City protocol (evaluate_aicity; GT ids = EPFL's global ids) scores it.
Baseline: the scrambled local ids used as global ids (no association).

    .venv/bin/python benchmarks/match_epfl.py [--data ../shared/data/epfl-laboratory] [--keep DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtmc.formats import read_aicity, read_vatic, write_mot  # noqa: E402
from mtmc.metrics.aicity import evaluate_aicity  # noqa: E402
from mtmc.types import TrackRows  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "epfl-laboratory"
CONFIG = ROOT / "configs" / "epfl-laboratory.yaml"
CAMERAS = 4


def ground_truth(data: Path = DATA) -> TrackRows:
    """All cameras' GT as AI City rows: camera 1..4 for laboratory6-c0..c3, ids EPFL's + 1."""
    parts = []
    for k in range(CAMERAS):
        rows = read_vatic(data / f"laboratory6-c{k}" / "gt" / "gt.txt", camera=k + 1)
        parts.append(TrackRows(frame=rows.frame, id=rows.id + 1, xywh=rows.xywh, camera=rows.camera))
    return TrackRows.concat(parts)


def cut_tracks(gt: TrackRows, max_len: int = 200, seed: int = 0) -> dict[int, TrackRows]:
    """Per camera: GT tracks broken at gaps and every ``max_len`` frames, with scrambled local ids."""
    rng = np.random.default_rng(seed)
    out = {}
    for camera in np.unique(gt.camera).tolist():
        rows = gt.take(gt.camera == camera)
        piece = np.zeros(len(rows), np.int64)
        count = 0
        for identity in np.unique(rows.id).tolist():
            index = np.nonzero(rows.id == identity)[0]
            index = index[np.argsort(rows.frame[index], kind="stable")]
            frames = rows.frame[index]
            new = np.ones(len(index), bool)
            new[1:] = np.diff(frames) > 1
            segment = np.cumsum(new) - 1
            for s in np.unique(segment).tolist():
                part = index[segment == s]
                local = np.arange(len(part)) // max_len
                piece[part] = count + local
                count += int(local.max()) + 1
        scrambled = rng.permutation(count) + 1
        out[camera] = TrackRows(frame=rows.frame, id=scrambled[piece], xywh=rows.xywh, camera=rows.camera)
    return out


def write_tracks(tracks: dict[int, TrackRows], directory: Path) -> None:
    for camera, rows in tracks.items():
        write_mot(directory / f"c{camera:03d}.txt", rows)


def idf1(gt: TrackRows, pred: TrackRows) -> float:
    return float(evaluate_aicity(gt, pred).overall.metrics()["idf1"])


def run(data: Path = DATA, work: Path | None = None, quiet: bool = True, config: Path = CONFIG) -> dict[str, float]:
    from mtmc.cli import main

    gt = ground_truth(data)
    tracks = cut_tracks(gt)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(work) if work else Path(tmp)
        write_tracks(tracks, base / "tracks")
        started = time.perf_counter()
        argv = ["match", str(config), "--tracks", str(base / "tracks"), "-o", str(base / "submission.txt")]
        code = main(argv + (["-q"] if quiet else []))
        if code != 0:
            raise SystemExit(code)
        seconds = time.perf_counter() - started
        pred = read_aicity(base / "submission.txt")
    baseline = TrackRows.concat(list(tracks.values()))
    return {
        "idf1": idf1(gt, pred),
        "baseline_idf1": idf1(gt, baseline),
        "tracklets": sum(len(np.unique(r.id)) for r in tracks.values()),
        "match_s": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--keep", type=Path, help="write tracks/ and submission.txt here")
    parser.add_argument("--config", type=Path, default=CONFIG, help="a variant of configs/epfl-laboratory.yaml (its cues)")
    args = parser.parse_args()
    result = run(args.data, args.keep, config=args.config)
    print(
        f"EPFL laboratory, {result['tracklets']} tracklets: IDF1 {result['idf1']:.4f} "
        f"(baseline, local ids as global: {result['baseline_idf1']:.4f}); match {result['match_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
