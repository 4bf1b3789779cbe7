"""SSD detectors through OpenVINO: the Intel Open Model Zoo vehicle detectors, or any IR/ONNX SSD.

Why: the Open Model Zoo detectors were trained on surveillance and road views, and at about the
cost of YOLOX-Nano on CPU they find more of the far vehicles it misses.

Pre-processing (the Open Model Zoo's own): the frame resized, not letterboxed, to the model's
input size, BGR 0-255 as float, NCHW, no mean or scale (the IR holds any). The output
``detection_out`` [1, 1, N, 7] holds image_id, label, confidence, x_min, y_min, x_max, y_max in
0-1; the first row with image_id -1 ends the list.

Labels become COCO classes (``mtmc.detect.coco``): the models' single "vehicle" class (no car /
bus / truck split) is reported as COCO ``car``, "person" as ``person`` and "bike" as ``bicycle``.
Another SSD names its map with ``labels: {label id: COCO name}``.

Tiling (``tiles: [rows, cols]``): the frame is also cut into overlapping tiles, each run at the
model's input size, so far vehicles get more pixels. A tile's box that touches an inner edge of
its tile is dropped (the vehicle is cut there; a neighbour tile or the whole frame holds it whole),
and the rest are merged with the whole frame's boxes by class-aware NMS. It pays only where a tile
is still about the model's input size or larger (1080p into 512 x 512): on a 640 x 352 frame the
tiles are enlarged and give false boxes on background and pieces of near vehicles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mtmc.detect.base import DETECTORS, Detector, class_aware_nms
from mtmc.detect.coco import COCO_CLASSES, VEHICLES, class_ids
from mtmc.errors import MtmcError
from mtmc.weights import resolve_weights

# Label maps of the Open Model Zoo detectors in weights/manifest.yaml, by file stem.
KNOWN_LABELS: dict[str, dict[int, str]] = {
    "vehicle-detection-0202": {0: "car"},
    "vehicle-detection-adas-0002": {1: "car"},
    "person-vehicle-bike-detection-crossroad-0078": {1: "person", 2: "car", 3: "bicycle"},
}
EDGE = 0.01  # a tile's box within this fraction of the tile's size from an inner edge is cut


def check_option(ok: bool, name: str, rule: str, value: Any) -> None:
    if not ok:
        raise MtmcError(f"openvino: option {name} must be {rule}, got {value!r}")


def int_pair(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )


def describe_ports(ports: Sequence[Any]) -> str:
    return ", ".join(f"{p.any_name if p.get_names() else '?'} {p.get_partial_shape()}" for p in ports)


def image_input(model: Any, path: Path) -> Any:
    """The model's one NCHW 3-channel input, or an error that says what the model has instead."""
    inputs = model.inputs
    shape = inputs[0].get_partial_shape() if len(inputs) == 1 else None
    if shape is None or shape.rank.is_dynamic or len(shape) != 4 or shape[1] != 3:
        raise MtmcError(
            f"{path}: the openvino detector needs one image input [1,3,H,W], the model has {describe_ports(inputs)}"
        )
    return inputs[0]


def detection_output(model: Any, path: Path) -> int:
    """Index of the SSD output [1,1,N,7] (``detection_out`` if there are several), or an error."""
    outputs = model.outputs
    named = [i for i, p in enumerate(outputs) if "detection_out" in p.get_names()]
    index = named[0] if named else 0 if len(outputs) == 1 else None
    shape = outputs[index].get_partial_shape() if index is not None else None
    if shape is None or shape.rank.is_dynamic or len(shape) != 4 or shape[3] != 7:
        raise MtmcError(
            f"{path}: the openvino detector needs an SSD output detection_out [1,1,N,7], "
            f"the model has {describe_ports(outputs)}"
        )
    return index


def label_table(labels: Mapping[Any, str], keep: list[int], path: Path) -> dict[int, int]:
    """Model label -> COCO id for the labels whose class is kept; an error if none is."""
    table = {}
    for label, name in labels.items():
        check_option(str(label).lstrip("-").isdigit(), "labels", "a map {label id: COCO name}", dict(labels))
        table[int(label)] = class_ids([name])[0]
    kept = {label: coco for label, coco in table.items() if coco in keep}
    if not kept:
        offered = ", ".join(sorted({COCO_CLASSES[c] for c in table.values()}))
        wanted = ", ".join(COCO_CLASSES[c] for c in keep)
        raise MtmcError(
            f"{path.name} detects only {offered}: none of the classes asked for ({wanted}); "
            "use a detector that has them, e.g. onnx-yolox (the 80 COCO classes)"
        )
    return kept


def tile_windows(
    height: int, width: int, rows: int, cols: int, overlap: float
) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of ``rows`` x ``cols`` equal tiles covering the frame, neighbours
    overlapping by ``overlap`` of a tile's size."""

    def spans(length: int, n: int) -> list[tuple[int, int]]:
        size = length / (n - (n - 1) * overlap)
        starts = [round(i * size * (1 - overlap)) for i in range(n)]
        return [(s, length if i == n - 1 else round(s + size)) for i, s in enumerate(starts)]

    return [(x0, y0, x1, y1) for y0, y1 in spans(height, rows) for x0, x1 in spans(width, cols)]


def decode(
    raw: np.ndarray, width: int, height: int, table: dict[int, int], score_threshold: float
) -> np.ndarray:
    """(M, 6) [x1, y1, x2, y2, score, COCO id] in pixels of a ``width`` x ``height`` image."""
    rows = raw.reshape(-1, 7)
    end = np.flatnonzero(rows[:, 0] < 0)
    rows = rows[: end[0]] if len(end) else rows
    labels = rows[:, 1].astype(np.int64)
    rows = rows[(rows[:, 2] >= score_threshold) & np.isin(labels, list(table))]
    boxes = rows[:, 3:7] * np.array([width, height, width, height], np.float32)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    cls = np.array([table[int(label)] for label in rows[:, 1]], np.float32)
    return np.column_stack([boxes, rows[:, 2], cls]).astype(np.float32).reshape(-1, 6)


def away_from_inner_edges(
    det: np.ndarray, window: tuple[int, int, int, int], height: int, width: int
) -> np.ndarray:
    """Which boxes of a tile (tile pixels) do not touch a tile edge that lies inside the frame."""
    x0, y0, x1, y1 = window
    mx, my = EDGE * (x1 - x0), EDGE * (y1 - y0)
    cut = (
        ((det[:, 0] <= mx) & (x0 > 0))
        | ((det[:, 1] <= my) & (y0 > 0))
        | ((det[:, 2] >= x1 - x0 - mx) & (x1 < width))
        | ((det[:, 3] >= y1 - y0 - my) & (y1 < height))
    )
    return ~cut


def first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def read_ssd(core: Any, path: Path, input_size: Sequence[int] | None) -> tuple[Any, int]:
    """The model checked as an SSD, at batch 1 and ``input_size`` if given, and its output index."""
    import openvino as ov

    try:
        model = core.read_model(str(path))
    except RuntimeError as exc:
        raise MtmcError(f"{path}: OpenVINO cannot read this model: {first_line(exc)}") from None
    port = image_input(model, path)
    output = detection_output(model, path)
    shape = port.get_partial_shape()
    if input_size is not None or shape[0] != 1:
        height, width = input_size if input_size is not None else (shape[2], shape[3])
        try:
            model.reshape({port: ov.PartialShape([1, 3, height, width])})
        except RuntimeError as exc:
            raise MtmcError(
                f"{path}: the model cannot take input_size {input_size}: {first_line(exc)}"
            ) from None
        detection_output(model, path)
    shape = model.inputs[0].get_partial_shape()
    if shape.is_dynamic:
        raise MtmcError(
            f"{path}: the model's input size is not fixed ({shape}); give the detector input_size: [H, W]"
        )
    return model, output


def compile_ssd(core: Any, model: Any, path: Path, device: str, threads: int) -> Any:
    """An inference request taking the resized uint8 frame as it is (NHWC; OpenVINO converts it)."""
    import openvino as ov

    ppp = ov.preprocess.PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    ppp.input().preprocess().convert_element_type(ov.Type.f32)
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
    if device.upper().startswith("CPU"):
        # Unpinned: several camera workers (or other jobs) share the cores, and threads pinned to a
        # busy core wait for it (1.5x slower on 2 busy cores here).
        config.update(INFERENCE_NUM_THREADS=threads, ENABLE_CPU_PINNING=False)
    try:
        return core.compile_model(ppp.build(), device, config).create_infer_request()
    except RuntimeError as exc:
        raise MtmcError(
            f"OpenVINO cannot run {path.name} on device '{device}' (devices here: "
            f"{', '.join(core.available_devices)}): {first_line(exc)}"
        ) from None


@DETECTORS.register("openvino")
class OpenVinoSsd(Detector):
    def __init__(
        self,
        weights: str | Path = "vehicle-detection-0202",
        classes: list[str] | tuple[str, ...] = VEHICLES,
        score_threshold: float = 0.3,
        nms_iou: float = 0.45,
        threads: int = 2,
        device: str = "CPU",
        input_size: list[int] | tuple[int, int] | None = None,
        tiles: list[int] | tuple[int, int] | None = None,
        tile_overlap: float = 0.2,
        labels: Mapping[int, str] | None = None,
    ) -> None:
        import openvino as ov

        number = "a number with 0 <= value < 1"
        check_option(0.0 <= score_threshold < 1.0, "score_threshold", number, score_threshold)
        check_option(0.0 < nms_iou <= 1.0, "nms_iou", "a number with 0 < value <= 1", nms_iou)
        check_option(isinstance(threads, int) and threads >= 1, "threads", "an integer >= 1", threads)
        check_option(
            isinstance(device, str) and bool(device), "device", "an OpenVINO device (CPU, GPU, ...)", device
        )
        size_ok = input_size is None or (int_pair(input_size) and min(input_size) >= 32)
        check_option(size_ok, "input_size", "[height, width], integers >= 32, or null", input_size)
        tiles_ok = tiles is None or (int_pair(tiles) and 1 <= min(tiles) and max(tiles) <= 8)
        check_option(tiles_ok, "tiles", "[rows, columns], integers from 1 to 8, or null", tiles)
        check_option(
            0.0 <= tile_overlap < 0.5, "tile_overlap", "a number with 0 <= value < 0.5", tile_overlap
        )
        path = resolve_weights(weights)
        if labels is None:
            if path.stem not in KNOWN_LABELS:
                raise MtmcError(
                    f"{path}: no label map is known for this model; give the detector "
                    "labels: {label id: COCO name}, e.g. {1: car}"
                )
            labels = KNOWN_LABELS[path.stem]
        check_option(
            isinstance(labels, Mapping) and bool(labels), "labels", "a map {label id: COCO name}", labels
        )
        self.table = label_table(labels, class_ids(list(classes)), path)
        core = ov.Core()
        model, self.output = read_ssd(core, path, input_size)
        self.height, self.width = (d.get_length() for d in model.inputs[0].get_partial_shape()[2:])
        self.request = compile_ssd(core, model, path, device, threads)
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.tiles = tuple(tiles) if tiles is not None else None
        self.tile_overlap = tile_overlap

    def run(self, image: np.ndarray) -> np.ndarray:
        """Detections of one image (or tile) in its own pixels, before the final NMS."""
        import cv2

        resized = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        self.request.infer({0: resized[None]})
        raw = self.request.get_output_tensor(self.output).data
        return decode(raw, image.shape[1], image.shape[0], self.table, self.score_threshold)

    def detect(self, image: np.ndarray) -> np.ndarray:
        found = [self.run(image)]
        if self.tiles is not None:
            height, width = image.shape[:2]
            for window in tile_windows(height, width, *self.tiles, self.tile_overlap):
                x0, y0, x1, y1 = window
                det = self.run(image[y0:y1, x0:x1])
                det = det[away_from_inner_edges(det, window, height, width)]
                det[:, [0, 2]] += x0
                det[:, [1, 3]] += y0
                found.append(det)
        det = np.concatenate(found)
        keep = class_aware_nms(det[:, :4], det[:, 4], det[:, 5], self.nms_iou)
        keep = keep[np.argsort(-det[keep, 4], kind="stable")]
        return det[keep].reshape(-1, 6)
