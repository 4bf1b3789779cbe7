"""mtmc's trackers against BoxMOT's on the same PointRCNN boxes of KITTI tracking 0000-0010 (issue 35).

Every tracker gets the same boxes: AB3DMOT's PointRCNN car detections
(``../shared/data/kitti-tracking/det_pointrcnn_car``), their raw scores (logits) mapped by a
sigmoid (the file detector's ``score_map: sigmoid``), motion only (KITTI's images are not here),
10 fps. Results are scored by mtmc's evaluator with the KITTI protocol (``mtmc eval`` on
``label_02``: Car at IoU 0.5, predictions matching a Van or mostly inside DontCare ignored), all
sequences summed as TrackEval and py-motmetrics combine them. Peers (BoxMOT's OC-SORT, ByteTrack
and BoT-SORT without re-id, their defaults) run in their own uv environment
(``envs.ensure_env``, the one ``track_pets09.py`` uses) on blank frames; a peer that cannot be
installed or run is reported and skipped. Ratios are each tracker's score over the best peer's on
that measure. ms/frame: update calls only, best of 3 for mtmc's.

    uv run python benchmarks/track_kitti.py            # all trackers
    uv run python benchmarks/track_kitti.py --ours     # mtmc's trackers only (seconds)
    uv run python benchmarks/track_kitti.py --ablation # plus deepsort-bot with one option changed
    uv run python benchmarks/track_kitti.py --interpolate 1.0  # plus offline gap filling (<= 1 s)

Every row is online (a live worker's output) except those marked "offline": gap interpolation
(``mtmc.track.interpolate``) needs the frames after a gap.
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
from track_pets09 import PEERS as PETS_PEERS  # noqa: E402

from mtmc.formats import read_mot, write_mot  # noqa: E402
from mtmc.formats.kitti import KittiObjects, read_kitti_detections, read_kitti_objects  # noqa: E402
from mtmc.metrics.evaluate import SequenceCounts, evaluate_sequence  # noqa: E402
from mtmc.metrics.kitti import kitti_scored  # noqa: E402
from mtmc.track import build_tracker  # noqa: E402
from mtmc.track.interpolate import interpolate_gaps  # noqa: E402
from mtmc.types import TrackRows  # noqa: E402

KITTI_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "kitti-tracking"
OUT_DIR = Path(__file__).resolve().parent / ".cache" / "track-kitti"
WORKER = Path(__file__).resolve().parent / "kitti_peer_worker.py"
FPS = 10.0
CAR = 2.0  # COCO's car, as the file detector labels the boxes
SEQUENCES = tuple(f"{n:04d}" for n in range(11))
# mtmc trackers: label -> (registry name, options); motion only, the stream's fps passed to all.
OURS: dict[str, tuple[str, dict]] = {
    "mtmc deepsort": ("deepsort", {}),
    "mtmc deepsort-byte": ("deepsort-byte", {}),
    "mtmc deepsort-bot": ("deepsort-bot", {}),
    "mtmc deepsort-strong": ("deepsort-strong", {}),
}
# deepsort-bot as it was before issue 35, and --ablation: one option at a time back to that value,
# or OC-SORT's recovery by last observation (OCR) or momentum (OCM) added.
BEFORE = {"nsa_kalman": False, "new_track_score": 0.6, "occlusion_iou": 0.3, "max_iou_distance": 0.9, "std_weight_velocity": 1 / 160}
ABLATION: dict[str, tuple[str, dict]] = {
    "bot before issue 35": ("deepsort-bot", BEFORE),
    **{f"bot {key} {value:.4g}": ("deepsort-bot", {key: value}) for key, value in BEFORE.items()},
    "bot +recovery_iou 0.3 (OCR)": ("deepsort-bot", {"recovery_iou": 0.3}),
    "bot +momentum_weight 0.2 (OCM)": ("deepsort-bot", {"momentum_weight": 0.2}),
}
PEERS = ("boxmot-ocsort", "boxmot-bytetrack", "boxmot-botsort")


def load_sequence(sequence: str) -> tuple[list[np.ndarray], KittiObjects]:
    """Per-frame boxes (N, 6) [x1, y1, x2, y2, sigmoid(score), car] from frame 1, and the labels."""
    labels = read_kitti_objects(KITTI_DIR / "label_02" / f"{sequence}.txt")
    frames, boxes, _ = read_kitti_detections(KITTI_DIR / "det_pointrcnn_car" / f"{sequence}.txt")
    flat = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])  # as the file detector leaves them out
    frames, boxes = frames[~flat], boxes[~flat]
    boxes[:, 4] = 1.0 / (1.0 + np.exp(-boxes[:, 4].astype(np.float64)))
    boxes[:, 5] = CAR
    count = int(max(labels.rows.frame.max(), frames.max()))
    per_frame = []
    for frame in range(1, count + 1):
        here = boxes[frames == frame]
        per_frame.append(here[np.argsort(-here[:, 4], kind="stable")])  # best first, as the detector gives them
    return per_frame, labels


def run_ours(name: str, options: dict, per_frame: list[np.ndarray]) -> tuple[TrackRows, float]:
    """One sequence's tracks (MOT rows, frames from 1) and the update seconds it took."""
    tracker = build_tracker(name, fps=FPS, **options)
    parts, seconds = [], 0.0
    for index, dets in enumerate(per_frame, start=1):
        start = time.perf_counter()
        out = tracker.update(dets, None, index)
        seconds += time.perf_counter() - start
        parts.append((index, out))
    rows = np.concatenate([out for _, out in parts]) if parts else np.zeros((0, 8))
    frames = np.concatenate([np.full(len(out), index) for index, out in parts]) if parts else np.zeros(0)
    xywh = np.column_stack([rows[:, :2], rows[:, 2:4] - rows[:, :2]])
    return TrackRows(frame=frames, id=rows[:, 4], xywh=xywh, score=rows[:, 5]), seconds


def score(results: dict[str, TrackRows], labels: dict[str, KittiObjects]) -> dict[str, float]:
    """IDF1, MOTA, HOTA and ID switches of all sequences together (KITTI protocol, Car)."""
    total: SequenceCounts | None = None
    for sequence, pred in results.items():
        kept = kitti_scored(labels[sequence], pred)
        counts = evaluate_sequence(kept.gt, kept.pred, 0.5)
        total = counts if total is None else total + counts
    metrics = total.metrics()
    return {key: metrics[key] for key in ("idf1", "mota", "hota", "num_switches")}


def run_peer(name: str, sequences: dict[str, list[np.ndarray]]) -> tuple[dict[str, TrackRows], float] | str:
    """A BoxMOT tracker's tracks of every sequence and its ms per frame, or why it could not run."""
    env, requirements, _ = PETS_PEERS[name]
    try:
        python = ensure_env(env, requirements)
    except subprocess.CalledProcessError as error:
        return f"install failed: {error}"
    out = OUT_DIR / name
    out.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for sequence, per_frame in sequences.items():
        arrays[f"{sequence}/boxes"] = np.concatenate(per_frame)
        arrays[f"{sequence}/starts"] = np.cumsum([0] + [len(d) for d in per_frame])
    boxes_file = OUT_DIR / "boxes.npz"
    np.savez(boxes_file, **arrays)
    done = subprocess.run([str(python), str(WORKER), name, str(boxes_file), str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        return "run failed: " + (done.stderr.strip().splitlines() or ["?"])[-1]
    seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds_per_frame"]
    return {sequence: read_mot(out / f"{sequence}.txt") for sequence in sequences}, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ours", action="store_true", help="only mtmc's trackers")
    parser.add_argument("--ablation", action="store_true", help="also deepsort-bot with one option changed")
    parser.add_argument(
        "--interpolate", type=float, metavar="S", help="also the default and the peers with gaps <= S seconds filled (offline)"
    )
    parser.add_argument("--sequences", nargs="+", default=SEQUENCES, metavar="SEQ", help="default 0000-0010")
    args = parser.parse_args()
    loaded = {sequence: load_sequence(sequence) for sequence in args.sequences}
    per_frame = {sequence: boxes for sequence, (boxes, _) in loaded.items()}
    labels = {sequence: objects for sequence, (_, objects) in loaded.items()}
    frames = sum(len(boxes) for boxes in per_frame.values())
    print(f"KITTI tracking {', '.join(args.sequences)}: {frames} frames at {FPS:g} fps, PointRCNN boxes, Car")
    table: dict[str, tuple[dict[str, float], float] | str] = {}
    gap = round(args.interpolate * FPS) if args.interpolate else 0
    for label, (name, options) in {**OURS, **(ABLATION if args.ablation else {})}.items():
        best, results = float("inf"), {}
        for _ in range(3):
            seconds = 0.0
            for sequence, boxes in per_frame.items():
                results[sequence], spent = run_ours(name, options, boxes)
                seconds += spent
            best = min(best, seconds / frames)
        for sequence, rows in results.items():
            write_mot(OUT_DIR / label.replace(" ", "_") / f"{sequence}.txt", rows)
        table[label] = (score(results, labels), best)
        if gap and name == "deepsort-bot" and not options:
            filled = {sequence: interpolate_gaps(rows, gap) for sequence, rows in results.items()}
            table[f"{label} +interp (offline)"] = (score(filled, labels), best)
    if not args.ours:
        for name in PEERS:
            done = run_peer(name, per_frame)
            table[name] = done if isinstance(done, str) else (score(done[0], labels), done[1])
            if gap and not isinstance(done, str):
                filled = {sequence: interpolate_gaps(rows, gap) for sequence, rows in done[0].items()}
                table[f"{name} +interp (offline)"] = (score(filled, labels), done[1])
    peers = [value for key, value in table.items() if key in PEERS and not isinstance(value, str)]  # online
    best_peer = {m: max(s[m] for s, _ in peers) for m in ("idf1", "mota", "hota")} if peers else None
    header = f"{'tracker':28s} | {'IDF1':>6s} {'MOTA':>6s} {'HOTA':>6s} {'IDsw':>5s} | {'ms/frame':>8s}"
    header += " | x best peer IDF1 / MOTA / HOTA" if best_peer else ""
    print(header)
    print("-" * len(header))
    for label, value in table.items():
        if isinstance(value, str):
            print(f"{label:28s} | {value}")
            continue
        s, seconds = value
        line = f"{label:28s} | {s['idf1']:6.3f} {s['mota']:6.3f} {s['hota']:6.3f} {s['num_switches']:5d} | {seconds * 1e3:8.3f}"
        if best_peer:
            line += " | " + " / ".join(f"{s[m] / best_peer[m]:.3f}" for m in ("idf1", "mota", "hota"))
        print(line)


if __name__ == "__main__":
    main()
