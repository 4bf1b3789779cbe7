"""The matcher's own capacity, without sockets or load generators: messages (and tracklet updates)
per CPU second through decode -> journal -> apply -> association, on the matcher_scale scenario.

    .venv/bin/python benchmarks/matcher_capacity.py [--seconds 30] [--tick-hz 10] [--cameras 1000]

matcher_scale.py measures the whole system over loopback, but on a 2-core machine its load
generators take a core of their own, so it cannot tell whether the matcher or the machine is the
limit. Here the same replay (1,000 cameras, each committing ``--tick-hz`` batches a second, every
live track's new rows in its camera's batch) is encoded up front; then ``MatchState`` (the exact
code the matcher process runs per message) applies it in data-time order while the CPU time of
each stage is measured: decode, journal (one fsync per 2,000 messages, as ``matcher.batch``),
apply (track rebuilding + online association), with the matcher's garbage-collector thresholds. The peer is the target load: it prints capacity / target.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from matcher_scale import CACHE, batch_payload, camera_tick, ensure_scenario, load_replay, write_run_config  # noqa: E402


def build_stream(cameras: list[int], t0: float, seconds: float, tick_hz: float) -> tuple[list[bytes], int]:
    """Every camera's batches for data time [t0, t0 + seconds), in time order; and the update count."""
    r = load_replay(mmap=False)
    frames, times, boxes = r["frames"], r["times"], r["boxes"]
    keep = np.flatnonzero(np.isin(r["t_cam"], cameras) & (r["t_end"] >= t0) & (r["t_start"] < t0 + seconds))
    by_camera: dict[int, list[int]] = {c: [] for c in cameras}
    for k in keep[np.argsort(r["t_start"][keep], kind="stable")].tolist():
        by_camera[int(r["t_cam"][k])].append(k)
    info = {k: (int(r["t_track"][k]), int(r["t_first"][k]), int(r["t_rows"][k]), float(r["t_start"][k]),
                float(r["t_end"][k]), np.asarray(r["t_feat"][k]).tobytes()) for k in keep.tolist()}  # fmt: skip
    rng = np.random.default_rng(0)
    events = []  # (data time, camera)
    for c in cameras:
        phase = rng.random() / tick_hz
        events += [(t, c) for t in np.arange(t0 + phase, t0 + seconds, 1 / tick_hz).tolist()]
    events.sort()
    pointer = dict.fromkeys(cameras, 0)
    live: dict[int, list[list[int]]] = {c: [] for c in cameras}  # [track index, rows sent, seq]
    number = dict.fromkeys(cameras, 0)
    payloads, updates = [], 0
    for t, c in events:
        ks = by_camera[c]
        while pointer[c] < len(ks) and r["t_start"][ks[pointer[c]]] <= t:
            live[c].append([ks[pointer[c]], 0, 0])
            pointer[c] += 1
        live[c], batch, closed = camera_tick(live[c], t, info, frames, boxes, times)
        number[c] += 1
        updates += len(batch)
        payloads.append(batch_payload(c, number[c], closed, 0, batch))
    return payloads, updates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="data seconds replayed")
    parser.add_argument("--start-s", type=float, default=100)
    parser.add_argument("--warmup-s", type=float, default=120, help="data seconds applied first, untimed (fills the window)")
    parser.add_argument("--tick-hz", type=float, default=10, help="batches per camera per second")
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--target", type=float, default=10000, help="the messages/s to compare against")
    parser.add_argument("--cosine-only", action="store_true", help="the matcher with appearance alone (the cues before issue 30)")
    args = parser.parse_args()

    from mtmc.config import load_config
    from mtmc.runtime.matcher import GC_THRESHOLDS, MatchState, scene_of
    from mtmc.runtime.results import ResultWriter
    from mtmc.transport.codec import decode
    from mtmc.transport.journal import Journal

    scen = ensure_scenario(args.cameras, 720)
    import yaml

    cameras = sorted(int(c["id"][1:]) for c in yaml.safe_load((scen / "topology.yaml").read_text())["cameras"])
    out = Path(tempfile.mkdtemp(prefix="capacity-", dir=CACHE))
    config = load_config(write_run_config(scen, out, 5555, cameras, argparse.Namespace(step_s=0.5, cosine_only=args.cosine_only)))
    start = args.start_s - args.warmup_s if args.warmup_s else args.start_s
    print(f"encoding {args.warmup_s + args.seconds:.0f} data seconds of {len(cameras)} cameras at {args.tick_hz:g} "
          f"batches/s each ...", flush=True)  # fmt: skip
    payloads, updates = build_stream(cameras, max(start, 0.0), args.warmup_s + args.seconds, args.tick_hz)
    state = MatchState(config, ResultWriter(out, {c: f"c{c:03d}" for c in cameras}, scene_of(config).homographies))
    journal = Journal(out / "matcher.journal")
    gc.set_threshold(*GC_THRESHOLDS)  # as the matcher process serves
    warm = int(len(payloads) * args.warmup_s / (args.warmup_s + args.seconds))
    for payload in payloads[:warm]:
        state.apply(decode(payload))
    timed = payloads[warm:]
    timed_updates = updates * len(timed) / max(len(payloads), 1)
    cpu = {"decode": 0.0, "journal": 0.0, "apply": 0.0}
    for lo in range(0, len(timed), 2000):
        chunk = timed[lo : lo + 2000]
        a = time.process_time()
        messages = [decode(p) for p in chunk]
        b = time.process_time()
        journal.append(chunk)
        c = time.process_time()
        for m in messages:
            state.apply(m)
        cpu["decode"] += b - a
        cpu["journal"] += c - b
        cpu["apply"] += time.process_time() - c
    journal.close()
    state.writer.close()
    total = sum(cpu.values())
    rate = len(timed) / total
    print(f"\nmatcher_capacity: {len(cameras)} cameras x {args.tick_hz:g} batches/s, data {args.start_s:g}..{args.start_s + args.seconds:g} s "
          f"after {args.warmup_s:g} s of warm-up; window {state.online.window_size} tracklets")  # fmt: skip
    print(f"  {len(timed):,} messages ({timed_updates:,.0f} tracklet updates) in {total:.1f} CPU s: "
          f"{rate:,.0f} messages/s, {timed_updates / total:,.0f} updates/s per core")  # fmt: skip
    for name, seconds in cpu.items():
        print(f"  {name:<8} {seconds:6.1f} s  {seconds / total:5.0%}  {seconds / len(timed) * 1e6:6.1f} us/message")
    print(f"  data rate {len(timed) / args.seconds:,.0f} messages/s -> the matcher needs {total / args.seconds:.0%} of a core; "
          f"capacity / target ({args.target:,.0f} messages/s) = {rate / args.target:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
