"""Preview JPEGs read without trusting them: their declared size, and a placeholder for refused ones.

A JPEG header states the picture's size, and a decoder allocates that many pixels before it reads
any of them: 629 bytes claiming 20000 x 20000 pixels make ``cv2.imdecode`` allocate 1.2 GB. So a
preview's size is read from its header first (:func:`jpeg_dimensions`, no pixel decoded) and
one over the bound is never decoded; the dashboard serves :func:`placeholder_jpeg` instead.
"""

from __future__ import annotations

import functools
import io

import cv2
import numpy as np
from PIL import JpegImagePlugin

PLACEHOLDER_SIZE = (320, 180)  # width, height


def jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` as the JPEG's frame header (SOF marker) declares them, without decoding
    any pixel; None for anything that is not a JPEG Pillow can parse the header of.

    Reads the markers up to the first scan only: about 20 us for a preview, whatever size it
    claims. Pillow's JPEG reader is used directly rather than through ``Image.open``, whose own
    decompression-bomb check raises (and so hides the size) above 179 M pixels.
    """
    try:
        with JpegImagePlugin.JpegImageFile(io.BytesIO(bytes(data))) as image:
            width, height = image.size
    except Exception:  # any malformed input: SyntaxError, OSError, struct.error, ValueError...
        return None
    if width <= 0 or height <= 0:  # height 0: set later by a DNL marker, which we do not follow
        return None
    return int(width), int(height)


def fits(size: tuple[int, int], bound: tuple[int, int]) -> bool:
    """Whether a ``(width, height)`` is within ``bound`` on both sides."""
    return size[0] <= bound[0] and size[1] <= bound[1]


@functools.lru_cache(maxsize=32)
def placeholder_jpeg(text: str) -> bytes:
    """A small dark JPEG (:data:`PLACEHOLDER_SIZE`) with ``text`` on it, shown instead of a refused
    preview. ``text`` is split into lines at ``|``."""
    width, height = PLACEHOLDER_SIZE
    image = np.full((height, width, 3), 40, np.uint8)
    lines = text.split("|")
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.5
    line_h = 22
    top = (height - line_h * len(lines)) // 2 + 15
    for i, line in enumerate(lines):
        (tw, _), _ = cv2.getTextSize(line, font, scale, 1)
        x = max(4, (width - tw) // 2)
        cv2.putText(image, line, (x, top + i * line_h), font, scale, (200, 200, 200), 1, cv2.LINE_AA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok, "OpenCV cannot encode a JPEG"
    return data.tobytes()


# ---- uploaded pictures (search by picture) ---------------------------------------------------

MAX_UPLOAD_BYTES = 4 * 2**20  # an uploaded picture: at most 4 MiB ...
MAX_UPLOAD_PIXELS = 4096 * 4096  # ... and at most this many pixels, read from its header before decoding
_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class PictureRefused(ValueError):
    """An upload that is not a picture the search takes; ``status`` is the HTTP status to answer
    (413: too large, 415: not a JPEG/PNG or not decodable)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def png_dimensions(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG's IHDR chunk (the first one, by the format), or None."""
    if len(data) < 24 or not data.startswith(_PNG_MAGIC) or data[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return (width, height) if width > 0 and height > 0 else None


def read_picture(
    data: bytes, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_UPLOAD_PIXELS
) -> np.ndarray:
    """An uploaded JPEG or PNG as a BGR image, checked before anything decodes it: at most
    ``max_bytes`` (413), a JPEG or PNG by its magic bytes (415), at most ``max_pixels`` as its
    header declares (413), and decodable (415). Raises :class:`PictureRefused` with one line."""
    if len(data) > max_bytes:
        raise PictureRefused(413, f"picture of {len(data):,} bytes refused: at most {max_bytes:,} bytes ({max_bytes // 2**20} MiB)")
    if not data:
        raise PictureRefused(415, "no picture: the upload is empty (send a JPEG or PNG)")
    if data.startswith(_JPEG_MAGIC):
        kind, size = "JPEG", jpeg_dimensions(data)
    elif data.startswith(_PNG_MAGIC):
        kind, size = "PNG", png_dimensions(data)
    else:
        raise PictureRefused(415, "not a JPEG or PNG picture (its first bytes are neither); send a JPEG or PNG")
    if size is None:
        raise PictureRefused(415, f"a broken {kind}: its header cannot be read")
    if size[0] * size[1] > max_pixels:
        raise PictureRefused(413, f"{kind} of {size[0]}x{size[1]} pixels refused: at most {max_pixels:,} pixels")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise PictureRefused(415, f"a broken {kind}: it cannot be decoded")
    return image


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok, "OpenCV cannot encode a JPEG"
    return data.tobytes()


def bgr(color: str) -> tuple[int, int, int]:
    """``#rrggbb`` as OpenCV's (blue, green, red)."""
    return int(color[5:7], 16), int(color[3:5], 16), int(color[1:3], 16)


def draw_label(
    image: np.ndarray, x: int, y: int, h: int, label: str, color: str, ink_color: str, scale: float, left: int | None = None
) -> None:
    """``label`` in ``ink_color`` on a band of ``color`` over the box at (x, y) of height ``h``
    (below the box where the frame has no room above it); the band starts at ``left`` (default x)."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(label, font, scale, 1)
    top = y - th - base - 4 if y - th - base - 4 >= 0 else y + h
    cv2.rectangle(image, (x if left is None else left, top), (x + tw + 6, top + th + base + 4), bgr(color), cv2.FILLED)
    cv2.putText(image, label, (x + 3, top + th + 2), font, scale, bgr(ink_color), 1, cv2.LINE_AA)
