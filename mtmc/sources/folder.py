"""Folders of images: a MOTChallenge sequence (``seqinfo.ini`` + ``img1/``) or plain images."""

from __future__ import annotations

import configparser
import logging
from collections.abc import Iterator
from pathlib import Path

from mtmc.errors import MtmcError
from mtmc.sources.base import Frame, Source

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


class ImageFolderSource(Source):
    def __init__(self, path: str | Path, fps: float | None = None, default_fps: float = 25.0) -> None:
        root = Path(path)
        info = _seqinfo(root)
        folder = root / info.get("imdir", "img1") if (root / info.get("imdir", "img1")).is_dir() else root
        self.folder = folder
        self.files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise MtmcError(f"no images in {folder} (expected .jpg/.png frames, or img1/ with seqinfo.ini)")
        native = float(info.get("framerate", default_fps))
        super().__init__(info.get("name", root.name), native, fps)

    def native_frames(self) -> int | None:
        return len(self.files)

    def _frames(self) -> Iterator[Frame]:
        """Every readable image; a corrupt one is skipped into ``lost_frames`` with a warning."""
        import cv2

        self.lost_frames = []
        yielded = 0
        for position, file in enumerate(self.files):
            index = int(file.stem) if file.stem.isdigit() else position + 1
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if image is None:
                self.lost_frames.append(index)
                log.warning(
                    "%s: cannot read image %s (corrupt or not an image), skipped", self.folder, file.name
                )
                continue
            yielded += 1
            yield Frame(index, (index - 1) / self.fps, image)
        if yielded == 0:
            raise MtmcError(
                f"no image in {self.folder} could be read ({len(self.files)} corrupt or not images)"
            )


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
