"""The matcher's decision threshold: the default against each run's own best (issue 30).

A run's journal holds every tracklet its workers sent; this reads them once and associates them
again at each ``--thresholds`` value (the posterior probability ``matcher.threshold``), online and
offline, scoring each with the run's ground truth (AI City protocol). One row per run and mode: the
IDF1 at the default threshold, the best IDF1 and where, and their difference. The runs of
``benchmarks/synthcity_e2e.py`` are runs of the same tracklets' scenario with different embedders,
so the table says whether one default fits every embedder:

    .venv/bin/python benchmarks/synthcity_e2e.py --parts new,imagenet,old     # the runs (cached)
    .venv/bin/python benchmarks/match_threshold.py benchmarks/.cache/e2e-synthcity-small-*-attributes5

``--set KEY=VALUE`` overrides a matcher option (YAML value) in every run, e.g. ``--set prior=0.02``.
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


def read_run(run_dir: Path, overrides: dict) -> tuple[MtmcConfig, MatchState]:
    """The run's config (matcher options overridden) and a state holding its ended tracklets."""
    config = with_scenario(load_config(run_dir / "run.yaml"))
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders holding run.yaml and matcher.journal")
    parser.add_argument("--thresholds", type=float, nargs="+", default=DEFAULT_THRESHOLDS)
    parser.add_argument("--modes", default="online,offline")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a matcher option")
    parser.add_argument("--json", type=Path, help="write every score here")
    args = parser.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    default = float(MtmcConfig().matcher.threshold)
    thresholds = sorted(set(args.thresholds) | {default})
    rows = []
    print(f"{'run':48s} {'mode':8s} {'default':>8s} {'best':>6s} {'at':>5s} {'gap':>6s}  IDF1 by threshold")
    for run in args.runs:
        config, state = read_run(run, overrides)
        tracklets = sorted(state.ended, key=lambda t: t.key)
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
