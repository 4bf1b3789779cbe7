"""Accuracy of search by picture (issue 19 point 5), on SynthCity and on real re-id crops.

    .venv/bin/python benchmarks/search_accuracy.py [--synthcity-only | --real-only] [--json OUT]

SynthCity (ground truth known): the demo scenario ``runs/synthcity-three-clips`` (configs/demo.yaml;
rendered by ``mtmc simulate configs/synthcity-three-clips.yaml -o runs/synthcity-three-clips`` when
missing) and a run of the whole system on it with its sightings store. The run is
``benchmarks/.cache/search-accuracy/run``: made once by replaying the journal of the demo run
(``runs/synthcity-three-clips-demo``, ``make demo``) through the current matcher, which rebuilds
``sightings.db`` from it, or, without a demo run, by ``mtmc run configs/demo.yaml``.

- Each store sighting is given the ground-truth vehicle most of its key boxes (first, middle, last)
  overlap at IoU >= 0.5 in the same frame.
- For every GT vehicle seen by two or more cameras, the query is its crop (its GT box) on the first
  camera it appears on, in that camera's largest box at least 80 % visible; the picture goes
  through ``PictureSearch`` (configs/demo.yaml's embedder), the path ``mtmc search --image`` takes.
- The right identity is the global id most of the store's sightings of that vehicle on the other
  cameras carry; a vehicle the system never tracked on another camera has none (counted apart).
- Reported: how often the right identity is first and in the top 5, and the cameras of the top
  hit's journey against the vehicle's GT cameras (precision and recall of cameras visited, means).

Real (vehicle-reid-2cam val, ``../shared/data``): each gallery crop becomes one identity of a
sightings store (one sighting, the embedder's feature stored float16 as the matcher stores it);
each query crop's file bytes are searched through ``search_by_image``'s path; its rank-1 must equal
the embedder's own (``benchmarks/reid_2cam.py``'s score on the same features), both directions.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from mtmc.store import SQLiteStore  # noqa: E402
from mtmc.store.image_search import PictureSearch, build_query_embedder  # noqa: E402
from mtmc.types import Tracklet  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache" / "search-accuracy"
CONFIG = ROOT / "configs" / "demo.yaml"
SCENARIO = ROOT / "runs" / "synthcity-three-clips"
DEMO_RUN = ROOT / "runs" / "synthcity-three-clips-demo"
PY = sys.executable
MIN_VISIBILITY = 0.8


# ---- the SynthCity run ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_run() -> Path:
    """A run of configs/demo.yaml with its sightings.db (see the module's docstring)."""
    run = CACHE / "run"
    if (run / "sightings.db").is_file():
        return run
    if not (SCENARIO / "ground_truth.txt").is_file():
        subprocess.run([PY, "-m", "mtmc", "simulate", str(ROOT / "configs" / "synthcity-three-clips.yaml"),
                        "-o", str(SCENARIO)], check=True)  # fmt: skip
    shutil.rmtree(run, ignore_errors=True)
    if (DEMO_RUN / "matcher.journal").is_file():
        shutil.copytree(DEMO_RUN, run, ignore=shutil.ignore_patterns("videos", "sightings.db*"))
        bind = f"tcp://127.0.0.1:{_free_port()}"
        subprocess.run([PY, "-m", "mtmc", "matcher", str(CONFIG), "--out", str(run), "--bind", bind,
                        "--dashboard", "0"], check=True)  # fmt: skip
    else:
        subprocess.run([PY, "-m", "mtmc", "run", str(CONFIG), "--out", str(run), "--no-video", "-q"], check=True)
    return run


def load_gt(scenario: Path) -> dict[str, dict[int, list[tuple[int, np.ndarray, float]]]]:
    """camera name -> frame -> [(vehicle, box x y w h, visibility)] from each camera's gt/gt.txt."""
    gt: dict[str, dict[int, list]] = {}
    for path in sorted(scenario.glob("c*/gt/gt.txt")):
        rows = np.loadtxt(path, delimiter=",", ndmin=2)
        frames: dict[int, list] = defaultdict(list)
        for r in rows:
            frames[int(r[0])].append((int(r[1]), r[2:6].astype(np.float64), float(r[8])))
        gt[path.parent.parent.name] = frames
    return gt


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def vehicle_of(sighting: Any, gt_frames: dict[int, list]) -> int | None:
    """The GT vehicle most of the sighting's key boxes overlap at IoU >= 0.5 (None: none do)."""
    votes: Counter[int] = Counter()
    for frame, _t, *xywh in sighting.boxes:
        box = np.asarray(xywh, np.float64)
        best = max(((iou(box, g), v) for v, g, _ in gt_frames.get(int(frame), [])), default=(0.0, None))
        if best[0] >= 0.5:
            votes[best[1]] += 1
    return votes.most_common(1)[0][0] if votes else None


def query_crops(scenario: Path, gt: dict) -> dict[int, tuple[str, np.ndarray, set[str]]]:
    """vehicle -> (camera, BGR crop, GT cameras) for every vehicle GT shows on two or more cameras."""
    import cv2

    cameras_of: dict[int, set[str]] = defaultdict(set)
    first_seen: dict[int, tuple[float, str]] = {}
    offsets = dict(line.split() for line in (scenario / "cam_timestamp.txt").read_text().splitlines() if line.strip())
    for camera, frames in gt.items():
        fps = cv2.VideoCapture(str(scenario / camera / "vdo.mp4")).get(cv2.CAP_PROP_FPS)
        for frame, rows in frames.items():
            t = float(offsets[camera]) + (frame - 1) / fps
            for vehicle, _box, _vis in rows:
                cameras_of[vehicle].add(camera)
                if vehicle not in first_seen or t < first_seen[vehicle][0]:
                    first_seen[vehicle] = (t, camera)
    picks: dict[int, tuple[str, int, np.ndarray]] = {}
    for vehicle, cams in cameras_of.items():
        if len(cams) < 2:
            continue
        camera = first_seen[vehicle][1]
        boxes = [(g[2] * g[3], frame, g) for frame, rows in gt[camera].items()
                 for v, g, vis in rows if v == vehicle and vis >= MIN_VISIBILITY]  # fmt: skip
        if boxes:
            _, frame, box = max(boxes, key=lambda b: (b[0], -b[1]))
            picks[vehicle] = (camera, frame, box)
    crops: dict[int, tuple[str, np.ndarray, set[str]]] = {}
    for camera in sorted({c for c, _, _ in picks.values()}):
        wanted = defaultdict(list)
        for v, (c, frame, _) in picks.items():
            if c == camera:
                wanted[frame].append(v)
        video = cv2.VideoCapture(str(scenario / camera / "vdo.mp4"))
        frame_no = 0
        while wanted and frame_no < max(wanted):
            ok, image = video.read()
            if not ok:
                break
            frame_no += 1
            for v in wanted.pop(frame_no, []):
                x, y, w, h = picks[v][2]
                x1, y1 = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
                x2, y2 = min(image.shape[1], int(np.ceil(x + w))), min(image.shape[0], int(np.ceil(y + h)))
                crops[v] = (camera, image[y1:y2, x1:x2].copy(), cameras_of[v])
    return crops


def synthcity() -> dict[str, Any]:
    run = ensure_run()
    gt = load_gt(SCENARIO)
    store = SQLiteStore.read(run / "sightings.db")
    sightings = store.find()
    store.close()
    vehicle_ids: dict[int, Counter[tuple[str, int]]] = defaultdict(Counter)  # vehicle -> (camera, gid) counts
    for s in sightings:
        vehicle = vehicle_of(s, gt.get(s.camera_name, {}))
        if vehicle is not None:
            vehicle_ids[vehicle][(s.camera_name, s.global_id)] += 1
    crops = query_crops(SCENARIO, gt)
    search = PictureSearch(run / "sightings.db", CONFIG)
    first = top5 = unanswerable = 0
    precision, recall, details = [], [], []
    for vehicle, (camera, crop, gt_cameras) in sorted(crops.items()):
        elsewhere = Counter({gid: n for (cam, gid), n in vehicle_ids[vehicle].items() if cam != camera})
        found = search.search(crop, 5)
        top_cameras = set(found[0]["cameras"]) if found else set()
        precision.append(len(top_cameras & gt_cameras) / len(top_cameras) if top_cameras else 0.0)
        recall.append(len(top_cameras & gt_cameras) / len(gt_cameras))
        right = elsewhere.most_common(1)[0][0] if elsewhere else None
        ranked = [r["global_id"] for r in found]
        if right is None:
            unanswerable += 1
        else:
            first += ranked[:1] == [right]
            top5 += right in ranked
        details.append({"vehicle": vehicle, "query_camera": camera, "gt_cameras": sorted(gt_cameras),
                        "right_id": right, "found": ranked, "top_cameras": sorted(top_cameras)})  # fmt: skip
    answerable = len(crops) - unanswerable
    return {
        "run": str(run.relative_to(ROOT)), "sightings": len(sightings),
        "identities": len({s.global_id for s in sightings}), "queries": len(crops),
        "answerable": answerable, "no_right_identity": unanswerable,
        "vehicles_tracked": len(vehicle_ids),
        "crop_px_median": [int(np.median([c[1].shape[k] for c in crops.values()])) for k in (1, 0)] if crops else None,
        "rank1": first / answerable if answerable else None, "top5": top5 / answerable if answerable else None,
        "camera_precision": float(np.mean(precision)) if precision else None,
        "camera_recall": float(np.mean(recall)) if recall else None, "details": details,
    }  # fmt: skip


# ---- the real two-camera re-id set -----------------------------------------------------------------


def real() -> dict[str, Any]:
    from reid_2cam import load_directions

    from mtmc.reid.evaluation.deployed import DIRECTIONS, embed_paths, retrieval

    directions = load_directions("val.txt")
    embedder = build_query_embedder(CONFIG)
    paths = sorted({s.path for d in directions.values() for s in d.query + d.gallery})
    features = dict(zip(paths, embed_paths(embedder, paths)))
    out: dict[str, Any] = {}
    for camera, name in DIRECTIONS:
        splits = directions[name]
        alone = retrieval(features, splits)["rank1"]
        db = CACHE / f"reid-2cam-{name.replace('->', '-')}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        store = SQLiteStore(db, cameras={1: f"cam{3 - camera}"})  # the gallery's camera
        for gid, sample in enumerate(splits.gallery, start=1):
            box = np.array([[0.0, 0.0, 1.0, 1.0]], np.float32)
            store.record(Tracklet(1, gid, [1], box, [0.0], feature=features[sample.path],
                                  feature_count=1, ended=True), global_id=gid)  # fmt: skip
        store.close()
        pid_of = {gid: s.pid for gid, s in enumerate(splits.gallery, start=1)}
        search = PictureSearch(db, embedder=embedder)
        top = [search.search(Path(q.path).read_bytes(), 1)[0]["global_id"] for q in splits.query]
        gallery = np.stack([features[s.path] for s in splits.gallery])
        alone_top = 1 + np.argmax(np.stack([features[q.path] for q in splits.query]) @ gallery.T, axis=1)
        out[name] = {"queries": len(splits.query), "gallery": len(splits.gallery), "rank1_embedder": alone,
                     "rank1_store": float(np.mean([pid_of[g] == q.pid for g, q in zip(top, splits.query)])),
                     "top1_differs": int(np.sum(np.asarray(top) != alone_top))}  # fmt: skip
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--synthcity-only", action="store_true")
    only.add_argument("--real-only", action="store_true")
    parser.add_argument("--json", type=Path, default=CACHE / "result.json")
    args = parser.parse_args()
    result: dict[str, Any] = {}
    if not args.real_only:
        s = result["synthcity"] = synthcity()
        print(f"SynthCity (simulated; {s['run']}: {s['sightings']} sightings, {s['identities']} identities): "
              f"{s['queries']} vehicles seen by 2+ cameras, {s['answerable']} with a right identity "
              f"({s['no_right_identity']} never tracked on another camera); the store's sightings show "
              f"{s['vehicles_tracked']} GT vehicles; query crops median {s['crop_px_median'][0]} x {s['crop_px_median'][1]} px")  # fmt: skip
        if s["answerable"]:
            print(f"  right identity first {100 * s['rank1']:.1f} %, in the top 5 {100 * s['top5']:.1f} % (chance: "
                  f"{100 / s['identities']:.1f} %, {100 * min(1, 5 / s['identities']):.1f} %)")
        print(f"  top hit's cameras vs GT cameras: precision {s['camera_precision']:.3f}, recall {s['camera_recall']:.3f}")
    if not args.synthcity_only:
        r = result["real"] = real()
        print("real (vehicle-reid-2cam val, 102 vehicles): rank-1 by picture through the store vs the embedder alone")
        for name, v in r.items():
            same = "same" if abs(v["rank1_store"] - v["rank1_embedder"]) < 1e-9 else "DIFFERENT"
            print(f"  {name}: store {100 * v['rank1_store']:.1f} %, embedder {100 * v['rank1_embedder']:.1f} % ({same}; "
                  f"top-1 differs on {v['top1_differs']} of {v['queries']} queries)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
