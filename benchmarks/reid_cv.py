"""Re-id choices that generalise: k-fold cross-validation over the vehicles of vehicle-reid-2cam (issue 31).

Every labelled vehicle of train.txt + val.txt (507) is dealt into ``--folds`` folds by vehicle, each
vehicle type spread evenly (``cross_validation_folds``). For each fold the recipe (``--recipe``,
default the shipped one; ``--set KEY=VALUE`` overrides it with YAML values, e.g.
``--set data.transforms.saturation_jitter=0``) trains on the other folds and is scored on the held-out
one through the deployed embedder path in both directions, as ``benchmarks/reid_2cam.py`` scores val,
with the recolour AUC. One line per fold, then the mean and the spread (sample standard deviation):
a choice is better only where the difference clears the spread.

    .venv/bin/python benchmarks/reid_cv.py [--folds 5] [--epochs 30] [--set KEY=VALUE ...] [--json OUT] [--keep DIR]
    .venv/bin/python benchmarks/reid_cv.py --rescore DIR --embedder flip=true     # a test-time option, no training
    .venv/bin/python benchmarks/reid_cv.py --set ... --json OUT --only --calibration C.yaml  # the folds OUT holds, no training

Each fold trains the whole recipe (30 epochs of the shipped one: tens of minutes on 2 cores), so a
5-fold run of one variant takes hours here; ``--epochs`` and ``--folds 2`` make a quick check.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from reid_2cam import CV_CACHE, DATA, evaluate_embedder, spread  # noqa: E402
from reid_smoke import scratch_parent  # noqa: E402

from mtmc.match.evidence import AppearanceCalibration  # noqa: E402
from mtmc.reid.calibration import calibration_yaml, cross_camera_distances  # noqa: E402
from mtmc.reid.config import ReidExperimentConfig, load_experiment  # noqa: E402
from mtmc.reid.data.datasets.two_camera import cross_validation_folds  # noqa: E402
from mtmc.reid.embedder import TorchEmbedder  # noqa: E402
from mtmc.reid.engine import Trainer, load_model  # noqa: E402
from mtmc.reid.evaluation.deployed import DIRECTIONS, two_camera_directions  # noqa: E402

SHIPPED = ROOT / "configs" / "reid" / "glamor-mobilenetv2-2cam.yaml"


def overridden(config: ReidExperimentConfig, overrides: dict[str, Any]) -> ReidExperimentConfig:
    """``config`` with dotted ``KEY: value`` overrides (``data.transforms.saturation_jitter: 0``)."""
    tree = config.model_dump()
    for key, value in overrides.items():
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise SystemExit(f"--set {key}: {part} is not a section of the recipe")
            node = node[part]
        node[leaf] = value
    return ReidExperimentConfig.model_validate(tree)


def run_fold(
    config: ReidExperimentConfig, train: list[str], test: list[str], lists: Path, threads: int, keep: Path | None = None
) -> dict[str, Any]:
    """Train on ``train`` (image names), score on ``test``; ``keep``: a folder for the fold's last
    checkpoint and its held-out list (``test.txt``), e.g. to adapt a fold model and score it again."""
    (lists / "cv-train.txt").write_text("\n".join(train) + "\n")
    (lists / "cv-test.txt").write_text("\n".join(test) + "\n")
    options = {"train": str(lists / "cv-train.txt"), "test_list": str(lists / "cv-test.txt"), "query_camera": 1}
    directions = two_camera_directions(DATA, options["test_list"])
    config = config.model_copy(update={"data": config.data.model_copy(update={"root": DATA, "options": options})})
    with tempfile.TemporaryDirectory(prefix="reid-cv-", dir=scratch_parent()) as scratch:
        config = config.model_copy(update={"output_dir": Path(scratch), "eval_every": 0})
        started = time.perf_counter()
        result = Trainer(config, device="cpu", progress=sys.stderr.isatty(), echo=False).fit()
        seconds = time.perf_counter() - started
        model, spec = load_model(result.last_checkpoint)
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy2(result.last_checkpoint, keep / "last.pt")
            (keep / "test.txt").write_text("\n".join(test) + "\n")
    embedder = TorchEmbedder(model, dim=spec.feature_dim, threads=threads, input_size=spec.input_size)
    scores = evaluate_embedder(embedder, directions)
    held_out = directions[DIRECTIONS[0][1]]
    same, different = cross_camera_distances(embedder, held_out.query + held_out.gallery, progress=False)
    return {
        "train_vehicles": len(train) // 2, "test_vehicles": len(test) // 2, "train_s": seconds, **scores,
        "distances": {"same": np.round(same, 4).tolist(), "different": np.round(different, 4).tolist()},
    }  # fmt: skip


def earlier_rows(path: Path, identity: dict[str, Any]) -> list[dict[str, Any]]:
    """The folds an earlier run of the same recipe, overrides and dealing wrote to ``path``: a
    5-fold run takes hours here, so it may be run a few folds at a time (``--only``)."""
    if not path.is_file():
        return []
    earlier = json.loads(path.read_text())
    return earlier["folds"] if {k: earlier.get(k) for k in identity} == identity else []


def pooled_calibration(rows: list[dict[str, Any]]) -> AppearanceCalibration | None:
    """The recipe's appearance calibration from every fold's held-out vehicles (the distances its
    own fold model gave them): what a model trained on all vehicles by this recipe should be read
    by, measured on vehicles none of the fold models saw."""
    with_distances = [r["distances"] for r in rows if "distances" in r]
    if not with_distances:
        return None
    same = np.concatenate([d["same"] for d in with_distances])
    different = np.concatenate([d["different"] for d in with_distances])
    vehicles = sum(r["test_vehicles"] for r in rows if "distances" in r)
    data = f"vehicle-reid-2cam, {len(with_distances)}-fold held-out vehicles ({vehicles}), cross-camera"
    return AppearanceCalibration.fit(same, different, data=data)


def rescore(kept: Path, options: dict[str, Any], threads: int) -> int:
    """``--rescore DIR``: the fold models ``--keep`` kept, scored on their held-out vehicles as they
    are and with embedder ``options`` (e.g. ``flip: true``): a test-time choice, paired by fold."""
    from reid_2cam import cv_row

    models = sorted(kept.glob("fold-*/last.pt"), key=lambda p: int(p.parent.name.split("-")[1]))
    if not models:
        raise SystemExit(f"{kept}: no fold-K/last.pt (run with --keep {kept} first)")
    results: dict[str, list[dict[str, Any]]] = {"as trained": [], f"with {options}": []}
    for weights in models:
        directions = two_camera_directions(DATA, str((weights.parent / "test.txt").resolve()))
        model, spec = load_model(weights)
        for rows, extra in zip(results.values(), ({}, options)):
            embedder = TorchEmbedder(model, dim=spec.feature_dim, threads=threads, input_size=spec.input_size, **extra)
            rows.append({"fold": int(weights.parent.name.split("-")[1]), **evaluate_embedder(embedder, directions)})
        a, b = (rows[-1] for rows in results.values())
        print(f"  {weights.parent.name}: mAP {100 * a['mean']['mAP']:.1f} -> {100 * b['mean']['mAP']:.1f}, rank-1 "
              f"{100 * a['mean']['rank1']:.1f} -> {100 * b['mean']['rank1']:.1f}", flush=True)  # fmt: skip
    for label, rows in results.items():
        print(f"{label}: " + " | ".join(cv_row({"recipe": str(kept), "folds": rows})[1:]))
    difference = [b["mean"]["mAP"] - a["mean"]["mAP"] for a, b in zip(*results.values())]
    print(f"mAP change by fold: {' '.join(f'{100 * d:+.1f}' for d in difference)} (mean {spread(difference)})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", type=Path, default=SHIPPED, help="a reid training config (default the shipped one)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="how vehicles are dealt into folds")
    parser.add_argument("--epochs", type=int, help="train this many epochs instead of the recipe's")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe key (YAML value)")
    parser.add_argument("--only", type=int, nargs="*", metavar="K",
                        help="run these folds only (0-based); none: only report the folds --json holds (and --calibration)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=CV_CACHE / "result.json",
                        help="folds are written here as they end; folds of the same recipe, overrides and dealing already there are kept")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep each fold's last.pt and held-out list in DIR/fold-K/")
    parser.add_argument("--calibration", type=Path, metavar="OUT.yaml",
                        help="write the appearance calibration pooled over the folds' held-out vehicles (for a model trained on all)")
    parser.add_argument("--rescore", type=Path, metavar="DIR", help="score --keep's fold models again with --embedder options; no training")
    parser.add_argument("--embedder", action="append", default=[], metavar="KEY=VALUE", help="an embedder option for --rescore (YAML value)")
    args = parser.parse_args()
    if args.rescore is not None:
        return rescore(args.rescore, {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.embedder)}, args.threads)

    overrides = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    config = overridden(load_experiment(args.recipe), overrides)
    folds = cross_validation_folds(DATA, folds=args.folds, seed=args.seed)
    print(f"{args.recipe.name} {overrides or ''}: {args.folds}-fold cross-validation over "
          f"{sum(len(f) for f in folds) // 2} vehicles of vehicle-reid-2cam", flush=True)  # fmt: skip
    identity = {"recipe": str(args.recipe), "overrides": overrides, "folds_of": args.folds, "seed": args.seed}
    running = set(args.only if args.only is not None else range(args.folds))
    rows = [r for r in earlier_rows(args.json, identity) if r["fold"] not in running]
    if rows:
        print(f"  kept from {args.json}: folds {', '.join(str(r['fold']) for r in rows)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="reid-cv-lists-") as lists:
        for k in args.only if args.only is not None else range(args.folds):
            train = [name for j, fold in enumerate(folds) if j != k for name in fold]
            keep = None if args.keep is None else args.keep / f"fold-{k}"
            row = {"fold": k, **run_fold(config, train, folds[k], Path(lists), args.threads, keep)}
            rows = sorted([*rows, row], key=lambda r: r["fold"])
            both = ", ".join(f"{n} {100 * row[n]['mAP']:.1f} / {100 * row[n]['rank1']:.1f}" for _, n in DIRECTIONS)
            print(f"  fold {k}: {row['test_vehicles']} vehicles, mAP {100 * row['mean']['mAP']:.1f} rank-1 "
                  f"{100 * row['mean']['rank1']:.1f} ({both}), recolour AUC {row['recolour']['auc']:.3f}; "
                  f"trained in {row['train_s']:.0f} s", flush=True)  # fmt: skip
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({**identity, "folds": rows}))

    if not rows:
        raise SystemExit(f"{args.json}: no folds of this recipe, overrides and dealing to report (run some with --only K)")
    print(f"mean over {len(rows)} folds: mAP {spread([r['mean']['mAP'] for r in rows])}, rank-1 {spread([r['mean']['rank1'] for r in rows])}, "
          f"recolour AUC {spread([r['recolour']['auc'] for r in rows], 1.0, 3)}")  # fmt: skip
    calibration = pooled_calibration(rows)
    if calibration is not None:
        print(f"pooled calibration: {calibration.data}; twins {calibration.twins:.2%}, LLR 0 at {calibration.distance_at(0.0):.3f}")
        if args.calibration:
            args.calibration.write_text(calibration_yaml(calibration))
            print(f"written {args.calibration}")
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
