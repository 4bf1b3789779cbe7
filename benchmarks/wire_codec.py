"""Encode/decode throughput of the worker -> matcher wire codec against peer formats, same run.

The message is a typical ``TrackletUpdate``: 10 new boxes, a 512-d or 1280-d running-mean
feature and two attribute vectors (12 colours, 6 types). Peers:

* ``json+base64``: a JSON object, rows as lists of numbers, feature and attributes as base64 of
  their float16 bytes (what a hand-written JSON wire would send); decode rebuilds the arrays.
* ``pickle``: protocol 5 of the same ``TrackletUpdate``. Fast, but unpickling runs arbitrary
  code, so it is no candidate for bytes from the network; it is here as the speed ceiling.

Decoding ``mtmc`` and ``json+base64`` ends in the same ``TrackletUpdate`` and its checks (lengths,
finiteness, frame order); ``mtmc`` also checks every field's type; pickle checks nothing. Each number is the best of ``--repeats`` runs of ``--seconds`` each.

Run: ``uv run python benchmarks/wire_codec.py``.
"""

from __future__ import annotations

import argparse
import base64
import json
import pickle
import time
from collections.abc import Callable

import numpy as np

from mtmc.transport import TrackletUpdate, decode, encode, make_update
from mtmc.types import Tracklet


def typical_update(dim: int, rows: int = 10, seed: int = 0) -> TrackletUpdate:
    rng = np.random.default_rng(seed)
    feature = rng.normal(size=dim)
    tracklet = Tracklet(
        camera=6,
        track=1234,
        frames=np.arange(1001, 1001 + rows),
        boxes=rng.uniform(0, 1900, size=(rows, 4)),
        times=1712345678.0 + np.arange(rows) / 10.0,
        feature=feature / np.linalg.norm(feature),
        feature_count=57,
        attributes={"colour": rng.dirichlet(np.ones(12)), "type": rng.dirichlet(np.ones(6))},
    )
    return make_update(tracklet, seq=17, first_row=120)


def json_encode(u: TrackletUpdate) -> bytes:
    b64 = lambda a: base64.b64encode(a.tobytes()).decode("ascii")  # noqa: E731
    return json.dumps(
        {
            "v": 1,
            "k": "upd",
            "camera": u.camera,
            "track": u.track,
            "seq": u.seq,
            "first_row": u.first_row,
            "frames": u.frames.tolist(),
            "boxes": u.boxes.tolist(),
            "times": u.times.tolist(),
            "feature": None if u.feature is None else b64(u.feature),
            "feature_count": u.feature_count,
            "attributes": {name: b64(scores) for name, scores in u.attributes.items()},
            "ended": u.ended,
        },
        separators=(",", ":"),
    ).encode()


def json_decode(data: bytes) -> TrackletUpdate:
    d = json.loads(data)
    f16 = lambda s: np.frombuffer(base64.b64decode(s), "<f2")  # noqa: E731
    return TrackletUpdate(
        camera=d["camera"],
        track=d["track"],
        seq=d["seq"],
        first_row=d["first_row"],
        frames=np.array(d["frames"], np.int32),
        boxes=np.array(d["boxes"], np.float32),
        times=np.array(d["times"], np.float64),
        feature=None if d["feature"] is None else f16(d["feature"]),
        feature_count=d["feature_count"],
        attributes={name: f16(s) for name, s in d["attributes"].items()},
        ended=d["ended"],
    )


def pickle_encode(u: TrackletUpdate) -> bytes:
    return pickle.dumps(u, protocol=5)


FORMATS: dict[str, tuple[Callable[[TrackletUpdate], bytes], Callable[[bytes], object]]] = {
    "mtmc msgpack": (encode, decode),
    "json+base64": (json_encode, json_decode),
    "pickle": (pickle_encode, pickle.loads),
}


def rate(call: Callable[[], object], seconds: float, repeats: int) -> float:
    """Best calls per second over ``repeats`` timed runs."""
    batch = 1
    while True:  # size a batch to ~ seconds
        start = time.perf_counter()
        for _ in range(batch):
            call()
        elapsed = time.perf_counter() - start
        if elapsed > seconds / 4:
            break
        batch *= 2
    batch = max(1, int(batch * seconds / elapsed))
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(batch):
            call()
        best = max(best, batch / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=0.3, help="length of one timed run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for dim in (512, 1280):
        update = typical_update(dim)
        print(f"\nTrackletUpdate: 10 boxes, {dim}-d feature, 2 attribute vectors")
        print(f"{'format':<14}{'bytes':>7}{'enc msg/s':>12}{'enc MB/s':>10}{'dec msg/s':>12}{'dec MB/s':>10}"
              f"{'enc x':>8}{'dec x':>8}")  # fmt: skip
        ours: tuple[float, float] | None = None
        for name, (enc, dec) in FORMATS.items():
            data = enc(update)
            assert np.array_equal(dec(data).boxes, update.boxes)  # type: ignore[attr-defined]
            e = rate(lambda enc=enc, update=update: enc(update), args.seconds, args.repeats)
            d = rate(lambda dec=dec, data=data: dec(data), args.seconds, args.repeats)
            ours = ours or (e, d)
            print(f"{name:<14}{len(data):>7}{e:>12,.0f}{e * len(data) / 1e6:>10.1f}{d:>12,.0f}"
                  f"{d * len(data) / 1e6:>10.1f}{ours[0] / e:>8.2f}{ours[1] / d:>8.2f}")  # fmt: skip
    print("\nenc x / dec x: mtmc msgpack's rate divided by the format's (> 1: mtmc is faster).")


if __name__ == "__main__":
    main()
