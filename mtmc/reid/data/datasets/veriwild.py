"""VeRi-Wild (Lou et al., CVPR 2019): 30,671 training vehicles, 174 cameras, test sets of
3000 / 5000 / 10000 vehicles.

Layout (https://github.com/PKU-IMRE/VERI-Wild)::

    ROOT/images/<vehicle>/<image>.jpg
    ROOT/train_test_split/train_list.txt           lines '<vehicle>/<image>'
    ROOT/train_test_split/test_3000.txt            gallery, and test_3000_query.txt the queries
    ROOT/train_test_split/vehicle_info.txt         '<vehicle>/<image>;<camera>;<time>;<model>;<type>;<colour>'
                                                   after a header line (ROOT/vehicle_info.txt is read too)
"""

from __future__ import annotations

from pathlib import Path

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
    "images/<vehicle>/<image>.jpg, train_test_split/train_list.txt, test_<size>.txt, test_<size>_query.txt "
    "('<vehicle>/<image>' lines) and vehicle_info.txt ('<vehicle>/<image>;camera;time;model;type;colour')"
)


def read_veriwild(root: str | Path, test_size: int = 3000) -> ReidSplits:
    """Train split and the ``test_size`` query / gallery lists; camera, colour and type of every
    image from vehicle_info.txt (colour and type names become classes in text order)."""
    root = Path(root)
    image_folder = require(root, "images", "VeRi-Wild", LAYOUT)
    split_folder = require(root, "train_test_split", "VeRi-Wild", LAYOUT)
    train_list = require(root, "train_test_split/train_list.txt", "VeRi-Wild", LAYOUT)
    gallery_list = split_folder / f"test_{test_size}.txt"
    query_list = split_folder / f"test_{test_size}_query.txt"
    for path in (gallery_list, query_list):
        if not path.is_file():
            found = sorted(
                p.name.removeprefix("test_").removesuffix("_query.txt")
                for p in split_folder.glob("test_*_query.txt")
            )
            raise MtmcError(
                f"VeRi-Wild: {path} not found; test sizes present: {', '.join(found) or 'none'} "
                f"(expected under {root}: {LAYOUT})"
            )
    info_file = split_folder / "vehicle_info.txt"
    if not info_file.is_file():
        info_file = require(root, "vehicle_info.txt", "VeRi-Wild", LAYOUT)
    info = _vehicle_info(info_file)
    colours = LabelVocabulary.build(row[4] for row in info.values())
    types = LabelVocabulary.build(row[3] for row in info.values())

    def samples(list_file: Path) -> list[ReidSample]:
        read = []
        for number, line in enumerate(read_lines(list_file), start=1):
            key = _image_key(line)
            if key is None:
                raise InputFormatError(list_file, f"expected '<vehicle>/<image>', got '{line}'", number)
            if key not in info:
                raise InputFormatError(list_file, f"'{line}' has no row in {info_file}", number)
            camera, _time, _model, vehicle_type, colour = info[key]
            vehicle, image = key
            read.append(
                ReidSample(
                    path=image_folder / vehicle / f"{image}.jpg",
                    pid=int(vehicle),
                    camid=int(camera),
                    colour=colours.index(colour),
                    type=types.index(vehicle_type),
                )
            )
        return read

    return ReidSplits(
        name="veriwild",
        root=root,
        train=relabel(samples(train_list)),
        query=samples(query_list),
        gallery=samples(gallery_list),
        colour_names=colours.names,
        type_names=types.names,
    )


def _image_key(text: str) -> tuple[str, str] | None:
    """('00001', '000001') from '00001/000001' or '00001/000001.jpg'; None when not that shape."""
    parts = text.strip().split("/")
    if len(parts) != 2 or not parts[0].isdigit() or not parts[1]:
        return None
    return parts[0], Path(parts[1]).stem


def _vehicle_info(path: Path) -> dict[tuple[str, str], tuple[str, str, str, str, str]]:
    """{(vehicle, image): (camera, time, model, type, colour)}; the header line is skipped."""
    rows = {}
    for number, line in enumerate(read_lines(path), start=1):
        fields = [field.strip() for field in line.split(";")]
        key = _image_key(fields[0])
        if key is None and number == 1:
            continue
        if key is None or len(fields) != 6 or not fields[1].isdigit():
            raise InputFormatError(
                path, f"expected '<vehicle>/<image>;camera;time;model;type;colour', got '{line}'", number
            )
        rows[key] = (fields[1], fields[2], fields[3], fields[4], fields[5])
    return rows
