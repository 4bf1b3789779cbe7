"""UA-DETRAC XML annotations: ``<sequence><frame num><target_list><target id><box .../>``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtmc.errors import InputFormatError, MtmcError
from mtmc.types import TrackRows


@dataclass(frozen=True)
class DetracSequence:
    """Boxes of one sequence, the vehicle type of each row, and the ignored regions (x, y, w, h)."""

    rows: TrackRows
    vehicle_type: list[str]
    ignored_regions: np.ndarray


def read_detrac(path: str | Path, what: str = "UA-DETRAC XML file") -> DetracSequence:
    path = Path(path)
    if not path.is_file():
        raise MtmcError(f"{what} not found: {path} (check the path)")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputFormatError(path, f"not valid XML: {exc}", exc.position[0]) from None
    if root.tag != "sequence":
        raise InputFormatError(path, f"root element is <{root.tag}>, expected <sequence> (UA-DETRAC)")
    frames, ids, boxes, types = [], [], [], []
    try:
        for frame in root.iter("frame"):
            num = int(frame.attrib["num"])
            for target in frame.iter("target"):
                box = target.find("box")
                if box is None:
                    raise ValueError(f"target {target.attrib.get('id')} in frame {num} has no <box>")
                attribute = target.find("attribute")
                frames.append(num)
                ids.append(int(target.attrib["id"]))
                boxes.append([float(box.attrib[k]) for k in ("left", "top", "width", "height")])
                types.append(attribute.attrib.get("vehicle_type", "") if attribute is not None else "")
        ignored = [
            [float(b.attrib[k]) for k in ("left", "top", "width", "height")]
            for region in root.iter("ignored_region")
            for b in region.iter("box")
        ]
    except (KeyError, ValueError) as exc:
        raise InputFormatError(path, f"bad annotation: {exc}") from None
    rows = TrackRows(
        frame=np.array(frames, np.int64), id=np.array(ids, np.int64), xywh=np.array(boxes).reshape(-1, 4)
    )
    return DetracSequence(rows, types, np.array(ignored).reshape(-1, 4))
