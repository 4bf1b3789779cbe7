"""A trained re-id checkpoint as ONNX: the model's eval path, (B, 3, H, W) ImageNet-normalised RGB ->
(B, feature_dim) inference feature (not normalised), batch size dynamic, H x W the trained size.

The file carries what the embedder needs in its metadata (``mtmc.model``, ``mtmc.input_size`` "H,W",
``mtmc.feature_dim``), and the export is checked: onnxruntime and PyTorch run the same random batch
and must agree within ``atol``. ``fp16=True`` stores the weights as float16 (half the file, for
shipping) and still computes in float32: a Cast after each weight, folded away by onnxruntime when
the session loads, so CPUs without float16 kernels run it at full speed; that check is on the
features' cosine similarity (at least :data:`FP16_MIN_COSINE`), as rounding the weights moves
every feature by a little of its own size.

    report = export_checkpoint("runs/reid/glamor-veri/best.pt", "glamor-veri.onnx")
    report.max_abs_diff
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtmc.errors import MtmcError
from mtmc.reid.embedder import ONNX_INPUT, export_onnx
from mtmc.reid.engine.checkpoint import ModelSpec, load_model
from mtmc.reid.modeling import ReidModel
from mtmc.reid.onnx_info import METADATA_PREFIX

OPSET = 17
CHECK_BATCH = 3  # not the traced batch of 2, so the check also proves the batch axis is dynamic
FP16_MIN_COSINE = 0.999
FP16_MIN_ELEMENTS = 64  # smaller weights (norm epsilons, scalars) stay float32: no size to save
FP16_MAX = 65504.0


@dataclass(frozen=True)
class ExportReport:
    path: Path
    spec: ModelSpec
    max_abs_diff: float | None  # None when the check was skipped
    min_cosine: float | None = None  # of each image's ONNX and PyTorch features; None when not checked


def export_model(
    model: ReidModel,
    path: str | Path,
    input_size: tuple[int, int],
    name: str,
    opset: int = OPSET,
    fp16: bool = False,
) -> Path:
    """``model``'s eval path as ONNX at ``path`` (written whole or not at all), dynamic batch, with
    the metadata the embedder reads; ``fp16``: weights stored as float16 (:func:`store_weights_fp16`)."""
    metadata = {"model": name, "input_size": f"{input_size[0]},{input_size[1]}", "feature_dim": str(model.feature_dim)}
    return export_onnx(model.cpu(), Path(path), input_size, opset, dynamic_size=False,
                       metadata={METADATA_PREFIX + key: value for key, value in metadata.items()},
                       edit=store_weights_fp16 if fp16 else None)  # fmt: skip


def onnx_session(path: str | Path, threads: int = 1):  # noqa: ANN201  (onnxruntime.InferenceSession)
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def compare_with_torch(
    model: ReidModel, path: Path, input_size: tuple[int, int], seed: int = 0
) -> tuple[float, float]:
    """Largest |onnx - torch| and smallest cosine similarity of the two, over the features of one
    random batch of :data:`CHECK_BATCH` images."""
    images = torch.randn(CHECK_BATCH, 3, *input_size, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        expected = model.cpu().eval()(images).numpy()
    actual = onnx_session(path).run(None, {ONNX_INPUT: images.numpy()})[0]
    if actual.shape != expected.shape:
        raise MtmcError(f"{path}: ONNX gives features of shape {actual.shape}, PyTorch {expected.shape}")
    norms = np.linalg.norm(actual, axis=1) * np.linalg.norm(expected, axis=1)
    cosine = (actual * expected).sum(1) / np.maximum(norms, 1e-12)
    return float(np.abs(actual - expected).max()), float(cosine.min())


def store_weights_fp16(model: Any) -> None:
    """Store the float32 weights of :data:`FP16_MIN_ELEMENTS` or more of ``model`` (an
    ``onnx.ModelProto``, changed in place) as float16, each followed by a Cast back to float32."""
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    casts, kept = [], []
    for initializer in graph.initializer:
        weights = numpy_helper.to_array(initializer)
        if initializer.data_type != onnx.TensorProto.FLOAT or weights.size < FP16_MIN_ELEMENTS:
            kept.append(initializer)
            continue
        if np.abs(weights).max() > FP16_MAX:
            raise MtmcError(f"weight '{initializer.name}' exceeds float16's range; export without fp16")
        stored = initializer.name + "_fp16"
        kept.append(numpy_helper.from_array(weights.astype(np.float16), stored))
        casts.append(onnx.helper.make_node("Cast", [stored], [initializer.name], to=onnx.TensorProto.FLOAT))
    graph.ClearField("initializer")
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    graph.ClearField("node")
    graph.node.extend(nodes)
    onnx.checker.check_model(model)


def export_checkpoint(
    checkpoint: str | Path,
    output: str | Path,
    *,
    opset: int = OPSET,
    check: bool = True,
    atol: float = 1e-4,
    fp16: bool = False,
) -> ExportReport:
    """Export a ``mtmc reid train`` checkpoint to ``output``; with ``check``, fail (and remove the
    file) when onnxruntime and PyTorch differ by more than ``atol`` on a random batch (with ``fp16``:
    when a feature's cosine similarity to PyTorch's is under :data:`FP16_MIN_COSINE`)."""
    model, spec = load_model(checkpoint)
    path = export_model(model, output, spec.input_size, spec.name, opset, fp16)
    if not check:
        return ExportReport(path, spec, None)
    difference, cosine = compare_with_torch(model, path, spec.input_size)
    if fp16 and not cosine >= FP16_MIN_COSINE:
        path.unlink()
        raise MtmcError(
            f"{checkpoint}: the float16 weights change the features too much (cosine {cosine:.5f} < "
            f"{FP16_MIN_COSINE}); export without fp16. Not written"
        )
    if not fp16 and not difference <= atol:
        path.unlink()
        raise MtmcError(
            f"{checkpoint}: the ONNX export differs from PyTorch by {difference:.3g} (> {atol:g}); not written"
        )
    return ExportReport(path, spec, difference, cosine)
