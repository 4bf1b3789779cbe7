"""The training loop of ``mtmc reid train`` (fast-reid's ``DefaultTrainer``, one process).

Each epoch: ``model.on_epoch(epoch)`` -> P x K batches through the model and its ``losses`` (summed)
-> one scheduler step -> an evaluation on the query / gallery every ``eval_every`` epochs and after
the last -> ``last.pt`` (every epoch) and ``best.pt`` (best mAP so far), both written atomically ->
``history.json``, ``curves.png`` and a line in ``train.log``.

Runs are reproducible: one seed sets python, numpy and torch (the identity sampler draws from the
seed and the epoch), kernels are deterministic, and a checkpoint holds the generator states after
its epoch, so ``resume`` continues a run with the very numbers an uninterrupted run would use.
Evaluation draws no random numbers from the global generators, so when it runs never changes training.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from mtmc.errors import MtmcError
from mtmc.reid.config import ReidExperimentConfig
from mtmc.reid.data import (
    IdentityBatchSampler,
    ReidImageDataset,
    ReidSplits,
    collate_batch,
    load_dataset,
    train_transforms,
)
from mtmc.reid.engine.checkpoint import (
    CHECKPOINT_VERSION,
    capture_rng,
    load_checkpoint,
    model_spec,
    restore_rng,
    save_checkpoint,
)
from mtmc.reid.engine.curves import matplotlib_available, write_curves
from mtmc.reid.engine.inference import evaluate_on_splits, extract_features
from mtmc.reid.engine.optim import build_optimiser, build_scheduler
from mtmc.reid.modeling import ReidModel, build_model

logger = logging.getLogger("mtmc.reid.train")

LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
HISTORY = "history.json"
CURVES = "curves.png"
LOG = "train.log"
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainingResult:
    output_dir: Path
    last_checkpoint: Path
    best_checkpoint: Path | None
    best_map: float | None
    best_epoch: int | None
    history: list[dict[str, Any]]
    curves: Path | None


def resolve_device(device: str) -> torch.device:
    """ "auto": CUDA when torch sees a GPU, else the CPU; "cpu"; "cuda" (or "cuda:N"), which must exist."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device.split(":")[0] == "cuda":
        if not torch.cuda.is_available():
            raise MtmcError(f"device {device}: torch sees no CUDA GPU here; use --device cpu or auto")
        return torch.device(device)
    raise MtmcError(f"unknown device {device!r}: use one of {', '.join(DEVICES)} (or cuda:N)")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # every CUDA device too


@contextlib.contextmanager
def deterministic_kernels(enabled: bool) -> Iterator[None]:
    """Deterministic algorithms (with a warning where an op has none) and no cuDNN autotuning for
    the duration; the process's previous settings come back afterwards."""
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's deterministic workspace
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = previous[2:]


@contextlib.contextmanager
def logging_to(path: Path, echo: bool) -> Iterator[None]:
    """The trainer's INFO lines appended to ``path`` for the duration. With ``echo`` they also reach
    logging's own handlers (the logger passes INFO meanwhile); without, only warnings reach the
    console (on stderr)."""
    handlers: list[logging.Handler] = [logging.FileHandler(path, encoding="utf-8")]
    handlers[0].setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    if not echo:
        handlers.append(logging.StreamHandler(sys.stderr))
        handlers[1].setLevel(logging.WARNING)
        handlers[1].setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    previous_level, previous_propagate = logger.level, logger.propagate
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.propagate = echo
    for handler in handlers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(previous_level)
        logger.propagate = previous_propagate


def load_matching_weights(model: ReidModel, path: Path) -> None:
    """Copy into ``model`` every tensor of the checkpoint at ``path`` whose name and shape match (the
    start of a fine-tuning run); the others keep their initialisation and are logged."""
    state = load_checkpoint(path, map_location=next(model.parameters()).device)["model"]
    own = model.state_dict()
    matching = {name: tensor for name, tensor in state.items() if name in own and own[name].shape == tensor.shape}
    if not matching:
        raise MtmcError(f"model.weights: {path} shares no tensor with {type(model).__name__}; is it another model?")
    model.load_state_dict(matching, strict=False)
    kept = sorted(set(own) - set(matching))
    logger.info("weights from %s: %d tensors loaded, %d initialised anew %s", path, len(matching), len(kept), kept[:4])


class Trainer:
    """Trains ``config``'s model on its dataset into ``config.output_dir``.

    ``device``: "auto" | "cpu" | "cuda"; ``progress``: a rich progress bar per epoch (loss, lr);
    ``echo``: the INFO lines of ``train.log`` also go to logging's handlers (else warnings only).
    """

    def __init__(
        self, config: ReidExperimentConfig, *, device: str = "auto", progress: bool = True, echo: bool = True
    ) -> None:
        self.config = config
        self.device = resolve_device(device)
        self.progress = progress
        self.echo = echo
        self.output_dir = config.output_dir

    def fit(self, resume: bool = False) -> TrainingResult:
        """Train from scratch, or with ``resume`` from ``output_dir/last.pt`` up to ``config.epochs``."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        with logging_to(self.output_dir / LOG, self.echo), deterministic_kernels(self.config.deterministic):
            return self._fit(resume)

    def _fit(self, resume: bool) -> TrainingResult:
        config = self.config
        splits = load_dataset(config.data.dataset, config.data.root, **config.data.options)
        if not splits.train:
            raise MtmcError(f"{splits.name} ({splits.root}) has no training images")
        num_classes = splits.num_train_pids
        seed_everything(config.seed)
        model = build_model(config.model.name, num_classes=num_classes, **config.model.options).to(
            self.device
        )
        if config.model.weights is not None and not resume:
            load_matching_weights(model, config.model.weights)
        size = tuple(config.data.size or model.input_size)
        optimiser = build_optimiser(model.parameters(), config.optimiser)
        scheduler = build_scheduler(optimiser, config.schedule)
        loader = self._train_loader(splits, size)
        evaluates = self._can_evaluate(splits)
        self._log_setup(splits, model, size, len(loader))

        start_epoch, history, best_map, best_epoch = 0, [], None, None
        last_path, best_path = self.output_dir / LAST_CHECKPOINT, self.output_dir / BEST_CHECKPOINT
        if resume:
            start_epoch, history, best_map, best_epoch = self._resume(
                last_path, model, optimiser, scheduler, num_classes
            )
        elif last_path.exists() or best_path.exists():
            logger.warning(
                "starting afresh in %s: its checkpoints are replaced (--resume continues them)",
                self.output_dir,
            )
            best_path.unlink(missing_ok=True)  # a stale best.pt would outlive this run's evaluations

        curves = None
        for epoch in range(start_epoch, config.epochs):
            row = self._train_epoch(epoch, model, optimiser, loader)
            scheduler.step()
            rng = capture_rng()  # before evaluation: the state the next epoch starts from
            if evaluates and ((epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs):
                row.update(self._evaluate(model, splits, size))
                logger.info(
                    "epoch %d: mAP %.2f%%, rank-1 %.2f%%, rank-5 %.2f%%",
                    epoch + 1,
                    100 * row["mAP"],
                    100 * row["rank1"],
                    100 * row["rank5"],
                )
            history.append(row)
            improved = "mAP" in row and (best_map is None or row["mAP"] > best_map)
            if improved:
                best_map, best_epoch = row["mAP"], epoch + 1
            state = {
                "version": CHECKPOINT_VERSION,
                "model_name": config.model.name,
                "model_options": dict(config.model.options),
                "num_classes": num_classes,
                "input_size": size,
                "feature_dim": int(model.feature_dim),
                "model": model.state_dict(),
                "optimiser": optimiser.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": epoch + 1,
                "rng": rng,
                "config": config.model_dump(mode="json"),
                "history": history,
                "best_map": best_map,
                "best_epoch": best_epoch,
            }
            save_checkpoint(state, last_path)
            if improved:
                save_checkpoint(state, best_path)
                logger.info("epoch %d: best mAP so far, saved %s", epoch + 1, best_path)
            self._write_history(history)
            curves = write_curves(history, self.output_dir / CURVES)

        if curves is None:  # nothing trained in this call (a finished run resumed), or no matplotlib
            curves = write_curves(history, self.output_dir / CURVES)
        if curves is None and not matplotlib_available():
            logger.info("matplotlib is not installed: no %s (the numbers are in %s)", CURVES, HISTORY)
        if best_map is not None:
            logger.info("done: best mAP %.2f%% at epoch %d (%s)", 100 * best_map, best_epoch, best_path)
        else:
            logger.info("done: %d epochs, last checkpoint %s", config.epochs, last_path)
        return TrainingResult(
            output_dir=self.output_dir,
            last_checkpoint=last_path,
            best_checkpoint=best_path if best_map is not None else None,
            best_map=best_map,
            best_epoch=best_epoch,
            history=history,
            curves=curves,
        )

    def _train_loader(self, splits: ReidSplits, size: tuple[int, int]) -> DataLoader:
        data = self.config.data
        try:
            sampler = IdentityBatchSampler(
                [sample.pid for sample in splits.train],
                data.identities_per_batch,
                data.images_per_identity,
                seed=self.config.seed,
            )
        except ValueError as error:
            raise MtmcError(f"data.identities_per_batch: {error}") from None
        return DataLoader(
            ReidImageDataset(splits.train, train_transforms(size, **data.transforms.model_dump())),
            batch_sampler=sampler,
            collate_fn=collate_batch,
            num_workers=data.num_workers,
            pin_memory=self.device.type == "cuda",
        )

    def _can_evaluate(self, splits: ReidSplits) -> bool:
        if self.config.eval_every == 0:
            return False
        if not splits.query or not splits.gallery or not splits.test_labelled:
            logger.warning(
                "%s has no labelled query / gallery split: no evaluation, no %s", splits.name, BEST_CHECKPOINT
            )
            return False
        return True

    def _log_setup(self, splits: ReidSplits, model: ReidModel, size: tuple[int, ...], batches: int) -> None:
        config = self.config
        parameters = sum(p.numel() for p in model.parameters())
        logger.info(
            "%s (%s): %d identities, %d train images; query %d, gallery %d",
            splits.name,
            splits.root,
            splits.num_train_pids,
            len(splits.train),
            len(splits.query),
            len(splits.gallery),
        )
        logger.info(
            "%s: %.2f M parameters, %d-d feature, images %dx%d, on %s",
            config.model.name,
            parameters / 1e6,
            model.feature_dim,
            size[0],
            size[1],
            self.device,
        )
        schedule = config.schedule
        decay = (
            f"x{schedule.gamma:g} every {schedule.step_every} epochs"
            if schedule.step_every
            else f"x{schedule.gamma:g} at epochs {schedule.milestones}"
            if schedule.milestones
            else "no decay"
        )
        warmup = (
            f"warm-up {schedule.warmup_epochs} epochs from x{schedule.warmup_factor:g}, "
            if schedule.warmup_epochs
            else ""
        )
        logger.info(
            "%s lr %.2e, weight decay %g; %s%s; batches of %d x %d = %d images, %d per epoch; %d epochs, seed %d",
            config.optimiser.name,
            config.optimiser.lr,
            config.optimiser.weight_decay,
            warmup,
            decay,
            config.data.identities_per_batch,
            config.data.images_per_identity,
            config.data.batch_size,
            batches,
            config.epochs,
            config.seed,
        )

    def _resume(
        self,
        path: Path,
        model: ReidModel,
        optimiser: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        num_classes: int,
    ) -> tuple[int, list[dict[str, Any]], float | None, int | None]:
        if not path.is_file():
            raise MtmcError(f"--resume: no checkpoint at {path}; start without --resume")
        checkpoint = load_checkpoint(path, map_location=self.device)
        spec = model_spec(checkpoint)
        expected = (self.config.model.name, dict(self.config.model.options), num_classes)
        if (spec.name, spec.options, spec.num_classes) != expected:
            raise MtmcError(
                f"--resume: {path} holds {spec.name} {spec.options} with {spec.num_classes} classes, but the "
                f"config asks for {expected[0]} {expected[1]} with {expected[2]}; use another output_dir"
            )
        ignored = {"epochs", "output_dir"}
        saved = {k: v for k, v in checkpoint["config"].items() if k not in ignored}
        current = {k: v for k, v in self.config.model_dump(mode="json").items() if k not in ignored}
        changed = sorted(k for k in current if saved.get(k) != current[k])
        if changed:
            logger.warning(
                "--resume: the config's %s differ from the checkpoint's; using the config's", changed
            )
        model.load_state_dict(checkpoint["model"])
        optimiser.load_state_dict(checkpoint["optimiser"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        restore_rng(checkpoint["rng"])
        epoch = int(checkpoint["epoch"])
        logger.info("resumed %s at epoch %d of %d", path, epoch, self.config.epochs)
        if epoch >= self.config.epochs:
            logger.info(
                "nothing to do: the checkpoint has %d epochs; raise epochs (--epochs N) to go on", epoch
            )
        return epoch, list(checkpoint["history"]), checkpoint["best_map"], checkpoint["best_epoch"]

    def _train_epoch(
        self, epoch: int, model: ReidModel, optimiser: torch.optim.Optimizer, loader: DataLoader
    ) -> dict[str, Any]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        model.on_epoch(epoch)
        model.train()
        loader.batch_sampler.set_epoch(epoch)
        lr = optimiser.param_groups[0]["lr"]
        sums: dict[str, float] = {}
        total, steps, started = 0.0, 0, time.perf_counter()
        columns = (
            TextColumn(f"epoch {epoch + 1}/{self.config.epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  lr {task.fields[lr]:.2e}"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, disable=not self.progress, transient=True) as progress:
            task = progress.add_task("train", total=len(loader), loss="-", lr=lr)
            for batch in loader:
                batch = {key: value.to(self.device, non_blocking=True) for key, value in batch.items()}
                losses = model.losses(model(batch["images"]), batch)
                loss = sum(losses.values())
                if not torch.isfinite(loss):
                    parts = ", ".join(f"{name} {float(value.detach()):.4g}" for name, value in losses.items())
                    raise MtmcError(
                        f"epoch {epoch + 1}, batch {steps + 1}: the loss is {float(loss.detach())} ({parts}); "
                        "lower optimiser.lr or check the data"
                    )
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                steps += 1
                total += float(loss.detach())
                for name, value in losses.items():
                    sums[name] = sums.get(name, 0.0) + float(value.detach())
                progress.update(task, advance=1, loss=f"{total / steps:.4f}")
        seconds = time.perf_counter() - started
        row = {
            "epoch": epoch + 1,
            "lr": lr,
            "loss": total / max(steps, 1),
            "losses": {name: value / max(steps, 1) for name, value in sums.items()},
            "seconds": seconds,
        }
        parts = ", ".join(f"{name} {value:.4f}" for name, value in row["losses"].items())
        logger.info(
            "epoch %d/%d: loss %.4f (%s), lr %.2e, %.1f s",
            epoch + 1,
            self.config.epochs,
            row["loss"],
            parts,
            lr,
            seconds,
        )
        return row

    def _evaluate(self, model: ReidModel, splits: ReidSplits, size: tuple[int, int]) -> dict[str, float]:
        data = self.config.data
        options = {"batch_size": data.eval_batch_size, "device": self.device, "num_workers": data.num_workers}
        query = extract_features(model, splits.query, size, **options)
        gallery = extract_features(model, splits.gallery, size, **options)
        results = evaluate_on_splits(splits, [query], [gallery])
        return {
            key: float(value) for key, value in results.items() if key.startswith(("mAP", "rank", "track_"))
        }

    def _write_history(self, history: list[dict[str, Any]]) -> None:
        path = self.output_dir / HISTORY
        partial = path.with_name(f".{path.name}.part")
        partial.write_text(json.dumps(history, indent=1) + "\n", encoding="utf-8")
        partial.replace(path)
