"""Re-id smoke test on real footage: every registered model, trained briefly on CPU, against its
untrained self and against ImageNet MobileNetV2 features (issue 6 point 7).

    .venv/bin/python benchmarks/reid_smoke.py [--models glamor,pgan] [--partitions 3]
                                              [--iterations 200] [--threads 2]

Data: :func:`mtmc.reid.data.build_reid_set` runs the single-camera pipeline (YOLOX-Nano +
deepsort-byte) over ``../shared/data/videos/street-{a,b}.mp4``; one confident, long, moving track
is one identity, and its time segments play the cameras: an evaluation identity's first segment
gives its queries and its later segment its gallery. The footage holds about eleven usable
vehicles, so one split trains on five and tests on six, and one split's verdict is mostly luck:
the benchmark repeats everything on ``--partitions`` seeded identity partitions (partition k =
``build_reid_set(seed=k)``: another half of the identities held out) and judges each model by its
mean over them. Sets are cached in ``benchmarks/.cache/reid_smoke/set-<k>``.

Training: each model's paper recipe (``configs/reid/<model>-*.yaml``: optimiser, learning rate,
weight decay, augmentation, loss weights, schedule) made small: ResNet18 wherever the model takes
a depth, 128 x 128 input, P = min(recipe P, training identities) with the recipe's K, and the same
budget of optimiser steps for every model (``--iterations``, rounded up to whole epochs: the
classifiers of the paper recipes start at a tiny scale and need on the order of a hundred steps at
the full learning rate before their softmax loss leaves log(identities)). The schedule's epoch
marks (warm-up, decay steps, milestones, ANet's first stage) are scaled by brief / recipe epochs so
the short run keeps the shape of the paper's learning-rate curve. The run goes through the
project's ``Trainer`` (checkpoints in a scratch folder, in memory where /dev/shm exists); the last
epoch's checkpoint is the trained model: nothing is selected on the test identities.

Evaluation: one code path for every feature (``extract_features`` + ``evaluate_on_splits``: cosine
distance of L2-normalised features, VeRi-776 protocol, mAP and CMC rank-1) applied to the
untrained model (the same seeded initialisation the trainer starts from), the trained model,
ImageNet MobileNetV2 ``features`` + GAP (the default embedder's network, the only ImageNet weights
available offline), and random features (chance level, mean of ``CHANCE_DRAWS`` draws). A model
"beats" a baseline when its mean mAP over the partitions is higher; the table also counts the
partitions it won. "train s" includes the trainer's own evaluations and checkpoint writes.

Reading the numbers: untrained networks score far above chance on this set (global pooling of
random filters keeps colour statistics, which tell these few cars apart), and the ImageNet
features score below them: a low bar here. An untrained model's mAP moves by several points
between initialisation seeds (``UNTRAINED_SEEDS`` of them are scored per partition; the table
shows their mean spread), so only gains well beyond that spread mean the model learnt something
that transfers.

Writes ``benchmarks/.cache/reid_smoke/result.json`` (after every partition, so an interrupted run
keeps what it measured) and, per model and partition, the trainer's ``history.json`` /
``train.log`` / ``curves.png`` under ``benchmarks/.cache/reid_smoke/runs/<model>/p<k>/``.
Exits 0 whatever the verdicts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich import box
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtmc.console import print_wide  # noqa: E402
from mtmc.reid.config import ReidExperimentConfig, ScheduleConfig, load_experiment  # noqa: E402
from mtmc.reid.data import (  # noqa: E402
    IdentityBatchSampler,
    MiningOptions,
    ReidSplits,
    build_reid_set,
    load_dataset,
)
from mtmc.reid.modeling.backbones.mobilenet import mobilenetv2_features  # noqa: E402
from mtmc.reid.engine import Trainer, evaluate_on_splits, extract_features, load_model  # noqa: E402
from mtmc.reid.engine.trainer import seed_everything  # noqa: E402
from mtmc.reid.modeling import MODELS, build_model  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache" / "reid_smoke"
VIDEOS = [ROOT.parent / "shared" / "data" / "videos" / f"street-{name}.mp4" for name in ("a", "b")]
RECIPES = ROOT / "configs" / "reid"
SIZE = (128, 128)
SEED = 0  # training and initialisation seed; partition k splits the identities with seed k
TEST_FRACTION = 0.5
PARTITIONS = 3
ITERATIONS = 200
MINING = MiningOptions()
EVAL_BATCH = 64
CHANCE_DRAWS = 200
UNTRAINED_SEEDS = 3  # initialisations scored untrained: their spread is the yardstick of noise


@dataclass(frozen=True)
class Smoke:
    """How one model is made small: its recipe file, the options that shrink it (on top of the
    recipe's own options), and which options count epochs (scaled as the schedule is)."""

    recipe: str
    options: dict[str, Any]
    epoch_options: tuple[str, ...] = ()


SMOKE: dict[str, Smoke] = {
    "glamor": Smoke("glamor-veri.yaml", {"depth": 18, "input_size": SIZE}),
    "counter-glamor": Smoke("counter-glamor-aicity.yaml", {"depth": 18, "input_size": SIZE}),
    # VAL: ResNet50 global branch by the paper; global_depth 18 is the smallest the model takes.
    "val": Smoke("val-veri.yaml", {"global_depth": 18, "attention_depth": 18, "input_size": SIZE}),
    # ANet: step one for 150 of the paper's 210 epochs, scaled; the input size is a data option.
    "anet": Smoke(
        "anet-veri.yaml", {"depth": 18, "first_stage_epochs": 150}, epoch_options=("first_stage_epochs",)
    ),
    "pgan": Smoke("pgan-veri.yaml", {"depth": 18, "input_size": SIZE}),
}


def scale_epochs(epochs: int, factor: float) -> int:
    """A recipe's epoch count in the brief run: times ``factor`` (brief / recipe epochs), at least 1."""
    return max(1, round(epochs * factor))


def scaled_schedule(schedule: ScheduleConfig, factor: float) -> ScheduleConfig:
    """The recipe's epoch marks (warm-up length, decay period, milestones) scaled: the brief run
    keeps the shape of the paper's learning-rate curve."""
    warmup, step, milestones = schedule.warmup_epochs, schedule.step_every, schedule.milestones
    return schedule.model_copy(
        update={
            "warmup_epochs": scale_epochs(warmup, factor) if warmup else 0,
            "step_every": scale_epochs(step, factor) if step else None,
            "milestones": sorted({scale_epochs(milestone, factor) for milestone in milestones}),
        }
    )


def brief_length(splits: ReidSplits, identities: int, images: int, iterations: int) -> tuple[int, int]:
    """The whole epochs of P x K batches (as the trainer's seeded sampler draws them) that reach
    ``iterations``, and the optimiser steps they hold."""
    sampler = IdentityBatchSampler([sample.pid for sample in splits.train], identities, images, seed=SEED)
    epochs = steps = 0
    while steps < iterations:
        sampler.set_epoch(epochs)
        steps += len(sampler)
        epochs += 1
    return epochs, steps


def smoke_config(smoke: Smoke, splits: ReidSplits, iterations: int) -> tuple[ReidExperimentConfig, int]:
    """The model's recipe on the mined set, made small (see the module docstring), and its
    optimiser steps."""
    recipe = load_experiment(RECIPES / smoke.recipe)
    identities = min(recipe.data.identities_per_batch, splits.num_train_pids)
    data = recipe.data.model_copy(
        update={
            "dataset": "folders",
            "root": splits.root,
            "options": {},
            "size": SIZE,
            "identities_per_batch": identities,
            "num_workers": 0,  # two cores: decoding small crops in the training process is cheaper
            "eval_batch_size": EVAL_BATCH,
        }
    )
    epochs, steps = brief_length(splits, identities, recipe.data.images_per_identity, iterations)
    factor = epochs / recipe.epochs
    options = {**recipe.model.options, **smoke.options}
    options.update({name: scale_epochs(options[name], factor) for name in smoke.epoch_options})
    model = recipe.model.model_copy(update={"options": options})
    config = recipe.model_copy(
        update={
            "model": model,
            "data": data,
            "schedule": scaled_schedule(recipe.schedule, factor),
            "epochs": epochs,
            "seed": SEED,
            "eval_every": max(1, epochs // 4),  # an mAP curve in history.json; verdicts use the last epoch
        }
    )
    return config, steps


def scores(model: torch.nn.Module, splits: ReidSplits, size: tuple[int, int]) -> dict[str, float]:
    """mAP and rank-1 of ``model``'s features on the query / gallery split."""
    query = extract_features(model, splits.query, size, batch_size=EVAL_BATCH)
    gallery = extract_features(model, splits.gallery, size, batch_size=EVAL_BATCH)
    results = evaluate_on_splits(splits, [query], [gallery])
    return {"mAP": float(results["mAP"]), "rank1": float(results["rank1"])}


def chance_scores(splits: ReidSplits) -> dict[str, float]:
    """Mean mAP / rank-1 of random Gaussian features: what a model that has learnt nothing scores."""
    rng = np.random.default_rng(SEED)
    draws = [
        evaluate_on_splits(
            splits,
            [rng.standard_normal((len(splits.query), 64))],
            [rng.standard_normal((len(splits.gallery), 64))],
        )
        for _ in range(CHANCE_DRAWS)
    ]
    return {key: float(np.mean([draw[key] for draw in draws])) for key in ("mAP", "rank1")}


def scratch_parent() -> Path | None:
    """Where checkpoints go while training (written every epoch, hundreds of MB for the larger
    models): /dev/shm when the machine has it, else the system's temporary folder."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() else None


def run_model(
    name: str, smoke: Smoke, splits: ReidSplits, iterations: int, kept: Path, console: Console
) -> dict[str, Any]:
    """Untrained scores, a brief training run and the trained scores of one registered model on one
    partition; the trainer's history, log and curves are copied to ``kept``."""
    config, steps = smoke_config(smoke, splits, iterations)
    options = dict(config.model.options)
    untrained_by_seed = []
    for seed in range(config.seed, config.seed + UNTRAINED_SEEDS):
        seed_everything(seed)  # exactly as Trainer does before it builds the model
        untrained = build_model(name, num_classes=splits.num_train_pids, **options)
        untrained_by_seed.append(scores(untrained, splits, SIZE))
    parameters = sum(parameter.numel() for parameter in untrained.parameters())
    feature_dim = int(untrained.feature_dim)
    del untrained
    before = untrained_by_seed[0]  # the trained run's own initialisation
    spread = [100 * value["mAP"] for value in untrained_by_seed]
    console.print(
        f"[bold]{name}[/]: {parameters / 1e6:.2f} M parameters, options {options}; "
        f"{config.optimiser.name} lr {config.optimiser.lr:g}, {config.data.identities_per_batch} x "
        f"{config.data.images_per_identity} batches, {config.epochs} epochs = {steps} iterations; "
        f"untrained mAP {100 * before['mAP']:.1f}% "
        f"(seeds {config.seed}..{config.seed + UNTRAINED_SEEDS - 1}: "
        f"{min(spread):.1f}..{max(spread):.1f}%)"
    )
    with tempfile.TemporaryDirectory(prefix=f"reid-smoke-{name}-", dir=scratch_parent()) as scratch:
        config = config.model_copy(update={"output_dir": Path(scratch)})
        started = time.perf_counter()
        result = Trainer(config, device="cpu", progress=console.is_terminal, echo=False).fit()
        train_seconds = time.perf_counter() - started
        model, spec = load_model(result.last_checkpoint)
        after = scores(model, splits, spec.input_size)
        kept.mkdir(parents=True, exist_ok=True)
        for file in ("history.json", "train.log", "curves.png"):
            if (Path(scratch) / file).is_file():
                shutil.copy2(Path(scratch) / file, kept / file)
    logged = result.history[-1]["mAP"]
    if abs(logged - after["mAP"]) > 1e-6:
        console.print(
            f"[red]{name}: the reloaded last.pt scores mAP {100 * after['mAP']:.2f}%, the trainer logged "
            f"{100 * logged:.2f}%: the checkpoint does not round-trip[/]"
        )
    curve = [(row["epoch"], round(100 * row["mAP"], 2)) for row in result.history if "mAP" in row]
    console.print(
        f"  trained in {train_seconds:.0f} s: mAP {100 * after['mAP']:.1f}%, "
        f"rank-1 {100 * after['rank1']:.1f}%; "
        f"mAP by epoch {curve}; loss {result.history[0]['loss']:.3f} -> {result.history[-1]['loss']:.3f}"
    )
    return {
        "model": name,
        "options": options,
        "parameters": parameters,
        "feature_dim": feature_dim,
        "recipe": smoke.recipe,
        "optimiser": config.optimiser.model_dump(mode="json"),
        "schedule": config.schedule.model_dump(mode="json"),
        "batch": [config.data.identities_per_batch, config.data.images_per_identity],
        "epochs": config.epochs,
        "iterations": steps,
        "train_seconds": round(train_seconds, 1),
        "untrained": before,
        "untrained_by_seed": untrained_by_seed,
        "trained": after,
        "map_by_epoch": curve,
        "loss_first_last": [result.history[0]["loss"], result.history[-1]["loss"]],
        "losses_last": result.history[-1].get("losses", {}),
    }


def mean_of(rows: list[dict[str, Any]], key: str, metric: str = "mAP") -> float:
    return float(np.mean([row[key][metric] for row in rows]))


def summarise(name: str, runs: list[dict[str, Any]], imagenet: list[dict[str, Any]]) -> dict[str, Any]:
    """One model over the partitions run so far: means, per-partition gains and the verdicts."""
    gains = [100 * (run["trained"]["mAP"] - run["untrained"]["mAP"]) for run in runs]
    spreads = [100 * np.ptp([value["mAP"] for value in run["untrained_by_seed"]]) for run in runs]
    trained, untrained = mean_of(runs, "trained"), mean_of(runs, "untrained")
    imagenet_map = float(np.mean([values["mAP"] for values in imagenet]))
    return {
        "model": name,
        "partitions": len(runs),
        "parameters": runs[0]["parameters"],
        "iterations": [run["iterations"] for run in runs],
        "train_seconds": round(sum(run["train_seconds"] for run in runs), 1),
        "untrained": {"mAP": untrained, "rank1": mean_of(runs, "untrained", "rank1")},
        "trained": {"mAP": trained, "rank1": mean_of(runs, "trained", "rank1")},
        "gains": gains,
        "partitions_won": sum(gain > 0 for gain in gains),
        "untrained_seed_spread": float(np.mean(spreads)),
        "beats_untrained": trained > untrained,
        "beats_imagenet": trained > imagenet_map,
    }


def percent(values: dict[str, float]) -> str:
    return f"{100 * values['mAP']:5.1f} / {100 * values['rank1']:5.1f}"


def report(
    summaries: list[dict[str, Any]], imagenet: dict[str, float], chance: dict[str, float]
) -> list[str]:
    """Print the table and return the verdict lines (also printed)."""
    partitions = max(summary["partitions"] for summary in summaries)
    table = Table(
        "model",
        "params",
        "train s",
        "iters",
        "untrained mAP / r1 %",
        "trained mAP / r1 %",
        "gain by partition",
        "seed spread",
        "beats untrained?",
        "beats ImageNet?",
        box=box.SIMPLE_HEAD,
        title=(
            f"re-id smoke test, {SIZE[0]}x{SIZE[1]} input, mean mAP and rank-1 over {partitions} identity "
            "partitions of the mined set"
        ),
    )
    for row in summaries:
        table.add_row(
            row["model"],
            f"{row['parameters'] / 1e6:.1f} M",
            f"{row['train_seconds']:.0f}",
            "/".join(str(value) for value in sorted(set(row["iterations"]))),
            percent(row["untrained"]),
            percent(row["trained"]),
            " ".join(f"{gain:+.1f}" for gain in row["gains"]),
            f"{row['untrained_seed_spread']:.1f}",
            f"{'yes' if row['beats_untrained'] else 'NO'} ({row['partitions_won']}/{row['partitions']})",
            "yes" if row["beats_imagenet"] else "no",
        )
    for label, values in (("ImageNet MobileNetV2", imagenet), ("chance (random features)", chance)):
        table.add_row(label, "-", "-", "-", "-", percent(values), "-", "-", "-", "-")
    print_wide(table)
    lines = []
    for row in summaries:
        trained, untrained = 100 * row["trained"]["mAP"], 100 * row["untrained"]["mAP"]
        versus_self = "beats" if row["beats_untrained"] else "does NOT beat"
        versus_imagenet = "beats" if row["beats_imagenet"] else "does not beat"
        lines.append(
            f"{row['model']}: trained mAP {trained:.1f}% {versus_self} its untrained self ({untrained:.1f}%; "
            f"{trained - untrained:+.1f} points, higher in {row['partitions_won']} of {row['partitions']} "
            f"partitions; untrained seeds span {row['untrained_seed_spread']:.1f} on average) and "
            f"{versus_imagenet} ImageNet MobileNetV2 features ({100 * imagenet['mAP']:.1f}%)"
        )
    beat_self = [row["model"] for row in summaries if row["beats_untrained"]]
    beat_imagenet = [row["model"] for row in summaries if row["beats_imagenet"]]
    lines.append(
        f"beat their untrained selves: {len(beat_self)} of {len(summaries)} ({', '.join(beat_self) or 'none'})"
    )
    lines.append(
        f"beat the ImageNet MobileNetV2 features: {len(beat_imagenet)} of {len(summaries)} "
        f"({', '.join(beat_imagenet) or 'none'})"
    )
    for line in lines:
        print(line)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated registered models (default: every one)")
    parser.add_argument(
        "--partitions", type=int, default=PARTITIONS, help=f"identity partitions (default {PARTITIONS})"
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=ITERATIONS,
        help=f"optimiser steps per brief run (default {ITERATIONS})",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = parser.parse_args()
    if args.partitions < 1 or args.iterations < 1:
        parser.error("--partitions and --iterations must be integers >= 1")
    torch.set_num_threads(args.threads)
    console = Console(soft_wrap=True)
    started = time.perf_counter()

    names = args.models.split(",") if args.models else MODELS.names()
    unknown = sorted(set(names) - set(MODELS.names()))
    if unknown:
        parser.error(f"unknown model {unknown[0]}: registered are {', '.join(MODELS.names())}")
    lacking = [name for name in names if name not in SMOKE]
    if lacking:
        console.print(f"[yellow]no SMOKE settings for {', '.join(lacking)}: skipped (add them to SMOKE)[/]")
    names = [name for name in names if name in SMOKE]

    imagenet_model = mobilenetv2_features()
    imagenet_parameters = sum(parameter.numel() for parameter in imagenet_model.parameters())
    partitions: list[dict[str, Any]] = []
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for partition in range(args.partitions):
        mined = time.perf_counter()
        set_root = CACHE / f"set-{partition}"
        summary = build_reid_set(
            VIDEOS, set_root, options=MINING, test_fraction=TEST_FRACTION, seed=partition
        )
        splits = load_dataset("folders", set_root)
        how = "cached" if summary["cached"] else f"mined in {time.perf_counter() - mined:.0f} s"
        console.rule(f"partition {partition} (identities split with seed {partition}; set {how})")
        print(splits.summary())
        imagenet = scores(imagenet_model, splits, SIZE)
        chance = chance_scores(splits)
        console.print(
            f"ImageNet MobileNetV2 features: mAP {100 * imagenet['mAP']:.1f}%, "
            f"rank-1 {100 * imagenet['rank1']:.1f}%; "
            f"chance: mAP {100 * chance['mAP']:.1f}%, rank-1 {100 * chance['rank1']:.1f}%"
        )
        partitions.append(
            {
                "seed": partition,
                "root": str(set_root),
                "splits": summary["splits"],
                "test_identities": sorted(
                    item["name"] for item in summary["identities"] if item["split"] == "test"
                ),
                "imagenet_mobilenetv2": imagenet,
                "chance": chance,
            }
        )
        for name in names:
            kept = CACHE / "runs" / name / f"p{partition}"
            runs[name].append(run_model(name, SMOKE[name], splits, args.iterations, kept, console))

        imagenet_by_partition = [item["imagenet_mobilenetv2"] for item in partitions]
        summaries = [summarise(name, runs[name], imagenet_by_partition) for name in names]
        imagenet_mean = {key: mean_of(partitions, "imagenet_mobilenetv2", key) for key in ("mAP", "rank1")}
        chance_mean = {key: mean_of(partitions, "chance", key) for key in ("mAP", "rank1")}
        verdicts = report(summaries, imagenet_mean, chance_mean)
        total = time.perf_counter() - started
        print(f"{len(partitions)} of {args.partitions} partitions in {total:.0f} s on {args.threads} threads")
        result = {
            "videos": [str(video) for video in VIDEOS],
            "mining": summary["options"],
            "test_fraction": TEST_FRACTION,
            "partitions": partitions,
            "partitions_planned": args.partitions,
            "iterations": args.iterations,
            "input_size": list(SIZE),
            "threads": args.threads,
            "imagenet_mobilenetv2": {**imagenet_mean, "parameters": imagenet_parameters},
            "chance": chance_mean,
            "models": summaries,
            "runs": runs,
            "skipped": lacking,
            "verdicts": verdicts,
            "total_seconds": round(total, 1),
        }
        CACHE.mkdir(parents=True, exist_ok=True)
        (CACHE / "result.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {CACHE / 'result.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
