"""Search by picture at scale (issue 19 point 3): 100,000 identities answered in under 100 ms on 2 cores.

    .venv/bin/python benchmarks/search_index.py [--identities 100000] [--queries 50] [--brute 5]

Features: random unit vectors of the default embedder's size (glamor-mobilenetv2-2cam, built to
read its ``dim``: 1280). Two indexes are timed on the same queries:

- from arrays: ``IdentityIndex(ids, features)`` on the float32 features (the search alone);
- through a real store: the same features recorded as sightings (one per identity, stored float16
  as the matcher stores them) into ``benchmarks/.cache/search_index/sightings-N.db`` (written once,
  reused), then ``IdentityIndex.from_store(SQLiteStore.read(...))``: the load is timed apart from
  the queries; and the whole ``mtmc search --image`` path (``PictureSearch``: embed a crop with the
  real embedder, search, read the top 5 journeys) with the index already loaded.

Each is checked against a brute-force scan (every cosine distance in float64, a full sort) on the
first ``--brute`` queries: the same top-k ids, and the ratio of times is printed. When ``faiss`` is
importable (it is not a dependency) its exact ``IndexFlatIP`` is timed on the same data too.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
from rich import box
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtmc.console import print_wide  # noqa: E402
from mtmc.store import SQLiteStore  # noqa: E402
from mtmc.store.image_search import PictureSearch  # noqa: E402
from mtmc.store.index import IdentityIndex  # noqa: E402
from mtmc.types import Tracklet  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache" / "search_index"


def random_unit(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    features = np.empty((n, dim), np.float32)
    for start in range(0, n, 10_000):  # in blocks: no float64 copy of the whole matrix
        block = rng.standard_normal((min(10_000, n - start), dim), dtype=np.float32)
        features[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return features


def brute_force(features: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """The plain scan a first implementation would write: every distance in float64, a full sort."""
    distances = 1.0 - features.astype(np.float64) @ (query.astype(np.float64) / np.linalg.norm(query))
    return ids[np.argsort(distances, kind="stable")[:k]]


def timed_ms(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)
    return 1000 * (time.perf_counter() - start), out


def write_store(path: Path, features: np.ndarray) -> float:
    """One sighting per identity (camera 1..20, ids 1..N), as the matcher records them; seconds."""
    partial = path.with_name(path.name + ".part")
    start = time.perf_counter()
    store = SQLiteStore(partial, cameras={c: f"c{c:03d}" for c in range(1, 21)})
    box_row = np.array([[100.0, 80.0, 60.0, 40.0]], np.float32)
    for k, feature in enumerate(features):
        t0 = float(k)
        tracklet = Tracklet(1 + k % 20, k + 1, np.array([1 + k]), box_row, np.array([t0]), feature=feature,
                            feature_count=1 + k % 30, ended=True)  # fmt: skip
        store.record(tracklet, global_id=k + 1)
    store.close()
    partial.replace(path)
    Path(f"{partial}-wal").unlink(missing_ok=True)
    Path(f"{partial}-shm").unlink(missing_ok=True)
    return time.perf_counter() - start


def stats(times_ms: list[float]) -> str:
    t = np.asarray(times_ms)
    return f"{np.median(t):.1f} / {np.percentile(t, 95):.1f} / {t.max():.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--identities", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50, help="timed queries per index")
    parser.add_argument("--brute", type=int, default=5, help="queries also answered by the brute-force scan")
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()

    from mtmc.reid import build_embedder

    embedder = build_embedder("reid", weights="glamor-mobilenetv2-2cam", threads=2)
    dim, n, k = embedder.dim, args.identities, args.top
    print(f"{n:,} identities, {dim}-d features (glamor-mobilenetv2-2cam), top {k}, {os.cpu_count()} cores")
    features = random_unit(n, dim, seed=0)
    ids = np.arange(1, n + 1, dtype=np.int64)
    rng = np.random.default_rng(1)
    # queries near stored identities (a re-seen vehicle) and random ones (no match)
    near = features[rng.integers(0, n, args.queries // 2)] + 0.05 * rng.standard_normal((args.queries // 2, dim))
    queries = np.concatenate([near, rng.standard_normal((args.queries - len(near), dim))]).astype(np.float32)

    rows: list[tuple[str, str, str, str, str]] = []

    def measure(label: str, index: IdentityIndex, reference: np.ndarray, load: str) -> None:
        index.search(queries[0], k)  # warm
        times, same = [], True
        for q in queries:
            ms, (found, _) = timed_ms(index.search, q, k)
            times.append(ms)
        brute_times = []
        for q in queries[: args.brute]:
            ms, expected = timed_ms(brute_force, reference, ids, q, k)
            brute_times.append(ms)
            same &= index.search(q, k)[0].tolist() == expected.tolist()
        ratio = np.median(brute_times) / np.median(times)
        rows.append((label, load, stats(times), f"{np.median(brute_times):.0f} ({ratio:.0f}x)", "yes" if same else "NO"))
        print(f"  {label}: median {np.median(times):.1f} ms, brute force {np.median(brute_times):.0f} ms, same top-{k}: {same}")

    ms, index = timed_ms(IdentityIndex, ids, features)
    measure("IdentityIndex from arrays", index, features, f"{ms:.0f} ms")
    del index

    try:
        import faiss
    except ImportError:
        faiss = None
    if faiss is not None:
        flat = faiss.IndexFlatIP(dim)
        flat.add(features)
        flat.search(queries[:1], k)
        times = [timed_ms(flat.search, q[None] / np.linalg.norm(q), k)[0] for q in queries]
        same = all(
            (ids[flat.search(q[None] / np.linalg.norm(q), k)[1][0]] == brute_force(features, ids, q, k)).all()
            for q in queries[: args.brute]
        )
        rows.append((f"faiss {faiss.__version__} IndexFlatIP (for comparison)", "", stats(times), "", "yes" if same else "NO"))
        del flat

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"sightings-{n}-{dim}.db"
    if not path.is_file():
        print(f"  writing {path} ...")
        print(f"  recorded {n:,} sightings in {write_store(path, features):.1f} s")
    store = SQLiteStore.read(path)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ms, stored = timed_ms(IdentityIndex.from_store, store)
    store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    load = f"{ms / 1000:.1f} s ({path.stat().st_size / 2**20:.0f} MiB file)"
    reference = stored.features  # float16 in the store: the scan is checked on what was stored
    measure("IdentityIndex from the SQLite store", stored, reference, load)
    print(f"  load: {ms / 1000:.1f} s, peak RSS {peak / 2**10:.0f} MiB (before the load {rss_before / 2**10:.0f} MiB)")

    del stored, reference
    search = PictureSearch(path, embedder=embedder)
    crop = np.random.default_rng(2).integers(0, 256, (120, 180, 3), dtype=np.uint8)
    first, _ = timed_ms(search.search, crop, k)  # loads the index
    times = [timed_ms(search.search, crop, k)[0] for _ in range(10)]
    rows.append(("PictureSearch: embed a crop + search + 5 journeys", f"first {first / 1000:.1f} s", stats(times), "", ""))

    table = Table("index", "build / load", "query ms (median / p95 / max)", "brute force ms (ratio)",
                  f"same top-{k}", box=box.SIMPLE_HEAD, title=f"search by picture, {n:,} identities x {dim}-d")  # fmt: skip
    for row in rows:
        table.add_row(*row)
    print_wide(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
