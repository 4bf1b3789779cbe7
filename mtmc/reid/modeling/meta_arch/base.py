"""What every re-id model offers the trainer, the evaluator, the exporter and the embedder.

A model is an ``nn.Module`` with one contract:

- ``model.eval(); model(images)`` -> (B, ``feature_dim``) inference feature (not normalised: the
  embedder and the evaluator L2-normalise). This is the path ONNX export traces.
- ``model.train(); outputs = model(images)`` -> dict of named tensors (features, logits, ...).
- ``model.losses(outputs, batch)`` -> dict of named, already weighted scalar losses; the trainer
  sums them. ``batch`` holds ``images`` (B, 3, H, W), ``pids`` (B,) and, when the dataset has
  them, ``colours`` / ``types`` (B,) with -1 where unknown.
- ``model.on_epoch(epoch)``: called by the trainer before each epoch (0-based), for recipes with
  stages (AttributeNet's two-step schedule); nothing by default.
"""

from __future__ import annotations

import torch
from torch import nn

from mtmc.registry import Registry

MODELS: Registry[ReidModel] = Registry("re-id model")


class ReidModel(nn.Module):
    """Base of the registered models: holds ``feature_dim`` and ``input_size`` (H, W)."""

    feature_dim: int
    input_size: tuple[int, int]

    def losses(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def on_epoch(self, epoch: int) -> None:
        """Hook for staged recipes; the default recipe has one stage."""
