"""The matcher's decision threshold: the default against each run's own best (issue 30).

A run's journal holds every tracklet its workers sent; this reads them once and associates them
again at each ``--thresholds`` value (the posterior probability ``matcher.threshold``), online and
offline, scoring each with the run's ground truth (AI City protocol). One row per run and mode: the
IDF1 at the default threshold, the best IDF1 and where, and their difference. The runs of
``benchmarks/synthcity_e2e.py`` are runs of the same tracklets' scenario with different embedders,
so the table says whether one default fits every embedder:

    .venv/bin/python benchmarks/synthcity_e2e.py --parts new,imagenet,old     # the runs (cached)
    .venv/bin/python benchmarks/match_threshold.py benchmarks/.cache/e2e-synthcity-small-*-attributes5

``--set KEY=VALUE`` overrides a matcher option (YAML value) in every run, e.g.
``--set 'distances=[{name: cosine}]'``. ``--ceilings`` adds, per run, what association could reach
on these tracklets: ``oracle`` gives each tracklet its true vehicle (by IoU with the cameras'
ground truth), ``perfect features`` replaces each tracklet's feature by its true vehicle's (one
direction per vehicle) for the matcher to associate at the default threshold. ``--plot PNG``
draws IDF1 against the threshold for every run and mode.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtmc.commands.eval import score  # noqa: E402
from mtmc.config import MtmcConfig, load_config  # noqa: E402
from mtmc.match.files import global_ids  # noqa: E402
from mtmc.match.offline import associate  # noqa: E402
from mtmc.match.online import OnlineAssociator  # noqa: E402
from mtmc.runtime.matcher import MatchState  # noqa: E402
from mtmc.runtime.results import ResultWriter  # noqa: E402
from mtmc.runtime.scenario import with_scenario  # noqa: E402
from mtmc.transport.codec import decode  # noqa: E402
from mtmc.transport.journal import Journal  # noqa: E402
from mtmc.types import Tracklet  # noqa: E402

DEFAULT_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def read_run(run_dir: Path, overrides: dict, topology: Path | None = None) -> tuple[MtmcConfig, MatchState]:
    """The run's config (matcher options overridden, ``topology`` given) and a state holding its
    ended tracklets."""
    config = with_scenario(load_config(run_dir / "run.yaml"))
    if topology is not None:
        config = config.model_copy(update={"topology": topology})
    matcher = config.matcher.model_validate({**config.matcher.model_dump(by_alias=True), **overrides, "mode": "offline"})
    config = config.model_copy(update={"matcher": matcher, "store": config.store.model_copy(update={"enabled": False})})
    scratch = Path(tempfile.mkdtemp(prefix="match-threshold-"))
    state = MatchState(config, ResultWriter(scratch, {}, {}))
    for payload in Journal(run_dir / "matcher.journal").replay():
        state.apply(decode(payload))
    if not state.finished:
        raise SystemExit(f"{run_dir}: the journal does not hold every camera's end")
    return config, state


def labelled(config: MtmcConfig, state: MatchState, tracklets: list[Tracklet], mode: str, threshold: float) -> list[tuple[Tracklet, int]]:
    matcher = config.matcher.model_copy(update={"threshold": threshold})
    if mode == "offline":
        labels = associate(tracklets, matcher, state.scene, state.topology)
        return list(zip(tracklets, global_ids(tracklets, labels).tolist()))
    online = OnlineAssociator(matcher, state.scene, state.topology)
    for t in sorted(tracklets, key=lambda t: t.end):
        online.add(t)
    return online.finish()[1]


def idf1(config: MtmcConfig, state: MatchState, pairs: list[tuple[Tracklet, int]]) -> float:
    out = Path(tempfile.mkdtemp(prefix="match-threshold-"))
    writer = ResultWriter(out, {c.number: c.id for c in config.cameras}, state.scene.homographies)
    for tracklet, gid in sorted(pairs, key=lambda p: p[0].start):
        writer.write(tracklet, int(gid))
    writer.close()
    results, _ = score(config.eval.model_copy(update={"pred": out / "submission.txt"}))
    return float(results["overall"]["idf1"])


def true_vehicles(config: MtmcConfig, tracklets: list[Tracklet]) -> np.ndarray:
    """Each tracklet's ground-truth vehicle: the id its boxes overlap most (IoU >= 0.5) in its
    camera's ``gt/gt.txt``; a negative id of its own where none does."""
    from mtmc.formats import read_mot
    from mtmc.metrics.boxes import iou_xywh
    from mtmc.runtime.scenario import read_scene

    scene = read_scene(Path(config.scenario))
    truth = {c.number: read_mot(c.gt) for c in scene.cameras if c.gt is not None}
    out = np.empty(len(tracklets), np.int64)
    for k, t in enumerate(tracklets):
        gt = truth.get(t.camera)
        votes: dict[int, int] = {}
        if gt is not None:
            by_frame = {int(f): np.flatnonzero(gt.frame == f) for f in np.unique(t.frames)}
            for frame, box in zip(t.frames.tolist(), t.boxes):
                rows = by_frame.get(frame)
                if rows is None or not len(rows):
                    continue
                overlap = iou_xywh(np.repeat(box[None].astype(np.float64), len(rows), 0), gt.xywh[rows])
                best = int(np.argmax(overlap))
                if overlap[best] >= 0.5:
                    vehicle = int(gt.id[rows[best]])
                    votes[vehicle] = votes.get(vehicle, 0) + 1
        out[k] = max(votes, key=votes.get) if votes else -(k + 1)
    return out


def ceilings(config: MtmcConfig, state: MatchState, tracklets: list[Tracklet], modes: list[str]) -> dict[str, float]:
    """IDF1 of the oracle association and of the matcher fed perfect features (``--ceilings``)."""
    from dataclasses import replace

    from mtmc.match.evidence import AppearanceCalibration, DistanceSample

    vehicles = true_vehicles(config, tracklets)
    out = {"oracle": idf1(config, state, list(zip(tracklets, (vehicles - vehicles.min() + 1).tolist())))}
    directions = np.random.default_rng(0).standard_normal((len(np.unique(vehicles)), 64))
    index = {v: k for k, v in enumerate(np.unique(vehicles).tolist())}
    perfect = [replace(t, feature=directions[index[int(v)]].astype(np.float32)) for t, v in zip(tracklets, vehicles)]
    calibration = AppearanceCalibration(DistanceSample(0.02, 0.02, 0), DistanceSample(1.0, 0.15, 0), "perfect features")
    saved = state.scene.appearance
    state.scene.appearance = calibration
    try:
        for mode in modes:
            out[f"perfect features {mode}"] = idf1(config, state, labelled(config, state, perfect, mode, config.matcher.threshold))
    finally:
        state.scene.appearance = saved
    return out


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    for r in rows:
        scores = r["scores"]
        ax.plot(list(scores), list(scores.values()), marker="o", ms=3, ls="-" if r["mode"] == "online" else "--",
                label=f"{Path(r['run']).name.replace('e2e-', '').replace('-attributes5', '')} {r['mode']}")  # fmt: skip
    ax.axvline(rows[0]["default"], color="grey", lw=0.8)
    ax.set_xlabel("matcher.threshold (posterior probability of one vehicle)")
    ax.set_ylabel("IDF1")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders holding run.yaml and matcher.journal")
    parser.add_argument("--thresholds", type=float, nargs="+", default=DEFAULT_THRESHOLDS)
    parser.add_argument("--modes", default="online,offline")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a matcher option")
    parser.add_argument("--json", type=Path, help="write every score here")
    parser.add_argument("--ceilings", action="store_true", help="also the oracle and perfect-feature IDF1 of each run")
    parser.add_argument("--plot", type=Path, help="a PNG of IDF1 against the threshold")
    parser.add_argument("--topology", type=Path, help="associate with this topology YAML instead of the run's")
    args = parser.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    default = float(MtmcConfig().matcher.threshold)
    thresholds = sorted(set(args.thresholds) | {default})
    rows = []
    print(f"{'run':48s} {'mode':8s} {'default':>8s} {'best':>6s} {'at':>5s} {'gap':>6s}  IDF1 by threshold")
    for run in args.runs:
        config, state = read_run(run, overrides, args.topology)
        tracklets = sorted(state.ended, key=lambda t: t.key)
        if args.ceilings:
            found = ceilings(config, state, tracklets, args.modes.split(","))
            print(f"{run.name[-48:]:48s} ceilings: " + ", ".join(f"{k} {v:.3f}" for k, v in found.items()), flush=True)
        for mode in args.modes.split(","):
            started = time.perf_counter()
            scores = {t: idf1(config, state, labelled(config, state, tracklets, mode, t)) for t in thresholds}
            best = max(scores, key=lambda t: scores[t])
            gap = scores[best] - scores[default]
            curve = " ".join(f"{t:g}:{s:.3f}" for t, s in scores.items())
            print(f"{run.name[-48:]:48s} {mode:8s} {scores[default]:8.3f} {scores[best]:6.3f} {best:5g} {gap:6.3f}  {curve}"
                  f"  ({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
            rows.append({"run": str(run), "mode": mode, "scores": scores, "default": default, "best": best, "gap": gap,
                         "overrides": overrides, "tracklets": len(tracklets)})  # fmt: skip
    worst = max(r["gap"] for r in rows)
    print(f"largest gap between the default threshold {default:g} and a run's best: {worst:.3f} IDF1"
          f" (mean {np.mean([r['gap'] for r in rows]):.3f})")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.plot:
        plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
