"""Does adaptation help or hurt on real vehicles it never saw? (issue 31 point 5)

``benchmarks/reid_cv.py --keep DIR`` keeps each fold's model (trained on the other folds' labelled
vehicles) and its held-out list. This adapts each kept fold model with ``mtmc reid adapt`` on the
adaptation config's cameras (default ``configs/reid/adapt-city-from-2cam.yaml``: the three real
clips, no labels) and checks it on that fold's held-out vehicles, which neither model trained on:
mAP / rank-1 / recolour AUC before and after, per fold and as mean +- spread. The adapt config's own
``check`` decides what ships; here its list is the fold's. An adaptation config of crops
(``source: {images: ...}``, e.g. ``configs/reid/adapt-2cam-crops.yaml``) adapts each fold's model on
the crops of that fold's held-out vehicles with their labels ignored: unlabelled pictures of new
vehicles, then scored on the same vehicles with their labels (what a user who adapts to the
cameras they search gets).

    .venv/bin/python benchmarks/reid_cv.py --set data.transforms.saturation_jitter=0 --keep runs/cv-folds
    .venv/bin/python benchmarks/reid_adapt_cv.py runs/cv-folds [--only 0 1] [--config ADAPT.yaml]
    .venv/bin/python benchmarks/reid_adapt_cv.py runs/cv-folds --config configs/reid/adapt-2cam-crops.yaml

Mining is cached between folds (same cameras, parts and options), so the first fold takes longest.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from reid_2cam import spread  # noqa: E402

from mtmc.reid.adapt import adapt, load_adapt_config  # noqa: E402
from mtmc.reid.adapt.config import CheckConfig  # noqa: E402

DEFAULT_CONFIG = ROOT / "configs" / "reid" / "adapt-city-from-2cam.yaml"
DATA = ROOT.parent / "shared" / "data" / "vehicle-reid-2cam"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folds", type=Path, help="reid_cv.py --keep's folder (fold-K/last.pt, fold-K/test.txt)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the adaptation YAML")
    parser.add_argument("--only", type=int, nargs="+", help="these folds only")
    parser.add_argument("--out", type=Path, help="default: benchmarks/.cache/reid_adapt_cv/<config name>")
    args = parser.parse_args()
    args.out = args.out or ROOT / "benchmarks" / ".cache" / "reid_adapt_cv" / args.config.stem

    base = load_adapt_config(args.config)
    kept = sorted(args.folds.glob("fold-*/last.pt"), key=lambda p: int(p.parent.name.split("-")[1]))
    if args.only is not None:
        kept = [p for p in kept if int(p.parent.name.split("-")[1]) in args.only]
    if not kept:
        raise SystemExit(f"{args.folds}: no fold-K/last.pt (run benchmarks/reid_cv.py --keep {args.folds} first)")
    rows = []
    for weights in kept:
        fold = weights.parent.name
        held_out = (weights.parent / "test.txt").resolve()
        check = CheckConfig(root=DATA, options={"test_list": str(held_out)},
                            max_loss=base.check.max_loss if base.check else 0.0)  # fmt: skip
        source = base.source
        if source.images is not None:  # crops: the fold's held-out vehicles, labels ignored
            source = source.model_copy(update={"images": source.images.model_copy(update={"list": held_out})})
        config = base.model_copy(update={
            "source": source,
            "model": base.model.model_copy(update={"weights": weights}),
            "check": check,
            "output_dir": args.out / fold,
        })  # fmt: skip
        result = adapt(config, device="cpu", progress=sys.stderr.isatty(), echo=False)
        found = result.report["check"]
        rows.append({"fold": fold, **found, "mined": result.report["mining"]["pseudo_identity_tracks"]})
        before, after = found["before"], found["after"]
        print(f"  {fold}: mAP {100 * before['mean']['mAP']:.1f} -> {100 * after['mean']['mAP']:.1f}, rank-1 "
              f"{100 * before['mean']['rank1']:.1f} -> {100 * after['mean']['rank1']:.1f}, recolour AUC "
              f"{before['recolour']['auc']:.3f} -> {after['recolour']['auc']:.3f}; ships {found['kept']} "
              f"({rows[-1]['mined']} pseudo-identities)", flush=True)  # fmt: skip
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "result.json").write_text(json.dumps({"config": str(args.config), "folds": rows}, indent=1))
    for key in ("before", "after"):
        print(f"{key}: mAP {spread([r[key]['mean']['mAP'] for r in rows])}, rank-1 {spread([r[key]['mean']['rank1'] for r in rows])}, "
              f"recolour AUC {spread([r[key]['recolour']['auc'] for r in rows], 1.0, 3)}")  # fmt: skip
    print(f"adaptation changed mAP by {spread([-r['loss'] for r in rows])} "
          f"over {len(rows)} folds; written {args.out / 'result.json'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
