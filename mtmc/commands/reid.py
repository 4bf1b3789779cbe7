"""``mtmc reid``: train, evaluate, list and export the vehicle re-id models."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mtmc.errors import MtmcError
from mtmc.outputs.paths import writable_dir, writable_file

HELP = "train, evaluate, list and export vehicle re-id models"
DESCRIPTION = """\
Vehicle re-identification models of the papers (GLAMOR, Counter-GLAMOR, VAL, AttributeNet, PGAN):

  train    train CONFIG's model (configs/reid/*.yaml) into its output_dir: last.pt every epoch,
           best.pt (best query/gallery mAP), history.json, curves.png, train.log
  eval     query/gallery mAP and CMC of a checkpoint (or an ensemble of them), optionally with
           k-reciprocal re-ranking and distance averaging by track
  summary  every registered model: parameters, feature size, input size
  export   a checkpoint as ONNX (dynamic batch), checked against PyTorch
  adapt    learn re-id from your own cameras without labels: track each camera, train on
           confident tracks as identities, optionally cluster tracks across cameras and retrain
  calibrate
           a model's same / different-vehicle distances on labelled pairs, with which the matcher
           turns its appearance distances into evidence (shipped models carry theirs)
"""
EPILOG = """\
examples:
  mtmc reid train configs/reid/glamor-veri.yaml
  mtmc reid train configs/reid/glamor-veri.yaml --resume --epochs 120
  mtmc reid eval configs/reid/glamor-veri.yaml --rerank
  mtmc reid eval --checkpoint runs/reid/glamor-veri/best.pt --ensemble runs/reid/pgan-veri/best.pt
  mtmc reid summary
  mtmc reid export runs/reid/glamor-veri/best.pt -o weights/glamor-veri.onnx
  mtmc reid adapt configs/reid/adapt-synthcity-street-a.yaml
  mtmc reid calibrate glamor-mobilenetv2-2cam ../shared/data/vehicle-reid-2cam -o 2cam.calibration.yaml
"""
DEFAULT_SUMMARY_CLASSES = 576  # VeRi-776's training identities
ADAPT_DESCRIPTION = """\
Adapt a re-id model to CONFIG's cameras with no labels. Each camera is tracked on its own
(YOLOX-Nano + deepsort-byte, or the parts of CONFIG's run config); every confident, long, moving
track becomes one pseudo-identity (tracks of one camera that overlap in time are different
vehicles). The model (GLAMOR from ImageNet MobileNetV2 by default) trains on them with its own
losses. With rounds, each round embeds every track with the current model, clusters tracks across
cameras (never two tracks of one camera; topology travel times gate the pairs; the stopping
distance is a low quantile of the distances between known-different tracks) and fine-tunes on
the clusters. A folder of crops instead of footage (source: {images: {root: DIR}}, one vehicle
per image, its camera from its folder or camera_pattern): each crop is its own track and round 0
already clusters them across cameras with the start model.

Writes to output_dir: model.pt (run it with `embedder: {name: reid, weights: PATH}`), model.onnx,
report.md and report.json (mining and pseudo-label statistics per round; purity when the cameras
have ground truth), curves.png, mining/ (tracks and crops, reused when mining is unchanged) and
round-K/ (each round's training set, checkpoints, history, curves, train.log). With check:
(labelled vehicles), the model it started from and the adapted one are scored on them, and if
adaptation lost mAP, it says so and model.pt is the model it started from."""
ADAPT_EPILOG = """\
examples:
  mtmc simulate configs/synthcity-street-a.yaml -o runs/synthcity-street-a
  mtmc reid adapt configs/reid/adapt-synthcity-street-a.yaml
  mtmc reid adapt configs/reid/adapt-synthcity-street-a.yaml --rounds 0 --out runs/reid/adapt-r0
  mtmc reid adapt configs/reid/adapt-city-from-2cam.yaml   # fine-tune the labelled model, checked
  mtmc reid adapt configs/reid/adapt-2cam-crops.yaml       # ... on crops without identities
"""
CALIBRATE_DESCRIPTION = """\
Measure how MODEL's cosine distances (1 - cos) differ between one vehicle seen by two cameras and
two vehicles, on a labelled re-id set, so the matcher can turn a distance into evidence (a
log-likelihood ratio). Every image of the split is embedded whole (the image is the crop) and
L2-normalised; the features of each vehicle in each camera are averaged into one, as the matcher
averages a track's features, and every pair of these track means from two different cameras is a
same-vehicle or a different-vehicle pair. A Beta distribution is fitted to each set of distances.

Prints the pairs, each set's mean and spread, the ROC AUC, the distance where the evidence turns
from same to different (LLR = 0) and the LLR at a few distances; writes OUT.yaml
(calibration: {...}) for the weights manifest or a run's embedder: {calibration: OUT.yaml}, or
prints it without -o. A file named WEIGHTS.calibration.yaml beside a weights file is found by
itself."""
CALIBRATE_EPILOG = """\
examples:
  mtmc reid calibrate glamor-mobilenetv2-2cam ../shared/data/vehicle-reid-2cam --plot 2cam.png
  mtmc reid calibrate runs/reid/mine/best.pt ../shared/data/vehicle-reid-2cam -o runs/reid/mine/best.pt.calibration.yaml
  mtmc reid calibrate mobilenetv2-imagenet /data/VeRi --dataset veri776 --split test -o imagenet-veri.yaml
"""
LLR_SHOWN_AT = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8)  # distances whose LLR the summary prints


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reid",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)

    train = actions.add_parser(
        "train",
        help="train CONFIG's model",
        description="Train CONFIG's model into its output_dir: last.pt every epoch, best.pt (best "
        "query/gallery mAP), history.json, curves.png, train.log.",
    )
    train.add_argument("config", metavar="CONFIG", help="experiment YAML (configs/reid/*.yaml)")
    train.add_argument("--resume", action="store_true", help="continue from OUT/last.pt where it stopped")
    train.add_argument(
        "--epochs", type=int, metavar="N", help="override epochs (e.g. to go on after a resume)"
    )
    train.add_argument("-o", "--out", metavar="DIR", help="override output_dir")
    train.add_argument("--data", metavar="ROOT", help="override data.root (the dataset's folder)")
    train.add_argument("--workers", type=int, metavar="N", help="override data.num_workers")
    add_device(train)
    train.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bar; only warnings on the console (train.log has everything)",
    )
    train.set_defaults(run=run_train)

    evaluate = actions.add_parser(
        "eval",
        help="mAP / CMC of a checkpoint or an ensemble",
        description="Query/gallery mAP and CMC (VeRi-776 protocol; with gallery tracks also the "
        "image-to-track scores) of CONFIG's best.pt (else last.pt) or of --checkpoint.",
    )
    evaluate.add_argument(
        "config", nargs="?", metavar="CONFIG", help="experiment YAML: its output_dir's checkpoint and data"
    )
    evaluate.add_argument(
        "--checkpoint", metavar="CKPT", help="a checkpoint instead of CONFIG's (data: its own config)"
    )
    evaluate.add_argument("--data", metavar="ROOT", help="override the dataset's folder")
    evaluate.add_argument(
        "--dataset", metavar="NAME", help="override the dataset reader (veri776, folders, ...)"
    )
    evaluate.add_argument(
        "--ensemble",
        nargs="+",
        default=[],
        metavar="CKPT",
        help="more checkpoints; distances averaged (001 §3.3)",
    )
    evaluate.add_argument(
        "--rerank", action="store_true", help="k-reciprocal re-ranking (Zhong et al.; 001 Eq. 6-7)"
    )
    evaluate.add_argument("--k1", type=int, default=20, metavar="N", help="re-ranking k1 (default 20)")
    evaluate.add_argument("--k2", type=int, default=6, metavar="N", help="re-ranking k2 (default 6)")
    evaluate.add_argument(
        "--lambda",
        dest="lambda_",
        type=float,
        default=0.3,
        metavar="L",
        help="re-ranking lambda (default 0.3)",
    )
    evaluate.add_argument(
        "--track-average", action="store_true", help="average distances by gallery track (001 §3.4.2)"
    )
    evaluate.add_argument(
        "--batch-size", type=int, default=128, metavar="N", help="images per forward pass (default 128)"
    )
    evaluate.add_argument("--json", metavar="OUT", help="also write the numbers as JSON")
    add_device(evaluate)
    evaluate.set_defaults(run=run_eval)

    summary = actions.add_parser("summary", help="every registered model: parameters and feature size")
    summary.add_argument(
        "--num-classes",
        type=int,
        default=DEFAULT_SUMMARY_CLASSES,
        metavar="N",
        help=f"identities the classifiers are built for (default {DEFAULT_SUMMARY_CLASSES}, VeRi-776)",
    )
    summary.set_defaults(run=run_summary)

    export = actions.add_parser("export", help="a checkpoint as ONNX, checked against PyTorch")
    export.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint of `mtmc reid train`")
    export.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="ONNX file to write")
    export.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    export.add_argument(
        "--atol", type=float, default=1e-4, help="largest |onnx - torch| accepted (default 1e-4)"
    )
    export.add_argument(
        "--fp16",
        action="store_true",
        help="store the weights as float16 (half the file; still computed in float32), checked by cosine >= 0.999",
    )
    export.add_argument("--no-check", action="store_true", help="skip the onnxruntime vs PyTorch check")
    export.set_defaults(run=run_export)

    adapt = actions.add_parser(
        "adapt",
        help="self-supervised adaptation to CONFIG's cameras",
        description=ADAPT_DESCRIPTION,
        epilog=ADAPT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    adapt.add_argument("config", metavar="CONFIG", help="adaptation YAML (configs/reid/adapt-*.yaml)")
    adapt.add_argument("-o", "--out", metavar="DIR", help="override output_dir")
    adapt.add_argument("--rounds", type=int, metavar="N", help="override rounds.count (0: no clustering)")
    adapt.add_argument(
        "--workers", type=int, default=2, metavar="N", help="cameras mined in parallel (default 2)"
    )
    add_device(adapt)
    adapt.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars or step lines; warnings only"
    )
    adapt.set_defaults(run=run_adapt)

    calibrate = actions.add_parser(
        "calibrate",
        help="a model's same / different-vehicle distances, as matcher evidence",
        description=CALIBRATE_DESCRIPTION,
        epilog=CALIBRATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    calibrate.add_argument(
        "model",
        metavar="MODEL",
        help="weights name (weights/manifest.yaml) or a .onnx / .pt path, run as the reid embedder; "
        "mobilenetv2-imagenet: the ImageNet embedder",
    )
    calibrate.add_argument("data", metavar="DATA", help="a labelled re-id data set's folder")
    calibrate.add_argument("-o", "--out", metavar="OUT.yaml", help="write the calibration here (default: print it)")
    calibrate.add_argument(
        "--split",
        default="val",
        help="vehicle-reid-2cam: the list file SPLIT.txt; other sets: train, or val / test (query and "
        "gallery) (default val)",
    )
    calibrate.add_argument(
        "--dataset",
        metavar="NAME",
        help="the data set's reader (vehicle-reid-2cam, folders, veri776, vehicleid, veriwild, cityflow-reid); "
        "default: vehicle-reid-2cam for its layout, else folders",
    )
    calibrate.add_argument("--plot", metavar="OUT.png", help="also plot both distance sets, the fit and the LLR")
    calibrate.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    calibrate.set_defaults(run=run_calibrate)
    p.set_defaults(command="reid")


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device", default="auto", metavar="cpu|cuda|auto", help="default auto: CUDA when available"
    )


def run_train(args: argparse.Namespace) -> int:
    from mtmc.reid.config import load_experiment
    from mtmc.reid.engine import Trainer

    config = load_experiment(args.config)
    data_updates: dict[str, Any] = {}
    if args.data:
        data_updates["root"] = Path(args.data)
    if args.workers is not None:
        data_updates["num_workers"] = check_at_least("--workers", args.workers, 0)
    updates: dict[str, Any] = {"data": config.data.model_copy(update=data_updates)}
    if args.epochs is not None:
        updates["epochs"] = check_at_least("--epochs", args.epochs, 1)
    if args.out:
        updates["output_dir"] = Path(args.out)
    config = config.model_copy(update=updates)
    writable_dir(config.output_dir, "training output folder")
    trainer = Trainer(config, device=args.device, progress=not args.quiet, echo=not args.quiet)
    result = trainer.fit(resume=args.resume)
    best = (
        f"best mAP {100 * result.best_map:.2f}% at epoch {result.best_epoch}, "
        if result.best_map is not None
        else ""
    )
    print(f"{best}checkpoints in {result.output_dir}", file=sys.stderr)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    if args.json:
        writable_file(args.json, "JSON file")
    from rich import box
    from rich.table import Table

    from mtmc.console import print_wide
    from mtmc.reid.data import load_dataset
    from mtmc.reid.engine import (
        evaluate_on_splits,
        extract_features,
        load_checkpoint,
        load_model,
        resolve_device,
    )
    from mtmc.reid.engine.inference import require_test_split
    from mtmc.reid.engine.trainer import BEST_CHECKPOINT, LAST_CHECKPOINT
    from mtmc.reid.evaluation import RerankConfig

    if bool(args.config) == bool(args.checkpoint):
        raise MtmcError("give CONFIG (its output_dir's best.pt) or --checkpoint CKPT, one of the two")
    if args.config:
        from mtmc.reid.config import load_experiment

        config = load_experiment(args.config)
        candidates = [config.output_dir / BEST_CHECKPOINT, config.output_dir / LAST_CHECKPOINT]
        checkpoint_path = next((c for c in candidates if c.is_file()), None)
        if checkpoint_path is None:
            raise MtmcError(
                f"no checkpoint in {config.output_dir} (train first: mtmc reid train {args.config})"
            )
        data = config.data.model_dump(mode="json")
    else:
        checkpoint_path = Path(args.checkpoint)
        data = load_checkpoint(checkpoint_path)["config"]["data"]
    rerank = None
    if args.rerank:
        try:
            rerank = RerankConfig(k1=args.k1, k2=args.k2, lambda_=args.lambda_)
        except ValueError as error:
            raise MtmcError(f"--rerank: {error}") from None
    if args.batch_size < 1:
        raise MtmcError(f"--batch-size must be >= 1, got {args.batch_size}")
    device = resolve_device(args.device)
    splits = load_dataset(
        args.dataset or data["dataset"], args.data or data["root"], **data.get("options", {})
    )
    require_test_split(splits)

    query_features, gallery_features, names = [], [], []
    for path in [checkpoint_path, *map(Path, args.ensemble)]:
        model, spec = load_model(path, device)
        options = {"batch_size": args.batch_size, "device": device}
        query_features.append(extract_features(model, splits.query, spec.input_size, **options))
        gallery_features.append(extract_features(model, splits.gallery, spec.input_size, **options))
        names.append(f"{spec.name} ({path})")
        del model
    results = evaluate_on_splits(
        splits, query_features, gallery_features, rerank=rerank, average_tracks=args.track_average
    )

    setting = " + ".join(names) + (
        f", re-ranked (k1={args.k1}, k2={args.k2}, lambda={args.lambda_})" if rerank else ""
    )
    setting += ", distances averaged by track" if args.track_average else ""
    print(f"{splits.name} ({splits.root}): {setting}")
    table = Table("metric", "value", box=box.SIMPLE_HEAD)
    for key, value in results.items():
        table.add_row(
            key, f"{100 * value:.2f}%" if key.startswith(("mAP", "rank", "track_")) else f"{value:g}"
        )
    print_wide(table)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"models": names, "rerank": bool(rerank), **results}, indent=1) + "\n",
            encoding="utf-8",
        )
    return 0


def run_summary(args: argparse.Namespace) -> int:
    from rich import box
    from rich.table import Table

    from mtmc.console import print_wide

    classes = check_at_least("--num-classes", args.num_classes, 2)
    table = Table(
        "model",
        "parameters",
        "feature",
        "input (H x W)",
        box=box.SIMPLE_HEAD,
        title=f"re-id models, classifiers for {classes} identities",
    )
    for name, parameters, feature_dim, input_size in model_summaries(classes):
        table.add_row(
            name, f"{parameters / 1e6:.2f} M", str(feature_dim), f"{input_size[0]} x {input_size[1]}"
        )
    print_wide(table)
    return 0


def model_summaries(
    num_classes: int, names: list[str] | None = None
) -> list[tuple[str, int, int, tuple[int, int]]]:
    """(name, parameter count, feature size, default input size) of the models ``names`` (default:
    every registered one), each built with its paper's recipe (the constructor defaults)."""
    from mtmc.reid.modeling import MODELS, build_model

    rows = []
    for name in MODELS.names() if names is None else names:
        model = build_model(name, num_classes=num_classes)
        rows.append(
            (
                name,
                sum(p.numel() for p in model.parameters()),
                int(model.feature_dim),
                tuple(model.input_size),
            )
        )
        del model
    return rows


def run_export(args: argparse.Namespace) -> int:
    from mtmc.reid.export import export_checkpoint

    writable_file(args.output, "ONNX file")
    report = export_checkpoint(
        args.checkpoint, args.output, opset=args.opset, check=not args.no_check, atol=args.atol, fp16=args.fp16
    )
    spec = report.spec
    check = (
        "not checked"
        if report.max_abs_diff is None
        else f"max |onnx - torch| = {report.max_abs_diff:.2g}, min cosine {report.min_cosine:.6f}"
    )
    if args.fp16:
        check += "; weights stored as float16"
    print(
        f"{spec.name}: (B, 3, {spec.input_size[0]}, {spec.input_size[1]}) -> (B, {spec.feature_dim}) "
        f"written to {report.path} ({check})",
        file=sys.stderr,
    )
    return 0


def run_adapt(args: argparse.Namespace) -> int:
    import logging

    from mtmc.reid.adapt import adapt, load_adapt_config

    config = load_adapt_config(args.config)
    updates: dict[str, Any] = {}
    if args.out:
        updates["output_dir"] = Path(args.out)
    if args.rounds is not None:
        updates["rounds"] = config.rounds.model_copy(update={"count": check_at_least("--rounds", args.rounds, 0)})
    config = config.model_copy(update=updates)
    writable_dir(config.output_dir, "adaptation output folder")
    workers = check_at_least("--workers", args.workers, 1)
    if not args.quiet:
        logging.getLogger("mtmc.reid.adapt").setLevel(logging.INFO)
    result = adapt(config, device=args.device, progress=not args.quiet, echo=not args.quiet, workers=workers)
    print(f"adapted weights {result.checkpoint} and {result.onnx}; report {result.output_dir / 'report.md'}",
          file=sys.stderr)  # fmt: skip
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    from mtmc.match.evidence import AppearanceCalibration
    from mtmc.reid.calibration import (
        calibration_yaml,
        cross_camera_distances,
        cross_camera_vehicles,
        embedder_part,
        guess_dataset,
        plot_calibration,
        roc_auc,
        split_samples,
    )
    from mtmc.reid.data import DATASETS
    from mtmc.reid.embedder import build_embedder

    for path, what in ((args.out, "calibration file"), (args.plot, "plot")):
        if path:
            writable_file(path, what)
    root = Path(args.data)
    dataset = args.dataset or guess_dataset(root)
    if dataset not in DATASETS.names():
        raise MtmcError(f"unknown --dataset '{dataset}': known readers are {', '.join(DATASETS.names())}")
    samples = split_samples(root, args.split, dataset)
    seen_twice = cross_camera_vehicles(samples)
    if seen_twice < 2:
        raise MtmcError(
            f"{dataset} {args.split} ({root}): {seen_twice} vehicles seen by two or more cameras; calibration "
            f"needs at least 2 (pick a split of labelled images from several cameras, e.g. --split val)"
        )
    part = embedder_part(args.model)
    embedder = build_embedder(part.pop("name"), **part)
    same, different = cross_camera_distances(embedder, samples, progress=not args.quiet)
    vehicles = len({s.pid for s in samples})
    source = f"{dataset} {args.split}, {vehicles} vehicles, cross-camera"
    calibration = AppearanceCalibration.fit(same, different, data=source)

    print(f"{args.model} on {source} ({len(samples)} images, averaged per vehicle and camera):")
    for label, values in (("same vehicle", same), ("different vehicles", different)):
        print(f"  {label:19} {len(values):7d} pairs  distance mean {values.mean():.3f}  std {values.std(ddof=1):.3f}")
    print(f"  ROC AUC {roc_auc(same, different):.4f}; LLR = 0 at distance {calibration.distance_at(0.0):.3f}; "
          f"twins {calibration.twins:.2%} of the different pairs (appearance alone at most {calibration.llr(0.0):+.1f})")  # fmt: skip
    llrs = calibration.llr(LLR_SHOWN_AT)
    print("  LLR at distance " + ", ".join(f"{d:g}: {v:+.1f}" for d, v in zip(LLR_SHOWN_AT, llrs)))
    text = calibration_yaml(calibration)
    if args.plot:
        plot_calibration(calibration, same, different, Path(args.plot), f"{args.model} on {source}")
        print(f"plot written to {args.plot}", file=sys.stderr)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"calibration written to {args.out} (use it: embedder: {{calibration: {args.out}}})", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def check_at_least(flag: str, value: int, least: int) -> int:
    if value < least:
        raise MtmcError(f"{flag} must be >= {least}, got {value}")
    return value
