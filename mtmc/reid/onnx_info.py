"""What an exported re-id ONNX file says about itself, read from its header with ``onnx`` alone:
no onnxruntime session, no torch. A camera worker running the ONNX embedder, and the matcher
checking feature lengths, need only this, so they never load torch (about 700 MB of memory)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mtmc.errors import MtmcError

METADATA_PREFIX = "mtmc."


@dataclass(frozen=True)
class OnnxModelInfo:
    """What an exported file says about itself (from its metadata, else from its input shape)."""

    model: str
    input_size: tuple[int, int]
    feature_dim: int


def onnx_model_info(path: str | Path) -> OnnxModelInfo:
    """The model name, input size and feature size an exported file records; files exported by
    other tools are read from their (fixed) input and output shapes."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (OSError, ValueError, onnx.onnx_cpp2py_export.checker.ValidationError) as exc:
        raise MtmcError(f"{path}: not a readable ONNX file ({exc})") from None
    metadata = {item.key: item.value for item in model.metadata_props}
    if METADATA_PREFIX + "input_size" in metadata:
        height, width = (int(side) for side in metadata[METADATA_PREFIX + "input_size"].split(","))
        return OnnxModelInfo(
            metadata.get(METADATA_PREFIX + "model", ""), (height, width), int(metadata[METADATA_PREFIX + "feature_dim"])
        )
    initialisers = {tensor.name for tensor in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in initialisers]
    shape = [_side(dim) for dim in inputs[0].type.tensor_type.shape.dim] if inputs else []
    output = [_side(dim) for dim in model.graph.output[0].type.tensor_type.shape.dim] if model.graph.output else []
    if len(shape) != 4 or not output or not all(isinstance(side, int) for side in (*shape[2:], output[-1])):
        raise MtmcError(
            f"{path}: input {shape} / output {output} are not a fixed (B, 3, H, W) -> (B, D) re-id model"
        )
    return OnnxModelInfo("", (shape[2], shape[3]), output[-1])


def _side(dim: object) -> int | str:
    """A shape entry: its fixed size, or its symbolic name (a dynamic axis)."""
    value = getattr(dim, "dim_value", 0)
    return int(value) if value else str(getattr(dim, "dim_param", "?"))
