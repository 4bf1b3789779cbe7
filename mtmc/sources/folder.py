"""Folders of images: a MOTChallenge sequence (``seqinfo.ini`` + ``img1/``) or plain images."""

from __future__ import annotations

import configparser
from collections.abc import Iterator
from pathlib import Path

from mtmc.errors import MtmcError
from mtmc.sources.base import Frame, Source

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


class ImageFolderSource(Source):
    def __init__(self, path: str | Path, fps: float | None = None, default_fps: float = 25.0) -> None:
        root = Path(path)
        info = _seqinfo(root)
        folder = root / info.get("imdir", "img1") if (root / info.get("imdir", "img1")).is_dir() else root
        self.files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise MtmcError(f"no images in {folder} (expected .jpg/.png frames, or img1/ with seqinfo.ini)")
        native = float(info.get("framerate", default_fps))
        super().__init__(info.get("name", root.name), native, fps)

    def native_frames(self) -> int | None:
        return len(self.files)

    def _frames(self) -> Iterator[Frame]:
        import cv2

        for position, file in enumerate(self.files):
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if image is None:
                raise MtmcError(f"cannot read image {file} (corrupt or not an image)")
            index = int(file.stem) if file.stem.isdigit() else position + 1
            yield Frame(index, (index - 1) / self.fps, image)


def _seqinfo(root: Path) -> dict[str, str]:
    """The ``[Sequence]`` section of ``seqinfo.ini`` (keys lower-cased), or empty."""
    ini = root / "seqinfo.ini"
    if not ini.is_file():
        return {}
    parser = configparser.ConfigParser()
    try:
        parser.read(ini, encoding="utf-8")
    except configparser.Error as exc:
        raise MtmcError(f"{ini}: not a valid seqinfo.ini: {exc}") from None
    return dict(parser["Sequence"]) if parser.has_section("Sequence") else {}
