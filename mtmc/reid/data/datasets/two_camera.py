"""Vehicle-Re-ID-Dataset of Truong Nguyen, Luong Truong and Nguyen Thanh (Apache-2.0): 1,014 crops of
507 vehicles on a road in Vietnam, each seen once by each of two cameras with different viewpoints.

Layout::

    ROOT/images/train/<type>_<NNNN>_cam<1|2>.jpg   type: car, motorcycle, truck or bus
    ROOT/train.txt  ROOT/val.txt                    image names, one per line, split by identity

A vehicle is ``<type>_<NNNN>`` (the number alone repeats across types). Training images come from
the ``train`` lists, the test vehicles from ``test_list``: queries are their ``query_camera`` views,
the gallery their other camera's, so each query has exactly one true match and mAP is its mean
reciprocal rank. Evaluate both directions (``query_camera`` 1 and 2) and average them. The vehicle
type fills ``type`` (AttributeNet's type branch, the metadata distance).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mtmc.errors import InputFormatError, MtmcError
from mtmc.reid.data.datasets.bases import LabelVocabulary, ReidSample, ReidSplits, read_lines, relabel, require

LAYOUT = "images/train/<type>_<NNNN>_cam<1|2>.jpg with train.txt and val.txt listing image names"
_NAME = re.compile(r"^(?P<type>[a-z]+)_(?P<number>\d+)_cam(?P<camera>[12])\.[A-Za-z]+$")
CAMERAS = (1, 2)


def read_two_camera(
    root: str | Path,
    train: str | list[str] = "train.txt",
    test_list: str | None = "val.txt",
    query_camera: int = 1,
) -> ReidSplits:
    """Train on the images of ``train`` (one list file or several, e.g. train.txt and val.txt for a
    final model), test on ``test_list`` with ``query_camera``'s views as queries (None: no test
    vehicles, for a model trained on every labelled one)."""
    if query_camera not in CAMERAS:
        raise MtmcError(f"vehicle-reid-2cam: query_camera must be 1 or 2, got {query_camera}")
    root = Path(root)
    images = require(root, "images/train", "vehicle-reid-2cam", LAYOUT)
    train_lists = [train] if isinstance(train, str) else list(train)
    train_names = [name for listing in train_lists for name in _names(root, listing)]
    test_names = _names(root, test_list) if test_list is not None else []
    shared = {_identity(n) for n in train_names} & {_identity(n) for n in test_names}
    if shared:
        raise MtmcError(
            f"vehicle-reid-2cam: {len(shared)} vehicles (e.g. {sorted(shared)[0]}) are in both the train "
            f"lists {train_lists} and the test list {test_list}; train and test must not share vehicles"
        )
    types = LabelVocabulary.build(_NAME.match(n)["type"] for n in train_names + test_names)
    test_ids = {identity: index for index, identity in enumerate(sorted({_identity(n) for n in test_names}))}
    train_ids = {identity: index for index, identity in enumerate(sorted({_identity(n) for n in train_names}))}

    def sample(name: str, numbers: dict[str, int]) -> ReidSample:
        parts = _NAME.match(name)
        path = images / name
        if not path.is_file():
            raise MtmcError(f"vehicle-reid-2cam: {path} is listed but not found; expected {LAYOUT}")
        return ReidSample(
            path=path,
            pid=numbers[_identity(name)],
            camid=int(parts["camera"]) - 1,
            type=types.index(parts["type"]),
        )

    test = [sample(n, test_ids) for n in test_names]
    return ReidSplits(
        name="vehicle-reid-2cam",
        root=root,
        train=relabel(sample(n, train_ids) for n in train_names),
        query=[s for s in test if s.camid == query_camera - 1],
        gallery=[s for s in test if s.camid != query_camera - 1],
        type_names=types.names,
    )


def _names(root: Path, listing: str) -> list[str]:
    """The image names of one list file, each checked against the naming scheme."""
    path = require(root, listing, "vehicle-reid-2cam", LAYOUT)
    names = read_lines(path)
    for number, name in enumerate(names, start=1):
        if _NAME.match(name) is None:
            raise InputFormatError(path, f"'{name}' is not <type>_<NNNN>_cam<1|2>.jpg", number)
    return names


def _identity(name: str) -> str:
    parts = _NAME.match(name)
    return f"{parts['type']}_{parts['number']}"


def cross_validation_folds(
    root: str | Path, lists: tuple[str, ...] = ("train.txt", "val.txt"), folds: int = 5, seed: int = 0
) -> list[list[str]]:
    """The image names of ``lists`` dealt into ``folds`` folds by vehicle (both views of a vehicle in
    one fold), each vehicle type spread evenly over the folds (71 of the 102 val vehicles are
    motorcycles), in a seeded order: train on all folds but one, test on that one."""
    if folds < 2:
        raise MtmcError(f"vehicle-reid-2cam: cross-validation needs at least 2 folds, got {folds}")
    root = Path(root)
    by_vehicle: dict[str, list[str]] = {}
    for listing in lists:
        for name in _names(root, listing):
            by_vehicle.setdefault(_identity(name), []).append(name)
    if len(by_vehicle) < folds:
        raise MtmcError(f"vehicle-reid-2cam: {len(by_vehicle)} vehicles cannot fill {folds} folds")
    rng = np.random.default_rng(seed)
    out: list[list[str]] = [[] for _ in range(folds)]
    dealt = 0
    for kind in sorted({vehicle.split("_")[0] for vehicle in by_vehicle}):
        vehicles = sorted(v for v in by_vehicle if v.split("_")[0] == kind)
        for vehicle in (vehicles[i] for i in rng.permutation(len(vehicles))):
            out[dealt % folds].extend(sorted(by_vehicle[vehicle]))
            dealt += 1
    return out
