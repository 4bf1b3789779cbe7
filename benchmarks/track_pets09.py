"""mtmc's trackers vs peer trackers on the same YOLOX-Nano detections of PETS09-S2L1.

Detections are computed once (``track_detections.py``, cached under ``benchmarks/.cache/``);
every tracker then runs on exactly those boxes. mtmc's trackers run without appearance and with
ImageNet MobileNetV2 embeddings of those boxes (``track_embeddings.py``, also cached; the
embedder's time is reported separately from the tracker's).
Peers run in their own uv environments under ``benchmarks/.envs/`` (``envs.ensure_env``); a
peer that cannot be installed or run is reported and skipped. Each result is scored by mtmc's
evaluator at IoU 0.5 twice: GT rows with confidence 0 dropped (mtmc's and TrackEval's default)
and kept (py-motmetrics' library default, used by the reference numbers in the issue).

    uv run python benchmarks/track_pets09.py            # all trackers
    uv run python benchmarks/track_pets09.py --ours     # mtmc's trackers only (seconds)
    uv run python benchmarks/track_pets09.py --ablation # plus one row per appearance or motion option
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
from track_embeddings import pets09_embeddings  # noqa: E402

from mtmc.camera import skipped  # noqa: E402
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
# mtmc trackers: name -> (registry name, options, embedder input size (H, W) or None); the
# stream's fps is passed to all of them.
EMB = (128, 128)
PERSON = (128, 64)
OURS: dict[str, tuple[str, dict, tuple[int, int] | None]] = {
    "mtmc deepsort (faithful)": ("deepsort", {}, None),
    "mtmc deepsort-byte": ("deepsort-byte", {}, None),
    "mtmc deepsort +emb": ("deepsort", {}, EMB),
    "mtmc deepsort +emb 128x64": ("deepsort", {}, PERSON),
    "mtmc deepsort-byte +emb": ("deepsort-byte", {}, EMB),
    "mtmc deepsort-byte +emb 128x64": ("deepsort-byte", {}, PERSON),
    "mtmc deepsort-bot": ("deepsort-bot", {}, None),
    "mtmc deepsort-bot +emb": ("deepsort-bot", {}, EMB),
    "mtmc deepsort-bot +emb, all boxes": ("deepsort-bot", {"reembed_seconds": None}, EMB),
    "mtmc deepsort-strong": ("deepsort-strong", {}, None),
    "mtmc deepsort-strong +emb": ("deepsort-strong", {}, EMB),
    "mtmc deepsort-strong +emb 128x64": ("deepsort-strong", {}, PERSON),
}
# --ablation: one option switched at a time (deepsort-byte, deepsort-strong, deepsort-bot), embeddings
# 128x128.
NO_CONFIRM = {"confirm_high_only": False}  # deepsort-byte's default before deepsort-strong
ABLATION: dict[str, tuple[str, dict, tuple[int, int] | None]] = {
    "byte -confirm_high": ("deepsort-byte", NO_CONFIRM, None),
    "byte+emb -confirm_high": ("deepsort-byte", NO_CONFIRM, EMB),
    "byte+emb -confirm +fused w=0.5": ("deepsort-byte", {**NO_CONFIRM, "appearance_weight": 0.5}, EMB),
    "byte+emb -confirm +ema 0.9": ("deepsort-byte", {**NO_CONFIRM, "feature_ema": 0.9}, EMB),
    "byte+emb -confirm +nsa": ("deepsort-byte", {**NO_CONFIRM, "nsa_kalman": True}, EMB),
    "byte+emb -confirm +fused+ema": (
        "deepsort-byte",
        {**NO_CONFIRM, "appearance_weight": 0.5, "feature_ema": 0.9},
        EMB,
    ),
    "byte +nsa": ("deepsort-byte", {"nsa_kalman": True}, None),
    "strong+emb -confirm_high": ("deepsort-strong", NO_CONFIRM, EMB),
    "strong+emb -fused": ("deepsort-strong", {"appearance_weight": None}, EMB),
    "strong+emb -ema (gallery)": ("deepsort-strong", {"feature_ema": None}, EMB),
    "strong+emb +nsa": ("deepsort-strong", {"nsa_kalman": True}, EMB),
    "strong+emb n_init 2": ("deepsort-strong", {"n_init": 2}, EMB),
    "strong+emb occlusion noise off": ("deepsort-strong", {"occlusion_noise_scale": 1.0}, EMB),
    "strong+emb max_cosine 0.3": ("deepsort-strong", {"max_cosine_distance": 0.3}, EMB),
    "strong+emb ema 0.95": ("deepsort-strong", {"feature_ema": 0.95}, EMB),
    # deepsort-bot's motion options, one switched back to deepsort-byte's value at a time
    "bot -kalman_xywh": ("deepsort-bot", {"kalman_xywh": False}, None),
    "bot +gate 9.49": ("deepsort-bot", {"gating_threshold": 9.4877}, None),
    "bot -kalman_xywh +gate 9.49": (
        "deepsort-bot",
        {"kalman_xywh": False, "gating_threshold": 9.4877},
        None,
    ),
    "bot -confirm_first_frame": ("deepsort-bot", {"confirm_first_frame": False}, None),
    "bot -freeze_lost_size": ("deepsort-bot", {"freeze_lost_size": False}, None),
}


def run_ours(
    registry_name: str,
    options: dict,
    detections: CachedDetections,
    embeddings: list[np.ndarray] | None = None,
    every: int = 1,
) -> tuple[TrackRows, float, float]:
    """Tracks of one of mtmc's trackers, its update time per frame (best of 3 runs) and the share of
    the cached embeddings it asked for (a worker embeds only those); ``every``: detections on every
    N-th frame only (``detector.every``), the tracker carrying the others."""
    best = float("inf")
    for _ in range(3):
        tracker = build_tracker(registry_name, fps=detections.fps, **options)
        outputs, seconds, asked, cached = [], 0.0, 0, 0
        for index, dets in enumerate(detections.per_frame, start=1):
            features = embeddings[index - 1] if embeddings is not None else None
            if features is not None and hasattr(tracker, "embedding_wanted"):  # as a worker embeds
                wanted = tracker.embedding_wanted(dets)
                features = np.where(wanted[:, None], features, 0.0)
                asked, cached = asked + int(wanted.sum()), cached + len(wanted)
            start = time.perf_counter()
            out = tracker.carry(index) if skipped(index, every) else tracker.update(dets, features, index)
            seconds += time.perf_counter() - start
            outputs.append((index, out))
        best = min(best, seconds / len(detections.per_frame))
    frames = np.concatenate([np.full(len(out), index) for index, out in outputs])
    rows = np.concatenate([out for _, out in outputs])
    xywh = np.column_stack([rows[:, :2], rows[:, 2:4] - rows[:, :2]])
    return TrackRows(frame=frames, id=rows[:, 4], xywh=xywh, score=rows[:, 5]), best, asked / max(cached, 1)


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
    parser.add_argument(
        "--ablation", action="store_true", help="also one row per appearance or motion option"
    )
    parser.add_argument(
        "--every", type=int, nargs="+", metavar="N",
        help="only the default tracker (deepsort-bot, motion only) with detections on every N-th frame "
        "(detector.every), one row per N",
    )  # fmt: skip
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
    embed_ms: dict[str, float] = {}
    ours = {**OURS, **(ABLATION if args.ablation else {})}
    if args.every:
        ours = {f"mtmc deepsort-bot every {n}": ("deepsort-bot", {}, None) for n in args.every}
        args.ours = True
    for label, (registry_name, options, input_size) in ours.items():
        features = None
        if input_size is not None:
            cached = pets09_embeddings(input_size)
            features, embed_ms[label] = cached.per_frame, cached.seconds_per_frame * 1e3
        every = int(label.rsplit(" ", 1)[1]) if " every " in label else 1
        rows, seconds, share = run_ours(registry_name, options, detections, features, every)
        results[label] = (rows, seconds)
        if label in embed_ms:
            embed_ms[label] *= share
        write_mot(
            OUT_DIR / f"{label.replace(' ', '_').replace('(', '').replace(')', '')}.txt", results[label][0]
        )
    if not args.ours:
        for name in PEERS:
            results[name] = run_peer(name)
    header = f"{'tracker':32s} | {'IDF1':>6s} {'MOTA':>6s} {'HOTA':>6s} {'IDsw':>5s} | {'IDF1':>6s} {'MOTA':>6s} {'HOTA':>6s} {'IDsw':>5s} | track ms  embed ms"
    print(f"{'':32s} | {'GT conf-0 rows dropped (mtmc)':^27s} | {'GT rows kept (py-motmetrics)':^27s} |")
    print(header)
    print("-" * len(header))
    for label, result in results.items():
        if isinstance(result, str):
            print(f"{label:32s} | {result}")
            continue
        pred, seconds = result
        cells = []
        for gt in (gt_dropped, gt_kept):
            s = scores(gt, pred)
            cells.append(f"{s['idf1']:6.3f} {s['mota']:6.3f} {s['hota']:6.3f} {s['num_switches']:5d}")
        embed = f"{embed_ms[label]:9.1f}" if label in embed_ms else f"{'-':>9s}"
        print(f"{label:32s} | {cells[0]} | {cells[1]} | {seconds * 1e3:8.2f} {embed}")
    print(
        "'+emb': ImageNet MobileNetV2 embeddings (onnxruntime, 2 threads, crop size HxW, all cached boxes "
        "of a frame in one batch; embed ms/frame timed separately, times the share of boxes the tracker "
        "asked for: deepsort-bot embeds clear continuations of fresh tracks only every reembed_seconds); "
        "deep-sort-realtime's time includes its MobileNetV2 embedder "
        "on CPU; boxmot-botsort runs without re-id (no re-id weights offline), with its ECC motion compensation."
    )


if __name__ == "__main__":
    main()
