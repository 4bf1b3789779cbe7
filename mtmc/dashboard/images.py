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
