"""Do Open Model Zoo's vehicle attributes tell vehicles apart across cameras? (issue 16, point 2)

On ../shared/data/vehicle-reid-2cam (507 vehicles, each seen once by cam1 and once by cam2; type
from the file name ``{type}_{NNNN}_cam{1,2}.jpg``) it measures, with
``vehicle-attributes-recognition-barrier-0039`` on each whole crop:

- how often one vehicle's two views get the same argmax colour / type, against two different
  vehicles (every cam1 x cam2 pair of different vehicles);
- the seed 001 Eq. 5 metadata distance (gamma-weighted Euclidean distance of the score vectors)
  for same vs different vehicles: quantiles and ROC AUC (1: every same pair closer than every
  different pair, 0.5: chance);
- whether adding it to an appearance distance (1 - cos, the matcher's ``cosine``) raises the AUC,
  for the shipped re-id weights and ImageNet MobileNetV2, at a few gammas;
- the predicted type against the label where the label is car, truck or bus (motorcycles are no
  class of the model: their predictions are shown too);
- milliseconds per crop.

    .venv/bin/python benchmarks/attribute_agreement.py [--threads 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "vehicle-reid-2cam" / "images" / "train"
EMBEDDERS = {"reid glamor-adapted-street-a": ("reid", {"weights": "glamor-adapted-street-a"}),
             "mobilenetv2-imagenet": ("mobilenetv2-imagenet", {})}  # fmt: skip
GAMMAS = (0.02, 0.05, 0.1, 0.25, 0.5, 1.0)


def load() -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Vehicle names ``{type}_{NNNN}`` in order, and their cam1 and cam2 crops (BGR)."""
    import cv2

    names = sorted({p.name.rsplit("_", 1)[0] for p in DATA.glob("*_cam1.jpg")})
    views = [[cv2.imread(str(DATA / f"{n}_cam{c}.jpg")) for n in names] for c in (1, 2)]
    for n, a, b in zip(names, *views):
        if a is None or b is None:
            raise SystemExit(f"{DATA}: {n} lacks a readable cam1 or cam2 crop")
    return names, views[0], views[1]


def whole(crop: np.ndarray) -> np.ndarray:
    return np.array([[0, 0, crop.shape[1], crop.shape[0]]], np.float64)


def auc(same: np.ndarray, different: np.ndarray) -> float:
    """P(a same-vehicle distance < a different-vehicle one), ties counted half (Mann-Whitney U)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([same, different]))
    u_same_larger = ranks[: len(same)].sum() - len(same) * (len(same) + 1) / 2
    return float(1 - u_same_larger / (len(same) * len(different)))


def split(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Same-vehicle (diagonal) and different-vehicle (off-diagonal) entries of a cam1 x cam2 matrix."""
    off = ~np.eye(len(matrix), dtype=bool)
    return np.diag(matrix).copy(), matrix[off]


def euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    square = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.clip(square, 0, None))


def separation(scores: dict[str, list[np.ndarray]], features: dict[str, list[np.ndarray]]) -> dict:
    """Same vs different vehicle, printed and returned: argmax agreement, the Eq. 5 distance's AUC
    and quantiles, and the AUC of appearance plus gamma times it."""
    result: dict = {}
    print(f"{'argmax agreement':24s} {'same vehicle':>12s} {'different':>10s}")
    for name, (a, b) in scores.items():
        same, different = split(a.argmax(1)[:, None] == b.argmax(1)[None, :])
        result[f"{name}_argmax_agreement"] = {
            "same": float(same.mean()),
            "different": float(different.mean()),
        }
        print(f"{name:24s} {same.mean():12.3f} {different.mean():10.3f}")
    print(f"\n{'Eq. 5 distance':24s} {'AUC':>6s} {'same p10/p50/p90':>20s} {'different p10/p50/p90':>22s}")
    metadata = {}
    for label, gammas in (
        ("colour", {"colour": 1.0}),
        ("type", {"type": 1.0}),
        ("colour + type", {"colour": 1.0, "type": 1.0}),
    ):
        dist = sum(g * euclidean(*scores[n]) for n, g in gammas.items())
        same, different = split(dist)
        metadata[label] = dist
        q = lambda v: "/".join(f"{x:.2f}" for x in np.quantile(v, [0.1, 0.5, 0.9]))  # noqa: E731
        result[f"metadata_auc_{label}"] = auc(same, different)
        print(f"{label:24s} {auc(same, different):6.3f} {q(same):>20s} {q(different):>22s}")
    print(
        f"\n{'AUC of 1 - cos + gamma * Eq. 5 of':50s} "
        + " ".join(f"{'g=' + str(g):>6s}" for g in (0, *GAMMAS))
    )
    for title, (f1, f2) in features.items():
        cosine = np.clip(1.0 - f1 @ f2.T, 0.0, 2.0)
        for label in ("colour", "colour + type"):
            row = {g: auc(*split(cosine + g * metadata[label])) for g in (0, *GAMMAS)}
            result[f"appearance_auc_{title}_{label}"] = row
            print(f"{title + ', ' + label:50s} " + " ".join(f"{row[g]:6.3f}" for g in row))
    print()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write every number here")
    args = parser.parse_args()
    from mtmc.reid import build_embedder
    from mtmc.reid.attributes import VEHICLE_ATTRIBUTES, build_attributes

    names, cam1, cam2 = load()
    labels = np.array([n.split("_")[0] for n in names])
    classifier = build_attributes(threads=args.threads)
    scores: dict[str, list[np.ndarray]] = {name: [] for name in VEHICLE_ATTRIBUTES}
    started = time.perf_counter()
    for crops in (cam1, cam2):
        out = [classifier.classify(c, whole(c)) for c in crops]
        for name in VEHICLE_ATTRIBUTES:
            scores[name].append(np.concatenate([o[name] for o in out]))
    per_crop_ms = 1000 * (time.perf_counter() - started) / (2 * len(names))
    image = np.hstack(
        [np.ascontiguousarray(c[:64, :64]) for c in cam1[:32] if c.shape[0] >= 64 and c.shape[1] >= 64]
    )
    boxes = np.array([[64 * k, 0, 64 * k + 64, 64] for k in range(image.shape[1] // 64)], np.float64)
    classifier.classify(image, boxes)
    started = time.perf_counter()
    for _ in range(5):
        classifier.classify(image, boxes)
    batched_ms = 1000 * (time.perf_counter() - started) / (5 * len(boxes))
    result: dict = {"vehicles": len(names), "labels": {str(t): int((labels == t).sum()) for t in np.unique(labels)},
                    "ms_per_crop_one_at_a_time": per_crop_ms, f"ms_per_crop_batch_of_{len(boxes)}": batched_ms}  # fmt: skip

    print(f"vehicle-reid-2cam: {len(names)} vehicles ({result['labels']}), cam1 vs cam2")
    print(f"vehicle-attributes-recognition-barrier-0039: {per_crop_ms:.2f} ms/crop one at a time, "
          f"{batched_ms:.2f} ms/crop in a batch of {len(boxes)} (2 shared cores, {args.threads} threads)\n")  # fmt: skip
    features = {}
    for title, (name, options) in EMBEDDERS.items():
        embedder = build_embedder(name, threads=args.threads, **options)
        features[title] = [
            np.concatenate([embedder.embed(c, whole(c)) for c in crops]) for crops in (cam1, cam2)
        ]
    four_wheeled = np.isin(labels, ("car", "truck", "bus"))
    for subset, keep in (
        ("all vehicles", np.ones(len(names), bool)),
        ("car / truck / bus only", four_wheeled),
    ):
        print(f"--- {subset} ({keep.sum()} vehicles)")
        result[subset] = separation({n: [s[keep] for s in v] for n, v in scores.items()},
                                    {t: [f[keep] for f in v] for t, v in features.items()})  # fmt: skip

    kinds = VEHICLE_ATTRIBUTES["type"]
    predicted = np.concatenate([s.argmax(1) for s in scores["type"]])
    both = np.concatenate([labels, labels])
    print(f"\npredicted type (both views) {'':9s} " + " ".join(f"{k:>6s}" for k in kinds) + "   agreement")
    confusion = {}
    for label in ("car", "truck", "bus", "motorcycle"):
        counts = np.bincount(predicted[both == label], minlength=len(kinds))
        confusion[label] = counts.tolist()
        agree = f"{counts[kinds.index(label)] / counts.sum():9.3f}" if label in kinds else f"{'-':>9s}"
        print(f"label {label:31s} " + " ".join(f"{c:6d}" for c in counts) + f"   {agree}")
    labelled = np.isin(both, ("car", "truck", "bus"))
    overall = float(np.mean(np.array(kinds)[predicted[labelled]] == both[labelled]))
    result["type_confusion"], result["type_agreement_car_truck_bus"] = confusion, overall
    print(f"type = label over car/truck/bus crops: {overall:.3f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
