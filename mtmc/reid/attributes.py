"""Box crops -> vehicle attribute scores (colour, type), for the matcher's metadata distance.

Seed paper 001 (Eq. 5) adds to the appearance distance the distance between two tracks' attribute
scores; a worker keeps each track's running mean of them and sends it with the track (the wire's
``attributes``). The model is Open Model Zoo's ``vehicle-attributes-recognition-barrier-0039``
(OpenVINO IR, Apache-2.0), run by the ``openvino`` runtime on CPU, batched over a frame's crops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mtmc.errors import MtmcError
from mtmc.registry import Registry
from mtmc.reid.embedder import resized_crops
from mtmc.weights import resolve_weights

# The classes of vehicle-attributes-recognition-barrier-0039's two softmax outputs, in their order
# (Open Model Zoo's model card); keys are the attribute names on the wire and in matcher metadata.
VEHICLE_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "colour": ("white", "gray", "yellow", "red", "green", "blue", "black"),
    "type": ("car", "bus", "truck", "van"),
}
VEHICLE_OUTPUTS = {"colour": "color", "type": "type"}  # attribute -> the IR's output name


class AttributeClassifier:
    """``classify(image BGR uint8, boxes (N, >=4) x1y1x2y2) -> {attribute: (N, K) float32}``.

    Rows are the model's class probabilities; a box empty once clipped to the image gets a zero
    row (nothing was seen), which a track's running mean skips.
    """

    def __init__(
        self, path: str | Path, labels: dict[str, tuple[str, ...]], outputs: dict[str, str],
        input_size: tuple[int, int], threads: int = 2, batch_size: int = 32,
    ) -> None:  # fmt: skip
        import openvino as ov

        if batch_size < 1 or threads < 1:
            raise MtmcError(f"attributes: batch_size and threads must be >= 1, got {batch_size}, {threads}")
        core = ov.Core()
        model = core.read_model(str(resolve_weights(path)))
        names = {name for port in model.outputs for name in port.get_names()}
        missing = sorted(set(outputs.values()) - names)
        if missing:
            raise MtmcError(
                f"{path}: no output {', '.join(missing)} in the model (it has {', '.join(sorted(names))})"
            )
        # The IR is exported for one image; a dynamic batch lets one call classify a frame's crops.
        model.reshape({model.inputs[0]: ov.PartialShape([-1, 3, *input_size])})
        self.model = core.compile_model(
            model, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
        )
        self.labels, self.outputs = labels, outputs
        self.input_size, self.batch_size = input_size, batch_size

    def classify(self, image: np.ndarray, boxes: np.ndarray) -> dict[str, np.ndarray]:
        crops, valid = resized_crops(image, boxes, self.input_size, antialias=False)
        scores = {
            name: np.zeros((len(valid), len(classes)), np.float32) for name, classes in self.labels.items()
        }
        if len(crops) == 0:
            return scores
        # BGR 0-255 as float, NCHW: the IR holds its own normalisation.
        blobs = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), np.float32)
        parts = [self.model(blobs[s : s + self.batch_size]) for s in range(0, len(blobs), self.batch_size)]
        for name, output in self.outputs.items():
            port = self.model.output(output)
            scores[name][valid] = np.concatenate([p[port] for p in parts]).reshape(len(blobs), -1)
        return scores


ATTRIBUTE_MODELS: Registry[AttributeClassifier] = Registry("attribute model")


@ATTRIBUTE_MODELS.register("openvino-vehicle-attributes")
def openvino_vehicle_attributes(
    weights: str | Path = "vehicle-attributes-recognition-barrier-0039",
    threads: int = 2,
    batch_size: int = 32,
) -> AttributeClassifier:
    """Colour (7) and type (4) of a vehicle crop, Open Model Zoo's 72 x 72 attribute net."""
    return AttributeClassifier(weights, VEHICLE_ATTRIBUTES, VEHICLE_OUTPUTS, (72, 72), threads, batch_size)


ATTRIBUTE_NAMES = {"openvino-vehicle-attributes": tuple(VEHICLE_ATTRIBUTES)}  # what each model sends


def build_attributes(name: str = "openvino-vehicle-attributes", **options: Any) -> AttributeClassifier:
    try:
        return ATTRIBUTE_MODELS.build(name, **options)
    except TypeError as exc:
        raise MtmcError(f"attributes: {name}: bad option ({exc})") from None
