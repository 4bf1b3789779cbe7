"""A trained re-id checkpoint as ONNX: the model's eval path, (B, 3, H, W) ImageNet-normalised RGB ->
(B, feature_dim) inference feature (not normalised), batch size dynamic, H x W the trained size.

The file carries what the embedder needs in its metadata (``mtmc.model``, ``mtmc.input_size`` "H,W",
``mtmc.feature_dim``), and the export is checked: onnxruntime and PyTorch run the same random batch
and must agree within ``atol``.

    report = export_checkpoint("runs/reid/glamor-veri/best.pt", "glamor-veri.onnx")
    report.max_abs_diff
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mtmc.errors import MtmcError
from mtmc.reid.embedder import ONNX_INPUT, export_onnx
from mtmc.reid.engine.checkpoint import ModelSpec, load_model
from mtmc.reid.modeling import ReidModel

OPSET = 17
METADATA_PREFIX = "mtmc."
CHECK_BATCH = 3  # not the traced batch of 2, so the check also proves the batch axis is dynamic


@dataclass(frozen=True)
class OnnxModelInfo:
    """What an exported file says about itself (from its metadata, else from its input shape)."""

    model: str
    input_size: tuple[int, int]
    feature_dim: int


@dataclass(frozen=True)
class ExportReport:
    path: Path
    spec: ModelSpec
    max_abs_diff: float | None  # None when the check was skipped


def export_model(
    model: ReidModel, path: str | Path, input_size: tuple[int, int], name: str, opset: int = OPSET
) -> Path:
    """``model``'s eval path as ONNX at ``path`` (written whole or not at all), dynamic batch, with
    the metadata the embedder reads."""
    metadata = {"model": name, "input_size": f"{input_size[0]},{input_size[1]}", "feature_dim": str(model.feature_dim)}
    return export_onnx(model.cpu(), Path(path), input_size, opset, dynamic_size=False,
                       metadata={METADATA_PREFIX + key: value for key, value in metadata.items()})  # fmt: skip


def onnx_session(path: str | Path, threads: int = 1):  # noqa: ANN201  (onnxruntime.InferenceSession)
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_model_info(path: str | Path) -> OnnxModelInfo:
    """The model name, input size and feature size an exported file records; files exported by
    other tools are read from their (fixed) input and output shapes."""
    session = onnx_session(path)
    metadata = session.get_modelmeta().custom_metadata_map
    if METADATA_PREFIX + "input_size" in metadata:
        height, width = (int(side) for side in metadata[METADATA_PREFIX + "input_size"].split(","))
        return OnnxModelInfo(
            metadata.get(METADATA_PREFIX + "model", ""),
            (height, width),
            int(metadata[METADATA_PREFIX + "feature_dim"]),
        )
    shape, output = session.get_inputs()[0].shape, session.get_outputs()[0].shape
    if len(shape) != 4 or not all(isinstance(side, int) for side in (*shape[2:], output[-1])):
        raise MtmcError(
            f"{path}: input {shape} / output {output} are not a fixed (B, 3, H, W) -> (B, D) re-id model"
        )
    return OnnxModelInfo("", (shape[2], shape[3]), output[-1])


def compare_with_torch(model: ReidModel, path: Path, input_size: tuple[int, int], seed: int = 0) -> float:
    """Largest |onnx - torch| over the features of one random batch of :data:`CHECK_BATCH` images."""
    images = torch.randn(CHECK_BATCH, 3, *input_size, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        expected = model.cpu().eval()(images).numpy()
    actual = onnx_session(path).run(None, {ONNX_INPUT: images.numpy()})[0]
    if actual.shape != expected.shape:
        raise MtmcError(f"{path}: ONNX gives features of shape {actual.shape}, PyTorch {expected.shape}")
    return float(np.abs(actual - expected).max())


def export_checkpoint(
    checkpoint: str | Path, output: str | Path, *, opset: int = OPSET, check: bool = True, atol: float = 1e-4
) -> ExportReport:
    """Export a ``mtmc reid train`` checkpoint to ``output``; with ``check``, fail (and remove the
    file) when onnxruntime and PyTorch differ by more than ``atol`` on a random batch."""
    model, spec = load_model(checkpoint)
    path = export_model(model, output, spec.input_size, spec.name, opset)
    if not check:
        return ExportReport(path, spec, None)
    difference = compare_with_torch(model, path, spec.input_size)
    if not difference <= atol:
        path.unlink()
        raise MtmcError(
            f"{checkpoint}: the ONNX export differs from PyTorch by {difference:.3g} (> {atol:g}); not written"
        )
    return ExportReport(path, spec, difference)
