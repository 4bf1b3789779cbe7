"""Online vs offline cross-camera association on SynthCity ``--no-render`` tracklets (AI City IDF1).

    .venv/bin/python -m mtmc simulate configs/synthcity-small.yaml -o /tmp/sc-small --no-render
    .venv/bin/python benchmarks/match_online.py /tmp/sc-small [--no-offline] [--rerank-only off]

Matcher: cosine distance on the synthetic features (as tests/test_match_cli.py), optionally
k-reciprocal re-ranking and the simulator's topology (travel-time gates, exclusive views). Online:
tracklets are fed in order of their end time and the watermark follows (every ``tick_s``), as the
matcher process would with cameras that are all up to date. Prints a table mode x rerank x
topology -> IDF1, plus the decision delay (data seconds from a tracklet's end to its first id),
revisions, the largest window and the time per decided epoch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtmc.formats import read_aicity  # noqa: E402
from mtmc.match.config import MatchConfig  # noqa: E402
from mtmc.match.files import global_ids, identity_rows, read_camera_tracklets  # noqa: E402
from mtmc.match.offline import associate  # noqa: E402
from mtmc.match.online import OnlineAssociator  # noqa: E402
from mtmc.metrics.aicity import evaluate_aicity  # noqa: E402


def match_config(sim: Path, rerank: bool, topology: bool, online: dict | None = None) -> MatchConfig:
    topo = yaml.safe_load((sim / "topology.yaml").read_text())
    config = {
        "cameras": [{"id": c["id"], "fps": c["fps"], "offset_s": c["offset_s"]} for c in topo["cameras"]],
        "matcher": {"distances": [{"name": "cosine"}], "rerank": {"enabled": rerank}, "online": online or {}},
    }
    if topology:
        config["topology"] = {"links": topo["links"], "exclusive_views": True}
    return MatchConfig.model_validate(config)


def read_tracklets(sim: Path, config: MatchConfig) -> list:
    return [t for camera in config.cameras for t in read_camera_tracklets(camera, sim / "tracks")]


def run_online(tracklets: list, config: MatchConfig, tick_s: float = 0.5) -> tuple[np.ndarray, dict]:
    """Stream the tracklets by end time; labels (by input index) and statistics."""
    online = OnlineAssociator(config.matcher, topology=config.topology)
    order = sorted(range(len(tracklets)), key=lambda k: (tracklets[k].end, tracklets[k].key))
    final: dict[tuple[int, int], int] = {}
    first: dict[tuple[int, int], float] = {}
    epoch_times, biggest = [], 0
    k = 0
    clock = np.floor(tracklets[order[0]].end / tick_s) * tick_s if order else 0.0
    last_end = tracklets[order[-1]].end if order else 0.0
    while k < len(order) or clock <= last_end + 2 * tick_s:
        while k < len(order) and tracklets[order[k]].end <= clock:
            online.add(tracklets[order[k]])
            k += 1
        before = online.epochs
        started = time.perf_counter()
        decisions, finals = online.advance(clock)
        spent = time.perf_counter() - started
        if online.epochs > before:
            epoch_times.append(spent / (online.epochs - before))
        biggest = max(biggest, online.window_size)
        for d in decisions:
            if d.kind == "assign":
                first.setdefault(d.key, d.decided_at_s)
        final.update({t.key: gid for t, gid in finals})
        clock += tick_s
    decisions, finals = online.finish()
    final.update({t.key: gid for t, gid in finals})
    for d in decisions:
        if d.kind == "assign":
            first.setdefault(d.key, d.decided_at_s)
    delays = np.array([first[t.key] - t.end for t in tracklets])
    stats = {
        "delay_mean": float(delays.mean()),
        "delay_max": float(delays.max()),
        "revisions": online.revisions,
        "late": online.late,
        "window_max": biggest,
        "epoch_ms_mean": 1000 * float(np.mean(epoch_times)) if epoch_times else 0.0,
        "epoch_ms_max": 1000 * float(np.max(epoch_times)) if epoch_times else 0.0,
        "epochs": online.epochs,
    }
    return np.array([final[t.key] for t in tracklets], np.int64), stats


def idf1(sim: Path, tracklets: list, labels: np.ndarray) -> float:
    pred = identity_rows(tracklets, global_ids(tracklets, labels))
    gt = read_aicity(sim / "ground_truth.txt")
    return float(evaluate_aicity(gt, pred).overall.metrics()["idf1"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sim", type=Path, help="output folder of mtmc simulate --no-render")
    parser.add_argument("--no-offline", action="store_true", help="skip the offline runs (large inputs)")
    parser.add_argument("--no-rerank", action="store_true", help="skip the re-ranking runs")
    parser.add_argument("--topology-only", action="store_true", help="only the runs with topology gates")
    parser.add_argument("--no-score", action="store_true", help="skip IDF1 (timing only)")
    parser.add_argument("--step", type=float, default=1.0, help="online.step_s")
    parser.add_argument("--window", type=float, default=None, help="online.window_s (default: from topology)")
    args = parser.parse_args()
    print(f"{'mode':8} {'rerank':6} {'topology':8} {'IDF1':>7} {'time s':>7}  online: delay mean/max s, revisions, late, window max, epoch ms mean/max")
    for topology in (False, True) if not args.topology_only else (True,):
        for rerank in (False, True) if not args.no_rerank else (False,):
            config = match_config(args.sim, rerank, topology, {"step_s": args.step, "window_s": args.window})
            tracklets = read_tracklets(args.sim, config)
            if not args.no_offline:
                started = time.perf_counter()
                labels = associate(tracklets, config.matcher, topology=config.topology)
                seconds = time.perf_counter() - started
                score = float("nan") if args.no_score else idf1(args.sim, tracklets, labels)
                print(f"{'offline':8} {rerank!s:6} {topology!s:8} {score:7.4f} {seconds:7.2f}")
            started = time.perf_counter()
            labels, s = run_online(tracklets, config)
            seconds = time.perf_counter() - started
            score = float("nan") if args.no_score else idf1(args.sim, tracklets, labels)
            print(
                f"{'online':8} {rerank!s:6} {topology!s:8} {score:7.4f} {seconds:7.2f}  "
                f"{s['delay_mean']:.2f}/{s['delay_max']:.2f}, {s['revisions']}, {s['late']}, {s['window_max']}, "
                f"{s['epoch_ms_mean']:.1f}/{s['epoch_ms_max']:.1f} ({s['epochs']} epochs, {len(tracklets)} tracklets)"
            )


if __name__ == "__main__":
    main()
