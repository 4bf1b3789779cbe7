"""SynthCity end to end, old parts against new in one run: workers, the matcher, AI City IDF1
(issues 5, 9b, 16).

Renders the scenario once (``--scenario``, default ``configs/synthcity-small.yaml``, under
benchmarks/.cache/<name>, shared with synthcity_detect.py), then for each set of parts (``--parts``)
runs the whole system once with ``mtmc run`` (``configs/demo.yaml``'s tracker and matcher, matcher
online) and replays the matcher's journal, which holds every tracklet the workers sent, through the
matcher in each mode with and without k-reciprocal re-ranking, so the rows of one set of parts score
the same tracklets. Parts (``PARTS``):

- ``old``: YOLOX-Nano (score >= 0.1) + ``glamor-adapted-street-a`` (the defaults before issue 16);
- ``new``: ``configs/demo.yaml``'s: vehicle-detection-0202 + ``glamor-mobilenetv2-2cam``;
- ``imagenet``: vehicle-detection-0202 + ImageNet MobileNetV2 features;
- ``new-detector`` / ``new-embedder``: one of the two new parts with the other old one;
- ``new-all-boxes``: the new parts embedding every confident box on every frame (before issue 33).

With ``--attributes EVERY`` (default 5; 0: off) the workers also classify vehicle colour and type
(every EVERY frames per track) and each ``--metadata GAMMA`` (default 0.1) adds replays whose cosine
distance carries the metadata term {colour: GAMMA, type: GAMMA} (seed 001 Eq. 5), on the same tracklets:

    .venv/bin/python benchmarks/synthcity_e2e.py [--scenario configs/synthcity-three-clips.yaml]
        [--parts old,new] [--fresh] [--attributes 5 --metadata 0.1 --metadata 0.2]

Writes ``<run>/scores.json`` per set of parts and ``benchmarks/.cache/synthcity-e2e-<scenario>.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
OLD_DETECTOR = {"name": "onnx-yolox", "classes": ["car", "bus", "truck", "motorcycle"], "score_threshold": 0.1}
OLD_EMBEDDER = {"name": "reid", "weights": "glamor-adapted-street-a"}
NEW_DETECTOR = {"name": "openvino", "weights": "vehicle-detection-0202", "score_threshold": 0.1}
NEW_EMBEDDER = {"name": "reid", "weights": "glamor-mobilenetv2-2cam"}
PARTS: dict[str, dict[str, Any]] = {
    "old": {"detector": OLD_DETECTOR, "embedder": OLD_EMBEDDER},
    "new": {},  # configs/demo.yaml as shipped
    "imagenet": {"detector": NEW_DETECTOR, "embedder": {"name": "mobilenetv2-imagenet"}},
    # one part changed at a time: which of the two moves the score
    "new-detector": {"detector": NEW_DETECTOR, "embedder": OLD_EMBEDDER},
    "new-embedder": {"detector": OLD_DETECTOR, "embedder": NEW_EMBEDDER},
    # issue 33: the new parts with every confident box embedded (the tracker's reembed_seconds off)
    "new-all-boxes": {"tracker": {"name": "deepsort-bot", "reembed_seconds": None}},
}


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


def render(config: Path) -> Path:
    """The scenario of ``config``, rendered once under benchmarks/.cache."""
    scenario = CACHE / config.stem
    if not (scenario / "ground_truth.txt").is_file():
        subprocess.run([sys.executable, "-m", "mtmc", "simulate", str(config), "-o", str(scenario)], check=True)
    return scenario


def run_parts(name: str, scenario: Path, attributes: int, metadata: list[float], fresh: bool) -> list[dict]:
    """``mtmc run`` with parts ``name`` (once; its journal is cached), then every replay."""
    run_dir = CACHE / f"e2e-{scenario.name}-{name}{f'-attributes{attributes}' if attributes else ''}"
    config = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    config.update(scenario=str(scenario), output={"dir": str(run_dir), "video": False}, **PARTS[name])
    config["matcher"].update(dashboard=None, publish=None)
    if attributes:
        config["attributes"] = {"name": "openvino-vehicle-attributes", "every": attributes}
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "run.yaml"
    config_path.write_text(yaml.safe_dump(config))
    journal = run_dir / "matcher.journal"
    if fresh or not journal.is_file():
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mtmc", "run", str(config_path), "-q", "--no-video"], check=True)
        print(f"mtmc run, {name} parts (workers + matcher): {time.perf_counter() - started:.0f} s", file=sys.stderr)
    rows = [
        {"parts": name, **replay(config_path, journal, run_dir / f"{mode}-{'rerank' if rerank else 'plain'}-m{gamma:g}", mode, rerank, gamma)}
        for gamma in (0.0, *metadata)
        for mode in ("online", "offline")
        for rerank in (False, True)
    ]  # fmt: skip
    (run_dir / "scores.json").write_text(json.dumps(rows, indent=1))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", type=Path, default=ROOT / "configs" / "synthcity-small.yaml", help="a SynthCity config")
    parser.add_argument("--parts", default="old,new", help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--fresh", action="store_true", help="run the workers again even if a journal is cached")
    parser.add_argument("--attributes", type=int, default=5, metavar="EVERY", help="workers classify colour and type every EVERY frames per track (0: off)")
    parser.add_argument("--metadata", type=float, action="append", metavar="GAMMA", help="also replay with this metadata weight (default 0.1; needs --attributes)")
    args = parser.parse_args()
    metadata = ([0.1] if args.attributes else []) if args.metadata is None else args.metadata
    if metadata and not args.attributes:
        parser.error("--metadata needs --attributes EVERY (the workers must send attributes)")
    names = [n.strip() for n in args.parts.split(",") if n.strip()]
    if not names or set(names) - set(PARTS):
        parser.error(f"--parts: choose from {', '.join(PARTS)}, got {args.parts!r}")
    scenario = render(args.scenario.resolve())
    rows = [row for name in names for row in run_parts(name, scenario, args.attributes, metadata, args.fresh)]
    print(f"\n{scenario.name}, end to end (deepsort-bot; parts: " + "; ".join(
        f"{n} = {PARTS[n] or 'configs/demo.yaml'}" for n in names) + "), AI City protocol")
    print(f"{'parts':9s} {'metadata':8s} {'mode':8s} {'re-ranking':10s} {'IDF1':>6s} {'IDP':>6s} {'IDR':>6s} {'tracklets':>9s} {'revisions':>9s} {'matcher s':>9s}")
    for r in rows:
        print(
            f"{r['parts']:9s} {r['metadata']:8g} {r['mode']:8s} {'yes' if r['rerank'] else 'no':10s} {r['idf1']:6.3f} {r['idp']:6.3f} "
            f"{r['idr']:6.3f} {r['tracklets']:9d} {r['revisions']:9d} {r['seconds']:9.2f}"
        )
    (CACHE / f"synthcity-e2e-{scenario.name}.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
