"""Self-supervised re-id adaptation, evaluated honestly (issue 7 point 2): adapt on SynthCity street-a,
score on SynthCity street-b, whose vehicles and backgrounds come from other footage.

    .venv/bin/python benchmarks/reid_adapt.py [--skip-adapt] [--start LAST_PT] [--no-pipeline] [--threads 2]

1. Renders ``configs/synthcity-street-a.yaml`` and ``configs/synthcity-street-b.yaml`` once
   (``benchmarks/.cache/reid_adapt/synthcity-street-{a,b}``).
2. Runs ``mtmc reid adapt configs/reid/adapt-synthcity-street-a.yaml`` on street-a as written
   (its mining is cached between runs; ``--skip-adapt`` reuses the last adapted model). No label,
   threshold or epoch count is chosen on street-b: the adapted model is the last epoch of the last
   round.
3. On street-b, three embedders: the adapted model, ImageNet MobileNetV2 features (the default
   embedder, the only ImageNet weights available offline) and the untrained model (the adapted
   model's architecture at the seeded initialisation its training started from):

   a. re-id mAP / rank-1 on street-b's ground-truth crops: identity = the simulator's global vehicle
      id, camera = the sim camera; every vehicle's crops (visibility >= 0.7, the mining's size and
      border rules, up to 8 per vehicle and camera, evenly spread) form the gallery, those of
      vehicles seen by 2+ cameras the queries; the VeRi protocol drops same-vehicle same-camera
      gallery images, so retrieval is across cameras;
   b. AI City IDF1 of the whole pipeline (``mtmc run`` with ``configs/demo.yaml``'s parts on
      street-b, as ``benchmarks/synthcity_e2e.py`` does): the run's matcher journal replayed in
      each mode (online / offline) with and without re-ranking, so the four numbers of a row share
      the workers' tracklets.

   c. re-id mAP / rank-1 on real vehicles: vehicle-reid-2cam ``val.txt`` (``benchmarks/reid_2cam.py``'s
      deployed path, both directions averaged).

``--start LAST_PT`` (issue 16 point 3: which order wins) also adapts from a model trained on labelled
vehicles (a ``mtmc reid train`` checkpoint, e.g. ``benchmarks/reid_2cam_models.py``'s
``runs/glamor-mobilenetv2-128/last.pt``: ``model.weights`` of the adapt config) and adds two rows:
that model as it was, and that model adapted. ``--no-pipeline`` skips b (the ``mtmc run`` of each row).

Writes ``benchmarks/.cache/reid_adapt/result.json`` and prints one table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from rich import box
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reid_2cam import evaluate_embedder, load_directions  # noqa: E402  (benchmarks/ is the script's folder)
from synthcity_e2e import replay  # noqa: E402

from mtmc.console import print_wide  # noqa: E402
from mtmc.reid.adapt import adapt, load_adapt_config  # noqa: E402
from mtmc.reid.data import ReidSample, ReidSplits  # noqa: E402
from mtmc.reid.data.mining import MiningOptions, crop_is_usable  # noqa: E402
from mtmc.reid.embedder import TorchEmbedder  # noqa: E402
from mtmc.reid.modeling.backbones.mobilenet import mobilenetv2_features  # noqa: E402
from mtmc.reid.engine import evaluate_on_splits, extract_features, load_checkpoint, load_model  # noqa: E402
from mtmc.reid.engine.checkpoint import model_spec, save_checkpoint  # noqa: E402
from mtmc.reid.engine.trainer import seed_everything  # noqa: E402
from mtmc.reid.export import export_checkpoint  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache" / "reid_adapt"
SCENARIOS = {name: ROOT / "configs" / f"synthcity-{name}.yaml" for name in ("street-a", "street-b")}
ADAPT_CONFIG = ROOT / "configs" / "reid" / "adapt-synthcity-street-a.yaml"
RUN_CONFIG = ROOT / "configs" / "demo.yaml"
IMAGENET_SIZE = (128, 128)  # the default embedder's input size
MIN_VISIBILITY = 0.7  # a ground-truth crop shows most of its vehicle
CROPS_PER_TRACK = 8
EVAL_BATCH = 64


def render(name: str, console: Console) -> Path:
    """The scenario folder of ``name``, rendered once."""
    folder = CACHE / f"synthcity-{name}"
    if not (folder / "ground_truth.txt").is_file():
        started = time.perf_counter()
        command = [sys.executable, "-m", "mtmc", "simulate", str(SCENARIOS[name]), "-o", str(folder), "-q"]
        subprocess.run(command, check=True)
        console.print(f"rendered {name} in {time.perf_counter() - started:.0f} s")
    return folder


def ground_truth_crops(scenario: Path, options: MiningOptions) -> ReidSplits:
    """Street-b's re-id set from its ground truth (see the module docstring), crops cached as JPEGs."""
    import cv2

    from mtmc.formats.motchallenge import read_mot

    folder = CACHE / "street-b-crops"
    marker = folder / "crops.json"
    parameters = {"visibility": MIN_VISIBILITY, "per_track": CROPS_PER_TRACK, "options": asdict(options)}
    if not (marker.is_file() and json.loads(marker.read_text())["parameters"] == parameters):
        for camera_dir in sorted(scenario.glob("c[0-9]*")):
            rows = read_mot(camera_dir / "gt" / "gt.txt", "ground truth")
            visibility = np.loadtxt(camera_dir / "gt" / "gt.txt", delimiter=",", usecols=8, ndmin=1)
            capture = cv2.VideoCapture(str(camera_dir / "vdo.mp4"))
            shape = (int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)))
            boxes = np.concatenate([rows.xywh[:, :2], rows.xywh[:, :2] + rows.xywh[:, 2:]], axis=1)
            usable = np.array(
                [v >= MIN_VISIBILITY and crop_is_usable(b, 1.0, shape, options) for v, b in zip(visibility, boxes)]
            )
            wanted: dict[int, list[int]] = {}
            for vehicle in np.unique(rows.id[usable]).tolist():
                index = np.flatnonzero(usable & (rows.id == vehicle))
                pick = np.linspace(0, len(index) - 1, min(CROPS_PER_TRACK, len(index))).round().astype(int)
                for k in index[pick].tolist():
                    wanted.setdefault(int(rows.frame[k]), []).append(k)
            frame = 0
            while wanted and frame < max(wanted):
                ok, image = capture.read()
                frame += 1
                if not ok:
                    break
                for k in wanted.get(frame, []):
                    x1, y1, x2, y2 = (int(round(v)) for v in boxes[k])
                    path = folder / f"v{rows.id[k]:05d}" / camera_dir.name / f"{frame:06d}.jpg"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(path), image[y1:y2, x1:x2], [cv2.IMWRITE_JPEG_QUALITY, 95])
            capture.release()
        marker.write_text(json.dumps({"parameters": parameters}))
    samples = [
        ReidSample(path=path, pid=int(path.parent.parent.name[1:]), camid=int(path.parent.name[1:]))
        for path in sorted(folder.glob("v*/c*/*.jpg"))
    ]
    cameras_of: dict[int, set[int]] = {}
    for sample in samples:
        cameras_of.setdefault(sample.pid, set()).add(sample.camid)
    query = [sample for sample in samples if len(cameras_of[sample.pid]) >= 2]
    return ReidSplits(name="street-b ground truth", root=folder, train=[], query=query, gallery=samples)


def reid_scores(model: torch.nn.Module, splits: ReidSplits, size: tuple[int, int]) -> dict[str, float]:
    query = extract_features(model, splits.query, size, batch_size=EVAL_BATCH)
    gallery = extract_features(model, splits.gallery, size, batch_size=EVAL_BATCH)
    results = evaluate_on_splits(splits, [query], [gallery])
    return {"mAP": float(results["mAP"]), "rank1": float(results["rank1"])}


def untrained_model(adapted: Path, seed: int) -> tuple[Path, Path]:
    """The adapted model's architecture at its training's seeded initialisation, as a checkpoint and
    its ONNX export (the trainer seeds, then builds: so does this)."""
    checkpoint = load_checkpoint(adapted)
    spec = model_spec(checkpoint)
    seed_everything(seed)
    model = spec.build()
    path = CACHE / "untrained.pt"
    state = {key: checkpoint[key] for key in ("model_name", "model_options", "num_classes", "input_size", "feature_dim")}
    save_checkpoint({**state, "model": model.state_dict()}, path)
    return path, export_checkpoint(path, CACHE / "untrained.onnx").path


def pipeline(label: str, embedder: dict[str, Any], scenario: Path, console: Console) -> list[dict[str, Any]]:
    """``mtmc run`` on ``scenario`` with ``embedder`` (matcher online), then its journal replayed in
    each matcher mode with and without re-ranking."""
    run_dir = CACHE / f"run-{label}"
    config = yaml.safe_load(RUN_CONFIG.read_text())
    config.update(scenario=str(scenario), output={"dir": str(run_dir), "video": False}, embedder=embedder)
    config["matcher"].update(dashboard=None, publish=None)
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "run.yaml"
    config_path.write_text(yaml.safe_dump(config))
    started = time.perf_counter()
    log = run_dir / "run.log"  # its own score table and notes: the rows below replay the same run
    with log.open("w") as stream:
        command = [sys.executable, "-m", "mtmc", "run", str(config_path), "-q", "--no-video"]
        done = subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT)
    if done.returncode:
        sys.exit(f"mtmc run with {label} failed (exit {done.returncode}):\n{log.read_text()[-3000:]}")
    console.print(f"mtmc run with {label}: {time.perf_counter() - started:.0f} s (log: {log})")
    return [
        replay(config_path, run_dir / "matcher.journal", run_dir / f"{mode}-{'rerank' if rerank else 'plain'}", mode, rerank)
        for mode in ("online", "offline")
        for rerank in (False, True)
    ]  # fmt: skip


def run_adapt(config, out: Path, skip: bool, console: Console) -> tuple[dict[str, Any], float]:
    """``mtmc reid adapt`` of ``config`` into ``out`` (reused with ``skip``), its report and seconds."""
    config = config.model_copy(update={"output_dir": out})
    started = time.perf_counter()
    if skip and (out / "model.onnx").is_file():
        report = json.loads((out / "report.json").read_text())
    else:
        report = adapt(config, device="cpu", progress=console.is_terminal, echo=False).report
    for item in report["rounds"]:
        statistics, truth = item["statistics"], item["statistics"].get("truth") or {}
        console.print(
            f"{out.name} round {item['round']}: {statistics['identities']} pseudo-identities from {statistics['tracks']} "
            f"tracks, image purity {100 * truth.get('image_purity', float('nan')):.1f}%, cross-camera links "
            f"{truth.get('cross_camera_links', 0)} (precision {truth.get('link_precision')}), "
            f"{item['iterations']} iterations in {item['seconds']:.0f} s"
        )
    return report, time.perf_counter() - started


def real_vehicle_scores(
    model: torch.nn.Module, size: tuple[int, int], directions: dict[int, ReidSplits], threads: int
) -> dict[str, float]:
    """Mean mAP / rank-1 of both directions on vehicle-reid-2cam val (real vehicles)."""
    embedder = TorchEmbedder(model, dim=int(getattr(model, "feature_dim", 1280)), threads=threads, input_size=size)
    return evaluate_embedder(embedder, directions)["mean"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-adapt", action="store_true", help="reuse the last adapted models in the cache")
    parser.add_argument("--start", type=Path, help="also adapt from this trained checkpoint (mtmc reid train's last.pt)")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the mtmc run of each embedder")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console(soft_wrap=True)
    started = time.perf_counter()
    scenario_a, scenario_b = render("street-a", console), render("street-b", console)

    config = load_adapt_config(ADAPT_CONFIG)
    config = config.model_copy(update={"source": config.source.model_copy(update={"scenario": scenario_a})})
    report, adapt_seconds = run_adapt(config, CACHE / "adapted", args.skip_adapt, console)
    adapted_pt, adapted_onnx = CACHE / "adapted" / "model.pt", CACHE / "adapted" / "model.onnx"
    untrained_pt, untrained_onnx = untrained_model(adapted_pt, config.seed)

    splits = ground_truth_crops(scenario_b, config.mining_options())
    console.print(
        f"street-b ground-truth crops: {len(splits.gallery)} in the gallery, {len(splits.query)} queries, "
        f"{len({s.pid for s in splits.gallery})} vehicles ({len({s.pid for s in splits.query})} in 2+ cameras)"
    )
    models: dict[str, tuple[torch.nn.Module, tuple[int, int], dict[str, Any]]] = {}
    adapted_model, spec = load_model(adapted_pt)
    models["adapted"] = (adapted_model, spec.input_size, {"name": "reid", "weights": str(adapted_onnx)})
    if args.start is not None:
        start_model, start_spec = load_model(args.start)
        start_onnx = export_checkpoint(args.start, CACHE / "start.onnx").path
        models["labelled (start)"] = (start_model, start_spec.input_size, {"name": "reid", "weights": str(start_onnx)})
        start_config = config.model_copy(update={"model": config.model.model_copy(update={"weights": args.start})})
        run_adapt(start_config, CACHE / "adapted-from-start", args.skip_adapt, console)
        from_start, from_start_spec = load_model(CACHE / "adapted-from-start" / "model.pt")
        models["labelled, then adapted"] = (
            from_start, from_start_spec.input_size,
            {"name": "reid", "weights": str(CACHE / "adapted-from-start" / "model.onnx")},
        )
    untrained, _ = load_model(untrained_pt)
    models["imagenet-mobilenetv2"] = (mobilenetv2_features(), IMAGENET_SIZE, {"name": "mobilenetv2-imagenet"})
    models["untrained"] = (untrained, spec.input_size, {"name": "reid", "weights": str(untrained_onnx)})
    real = load_directions()
    rows = {
        label: {"reid": reid_scores(model, splits, size), "real": real_vehicle_scores(model, size, real, args.threads),
                "embedder": embedder}
        for label, (model, size, embedder) in models.items()
    }  # fmt: skip
    for label, row in rows.items():
        row["pipeline"] = [] if args.no_pipeline else pipeline(label, row["embedder"], scenario_b, console)

    columns = [] if args.no_pipeline else [(mode, rerank) for mode in ("online", "offline") for rerank in (False, True)]
    table = Table(
        "embedder",
        "street-b mAP %",
        "rank-1 %",
        "real 2cam val mAP %",
        "rank-1 %",
        *[f"IDF1 {mode}{' + rerank' if rerank else ''}" for mode, rerank in columns],
        box=box.SIMPLE_HEAD,
        title="street-b (vehicles never seen in adaptation): re-id on ground-truth crops, AI City IDF1 of mtmc run;"
        " real vehicles: vehicle-reid-2cam val",
    )
    for label, row in rows.items():
        idf1 = {(r["mode"], r["rerank"]): r["idf1"] for r in row["pipeline"]}
        table.add_row(
            label,
            f"{100 * row['reid']['mAP']:.1f}",
            f"{100 * row['reid']['rank1']:.1f}",
            f"{100 * row['real']['mAP']:.1f}",
            f"{100 * row['real']['rank1']:.1f}",
            *[f"{idf1[key]:.3f}" for key in columns],
        )
    print_wide(table)
    adapted, imagenet = rows["adapted"], rows["imagenet-mobilenetv2"]
    beats = adapted["reid"]["mAP"] > imagenet["reid"]["mAP"]
    idf1_wins = sum(
        a["idf1"] > b["idf1"] for a, b in zip(adapted["pipeline"], imagenet["pipeline"])
    )
    verdict = (
        f"adapted model {'beats' if beats else 'does NOT beat'} ImageNet MobileNetV2 on street-b re-id mAP "
        f"({100 * adapted['reid']['mAP']:.1f}% vs {100 * imagenet['reid']['mAP']:.1f}%)"
        + (f" and has the higher IDF1 in {idf1_wins} of {len(columns)} matcher settings" if columns else "")
    )
    total = time.perf_counter() - started
    print(verdict)
    print(f"total {total:.0f} s on {args.threads} threads (adaptation {adapt_seconds:.0f} s)")
    result = {
        "scenarios": {name: str(CACHE / f"synthcity-{name}") for name in SCENARIOS},
        "adapt_config": str(ADAPT_CONFIG),
        "adapt_report": report,
        "street_b_crops": {"gallery": len(splits.gallery), "queries": len(splits.query)},
        "rows": rows,
        "verdict": verdict,
        "adapt_seconds": round(adapt_seconds, 1),
        "total_seconds": round(total, 1),
    }
    (CACHE / "result.json").write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"wrote {CACHE / 'result.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
