"""Give freed heap memory back to the system, so a long-running worker's size is what it holds.

A camera worker frees a decoded frame, its crops and the detector's and embedder's buffers on
every frame. glibc keeps what the native libraries (OpenCV, OpenVINO, onnxruntime) free in its
heaps and returns it only when the top of a heap is free, so a worker's resident size grew by
about 90 MB in its first minute on the busy intersection clip while Python itself held 16 MB.
``malloc_trim`` returns every free page; called once per outbox commit (each second or so of
video) it costs nothing measurable (issue 33: 397 -> 305 MB, 62.0 vs 63.1 s on 60 s of video).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on a C library without it (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Return the C heap's free pages to the system (a no-op without glibc)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
