"""The five papers' re-id models trained on real labelled vehicles (issue 16 point 3), one protocol,
scored on the held-out vehicles as the running system embeds them.

    .venv/bin/python benchmarks/reid_2cam_models.py [--models glamor,pgan] [--epochs 30]
                                                    [--size 128] [--threads 2]

Training data: vehicle-reid-2cam ``train.txt`` (405 vehicles, one view per camera). Each model keeps
its paper recipe (``configs/reid/<model>-*.yaml``: optimiser, learning rate, weight decay, losses,
loss weights, the shape of the schedule), made comparable to the shipped GLAMOR-MobileNetV2 run
(``configs/reid/glamor-mobilenetv2-2cam.yaml``): its data section (``--size`` input, P16 x K2
batches, flip / pad / colour jitter / erasing), ``--epochs`` epochs with the recipe's epoch marks
scaled to that length (as ``benchmarks/reid_smoke.py`` does), ResNet18 wherever the model takes a
depth. The papers' ResNets start from random weights: no ImageNet ResNet exists offline, so only
models with ``backbone: mobilenetv2`` (GLAMOR) get an ImageNet start. ``glamor-mobilenetv2`` is the
shipped config itself (with ``--size`` and ``--epochs``). AttributeNet's type branch learns the
dataset's four vehicle types (car, motorcycle, truck, bus); the dataset has no colour labels.

Scoring: the last epoch's checkpoint (nothing is picked on val) and the same seeded model untrained,
through ``benchmarks/reid_2cam.py``'s deployed path (crop resized by OpenCV, both directions,
mean mAP and rank-1). Writes ``benchmarks/.cache/reid_2cam_models/result.json`` after every model
and each run's ``history.json`` / ``train.log`` / ``curves.png`` / ``last.pt`` (the scored checkpoint) under
``runs/<model>-<size>/``.
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

from rich import box
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from reid_2cam import DIRECTIONS, evaluate_embedder, load_directions  # noqa: E402
from reid_smoke import SMOKE, scale_epochs, scaled_schedule, scratch_parent  # noqa: E402

from mtmc.console import print_wide  # noqa: E402
from mtmc.reid.config import ReidExperimentConfig, load_experiment  # noqa: E402
from mtmc.reid.embedder import TorchEmbedder  # noqa: E402
from mtmc.reid.engine import Trainer, load_model  # noqa: E402
from mtmc.reid.engine.trainer import seed_everything  # noqa: E402
from mtmc.reid.modeling import build_model  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache" / "reid_2cam_models"
SHIPPED = ROOT / "configs" / "reid" / "glamor-mobilenetv2-2cam.yaml"
MODELS = ("glamor-mobilenetv2", *SMOKE)


def experiment(name: str, epochs: int, size: int) -> ReidExperimentConfig:
    """``name``'s recipe on vehicle-reid-2cam with the shipped run's data section (see the docstring)."""
    shipped = load_experiment(SHIPPED)
    data = shipped.data.model_copy(update={"size": (size, size)})
    if name == "glamor-mobilenetv2":
        factor = epochs / shipped.epochs
        return shipped.model_copy(
            update={"data": data, "epochs": epochs, "schedule": scaled_schedule(shipped.schedule, factor)}
        )
    smoke = SMOKE[name]
    recipe = load_experiment(ROOT / "configs" / "reid" / smoke.recipe)
    factor = epochs / recipe.epochs
    options = {**recipe.model.options, **smoke.options}
    options.update({option: scale_epochs(options[option], factor) for option in smoke.epoch_options})
    if "input_size" in options:
        options["input_size"] = (size, size)
    if name == "anet":  # vehicle-reid-2cam's types; no colour labels (the colour loss skips unknowns)
        options.update(num_types=4, num_colours=2)
    return recipe.model_copy(
        update={
            "model": recipe.model.model_copy(update={"options": options}),
            "data": data,
            "epochs": epochs,
            "schedule": scaled_schedule(recipe.schedule, factor),
            "seed": shipped.seed,
            "eval_every": max(1, epochs // 3),
        }
    )


def run(name: str, epochs: int, size: int, threads: int, directions: dict) -> dict[str, Any]:
    """Untrained and trained scores of one model; the trainer's logs are kept under CACHE/runs."""
    config = experiment(name, epochs, size)
    num_classes = len({sample.pid for sample in directions[DIRECTIONS[0][1]].train})
    seed_everything(config.seed)  # exactly as the trainer does before it builds the model
    untrained = build_model(config.model.name, num_classes=num_classes, **config.model.options)
    parameters = sum(p.numel() for p in untrained.parameters()) / 1e6
    before = evaluate_embedder(
        TorchEmbedder(untrained, dim=untrained.feature_dim, threads=threads, input_size=(size, size)), directions
    )
    del untrained
    kept = CACHE / "runs" / f"{name}-{size}"
    with tempfile.TemporaryDirectory(prefix=f"reid-2cam-{name}-", dir=scratch_parent()) as scratch:
        config = config.model_copy(update={"output_dir": Path(scratch)})
        started = time.perf_counter()
        result = Trainer(config, device="cpu", progress=sys.stderr.isatty(), echo=False).fit()
        seconds = time.perf_counter() - started
        model, spec = load_model(result.last_checkpoint)
        after = evaluate_embedder(
            TorchEmbedder(model, dim=spec.feature_dim, threads=threads, input_size=spec.input_size), directions
        )
        kept.mkdir(parents=True, exist_ok=True)
        for file in ("history.json", "train.log", "curves.png", "last.pt"):
            if (Path(scratch) / file).is_file():
                shutil.copy2(Path(scratch) / file, kept / file)
    print(
        f"{name} {size}x{size}: {parameters:.1f} M parameters, {epochs} epochs in {seconds:.0f} s; "
        f"mean mAP {100 * before['mean']['mAP']:.1f} -> {100 * after['mean']['mAP']:.1f}, "
        f"rank-1 {100 * before['mean']['rank1']:.1f} -> {100 * after['mean']['rank1']:.1f}",
        flush=True,
    )
    return {
        "model": config.model.name,
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in config.model.options.items()},
        "size": size,
        "epochs": epochs,
        "parameters_M": parameters,
        "train_s": seconds,
        "untrained": before,
        "trained": after,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--size", type=int, default=128, help="square input size")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=CACHE / "result.json")
    args = parser.parse_args()
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}: choose from {', '.join(MODELS)}")
    import torch

    torch.set_num_threads(args.threads)
    directions = load_directions()
    results = json.loads(args.json.read_text()) if args.json.is_file() else {}
    for name in names:
        results[f"{name}-{args.size}-{args.epochs}"] = run(name, args.epochs, args.size, args.threads, directions)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))

    table = Table("model", "input", "epochs", "M params", "train s", "untrained mAP / R1",
                  *(f"{n} mAP / R1" for _, n in DIRECTIONS), "mean mAP / R1",
                  box=box.SIMPLE_HEAD, title="vehicle-reid-2cam val.txt, trained on train.txt (%)")
    for key, r in results.items():
        def pair(scores: dict[str, float]) -> str:
            return f"{100 * scores['mAP']:.1f} / {100 * scores['rank1']:.1f}"

        table.add_row(key.rsplit("-", 2)[0], f"{r['size']}", f"{r['epochs']}", f"{r['parameters_M']:.1f}",
                      f"{r['train_s']:.0f}", pair(r["untrained"]["mean"]),
                      *(pair(r["trained"][n]) for _, n in DIRECTIONS), pair(r["trained"]["mean"]))
    print_wide(table)
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
