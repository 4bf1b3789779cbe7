"""Does the live matcher's memory stay flat over days of traffic? Hours of a two-camera monitor in minutes.

The 20-minute RTSP soak (benchmarks/rtsp_soak.py) is real but short: its matcher grew 2.9 % and
one cannot tell a leak from a warm-up in 600 tracklets. This drives the matcher's own code in one
process, without sockets or video, on a data clock that runs as fast as the CPU allows: two
cameras (the monitor's), one vehicle every ``--every-s`` seconds seen on the first camera and
``--travel-s`` later on the second, each track sending an update a second and ``ended`` on its
last (and ``--parked`` vehicles in each camera's view all run, whose track never ends), every batch encoded, journaled, decoded and applied as ``MatcherService._serve`` does, with
the assignments published (``_publish``), the sightings store committed and pruned each tick
(``_tick``, store ``keep_days`` as the monitor's, here scaled by ``--keep-hours``) and the
dashboard's LiveState fed a preview per camera per second.

Every ``--sample`` tracklets it records the process's RSS (VmRSS) and the sizes of the matcher's
containers; ``--trace`` adds tracemalloc's largest growths between the first sample after warm-up
and the last. Flat = RSS growth between the median of the second fifth and of the last fifth
below 3 %. A real matcher also holds its sockets and waitress: constant, not measured here.

    nice .venv/bin/python benchmarks/matcher_memory.py                  # 20,000 tracklets (~5.6 h of the soak's traffic)
    nice .venv/bin/python benchmarks/matcher_memory.py --tracklets 4000 --trace
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtmc.config import MtmcConfig  # noqa: E402
from mtmc.dashboard import LiveState  # noqa: E402
from mtmc.dashboard.images import placeholder_jpeg  # noqa: E402
from mtmc.runtime.matcher import MatcherService  # noqa: E402
from mtmc.transport.codec import Batch, TrackletUpdate, decode, encode  # noqa: E402

FLAT_PCT = 3.0
FPS = 5  # the monitor's frames per second
TRACK_S = 6.0  # how long a vehicle stays in one camera's view
PARKED = 10_000_000  # the track numbers of the vehicles parked in view


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Traffic:
    """Vehicle ``v`` enters camera 1 at ``v * every_s`` and camera 2 ``travel_s`` later; each
    camera's tracks as the worker sends them: one batch per camera per data second."""

    def __init__(self, every_s: float, travel_s: float, dim: int, parked: int = 1, seed: int = 0) -> None:
        self.every_s, self.travel_s, self.dim, self.parked = every_s, travel_s, dim, parked
        self.rng = np.random.default_rng(seed)
        self.numbers = {1: 0, 2: 0}
        self.identity: dict[int, np.ndarray] = {}
        self.frames_done = {1: 0, 2: 0}

    def _look(self, vehicle: int) -> np.ndarray:
        if vehicle not in self.identity:
            self.identity[vehicle] = self.rng.standard_normal(self.dim).astype(np.float32)
        return self.identity[vehicle]

    def batches(self, second: int) -> list[Batch]:
        """Every camera's batch for data second ``[second, second + 1)``."""
        out = []
        for camera in (1, 2):
            shift = 0.0 if camera == 1 else self.travel_s
            updates = []
            first = max(0, int(np.ceil((second - shift - TRACK_S) / self.every_s)))
            last = int(np.floor((second + 1 - shift) / self.every_s))
            for vehicle in range(first, last + 1):
                start = vehicle * self.every_s + shift
                lo, hi = max(start, second), min(start + TRACK_S, second + 1)
                if hi <= lo:
                    continue
                row0 = int(round((lo - start) * FPS))
                rows = int(round((hi - start) * FPS)) - row0
                if rows <= 0:
                    continue
                times = start + (row0 + np.arange(rows)) / FPS
                frames = np.round(times * FPS).astype(np.int64) + 1
                boxes = np.tile(np.array([100, 200, 80, 60], np.float32), (rows, 1))
                count = row0 + rows
                noise = self.rng.standard_normal(self.dim).astype(np.float32) * 0.3
                feature = (self._look(vehicle) + noise) * count
                ended = start + TRACK_S <= second + 1
                attrs = {"colour": np.eye(7, dtype=np.float32)[vehicle % 7], "type": np.eye(4, dtype=np.float32)[vehicle % 4]}
                updates.append(
                    TrackletUpdate(camera, vehicle + 1, int(row0 // FPS), row0, frames, boxes, times, feature, count, attrs, ended)
                )
                if ended and camera == 2:  # seen by both: its look is not needed again
                    self.identity.pop(vehicle)
            for k in range(self.parked):  # in view all run, as each soak clip's parked vehicle
                times = second + np.arange(FPS) / FPS
                frames = np.round(times * FPS).astype(np.int64) + 1
                boxes = np.tile(np.array([300, 100, 120, 90], np.float32), (FPS, 1))
                count = (second + 1) * FPS
                feature = self._look(PARKED + k)  # the running mean
                updates.append(TrackletUpdate(camera, PARKED + k, second, second * FPS, frames, boxes, times, feature, count))
            self.numbers[camera] += 1
            self.frames_done[camera] += FPS
            out.append(Batch(camera, self.numbers[camera], float(second + 1), self.frames_done[camera], updates=tuple(updates)))
        return out


def sizes(service: MatcherService) -> dict[str, int]:
    state, online = service.state, service.state.online
    return {
        "active": len(state.active),
        "window": len(online._window),
        "ids": len(online._ids),
        "members": len(online._members),
        "dist": len(online._dist),
        "columns": len(online._columns.tracklets),
        "ended_at": len(service.stats.ended_at),
        "learner": len(state.learner._last),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tracklets", type=int, default=20_000, help="tracklets to send, both cameras (default 20000)")
    p.add_argument("--every-s", type=float, default=24.0, help="seconds between vehicles (the soak: ~2 tracklets/min/camera)")
    p.add_argument("--travel-s", type=float, default=15.0, help="seconds from camera 1 to camera 2")
    p.add_argument("--dim", type=int, default=512, help="feature length (default 512)")
    p.add_argument("--keep-hours", type=float, default=2.0, help="store retention, hours of data (the monitor: 30 days)")
    p.add_argument("--parked", type=int, default=1, help="vehicles parked in each camera's view all run (the soak's clips: 1)")
    p.add_argument("--sample", type=int, default=500, help="tracklets between samples")
    p.add_argument("--trace", action="store_true", help="tracemalloc: the largest growths after warm-up")
    args = p.parse_args()

    out = Path(tempfile.mkdtemp(prefix="matcher_memory_"))
    config = MtmcConfig(
        cameras=[{"id": "gate", "source": "rtsp://127.0.0.1/a"}, {"id": "yard", "source": "rtsp://127.0.0.1/b"}],
        matcher={"mode": "online", "dashboard": None, "publish": None},
        store={"keep_days": args.keep_hours / 24},
        output={"dir": out},
    )
    service = MatcherService(config, out, fresh=True)
    service.live = LiveState(["gate", "yard"])
    service.state.store.open()
    traffic = Traffic(args.every_s, args.travel_s, args.dim, args.parked)
    jpeg = placeholder_jpeg("gate")
    ended = 0
    second = 0
    samples: list[tuple[int, float, dict]] = []
    snapshot = None
    began = time.monotonic()
    if args.trace:
        import tracemalloc

        tracemalloc.start(12)
    while ended < args.tracklets:
        now = time.monotonic()
        for batch in traffic.batches(second):
            payload = encode(batch)
            service.journal.append([payload])
            message = decode(payload)
            for update in message.updates:
                if update.ended:
                    service.stats.ended_at[(message.camera, update.track)] = now
                    ended += 1
            service._publish(service.state.apply(message), now)
            service.live.frame(service.names[message.camera], message.frames_done, float(second), jpeg, np.zeros((0, 4)), [], [])
        service._tick()
        second += 1
        if ended // args.sample > len(samples) - 1 or not samples:
            samples.append((ended, rss_mb(), sizes(service)))
            if len(samples) % 4 == 1:
                print(f"{ended:7d} tracklets  {second / 3600:6.1f} h of data  RSS {samples[-1][1]:7.1f} MiB  {samples[-1][2]}", flush=True)
            if args.trace and snapshot is None and ended >= args.tracklets // 5:
                snapshot = tracemalloc.take_snapshot()
    seconds = time.monotonic() - began
    service.state.writer.close()
    service.state.store.close()
    service.journal.close()

    n = len(samples)
    early = [r for _, r, _ in samples[n // 5 : 2 * n // 5]] or [samples[0][1]]
    late = [r for _, r, _ in samples[4 * n // 5 :]]
    growth = 100 * (statistics.median(late) - statistics.median(early)) / statistics.median(early)
    print(f"\n{ended} tracklets, {second / 3600:.1f} h of data in {seconds:.0f} s ({ended / seconds:.0f} tracklets/s)")
    print("| samples | RSS first (MiB) | RSS second fifth | RSS last fifth | peak | growth | flat |")
    print("|---|---|---|---|---|---|---|")
    peak = max(r for _, r, _ in samples)
    flat = "yes" if abs(growth) < FLAT_PCT else "NO"
    print(f"| {n} | {samples[0][1]:.1f} | {statistics.median(early):.1f} | {statistics.median(late):.1f} | {peak:.1f} | {growth:+.1f} % | {flat} |")
    print("containers at the end:", samples[-1][2])
    if args.trace and snapshot is not None:
        stats = tracemalloc.take_snapshot().compare_to(snapshot, "traceback")
        print("\ntracemalloc, largest growths after warm-up:")
        for stat in stats[:8]:
            print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks")
            for line in stat.traceback.format()[-6:]:
                print("     ", line)


if __name__ == "__main__":
    main()
