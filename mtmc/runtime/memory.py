"""Give freed heap memory back to the system, so a long-running worker's size is what it holds.

A camera worker frees a decoded frame, its crops and the detector's and embedder's buffers on
every frame. glibc keeps what the native libraries (OpenCV, OpenVINO, onnxruntime) free in its
heaps and returns it only when the top of a heap is free, so a worker's resident size grew by
about 90 MB in its first minute on the busy intersection clip while Python itself held 16 MB.
``malloc_trim`` returns every free page; called once per outbox commit (each second or so of
video) it costs nothing measurable (397 -> 305 MB, 62.0 vs 63.1 s on 60 s of video).

glibc also gives each thread that contends for the heap an arena of its own (up to 8 per core),
and what one arena frees no other reuses: the detector's and embedder's worker threads spread a
worker's peak over several. Two arenas (``limit_heap_arenas``, before the models start their
threads) held the intersection worker's peak at 362 MB against 401-406 MB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


@functools.cache
def _libc_function(name: str) -> Callable[..., int] | None:
    """A glibc function by name, or None on a C library without it (musl, macOS)."""
    library = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(library), name) if library else None
    except (OSError, AttributeError):
        return None


def limit_heap_arenas(arenas: int = 2) -> None:
    """Let the C heap use at most ``arenas`` arenas (a no-op without glibc); call it before the
    threads that allocate exist, as later threads keep the arenas they took."""
    mallopt = _libc_function("mallopt")
    if mallopt is not None:
        mallopt(M_ARENA_MAX, arenas)


def release_free_memory() -> None:
    """Return the C heap's free pages to the system (a no-op without glibc)."""
    trim = _libc_function("malloc_trim")
    if trim is not None:
        trim(0)
