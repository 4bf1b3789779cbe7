"""ONNX export of every registered re-id model (onnxruntime agrees with PyTorch, batch dynamic,
metadata for the embedder), checkpoint export, and the "reid" embedder from a checkpoint or its ONNX."""

from pathlib import Path

import numpy as np
import pytest
import torch

import mtmc.reid.modeling.meta_arch  # noqa: F401  (registers every model before parametrising)
from mtmc.errors import MtmcError
from mtmc.reid import build_embedder
from mtmc.reid.engine import load_checkpoint, save_checkpoint
from mtmc.reid.export import CHECK_BATCH, compare_with_torch, export_checkpoint, export_model
from mtmc.reid.modeling import MODELS, build_model
from mtmc.reid.onnx_info import onnx_model_info

# The smallest variant of each model (ResNet18 backbones); a model not listed is built with its defaults.
TINY_OPTIONS = {
    "glamor": {"depth": 18},
    "counter-glamor": {"depth": 18},
    "anet": {"depth": 18, "feature_size": 32, "attribute_size": 16},
    "val": {"global_depth": 18},
    "pgan": {"depth": 18},
}
SIZE = (64, 64)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.mark.parametrize("name", MODELS.names())
def test_onnx_export_agrees_with_pytorch(name, tmp_path):
    torch.manual_seed(0)
    model = build_model(name, num_classes=4, **TINY_OPTIONS.get(name, {})).eval()
    path = export_model(model, tmp_path / f"{name}.onnx", SIZE, name)
    # traced with a batch of 2, run with CHECK_BATCH = 3: the batch axis is dynamic
    difference, cosine = compare_with_torch(model, path, SIZE)
    assert CHECK_BATCH != 2 and difference <= 1e-4 and cosine > 0.99999
    info = onnx_model_info(path)
    assert (info.model, info.input_size, info.feature_dim) == (name, SIZE, model.feature_dim)
    assert not list(tmp_path.glob(".*part"))


def tiny_checkpoint(path: Path, input_size: tuple[int, int] = (48, 32)) -> Path:
    """A checkpoint as ``mtmc reid train`` writes it (model part only), for a GLAMOR at H x W = 48 x 32."""
    torch.manual_seed(0)
    options = {"depth": 18, "input_size": list(input_size)}
    model = build_model("glamor", num_classes=3, **options)
    return save_checkpoint(
        {
            "version": 1,
            "model_name": "glamor",
            "model_options": options,
            "num_classes": 3,
            "input_size": input_size,
            "feature_dim": model.feature_dim,
            "model": model.state_dict(),
        },
        path,
    )


def test_checkpoint_export_and_the_reid_embedder_from_either_file(tmp_path):
    checkpoint = tiny_checkpoint(tmp_path / "best.pt")
    report = export_checkpoint(checkpoint, tmp_path / "glamor.onnx")
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-4
    assert report.spec.input_size == (48, 32) and onnx_model_info(report.path).input_size == (48, 32)

    from_checkpoint = build_embedder("reid", weights=checkpoint, threads=1)
    from_onnx = build_embedder("reid", weights=report.path, threads=1)
    assert type(from_checkpoint).__name__ == "TorchEmbedder" and type(from_onnx).__name__ == "OnnxEmbedder"
    for embedder in (from_checkpoint, from_onnx):
        assert embedder.input_size == (48, 32) and embedder.dim == 512

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    boxes = np.array([[10, 20, 60, 110], [70, 5, 150, 80], [0, 0, 160, 120]], np.float32)
    torch_vectors, onnx_vectors = from_checkpoint.embed(image, boxes), from_onnx.embed(image, boxes)
    assert torch_vectors.shape == (3, 512)
    assert np.allclose(np.linalg.norm(torch_vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(torch_vectors, onnx_vectors, atol=1e-5)
    assert not np.allclose(
        torch_vectors[0], torch_vectors[1], atol=1e-3
    )  # different crops, different vectors


def test_fp16_export_halves_the_file_computes_in_float32_and_keeps_the_features(tmp_path):
    import onnx

    checkpoint = tiny_checkpoint(tmp_path / "best.pt")
    full = export_checkpoint(checkpoint, tmp_path / "fp32.onnx")
    half = export_checkpoint(checkpoint, tmp_path / "fp16.onnx", fp16=True)
    assert half.min_cosine is not None and half.min_cosine >= 0.999
    assert 0.45 < half.path.stat().st_size / full.path.stat().st_size < 0.6
    graph = onnx.load(str(half.path)).graph
    stored = {init.data_type for init in graph.initializer if np.prod(init.dims) >= 64}
    assert stored == {onnx.TensorProto.FLOAT16}
    # the input and output stay float32, so the embedder runs it as any other export
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert onnx_model_info(half.path) == onnx_model_info(full.path)
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    boxes = np.array([[10, 20, 60, 110], [70, 5, 150, 80]], np.float32)
    vectors = [build_embedder("reid", weights=path, threads=1).embed(image, boxes) for path in (full.path, half.path)]
    assert vectors[1].dtype == np.float32
    assert (vectors[0] * vectors[1]).sum(1).min() > 0.999  # unit vectors: the dot is the cosine


def test_a_failed_check_writes_nothing_and_foreign_files_are_refused(tmp_path):
    checkpoint = tiny_checkpoint(tmp_path / "best.pt", (32, 32))
    with pytest.raises(MtmcError, match=r"the ONNX export differs from PyTorch by .* \(> -1\); not written"):
        export_checkpoint(checkpoint, tmp_path / "out.onnx", atol=-1.0)
    assert not (tmp_path / "out.onnx").exists()

    assert export_checkpoint(checkpoint, tmp_path / "unchecked.onnx", check=False).max_abs_diff is None
    with pytest.raises(MtmcError, match="is an ONNX export; this needs the .pt checkpoint"):
        load_checkpoint(tmp_path / "unchecked.onnx")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "bare.pt")
    with pytest.raises(MtmcError, match="not a checkpoint of `mtmc reid train` .*lacks model_name"):
        load_checkpoint(tmp_path / "bare.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(MtmcError, match="text.pt: not a checkpoint of `mtmc reid train`"):
        load_checkpoint(tmp_path / "text.pt")
    with pytest.raises(MtmcError, match="checkpoint not found: .*missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
