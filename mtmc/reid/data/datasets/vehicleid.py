"""PKU VehicleID (Liu et al., CVPR 2016): 13,164 training vehicles, front / rear views only,
test lists of 800 / 1600 / 2400 vehicles.

Layout::

    ROOT/image/<image>.jpg
    ROOT/train_test_split/train_list.txt       lines '<image> <vehicle>' (image name without .jpg)
    ROOT/train_test_split/test_list_800.txt    test_list_1600.txt  test_list_2400.txt
    ROOT/attribute/color_attr.txt model_attr.txt   (optional: lines '<vehicle> <colour|model id>')

VehicleID has no camera ids. The standard protocol (paper 002 §4, Datasets): one randomly chosen image
per test vehicle forms the gallery, all the others are queries; papers report the mean over 10
draws (``seed`` = 0..9). Queries get camid 0 and gallery images camid 1, so the evaluator's
same-camera filter removes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from mtmc.errors import InputFormatError, MtmcError
from mtmc.reid.data.datasets.bases import (
    LabelVocabulary,
    ReidSample,
    ReidSplits,
    read_lines,
    relabel,
    require,
)

LAYOUT = (
    "image/<image>.jpg, train_test_split/train_list.txt and train_test_split/test_list_<size>.txt "
    "with '<image> <vehicle>' lines (optional: attribute/color_attr.txt, attribute/model_attr.txt)"
)
QUERY_CAMERA = 0
GALLERY_CAMERA = 1


def read_vehicleid(root: str | Path, test_size: int = 800, seed: int = 0) -> ReidSplits:
    """Train split, and the query / gallery draw ``seed`` of the ``test_size``-vehicle test list.
    The vehicle model labels fill ``type`` (VehicleID labels 250 models, no body type; AttributeNet
    uses them as its type attribute, paper 003 §4.1)."""
    root = Path(root)
    image_folder = require(root, "image", "VehicleID", LAYOUT)
    train_list = require(root, "train_test_split/train_list.txt", "VehicleID", LAYOUT)
    test_list = root / "train_test_split" / f"test_list_{test_size}.txt"
    if not test_list.is_file():
        found = sorted(
            p.stem.removeprefix("test_list_") for p in (root / "train_test_split").glob("test_list_*.txt")
        )
        raise MtmcError(
            f"VehicleID: {test_list} not found; test sizes present: {', '.join(found) or 'none'} "
            f"(expected under {root}: {LAYOUT})"
        )
    colour_of = _vehicle_attribute(root / "attribute" / "color_attr.txt")
    model_of = _vehicle_attribute(root / "attribute" / "model_attr.txt")
    colours = LabelVocabulary.build(colour_of.values())
    models = LabelVocabulary.build(model_of.values())

    def samples(list_file: Path, camid: int) -> list[ReidSample]:
        read = []
        for number, line in enumerate(read_lines(list_file), start=1):
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit():
                raise InputFormatError(list_file, f"expected '<image> <vehicle>', got '{line}'", number)
            image, vehicle = parts
            read.append(
                ReidSample(
                    path=image_folder / (image if Path(image).suffix else f"{image}.jpg"),
                    pid=int(vehicle),
                    camid=camid,
                    colour=colours.index(colour_of.get(int(vehicle))),
                    type=models.index(model_of.get(int(vehicle))),
                )
            )
        return read

    query, gallery = split_one_per_identity(samples(test_list, QUERY_CAMERA), seed)
    return ReidSplits(
        name="vehicleid",
        root=root,
        train=relabel(samples(train_list, QUERY_CAMERA)),
        query=query,
        gallery=gallery,
        colour_names=colours.names,
        type_names=models.names,
    )


def split_one_per_identity(samples: list[ReidSample], seed: int) -> tuple[list[ReidSample], list[ReidSample]]:
    """(query, gallery): one image per identity drawn at random (``seed``) to the gallery with
    camid 1, the rest to the query with camid 0; both keep the input order."""
    by_pid: dict[int, list[int]] = defaultdict(list)
    for index, sample in enumerate(samples):
        by_pid[sample.pid].append(index)
    rng = np.random.default_rng(seed)
    chosen = {indices[int(rng.integers(len(indices)))] for _, indices in sorted(by_pid.items())}
    query = [replace(s, camid=QUERY_CAMERA) for i, s in enumerate(samples) if i not in chosen]
    gallery = [replace(s, camid=GALLERY_CAMERA) for i, s in enumerate(samples) if i in chosen]
    return query, gallery


def _vehicle_attribute(path: Path) -> dict[int, str]:
    """{vehicle: label} from lines '<vehicle> <label>'; empty when the file is absent."""
    if not path.is_file():
        return {}
    labels = {}
    for number, line in enumerate(read_lines(path), start=1):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise InputFormatError(path, f"expected '<vehicle> <label>', got '{line}'", number)
        labels[int(parts[0])] = parts[1]
    return labels
