"""CityFlow-ReID, the AI City Challenge Track 2 data (Tang et al., CVPR 2019; 2020 edition: 333
training vehicles from 36 cameras, 333 test vehicles from 23 cameras).

Layout::

    ROOT/image_train/000001.jpg      ROOT/train_label.xml   <Item imageName vehicleID cameraID .../>
    ROOT/image_query/  ROOT/image_test/                     (optional)
    ROOT/name_query.txt name_test.txt                       (optional: the official image lists)
    ROOT/train_track.txt test_track.txt                     (optional: one track per line)

The query / test identities are not public (the challenge server scores submissions): query and
gallery samples carry ``pid = camid = -1`` and ``ReidSplits.test_labelled`` is False, so they
serve feature extraction (and track-averaged distances, paper 001 §3.4) but no local mAP.
"""

from __future__ import annotations

from pathlib import Path

from mtmc.errors import InputFormatError
from mtmc.reid.data.datasets.bases import (
    LabelVocabulary,
    ReidSample,
    ReidSplits,
    camera_number,
    list_images,
    read_label_xml,
    read_lines,
    relabel,
    require,
    track_index,
)

LAYOUT = (
    "image_train/ and train_label.xml (Items with imageName, vehicleID, cameraID); optional "
    "image_query/, image_test/, name_query.txt, name_test.txt, train_track.txt, test_track.txt"
)


def read_cityflow(root: str | Path) -> ReidSplits:
    """The labelled train split, plus the unlabelled query / test images when their folders exist.
    ``colorID`` / ``typeID`` attributes are read when the label file has them (the synthetic
    AI City data does; the real one does not)."""
    root = Path(root)
    train_folder = require(root, "image_train", "CityFlow-ReID", LAYOUT)
    label_file = require(root, "train_label.xml", "CityFlow-ReID", LAYOUT)
    items = read_label_xml(label_file)
    if not items:
        raise InputFormatError(label_file, "no <Item> elements: expected one per training image")
    colours = LabelVocabulary.build(item.get("colorID", "") for item in items)
    types = LabelVocabulary.build(item.get("typeID", "") for item in items)
    train_tracks = _tracks(root / "train_track.txt", [item.get("imageName", "") for item in items])

    train = []
    for item in items:
        missing = {"imageName", "vehicleID", "cameraID"} - item.keys()
        if missing:
            raise InputFormatError(label_file, f"an <Item> lacks {', '.join(sorted(missing))}: {item}")
        name = item["imageName"]
        train.append(
            ReidSample(
                path=train_folder / name,
                pid=int(item["vehicleID"]),
                camid=camera_number(item["cameraID"], label_file),
                colour=colours.index(item.get("colorID")),
                type=types.index(item.get("typeID")),
                track=train_tracks.get(name, -1),
            )
        )

    query = _unlabelled(root / "image_query", root / "name_query.txt", None)
    gallery = _unlabelled(root / "image_test", root / "name_test.txt", root / "test_track.txt")
    return ReidSplits(
        name="cityflow-reid",
        root=root,
        train=relabel(train),
        query=query,
        gallery=gallery,
        colour_names=colours.names,
        type_names=types.names,
        test_labelled=False,
    )


def _tracks(track_file: Path, names: list[str]) -> dict[str, int]:
    return track_index(track_file, names) if track_file.is_file() else {}


def _unlabelled(folder: Path, listing: Path, track_file: Path | None) -> list[ReidSample]:
    if not folder.is_dir():
        return []
    names = read_lines(listing) if listing.is_file() else [path.name for path in list_images(folder)]
    tracks = _tracks(track_file, names) if track_file is not None else {}
    return [ReidSample(path=folder / name, pid=-1, camid=-1, track=tracks.get(name, -1)) for name in names]
