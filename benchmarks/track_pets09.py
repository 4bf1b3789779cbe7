"""mtmc's trackers vs peer trackers on the same YOLOX-Nano detections of PETS09-S2L1.

Detections are computed once (``track_detections.py``, cached under ``benchmarks/.cache/``);
every tracker then runs on exactly those boxes, without appearance embeddings for mtmc's.
Peers run in their own uv environments under ``benchmarks/.envs/`` (``envs.ensure_env``); a
peer that cannot be installed or run is reported and skipped. Each result is scored by mtmc's
evaluator at IoU 0.5 twice: GT rows with confidence 0 dropped (mtmc's and TrackEval's default)
and kept (py-motmetrics' library default, used by the reference numbers in the issue).

    uv run python benchmarks/track_pets09.py            # all trackers
    uv run python benchmarks/track_pets09.py --ours     # mtmc's trackers only (seconds)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from envs import ensure_env  # noqa: E402
from track_detections import (  # noqa: E402
    CACHE_FILE,
    DETECTOR_DEFAULT_SCORE,
    PETS09_DIR,
    CachedDetections,
    pets09_detections,
)

from mtmc.formats import read_mot, write_mot  # noqa: E402
from mtmc.metrics.evaluate import evaluate_sequence  # noqa: E402
from mtmc.track import build_tracker  # noqa: E402
from mtmc.types import TrackRows  # noqa: E402

OUT_DIR = CACHE_FILE.parent / "track-pets09"
WORKER = Path(__file__).resolve().parent / "track_peer_worker.py"
TORCH = ("torch==2.15.0", "torchvision==0.29.2")
# name -> (environment, requirements, lowest detection score the tracker is given)
PEERS: dict[str, tuple[str, tuple[str, ...], float]] = {
    "norfair-iou": ("track-norfair", ("norfair==2.3.0",), DETECTOR_DEFAULT_SCORE),
    "boxmot-bytetrack": ("track-boxmot", ("boxmot==25.0.0", "opencv-python-headless", *TORCH), 0.1),
    "boxmot-ocsort": ("track-boxmot", ("boxmot==25.0.0", "opencv-python-headless", *TORCH), 0.1),
    "boxmot-botsort": ("track-boxmot", ("boxmot==25.0.0", "opencv-python-headless", *TORCH), 0.1),
    "deep-sort-realtime": (
        "track-deep-sort-realtime",
        # its embedder imports pkg_resources, which setuptools 81 removed
        ("deep-sort-realtime==1.3.2", "opencv-python-headless", "setuptools<81", *TORCH),
        DETECTOR_DEFAULT_SCORE,
    ),
}
# mtmc trackers: name -> (registry name, options); the stream's fps is passed to all of them.
OURS: dict[str, tuple[str, dict]] = {
    "mtmc deepsort (faithful)": ("deepsort", {}),
    "mtmc deepsort-byte": ("deepsort-byte", {}),
}


def run_ours(registry_name: str, options: dict, detections: CachedDetections) -> tuple[TrackRows, float]:
    """Tracks of one of mtmc's trackers and its update time per frame (best of 3 runs)."""
    best = float("inf")
    for _ in range(3):
        tracker = build_tracker(registry_name, fps=detections.fps, **options)
        outputs, seconds = [], 0.0
        for index, dets in enumerate(detections.per_frame, start=1):
            start = time.perf_counter()
            out = tracker.update(dets, None, index)
            seconds += time.perf_counter() - start
            outputs.append((index, out))
        best = min(best, seconds / len(detections.per_frame))
    frames = np.concatenate([np.full(len(out), index) for index, out in outputs])
    rows = np.concatenate([out for _, out in outputs])
    xywh = np.column_stack([rows[:, :2], rows[:, 2:4] - rows[:, :2]])
    return TrackRows(frame=frames, id=rows[:, 4], xywh=xywh, score=rows[:, 5]), best


def run_peer(name: str) -> tuple[TrackRows, float] | str:
    """Tracks of a peer and its update time per frame, or why it could not run."""
    env, requirements, min_score = PEERS[name]
    try:
        python = ensure_env(env, requirements)
    except subprocess.CalledProcessError as error:
        return f"install failed: {error}"
    out = OUT_DIR / f"{name}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [
        str(python),
        str(WORKER),
        name,
        str(CACHE_FILE),
        str(min_score),
        str(PETS09_DIR / "img1"),
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return "run failed: " + (done.stderr.strip().splitlines() or ["?"])[-1]
    seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds_per_frame"]
    return read_mot(out), seconds


def scores(gt: TrackRows, pred: TrackRows) -> dict[str, float]:
    metrics = evaluate_sequence(gt, pred, 0.5).metrics()
    return {key: metrics[key] for key in ("idf1", "mota", "hota", "num_switches")}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ours", action="store_true", help="only mtmc's trackers")
    args = parser.parse_args()
    detections = pets09_detections()
    gt_path = PETS09_DIR / "gt" / "gt.txt"
    gt_dropped = read_mot(gt_path, drop_zero_conf=True)
    gt_kept = read_mot(gt_path)
    print(
        f"PETS09-S2L1: {len(detections.per_frame)} frames at {detections.fps:g} fps; YOLOX-Nano person "
        f"detections {detections.seconds_per_frame * 1e3:.1f} ms/frame (timed separately, not below)"
    )
    results: dict[str, tuple[TrackRows, float] | str] = {}
    for label, (registry_name, options) in OURS.items():
        results[label] = run_ours(registry_name, options, detections)
        write_mot(OUT_DIR / f"{registry_name}.txt", results[label][0])
    if not args.ours:
        for name in PEERS:
            results[name] = run_peer(name)
    header = f"{'tracker':28s} | {'IDF1':>6s} {'MOTA':>6s} {'HOTA':>6s} {'IDsw':>5s} | {'IDF1':>6s} {'MOTA':>6s} {'HOTA':>6s} {'IDsw':>5s} | ms/frame"
    print(f"{'':28s} | {'GT conf-0 rows dropped (mtmc)':^27s} | {'GT rows kept (py-motmetrics)':^27s} |")
    print(header)
    print("-" * len(header))
    for label, result in results.items():
        if isinstance(result, str):
            print(f"{label:28s} | {result}")
            continue
        pred, seconds = result
        cells = []
        for gt in (gt_dropped, gt_kept):
            s = scores(gt, pred)
            cells.append(f"{s['idf1']:6.3f} {s['mota']:6.3f} {s['hota']:6.3f} {s['num_switches']:5d}")
        print(f"{label:28s} | {cells[0]} | {cells[1]} | {seconds * 1e3:8.2f}")
    print(
        "mtmc trackers run without embeddings; deep-sort-realtime's time includes its MobileNetV2 embedder "
        "on CPU; boxmot-botsort runs without re-id (no re-id weights offline), with its ECC motion compensation."
    )


if __name__ == "__main__":
    main()
