"""Any re-id data laid out as folders: one per identity, one per camera inside it.

Layout::

    ROOT/<identity>/<camera>/<image>                    everything is training data
    ROOT/train/<identity>/<camera>/<image>              or three splits
    ROOT/query/<identity>/<camera>/<image>
    ROOT/gallery/<identity>/<camera>/<image>

Images are files with any of the usual extensions (.jpg .jpeg .png .bmp .tif .tiff .webp).
Identity and camera folder names are free text. Cameras are numbered 0..C-1 in name order over
all splits, so a camera keeps its number across splits; query and gallery identities likewise
share one numbering, and the train identities are relabelled 0..N-1.
"""

from __future__ import annotations

from pathlib import Path

from mtmc.errors import MtmcError
from mtmc.reid.data.datasets.bases import IMAGE_EXTENSIONS, ReidSample, ReidSplits, list_images

LAYOUT = "ROOT/<identity>/<camera>/<image>, or train/, query/ and gallery/ folders each laid out that way"
SPLIT_FOLDERS = ("train", "query", "gallery")


def read_folders(root: str | Path) -> ReidSplits:
    """Three splits when ``ROOT/train`` exists (query/ and gallery/ then both or neither), else the
    whole tree as the train split with no query or gallery."""
    root = Path(root)
    if not root.is_dir():
        raise MtmcError(f"folders: {root} is not a folder; expected {LAYOUT}")
    if (root / "train").is_dir():
        present = {name: root / name for name in SPLIT_FOLDERS if (root / name).is_dir()}
        if ("query" in present) != ("gallery" in present):
            lacking = "gallery" if "query" in present else "query"
            raise MtmcError(
                f"folders: {root / lacking} not found; query/ and gallery/ go together ({LAYOUT})"
            )
    else:
        present = {"train": root}
    trees = {split: _scan(folder) for split, folder in present.items()}

    cameras = sorted({camera for tree in trees.values() for _, camera, _ in tree})
    camera_number = {camera: index for index, camera in enumerate(cameras)}
    test_identities = sorted(
        {identity for split in ("query", "gallery") for identity, _, _ in trees.get(split, [])}
    )
    test_number = {identity: index for index, identity in enumerate(test_identities)}
    train_identities = sorted({identity for identity, _, _ in trees["train"]})
    train_number = {identity: index for index, identity in enumerate(train_identities)}

    def samples(split: str, numbers: dict[str, int]) -> list[ReidSample]:
        return [
            ReidSample(path=path, pid=numbers[identity], camid=camera_number[camera])
            for identity, camera, path in trees.get(split, [])
        ]

    return ReidSplits(
        name="folders",
        root=root,
        train=samples("train", train_number),
        query=samples("query", test_number),
        gallery=samples("gallery", test_number),
    )


def _scan(folder: Path) -> list[tuple[str, str, Path]]:
    """(identity, camera, image path) for every image two levels below ``folder``."""
    found = []
    for identity in sorted(p for p in folder.iterdir() if p.is_dir()):
        stray = [p.name for p in identity.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
        if stray:
            raise MtmcError(
                f"folders: {identity} holds images ({stray[0]}, ...) directly; put them in a camera folder: {LAYOUT}"
            )
        for camera in sorted(p for p in identity.iterdir() if p.is_dir()):
            found.extend((identity.name, camera.name, path) for path in list_images(camera))
    if not found:
        raise MtmcError(f"folders: no images under {folder}; expected {LAYOUT}")
    return found
