"""SynthCity small end to end: YOLOX-Nano + Deep SORT workers, the matcher, AI City IDF1 (issue 5, 9b).

Renders the scenario once (benchmarks/.cache/synthcity-small, shared with synthcity_detect.py), runs
the whole system once with ``mtmc run`` (matcher online), then replays the matcher's journal, which
holds every tracklet the workers sent, through the matcher in each mode with and without
k-reciprocal re-ranking, so all four rows score the same tracklets. With ``--attributes EVERY`` the
workers also classify vehicle colour and type (every EVERY frames per track) and each ``--metadata
GAMMA`` adds replays whose cosine distance carries the metadata term {colour: GAMMA, type: GAMMA}
(seed 001 Eq. 5), on the same tracklets:

    .venv/bin/python benchmarks/synthcity_e2e.py [--fresh] [--embedder config|mobilenetv2-imagenet|reid:WEIGHTS|none]
        [--attributes EVERY --metadata 0.05 --metadata 0.2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"


def replay(config_path: Path, journal: Path, out: Path, mode: str, rerank: bool, gamma: float = 0.0) -> dict:
    """The matcher, fed from a copy of ``journal``, in ``mode``, its cosine distance with the metadata
    term at ``gamma`` per attribute (0: none); returns its AI City scores."""
    from mtmc.commands.eval import score
    from mtmc.config import load_config
    from mtmc.runtime.matcher import MatcherService
    from mtmc.runtime.scenario import with_scenario

    config = with_scenario(load_config(config_path))
    distances = [
        d.model_copy(update={"metadata": {"colour": gamma, "type": gamma}}) if d.name == "cosine" and gamma else d
        for d in config.matcher.distances
    ]
    matcher = config.matcher.model_copy(
        update={"mode": mode, "rerank": config.matcher.rerank.model_copy(update={"enabled": rerank}), "distances": distances}
    )
    config = config.model_copy(update={"matcher": matcher})
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    shutil.copy(journal, out / "matcher.journal")
    started = time.perf_counter()
    service = MatcherService(config, out)
    service.replay()
    assert service.state.finished, "the journal does not hold every camera's end"
    if service.state.online is None:
        service.state.finish_offline()
    service.state.writer.close()
    seconds = time.perf_counter() - started
    results, _ = score(config.eval.model_copy(update={"pred": out / "submission.txt"}))
    overall = results["overall"]
    return {
        "mode": mode, "rerank": rerank, "metadata": gamma, "idf1": overall["idf1"], "idp": overall["idp"], "idr": overall["idr"],
        "tracklets": service.state.writer.tracklets, "revisions": getattr(service.state.online, "revisions", 0),
        "seconds": seconds,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fresh", action="store_true", help="run the workers again even if a journal is cached")
    parser.add_argument(
        "--embedder",
        default="config",
        help="config (configs/demo.yaml's: the shipped re-id weights), an embedder name, reid:WEIGHTS, or none",
    )
    parser.add_argument("--attributes", type=int, default=0, metavar="EVERY", help="workers classify colour and type every EVERY frames per track (0: off)")
    parser.add_argument("--metadata", type=float, action="append", default=[], metavar="GAMMA", help="also replay with this metadata weight (needs --attributes)")
    args = parser.parse_args()
    if args.metadata and not args.attributes:
        parser.error("--metadata needs --attributes EVERY (the workers must send attributes)")
    scenario = CACHE / "synthcity-small"
    if not (scenario / "ground_truth.txt").is_file():
        subprocess.run(
            [sys.executable, "-m", "mtmc", "simulate", str(ROOT / "configs" / "synthcity-small.yaml"), "-o", str(scenario)],
            check=True,
        )  # fmt: skip
    run_dir = CACHE / f"synthcity-e2e-{args.embedder.replace(':', '-')}{f'-attributes{args.attributes}' if args.attributes else ''}"
    config = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    config.update(scenario=str(scenario), output={"dir": str(run_dir), "video": False})
    config["matcher"].update(dashboard=None, publish=None)
    if args.embedder == "none":
        config.pop("embedder")
    elif args.embedder.startswith("reid:"):
        config["embedder"] = {"name": "reid", "weights": args.embedder.partition(":")[2]}
    elif args.embedder != "config":
        config["embedder"] = {"name": args.embedder}
    if args.attributes:
        config["attributes"] = {"name": "openvino-vehicle-attributes", "every": args.attributes}
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "run.yaml"
    config_path.write_text(yaml.safe_dump(config))
    journal = run_dir / "matcher.journal"
    if args.fresh or not journal.is_file():
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mtmc", "run", str(config_path), "-q", "--no-video"], check=True)
        print(f"mtmc run (4 workers + matcher): {time.perf_counter() - started:.0f} s", file=sys.stderr)
    rows = [
        replay(config_path, journal, run_dir / f"{mode}-{'rerank' if rerank else 'plain'}-m{gamma:g}", mode, rerank, gamma)
        for gamma in (0.0, *args.metadata)
        for mode in ("online", "offline")
        for rerank in (False, True)
    ]
    print(f"\nSynthCity small, end to end (YOLOX-Nano, deepsort-bot, embedder {config.get('embedder')}), AI City protocol")
    print(f"{'metadata':8s} {'mode':8s} {'re-ranking':10s} {'IDF1':>6s} {'IDP':>6s} {'IDR':>6s} {'tracklets':>9s} {'revisions':>9s} {'matcher s':>9s}")
    for r in rows:
        print(
            f"{r['metadata']:8g} {r['mode']:8s} {'yes' if r['rerank'] else 'no':10s} {r['idf1']:6.3f} {r['idp']:6.3f} {r['idr']:6.3f} "
            f"{r['tracklets']:9d} {r['revisions']:9d} {r['seconds']:9.2f}"
        )
    (run_dir / "scores.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
