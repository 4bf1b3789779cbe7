"""Vehicle re-id on real labelled vehicles (issue 16 point 3): every embedder on the held-out
vehicles of vehicle-reid-2cam, both directions, as the running system would embed them.

    .venv/bin/python benchmarks/reid_2cam.py [--list val.txt] [--candidate LABEL=NAME_OR_PATH ...]
                                             [--json OUT] [--threads 2]

Data: ``../shared/data/vehicle-reid-2cam`` (real road cameras, Apache-2.0): each vehicle seen once by
each of two cameras. ``--list`` names the vehicles scored (default ``val.txt``: the 102 vehicles no
model was trained on). cam1 -> cam2 takes the cam1 views as queries and the cam2 views as the
gallery (each query has exactly one true match, so mAP is its mean reciprocal rank), cam2 -> cam1
the reverse; the table shows both and their mean, the number the issue's goal is stated in, and
the recolour AUC (``mtmc.reid.evaluation.recolour``: is a vehicle's other view nearer than that view
repainted? 0.5 colour-blind, 1.0 every repaint told apart; coloured vehicles only).

Embedders: each runs through :func:`mtmc.reid.embedder.build_embedder` exactly as a run config names it
(the crop is the whole image: resized as training resizes, antialiased; BGR -> RGB, ImageNet-normalised,
L2-normalised), so the numbers are the deployed path's, not a training-time evaluation's. Defaults: ImageNet
MobileNetV2 features (``mobilenetv2-imagenet``), the adapted weights shipped before issue 16
(``glamor-adapted-street-a``), the untrained GLAMOR-MobileNetV2 (its ImageNet start, the seeded
initialisation every training run begins from) and chance; ``--candidate LABEL=WEIGHTS`` adds a
``reid`` embedder (a checkpoint ``.pt`` or an ``.onnx`` export, or a manifest name).

Writes ``benchmarks/.cache/reid_2cam/result.json`` (or ``--json``) and prints one table, then the
cross-validation table: every recipe variant ``benchmarks/reid_cv.py`` has run (its JSON files in
``benchmarks/.cache/reid_cv/``, or ``--cv FILE ...``), mean and spread over its folds. ``--cv-only``
prints that table alone. Choose by the cross-validation: val is one split of 102 vehicles, and the
shipped model is trained on them too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from rich import box
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtmc.console import print_wide  # noqa: E402
from mtmc.reid.data import ReidSplits  # noqa: E402
from mtmc.reid.embedder import Embedder, TorchEmbedder, build_embedder  # noqa: E402
from mtmc.reid.evaluation.deployed import DIRECTIONS, deployed_scores, retrieval, two_camera_directions  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "vehicle-reid-2cam"
CACHE = ROOT / "benchmarks" / ".cache" / "reid_2cam"
CV_CACHE = ROOT / "benchmarks" / ".cache" / "reid_cv"
CHANCE_DRAWS = 20


def load_directions(test_list: str = "val.txt") -> dict[str, ReidSplits]:
    """Both directions' splits of ``test_list`` (direction name -> splits), trained on the other list."""
    return two_camera_directions(DATA, test_list, train="val.txt" if test_list == "train.txt" else "train.txt")


def untrained_glamor(threads: int) -> Embedder:
    """GLAMOR on ImageNet MobileNetV2 at the seeded initialisation training starts from."""
    from mtmc.reid.engine.trainer import seed_everything
    from mtmc.reid.modeling import build_model

    seed_everything(0)
    model = build_model("glamor", num_classes=405, backbone="mobilenetv2", pretrained=True)
    return TorchEmbedder(model, dim=model.feature_dim, threads=threads, input_size=(128, 128))


def evaluate_embedder(embedder: Embedder | None, directions: dict[str, ReidSplits]) -> dict[str, Any]:
    """Both directions and their mean through the deployed path (``mtmc.reid.evaluation.deployed``);
    ``None`` scores random features (chance, mean of draws; its recolour AUC is 0.5 by definition)."""
    if embedder is not None:
        return deployed_scores(embedder, directions)
    paths = sorted({s.path for splits in directions.values() for s in splits.query + splits.gallery})
    draws = [dict(zip(paths, np.random.default_rng(seed).standard_normal((len(paths), 64)))) for seed in range(CHANCE_DRAWS)]
    result: dict[str, Any] = {}
    for name, splits in directions.items():
        scores = [retrieval(features, splits) for features in draws]
        result[name] = {k: float(np.mean([s[k] for s in scores])) for k in ("mAP", "rank1")}
    result["mean"] = {k: float(np.mean([result[n][k] for n in directions])) for k in ("mAP", "rank1")}
    result["recolour"] = {"auc": 0.5, "vehicles": 0}
    return result


def spread(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    """Mean +- sample standard deviation (the mean alone for one value)."""
    mean = f"{scale * np.mean(values):.{digits}f}"
    return f"{mean} +- {scale * np.std(values, ddof=1):.{digits}f}" if len(values) > 1 else mean


def cv_row(result: dict[str, Any]) -> list[str]:
    """A cross-validation result (``reid_cv.py``'s JSON) as a table row."""
    folds = result["folds"]
    overrides = ", ".join(f"{k}={v}" for k, v in result.get("overrides", {}).items())
    return [
        Path(result["recipe"]).stem + (f" ({overrides})" if overrides else ""),
        f"{len(folds)} of {result.get('folds_of', len(folds))}",
        spread([f["mean"]["mAP"] for f in folds]),
        spread([f["mean"]["rank1"] for f in folds]),
        spread([f["recolour"]["auc"] for f in folds], 1.0, 3),
    ]


def cv_table(paths: list[Path]) -> Table:
    table = Table("recipe (overrides)", "folds", "mAP", "rank-1", "recolour AUC", box=box.SIMPLE_HEAD,
                  title="vehicle-reid-2cam, cross-validation over vehicles (%, mean +- spread over the folds)")  # fmt: skip
    for path in paths:
        result = json.loads(path.read_text())
        if result.get("folds"):
            table.add_row(*cv_row(result))
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", default="val.txt", help="the vehicles scored (default val.txt)")
    parser.add_argument("--candidate", action="append", default=[], metavar="LABEL=WEIGHTS",
                        help="a reid embedder to add (checkpoint, ONNX or manifest name); repeatable")
    parser.add_argument("--no-baselines", action="store_true", help="only the --candidate embedders")
    parser.add_argument("--json", type=Path, default=CACHE / "result.json")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cv", type=Path, nargs="+", metavar="JSON",
                        help="cross-validation results to tabulate (default every file in benchmarks/.cache/reid_cv/)")
    parser.add_argument("--cv-only", action="store_true", help="print the cross-validation table only")
    args = parser.parse_args()
    cv_files = args.cv if args.cv is not None else sorted(CV_CACHE.glob("*.json"))
    if args.cv_only:
        print_wide(cv_table(cv_files))
        return 0

    directions = load_directions(args.list)
    print(f"vehicle-reid-2cam {args.list}: {len(directions['cam1->cam2'].query)} vehicles, one view per camera")

    builders: dict[str, Any] = {}
    if not args.no_baselines:
        builders["ImageNet MobileNetV2 (mobilenetv2-imagenet)"] = lambda: build_embedder(
            "mobilenetv2-imagenet", threads=args.threads
        )
        builders["shipped before: glamor-adapted-street-a"] = lambda: build_embedder(
            "reid", weights="glamor-adapted-street-a", threads=args.threads
        )
        builders["untrained GLAMOR-MobileNetV2 (ImageNet start)"] = lambda: untrained_glamor(args.threads)
    for item in args.candidate:
        label, _, weights = item.partition("=")
        if not weights:
            parser.error(f"--candidate takes LABEL=WEIGHTS, got {item!r}")
        builders[label] = lambda w=weights: build_embedder("reid", weights=w, threads=args.threads)
    if not args.no_baselines:
        builders["chance (random features)"] = lambda: None

    results: dict[str, Any] = {}
    for label, build in builders.items():
        results[label] = evaluate_embedder(build(), directions)
        print(f"  {label}: mean mAP {results[label]['mean']['mAP']:.3f}, rank-1 {results[label]['mean']['rank1']:.3f},"
              f" recolour AUC {results[label]['recolour']['auc']:.3f} ({results[label]['recolour']['vehicles']} coloured vehicles)")  # fmt: skip
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"list": args.list, "results": results}, indent=1))

    table = Table("embedder", *(f"{n} mAP / R1" for _, n in DIRECTIONS), "mean mAP", "mean rank-1", "recolour AUC",
                  box=box.SIMPLE_HEAD, title=f"vehicle-reid-2cam {args.list} (%)")
    for label, result in results.items():
        table.add_row(
            label,
            *(f"{100 * result[n]['mAP']:.1f} / {100 * result[n]['rank1']:.1f}" for _, n in DIRECTIONS),
            f"{100 * result['mean']['mAP']:.1f}",
            f"{100 * result['mean']['rank1']:.1f}",
            f"{result['recolour']['auc']:.3f}",
        )
    print_wide(table)
    print(f"written {args.json}")
    if cv_files:
        print_wide(cv_table(cv_files))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
