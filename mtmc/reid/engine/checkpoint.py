"""Training checkpoints: everything to resume a run bit for bit, and everything to rebuild its model
without the experiment's YAML (the exporter and the embedder read only the checkpoint).

A checkpoint is a ``torch.save`` dict of plain values and tensors (loadable with
``weights_only=True``, so opening one runs no pickled code), ``version`` :data:`CHECKPOINT_VERSION`:

- ``model_name``, ``model_options``, ``num_classes``: ``build_model(model_name, num_classes=...,
  **model_options)`` rebuilds the network; ``model``: its state dict;
- ``input_size`` (H, W) the images were trained at, ``feature_dim`` of the inference feature;
- ``epoch``: epochs completed; ``optimiser``, ``scheduler``: their state dicts; ``rng``: the
  python, numpy, torch (and CUDA) generator states after that epoch;
- ``config``: the experiment (JSON-like dict), ``history``: one dict per epoch, ``best_map`` /
  ``best_epoch`` so far.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtmc.errors import MtmcError
from mtmc.reid.modeling import ReidModel, build_model

CHECKPOINT_VERSION = 1
MODEL_KEYS = ("model_name", "model_options", "num_classes", "input_size", "feature_dim", "model")


@dataclass(frozen=True)
class ModelSpec:
    """What a checkpoint says about its model: enough to build it and to feed it."""

    name: str
    options: dict[str, Any]
    num_classes: int
    input_size: tuple[int, int]
    feature_dim: int

    def build(self) -> ReidModel:
        return build_model(self.name, num_classes=self.num_classes, **self.options)


def save_checkpoint(state: dict[str, Any], path: Path) -> Path:
    """Write ``state`` to ``path`` whole or not at all: a temporary file beside it, flushed to disk,
    then renamed over it (an interrupted run keeps its previous checkpoint)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with partial.open("wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint at ``path``; one clear error for a missing file or one that is not a checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise MtmcError(
            f"checkpoint not found: {path} (check the path; `mtmc reid train` writes last.pt and best.pt)"
        )
    if path.suffix.lower() == ".onnx":
        raise MtmcError(f"{path} is an ONNX export; this needs the .pt checkpoint of `mtmc reid train`")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001  (torch raises many kinds for a foreign file)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise MtmcError(f"{path}: not a checkpoint of `mtmc reid train` ({reason[:200]})") from None
    missing = [key for key in MODEL_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise MtmcError(
            f"{path}: not a checkpoint of `mtmc reid train` (lacks {', '.join(missing)}); "
            "a bare state dict cannot say which model it belongs to"
        )
    if state.get("version", CHECKPOINT_VERSION) > CHECKPOINT_VERSION:
        raise MtmcError(
            f"{path}: written by a newer mtmc (checkpoint version {state['version']}); upgrade mtmc"
        )
    return state


def model_spec(checkpoint: dict[str, Any]) -> ModelSpec:
    height, width = checkpoint["input_size"]
    return ModelSpec(
        name=checkpoint["model_name"],
        options=dict(checkpoint["model_options"]),
        num_classes=int(checkpoint["num_classes"]),
        input_size=(int(height), int(width)),
        feature_dim=int(checkpoint["feature_dim"]),
    )


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[ReidModel, ModelSpec]:
    """The checkpoint's model with its trained weights, in eval mode on ``device``, and its spec."""
    checkpoint = load_checkpoint(path, map_location=device)
    spec = model_spec(checkpoint)
    model = spec.build()
    model.load_state_dict(checkpoint["model"])
    return model.to(device).eval(), spec


def capture_rng() -> dict[str, Any]:
    """The state of every generator training draws from, in values ``weights_only`` loading accepts."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
