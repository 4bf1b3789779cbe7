"""Give freed heap memory back to the system, so a long-running worker's size is what it holds.

A camera worker frees a decoded frame, its crops and the detector's and embedder's buffers on
every frame. glibc keeps what the native libraries (OpenCV, OpenVINO, onnxruntime) free in its
heaps and returns it only when the top of a heap is free, so a worker's resident size grew by
about 90 MB in its first minute on the busy intersection clip while Python itself held 16 MB.
``malloc_trim`` returns every free page; called once per outbox commit (each second or so of
video) it costs nothing measurable (397 -> 305 MB, 62.0 vs 63.1 s on 60 s of video).

glibc also gives each thread that contends for the heap an arena of its own (up to 8 per core),
and what one arena frees no other reuses: the detector's and embedder's worker threads spread a
worker's peak over several. Two arenas held the intersection worker's peak at 362 MB against
401-406 MB. And glibc serves a large block (a decoded frame, a batch of crops) from mmap, which
free returns at once, only until the first such block is freed: then it raises its mmap threshold
to that size (up to 32 MB) and serves the next ones from the heap, where they stay until a trim.
Between two commits the intersection worker grew from 367 to 446-469 MB that way; a fixed
threshold of 1 MB (which also turns the raising off) held it at 340 MB, for the same CPU time.
``tune_heap`` sets both, before the models start their threads.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameters (malloc.h)
M_ARENA_MAX = -8


@functools.cache
def _libc_function(name: str) -> Callable[..., int] | None:
    """A glibc function by name, or None on a C library without it (musl, macOS)."""
    library = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(library), name) if library else None
    except (OSError, AttributeError):
        return None


def tune_heap(arenas: int = 2, mmap_threshold: int = 2**20) -> bool:
    """Let the C heap use at most ``arenas`` arenas and serve every block of ``mmap_threshold``
    bytes or more from mmap (returned on free); call it before the threads that allocate exist, as
    later threads keep the arenas they took. False without glibc (nothing changed, not an error)."""
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    return bool(mallopt(M_ARENA_MAX, arenas)) and bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold))


def release_free_memory() -> None:
    """Return the C heap's free pages to the system (a no-op without glibc)."""
    trim = _libc_function("malloc_trim")
    if trim is not None:
        trim(0)
