"""VeRi-776 (Liu et al., ICME 2016 / ECCV 2016): 576 training and 200 test vehicles, 20 cameras.

Layout (https://vehiclereid.github.io/VeRi/)::

    ROOT/image_train/0001_c001_00016450_0.jpg   <vehicle>_c<camera>_<frame>_<n>.jpg
    ROOT/image_query/   ROOT/image_test/
    ROOT/name_train.txt name_query.txt name_test.txt   (optional: the official image lists)
    ROOT/train_label.xml test_label.xml                (optional: colorID, typeID per image)
    ROOT/list_color.txt list_type.txt                  (optional: '<id> <name>' lines)
    ROOT/test_track.txt                                (optional: one test track per line)

Query images are also in ``image_test``; the evaluator drops same-vehicle same-camera gallery
images (the VeRi protocol), the query itself included.
"""

from __future__ import annotations

import re
from pathlib import Path

from mtmc.errors import InputFormatError
from mtmc.reid.data.datasets.bases import (
    LabelVocabulary,
    ReidSample,
    ReidSplits,
    list_images,
    read_id_name_list,
    read_label_xml,
    read_lines,
    relabel,
    require,
    track_index,
)

LAYOUT = (
    "image_train/, image_query/, image_test/ holding <vehicle>_c<camera>_<frame>_<n>.jpg images "
    "(optional: name_*.txt, train_label.xml, test_label.xml, list_color.txt, list_type.txt, test_track.txt)"
)
_NAME = re.compile(r"^(\d+)_c(\d+)_")
_SPLITS = (
    ("train", "image_train", "name_train.txt"),
    ("query", "image_query", "name_query.txt"),
    ("gallery", "image_test", "name_test.txt"),
)


def read_veri776(root: str | Path) -> ReidSplits:
    """Train / query / gallery of VeRi-776, with colour and type labels where the label XMLs are
    present (AttributeNet's attribute branches, paper 003 §4.1) and test tracks from test_track.txt."""
    root = Path(root)
    folders = {split: require(root, folder, "VeRi-776", LAYOUT) for split, folder, _ in _SPLITS}
    names = {split: _image_names(folders[split], root / listing) for split, _, listing in _SPLITS}

    labels: dict[str, dict[str, str]] = {}
    for xml in ("train_label.xml", "test_label.xml"):
        if (root / xml).is_file():
            labels.update(
                (item["imageName"], item) for item in read_label_xml(root / xml) if "imageName" in item
            )
    colours = _vocabulary(labels, "colorID", root / "list_color.txt")
    types = _vocabulary(labels, "typeID", root / "list_type.txt")
    tracks = (
        track_index(root / "test_track.txt", names["gallery"] + names["query"])
        if (root / "test_track.txt").is_file()
        else {}
    )

    splits: dict[str, list[ReidSample]] = {}
    for split, _, _ in _SPLITS:
        samples = []
        for name in names[split]:
            match = _NAME.match(name)
            if match is None:
                raise InputFormatError(
                    folders[split] / name, "not a VeRi name <vehicle>_c<camera>_<frame>_<n>.jpg"
                )
            item = labels.get(name, {})
            samples.append(
                ReidSample(
                    path=folders[split] / name,
                    pid=int(match.group(1)),
                    camid=int(match.group(2)),
                    colour=colours.index(item.get("colorID")),
                    type=types.index(item.get("typeID")),
                    track=tracks.get(name, -1) if split != "train" else -1,
                )
            )
        splits[split] = samples
    return ReidSplits(
        name="veri776",
        root=root,
        train=relabel(splits["train"]),
        query=splits["query"],
        gallery=splits["gallery"],
        colour_names=colours.names,
        type_names=types.names,
    )


def _image_names(folder: Path, listing: Path) -> list[str]:
    """The official list when present (its order), else the images in the folder."""
    if listing.is_file():
        return read_lines(listing)
    return [path.name for path in list_images(folder)]


def _vocabulary(labels: dict[str, dict[str, str]], key: str, list_file: Path) -> LabelVocabulary:
    """Classes from VeRi's list file when present (all of them, even unseen), else from the XMLs;
    none when no image carries the label."""
    if not any(key in item for item in labels.values()):
        return LabelVocabulary.build(())
    if list_file.is_file():
        names = read_id_name_list(list_file)
        return LabelVocabulary.build(names, names)
    return LabelVocabulary.build(item.get(key, "") for item in labels.values())
