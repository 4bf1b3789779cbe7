"""Matcher scale test: 1,000 cameras x ~10 tracklet updates/s each, replayed over loopback.

    .venv/bin/python benchmarks/matcher_scale.py --quick          # ~60 s at 10,000 updates/s
    .venv/bin/python benchmarks/matcher_scale.py                  # 600 s at 10,000 updates/s
    .venv/bin/python benchmarks/matcher_scale.py --ramp           # stages 2.5k .. 40k updates/s
    .venv/bin/python benchmarks/matcher_scale.py --rate 5000 --duration 300
    RAY_AUTH_MODE=disabled unshare -n bash -c "ip link set lo up && .venv/bin/python benchmarks/matcher_scale.py --ray --quick --cameras 100 --rate 1000"

Scenario: SynthCity ``--no-render`` tracklets (configs/synthcity-scale.yaml cut to 1,000 cameras and
720 s), generated once into benchmarks/.cache/matcher_scale/ and flattened to .npy arrays there.

The matcher runs as its own process (``python -m mtmc matcher RUN.yaml --out DIR --fresh --ready``,
online mode, the default cues (``--cosine-only``: appearance alone, as before issue 30), the
scenario's topology). Load generators (``--generators`` spawned
processes) each emulate a share of the cameras with one DEALER per camera (identity = camera id,
``mtmc.transport.sockets.worker_socket``) and replay that camera's tracklets on a data clock that
is the wall clock 1:1 (data time = ``--start-s`` + seconds since the start). Every camera ticks
``tick_hz`` times a second (staggered): each live track sends the rows it gained since its last
update (an ended track's last update has ``ended=True``), all in one numbered ``Batch`` with
``closed_s`` as the emitter computes it (min of now and the last row time of live tracks), as a
worker commits. ``tick_hz`` = target rate / mean number of live tracks, so the *update* rate hits
the target; the messages (one batch per camera per tick) are reported separately.

Transport: messages are numbered per camera and kept in a simplified in-memory go-back-N (not the
SQLite ``Outbox``: 1,000 fsyncing outboxes would measure the generators' disk, not the matcher):
cumulative acks drop them, silence for ``--resend-s`` resends everything from the oldest
unacknowledged one. Payloads are built with msgpack directly, byte-identical to ``codec.encode``
(checked at start-up), skipping the dataclass validation the matcher does anyway. The
generators run at a lower priority (``--nice``): in a deployment the workers are other machines,
and at equal priority four generator processes would get four fifths of the cores by fair share.

Measured: latency = wall time a tracklet's ``ended`` update was first sent -> wall time the
matcher's PUB feed announced its ``assign``; lag = messages sent but not yet acknowledged (and the
age of the oldest); matcher RSS (VmRSS) every second; rates sent/acknowledged. Everything shares
the machine's cores: on a small machine the generators take CPU from the matcher (reported).
Results: a table on stdout and benchmarks/.cache/matcher_scale/result-<mode>.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "benchmarks" / ".cache" / "matcher_scale"
PY = sys.executable


# ---- scenario ----------------------------------------------------------------------------------


def ensure_scenario(cameras: int, duration_s: int) -> Path:
    """The no-render scenario (generated once, ~2 minutes) and its flattened replay arrays."""
    scen = CACHE / "scenario"
    if not (scen / "topology.yaml").is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        text = (ROOT / "configs" / "synthcity-scale.yaml").read_text()
        video = (ROOT / "configs" / "../../shared/data/videos/street-a.mp4").resolve()
        text = text.replace("count: 1200", f"count: {cameras}").replace("duration_s: 600", f"duration_s: {duration_s}")
        text = text.replace("../../shared/data/videos/street-a.mp4", str(video))
        (CACHE / "scenario.yaml").write_text(text)
        print(f"generating {cameras} cameras x {duration_s} s of no-render tracklets (once) ...", flush=True)
        subprocess.run([PY, "-m", "mtmc", "simulate", str(CACHE / "scenario.yaml"), "-o", str(scen), "--no-render"],
                       cwd=ROOT, check=True)  # fmt: skip
    replay = CACHE / "replay"
    if not (replay / "done").is_file():
        flatten(scen, replay)
    return scen


def flatten(scen: Path, replay: Path) -> None:
    """tracks/cXXXX.txt + .npz -> rows (frame, time, box) sorted by camera, track, frame and one
    record per track (camera, track, first row, rows, start, end, feature)."""
    import yaml

    print("flattening the tracklets into .npy arrays (once) ...", flush=True)
    topo = yaml.safe_load((scen / "topology.yaml").read_text())
    frames, times, boxes = [], [], []
    t_cam, t_track, t_first, t_rows, t_start, t_end, t_feat = [], [], [], [], [], [], []
    total = 0
    for cam in topo["cameras"]:
        number = int(cam["id"][1:])
        text = (scen / "tracks" / f"{cam['id']}.txt").read_text()
        meta = np.load(scen / "tracks" / f"{cam['id']}.npz")
        if not text.strip():
            continue
        data = np.array(text.replace(",", " ").split(), np.float64).reshape(-1, 10)
        order = np.lexsort((data[:, 0], data[:, 1]))
        data = data[order]
        tracks, first, counts = np.unique(data[:, 1].astype(np.int64), return_index=True, return_counts=True)
        feature_of = {int(t): k for k, t in enumerate(meta["track_id"].tolist())}
        ts = cam["offset_s"] + (data[:, 0] - 1) / cam["fps"]
        frames.append(data[:, 0].astype(np.int32))
        times.append(ts)
        boxes.append(data[:, 2:6].astype(np.float32))
        for track, f, n in zip(tracks.tolist(), first.tolist(), counts.tolist()):
            t_cam.append(number)
            t_track.append(track)
            t_first.append(total + f)
            t_rows.append(n)
            t_start.append(ts[f])
            t_end.append(ts[f + n - 1])
            t_feat.append(meta["feature"][feature_of[track]])
        total += len(data)
    replay.mkdir(parents=True, exist_ok=True)
    np.save(replay / "frames.npy", np.concatenate(frames))
    np.save(replay / "times.npy", np.concatenate(times))
    np.save(replay / "boxes.npy", np.concatenate(boxes))
    np.save(replay / "t_cam.npy", np.array(t_cam, np.int64))
    np.save(replay / "t_track.npy", np.array(t_track, np.int64))
    np.save(replay / "t_first.npy", np.array(t_first, np.int64))
    np.save(replay / "t_rows.npy", np.array(t_rows, np.int64))
    np.save(replay / "t_start.npy", np.array(t_start))
    np.save(replay / "t_end.npy", np.array(t_end))
    np.save(replay / "t_feat.npy", np.array(t_feat, np.float16))
    (replay / "done").write_text("ok\n")


def load_replay(mmap: bool = True) -> dict[str, np.ndarray]:
    replay = CACHE / "replay"
    names = ["frames", "times", "boxes", "t_cam", "t_track", "t_first", "t_rows", "t_start", "t_end", "t_feat"]
    return {n: np.load(replay / f"{n}.npy", mmap_mode="r" if mmap else None) for n in names}


def live_density(r: dict, t0: float, t1: float) -> float:
    """Mean number of live tracks (all cameras together) over data time [t0, t1)."""
    lo = np.maximum(r["t_start"], t0)
    hi = np.minimum(r["t_end"], t1)
    return float(np.clip(hi - lo, 0, None).sum() / (t1 - t0))


# ---- load generator (one process, a share of the cameras) -------------------------------------


def batch_payload(cam: int, number: int, closed_s: float, frames_done: int, updates: list) -> bytes:
    """A ``Batch`` of ``updates`` = [(track, seq, first_row, frames, boxes, times, feature bytes, count, ended)]."""
    import msgpack

    empty = np.zeros(0)
    return msgpack.packb({
        "v": 2, "k": "bat", "c": cam, "m": number, "cs": closed_s, "fd": frames_done, "d": False,
        "u": np.asarray([(u[0], u[1], u[2], len(u[3]), u[7], u[8]) for u in updates], "<i8").reshape(-1, 6).tobytes(),
        "f": np.concatenate([u[3] for u in updates] or [empty]).astype("<i4").tobytes(),
        "b": np.concatenate([u[4] for u in updates] or [empty]).astype("<f4").tobytes(),
        "ts": np.concatenate([u[5] for u in updates] or [empty]).astype("<f8").tobytes(),
        "x": b"".join(u[6] for u in updates), "a": {},
    })  # fmt: skip


def camera_tick(live: list, t: float, info: dict, frames, boxes, times) -> tuple[list, list, float]:
    """One commit of a camera at data time ``t``: its live tracks ``[index, rows sent, seq]`` (those
    still live after it), the ``batch_payload`` updates, and its ``closed_s`` (as the emitter's)."""
    closed, still, updates = t, [], []
    for entry in live:
        k, sent, seq = entry
        track, first, rows, _, end, feature = info[k]
        avail = int(np.searchsorted(times[first : first + rows], t, side="right"))
        ended = t >= end
        if avail > sent or ended:
            lo, hi = first + sent, first + avail
            updates.append((track, seq, sent, frames[lo:hi], boxes[lo:hi], times[lo:hi], feature, avail, ended))
            entry[1], entry[2] = avail, seq + 1
            if ended:
                continue
        still.append(entry)
        if avail:
            closed = min(closed, float(times[first + avail - 1]))
    return still, updates, closed


def check_payloads() -> None:
    """The hand-built payloads are byte-identical to codec.encode's."""
    from mtmc.transport.codec import Batch, TrackletUpdate, encode

    fr = np.arange(3, 6, dtype=np.int32)
    bx = np.arange(12, dtype=np.float32).reshape(3, 4)
    ts = np.array([1.0, 1.1, 1.2])
    ft = np.linspace(-1, 1, 8).astype(np.float16)
    a = batch_payload(7, 3, 1.25, 12, [(11, 2, 5, fr, bx, ts, ft.tobytes(), 8, True), (12, 0, 0, fr, bx, ts, ft.tobytes(), 3, False)])
    updates = (TrackletUpdate(7, 11, 2, 5, fr, bx, ts, ft, 8, {}, True), TrackletUpdate(7, 12, 0, 0, fr, bx, ts, ft, 3))
    assert a == encode(Batch(7, 3, 1.25, 12, False, updates)), "hand-built batch differs from codec.encode"
    assert batch_payload(7, 4, 1.25, 12, []) == encode(Batch(7, 4, 1.25, 12, False))


def generator(index: int, cameras: list[int], args: dict, start: float, stages: list, queue, stop) -> None:
    """Replay ``cameras`` (camera numbers) in real time until the last stage ends."""
    import msgpack  # noqa: F401
    import zmq

    from mtmc.transport.sockets import PLAINTEXT, worker_socket

    os.nice(args["nice"])  # workers live on other machines in a deployment: here the matcher goes first
    r = load_replay()
    r_frames, r_times, r_boxes = r["frames"], r["times"], r["boxes"]
    t_start_all = np.asarray(r["t_start"])
    mine = np.flatnonzero(np.isin(np.asarray(r["t_cam"]), cameras))
    t0 = args["start_s"]
    # per camera: its tracks that end at or after t0, by start time
    tracks_of: dict[int, list[int]] = {c: [] for c in cameras}
    for k in mine[np.argsort(t_start_all[mine], kind="stable")].tolist():
        if r["t_end"][k] >= t0:
            tracks_of[int(r["t_cam"][k])].append(k)
    info = {
        k: (int(r["t_track"][k]), int(r["t_first"][k]), int(r["t_rows"][k]), float(r["t_start"][k]),
            float(r["t_end"][k]), np.asarray(r["t_feat"][k]).tobytes())
        for c in cameras for k in tracks_of[c]
    }  # fmt: skip
    context = zmq.Context()
    sockets = {c: worker_socket(context, args["endpoint"], f"c{c:03d}".encode(), PLAINTEXT, hwm=100000) for c in cameras}
    by_socket = {s: c for c, s in sockets.items()}
    poller = zmq.Poller()
    for s in sockets.values():
        poller.register(s, zmq.POLLIN)
    n = len(cameras)
    # camera state
    ptr = dict.fromkeys(cameras, 0)
    live: dict[int, list] = {c: [] for c in cameras}  # [track index k, rows sent, seq]
    number = dict.fromkeys(cameras, 0)  # last number given
    acked = dict.fromkeys(cameras, 0)
    sent_through = dict.fromkeys(cameras, 0)
    unacked: dict[int, deque] = {c: deque() for c in cameras}  # (number, payload, first sent wall)
    waiting_since = dict.fromkeys(cameras, start)
    backlog: set[int] = set()  # cameras with numbered messages not sent yet
    window, resend_s = args["window"], args["resend_s"]
    rng = np.random.default_rng(index)
    phase = rng.random(n)
    stage_ends = [s["end"] for s in stages]
    stage_rate = [s["rate"] for s in stages]

    bins = args["density_bins"]  # mean live tracks per 10 s of data, from data time 0

    def hz_at(wall: float) -> float:
        """Ticks per second per camera so that the update rate is the stage's, whatever the traffic."""
        rate = stage_rate[-1]
        for end, r_ in zip(stage_ends, stage_rate):
            if wall < end:
                rate = r_
                break
        if args["tick_hz"]:
            return args["tick_hz"]
        b = min(max(int((t0 + wall - start) // 10), 0), len(bins) - 1)
        return rate / max(bins[b], 1.0)

    next_due = start + phase / hz_at(start)
    counters = {"upd": 0, "msg": 0, "resends": 0, "acked_msgs": 0, "behind_max": 0.0, "hwm_blocked": 0}
    ended_sent: list[tuple[int, int, float]] = []
    last_report = time.monotonic()
    end_wall = stage_ends[-1]

    def send(c: int) -> None:
        """Send camera c's numbered messages after sent_through, within the window."""
        s = sockets[c]
        q = unacked[c]
        if not q:
            backlog.discard(c)
            return
        base = q[0][0]
        i = sent_through[c] - base + 1
        limit = acked[c] + window
        while i < len(q) and q[i][0] <= limit:
            num, payload, _ = q[i]
            try:
                s.send(payload, zmq.NOBLOCK)
            except zmq.Again:
                counters["hwm_blocked"] += 1
                break
            if sent_through[c] == acked[c]:
                waiting_since[c] = time.monotonic()
            sent_through[c] = num
            i += 1
        if sent_through[c] >= number[c]:
            backlog.discard(c)
        else:
            backlog.add(c)

    def take_acks(s: zmq.Socket, now: float) -> None:
        """Every cumulative ack waiting on camera socket ``s``: drop what it covers."""
        c = by_socket[s]
        while True:
            try:
                body = msgpack_unpack(s.recv(zmq.NOBLOCK))
            except zmq.Again:
                break
            through = min(int(body.get("m", 0)), number[c])
            if body.get("k") == "ack" and through > acked[c]:
                q = unacked[c]
                while q and q[0][0] <= through:
                    q.popleft()
                counters["acked_msgs"] += through - acked[c]
                acked[c] = through
                sent_through[c] = max(sent_through[c], through)
                waiting_since[c] = now

    def tick(c: int, t: float, wall: float) -> None:
        ks = tracks_of[c]
        p = ptr[c]
        while p < len(ks) and info[ks[p]][3] <= t:
            live[c].append([ks[p], 0, 0])
            p += 1
        ptr[c] = p
        q = unacked[c]
        live[c], updates, closed = camera_tick(live[c], t, info, r_frames, r_boxes, r_times)
        counters["upd"] += len(updates)
        ended_sent.extend((c, u[0], wall) for u in updates if u[8])
        number[c] += 1
        q.append((number[c], batch_payload(c, number[c], closed, max(0, int(t * 10)), updates), wall))
        counters["msg"] += 1
        backlog.add(c)

    try:
        while not stop.is_set():
            now = time.monotonic()
            if now >= end_wall:
                break
            due = np.flatnonzero(next_due <= now)
            if len(due):
                counters["behind_max"] = max(counters["behind_max"], now - float(next_due[due].min()))
                for j in due.tolist():
                    c = cameras[j]
                    sched = float(next_due[j])
                    tick(c, t0 + (sched - start), now)
                    next_due[j] = sched + 1.0 / hz_at(sched)
            for c in list(backlog):
                send(c)
            wait = max(0.0, float(next_due.min()) - time.monotonic())
            events = poller.poll(min(wait, 0.05) * 1000)
            now = time.monotonic()
            for s, _ in events:
                take_acks(s, now)
            for c in cameras if now - last_report >= 1.0 else ():
                if sent_through[c] > acked[c] and now - waiting_since[c] > resend_s:
                    sent_through[c] = acked[c]
                    counters["resends"] += 1
                    waiting_since[c] = now
                    backlog.add(c)
            if now - last_report >= 1.0:
                last_report = now
                oldest = max((now - q[0][2] for q in unacked.values() if q), default=0.0)
                in_flight = sum(number[c] - acked[c] for c in cameras)
                queue.put({"gen": index, "at": now, **counters, "in_flight": in_flight, "oldest_s": oldest,
                           "ended": ended_sent})  # fmt: skip
                ended_sent = []
                counters["behind_max"] = 0.0
        # drain: wait (bounded) for the acks of what was sent
        deadline = time.monotonic() + args["drain_s"]
        while time.monotonic() < deadline and any(number[c] > acked[c] for c in cameras):
            for c in list(backlog):
                send(c)
            for s, _ in poller.poll(100):
                take_acks(s, time.monotonic())
        now = time.monotonic()
        queue.put({"gen": index, "at": now, **counters, "in_flight": sum(number[c] - acked[c] for c in cameras),
                   "oldest_s": max((now - q[0][2] for q in unacked.values() if q), default=0.0),
                   "ended": ended_sent, "final": True})  # fmt: skip
    finally:
        for s in sockets.values():
            s.close(linger=0)
        context.term()


def msgpack_unpack(data: bytes) -> dict:
    import msgpack

    try:
        body = msgpack.unpackb(data)
    except Exception:
        return {}
    return body if isinstance(body, dict) else {}


# ---- the run -----------------------------------------------------------------------------------


def rss_kb(pid: int) -> tuple[int, int]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    values = {line.split(":")[0]: int(line.split()[1]) for line in text.splitlines() if line.startswith(("VmRSS", "VmHWM"))}
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RayMatcher:
    """``--ray``: the matcher as ``mtmc run --ray`` starts it, a process inside a Ray actor
    (:class:`mtmc.runtime.ray_launch.RayLauncher` on a one-node cluster started here), with as much
    of ``Popen`` as this benchmark uses; ``pid`` is the matcher process the actor runs."""

    def __init__(self, cmd: list[str], log: Any, config: Path) -> None:
        import threading

        import ray

        from mtmc.runtime.launch import Placement
        from mtmc.runtime.ray_launch import RayLauncher

        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        ray.init(include_dashboard=False, namespace="mtmc", log_to_driver=False, num_cpus=os.cpu_count())
        self.launcher = RayLauncher("auto")  # Ray is up: it does not connect again
        ready = threading.Event()

        def out(line: str) -> None:
            ready.set()

        def err(line: str) -> None:
            log.write(line + "\n")
            log.flush()

        self.handle = self.launcher.launch("matcher", cmd, dict(os.environ), Placement(), out, err)
        if not ready.wait(120):
            raise SystemExit(f"the matcher actor did not start: see {log.name}")
        self.pid = next(
            int(proc.name) for proc in Path("/proc").iterdir()
            if proc.name.isdigit() and str(config).encode() in _cmdline(proc) and b"matcher" in _cmdline(proc)
        )  # fmt: skip

    def poll(self) -> int | None:
        return self.handle.poll()

    def terminate(self) -> None:
        self.handle.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        try:
            return self.handle.wait(timeout)
        finally:
            self.launcher.close()

    def kill(self) -> None:
        self.handle.kill()
        self.launcher.close()


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def write_run_config(scen: Path, out: Path, port: int, cameras: list[int], args, feature_dim: int) -> Path:
    import yaml

    config = {
        "cameras": [{"id": f"c{c:03d}", "source": "x.mp4"} for c in cameras],
        # the simulated features' length: the matcher refuses features of another length (issue 32)
        "embedder": {"name": "reid", "dim": feature_dim},
        "topology": str(scen / "topology.yaml"),
        "output": {"dir": str(out)},
        "matcher": {
            "mode": "online",
            "bind": f"tcp://127.0.0.1:{port}",
            "publish": f"tcp://127.0.0.1:{port + 1}",
            "dashboard": None,
            **({"distances": [{"name": "cosine"}]} if args.cosine_only else {}),
            "online": {"step_s": args.step_s},
        },
    }
    path = out.parent / f"{out.name}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def free_port() -> int:
    import socket

    for _ in range(50):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no two free consecutive ports")


def run(args, stages_spec: list[tuple[float, float]], label: str) -> dict:
    import yaml
    import zmq

    scen = ensure_scenario(args.cameras, 720)
    check_payloads()
    r = load_replay()
    cameras = sorted(int(c["id"][1:]) for c in yaml.safe_load((scen / "topology.yaml").read_text())["cameras"])
    cameras = cameras[: args.cameras]
    total_s = sum(s for _, s in stages_spec)
    t0 = args.start_s
    keep = np.isin(np.asarray(r["t_cam"]), cameras)
    sub_r = {k: np.asarray(r[k])[keep] for k in ("t_start", "t_end")}
    density = live_density(sub_r, t0, t0 + total_s)
    out = CACHE / f"run-{label}"
    port = free_port()
    config = write_run_config(scen, out, port, cameras, args, int(np.asarray(r["t_feat"]).shape[1]))
    cmd = [PY, "-m", "mtmc", "matcher", str(config), "--out", str(out), "--fresh", "--ready"]
    if args.profile:
        cmd = [PY, "-m", "cProfile", "-o", str(CACHE / f"matcher-{label}.prof"), *cmd[1:]]
    stderr = (CACHE / f"matcher-{label}.log").open("w")
    if args.ray:
        matcher = RayMatcher(cmd, stderr, config)
    else:
        matcher = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
        if not matcher.stdout.readline():
            raise SystemExit(f"matcher did not start: see {CACHE / f'matcher-{label}.log'}")
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.rcvhwm = 1_000_000
    sub.setsockopt(zmq.SUBSCRIBE, b"id")
    sub.connect(f"tcp://127.0.0.1:{port + 1}")
    time.sleep(0.5)

    spawn = mp.get_context("spawn")
    queue, stop = spawn.Queue(), spawn.Event()
    start = time.monotonic() + 3.0 + 0.3 * args.generators  # time for the generators to load and connect
    stages, at = [], start
    for rate, seconds in stages_spec:
        at += seconds
        stages.append({"rate": rate, "seconds": seconds, "end": at, "tick_hz": args.tick_hz or rate / max(density, 1e-9)})
    gen_args = {"endpoint": f"tcp://127.0.0.1:{port}", "start_s": t0, "window": args.window,
                "resend_s": args.resend_s, "drain_s": args.drain_s, "tick_hz": args.tick_hz, "nice": args.nice,
                "density_bins": [live_density(sub_r, b, b + 10) for b in range(0, 730, 10)]}  # fmt: skip
    shares = [cameras[i :: args.generators] for i in range(args.generators)]
    procs = [spawn.Process(target=generator, args=(i, shares[i], gen_args, start, stages, queue, stop), daemon=True)
             for i in range(args.generators)]  # fmt: skip
    for p in procs:
        p.start()
    print(f"[{label}] {len(cameras)} cameras, {args.generators} generator processes, mean live tracks {density:.0f} "
          f"(data {t0:.0f}..{t0 + total_s:.0f} s; ticks/camera/s follow the traffic so the update rate holds); stages: "
          + ", ".join(f"{s['rate']:,.0f} upd/s ({s['tick_hz']:.1f} ticks/s/camera) x {s['seconds']:.0f} s" for s in stages),
          flush=True)  # fmt: skip

    sent_at: dict[tuple[int, int], float] = {}
    assigned_at: dict[tuple[int, int], float] = {}
    revisions = 0
    latest: dict[int, dict] = {}
    finals: set[int] = set()
    timeline = []
    next_sample = start
    cpu0 = {pid: cpu_s(pid) for pid in [matcher.pid, *[p.pid for p in procs]]}
    import msgpack

    last_print = start
    while len(finals) < len(procs):
        if sub.poll(50):
            while True:
                try:
                    _, body = sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                rec = msgpack.unpackb(body)
                key = (rec["camera"], rec["track"])
                if rec["kind"] == "assign":
                    assigned_at.setdefault(key, time.monotonic())
                else:
                    revisions += 1
        while not queue.empty():
            report = queue.get()
            for c, track, wall in report.pop("ended"):
                sent_at.setdefault((c, track), wall)
            latest[report["gen"]] = report
            if report.get("final"):
                finals.add(report["gen"])
        now = time.monotonic()
        if now >= next_sample and now >= start:
            next_sample += 1.0
            rss, hwm = rss_kb(matcher.pid)
            row = {
                "t": round(now - start, 2),
                "rss_mb": rss / 1024,
                "hwm_mb": hwm / 1024,
                "upd": sum(x["upd"] for x in latest.values()),
                "msg": sum(x["msg"] for x in latest.values()),
                "acked": sum(x["acked_msgs"] for x in latest.values()),
                "in_flight": sum(x["in_flight"] for x in latest.values()),
                "oldest_s": max((x["oldest_s"] for x in latest.values()), default=0.0),
                "behind_s": max((x["behind_max"] for x in latest.values()), default=0.0),
                "resends": sum(x["resends"] for x in latest.values()),
                "assigned": len(assigned_at),
                "matcher_cpu_s": cpu_s(matcher.pid) - cpu0[matcher.pid],
                "gen_cpu_s": sum(cpu_s(p.pid) - cpu0[p.pid] for p in procs),
            }
            timeline.append(row)
            if now - last_print >= args.print_every:
                last_print = now
                prev = timeline[-min(len(timeline), int(args.print_every) + 1)]
                dt = max(row["t"] - prev["t"], 1e-9)
                print(f"  t={row['t']:6.0f}s upd/s {(row['upd'] - prev['upd']) / dt:7.0f}  acked msg/s "
                      f"{(row['acked'] - prev['acked']) / dt:7.0f}  in flight {row['in_flight']:7d}  oldest unacked "
                      f"{row['oldest_s']:5.2f}s  RSS {row['rss_mb']:6.0f} MB  matcher CPU "
                      f"{(row['matcher_cpu_s'] - prev['matcher_cpu_s']) / dt:4.0%}  gen CPU "
                      f"{(row['gen_cpu_s'] - prev['gen_cpu_s']) / dt:4.0%}", flush=True)  # fmt: skip
        if matcher.poll() is not None:
            print("matcher exited early!", file=sys.stderr)
            stop.set()
            break
    stop.set()
    for p in procs:
        p.join(10)
    time.sleep(1.0)  # last assigns
    while sub.poll(100):
        _, body = sub.recv_multipart()
        rec = msgpack.unpackb(body)
        if rec["kind"] == "assign":
            assigned_at.setdefault((rec["camera"], rec["track"]), time.monotonic())
    rss_end, hwm_end = rss_kb(matcher.pid)
    matcher.terminate()
    try:
        matcher.wait(120)
    except subprocess.TimeoutExpired:
        matcher.kill()
    sub.close(0)
    context.term()
    summary_line = (CACHE / f"matcher-{label}.log").read_text().strip().splitlines()[-1:]

    # per stage
    results = []
    for s in stages:
        lo, hi = s["end"] - s["seconds"], s["end"]
        settle = min(5.0, s["seconds"] / 4) if len(stages) > 1 else min(10.0, s["seconds"] / 6)
        # the last stage's final seconds: the load (and with it every camera's progress) stops at its
        # end, so a tracklet ending just before cannot be decided; earlier stages have a successor
        tail = 2.0 if s is stages[-1] else 0.0
        keys = [k for k, w in sent_at.items() if lo + settle <= w < hi - tail]
        lat = np.array([assigned_at[k] - sent_at[k] for k in keys if k in assigned_at])
        missing = sum(1 for k in keys if k not in assigned_at)
        rows = [x for x in timeline if lo - start <= x["t"] <= hi - start]
        a, b = rows[0], rows[-1]
        dt = max(b["t"] - a["t"], 1e-9)
        mid = rows[len(rows) // 2]
        results.append({
            "target_upd_per_s": s["rate"], "seconds": s["seconds"], "tick_hz": s["tick_hz"],
            "upd_per_s": (b["upd"] - a["upd"]) / dt, "msg_per_s": (b["msg"] - a["msg"]) / dt,
            "acked_msg_per_s": (b["acked"] - a["acked"]) / dt,
            "sent_msg_per_s": (b["msg"] - a["msg"]) / dt,
            "in_flight_start": a["in_flight"], "in_flight_end": b["in_flight"],
            "in_flight_max": max(x["in_flight"] for x in rows), "oldest_unacked_max_s": max(x["oldest_s"] for x in rows),
            "generator_behind_max_s": max(x["behind_s"] for x in rows),
            "tracklets_ended": len(keys), "latency_n": int(len(lat)), "unassigned": missing,
            "latency_p50_s": float(np.quantile(lat, 0.5)) if len(lat) else None,
            "latency_p99_s": float(np.quantile(lat, 0.99)) if len(lat) else None,
            "latency_max_s": float(lat.max()) if len(lat) else None,
            "rss_start_mb": a["rss_mb"], "rss_mid_mb": mid["rss_mb"], "rss_end_mb": b["rss_mb"],
            "matcher_cpu": (b["matcher_cpu_s"] - a["matcher_cpu_s"]) / dt,
            "generators_cpu": (b["gen_cpu_s"] - a["gen_cpu_s"]) / dt,
        })  # fmt: skip
    # Keeping up: p99 time to a global id under 1 s, (almost) every ended tracklet assigned, and no
    # backlog: the oldest unacknowledged message stays younger than 1 s plus the matcher's ack
    # interval (acks are coalesced: a journaled message may wait up to ack_every_s for its ack).
    from mtmc.runtime.config import MatcherServiceConfig

    backlog_s = 1.0 + MatcherServiceConfig.model_fields["ack_every_s"].default
    for res in results:
        res["keeps_up"] = bool(
            res["latency_p99_s"] is not None and res["latency_p99_s"] < 1.0
            and res["unassigned"] <= 0.001 * max(res["tracklets_ended"], 1)
            and res["oldest_unacked_max_s"] < backlog_s
        )  # fmt: skip
        if args.tick_hz:  # the load is the batch rate: every camera ticks tick_hz times a second
            res["load_reached"] = res["msg_per_s"] >= 0.95 * args.tick_hz * len(cameras)
        else:
            res["load_reached"] = res["upd_per_s"] >= 0.95 * res["target_upd_per_s"]
    return {
        "label": label, "cameras": len(cameras), "generators": args.generators, "cores": os.cpu_count(),
        "step_s": args.step_s, "mean_live_tracks": density, "data_start_s": t0, "stages": results,
        "rss_end_mb": rss_end / 1024, "rss_peak_mb": hwm_end / 1024, "revisions_seen": revisions,
        "matcher_summary": summary_line, "timeline": timeline,
    }


def report(result: dict) -> None:
    print()
    print(f"matcher_scale [{result['label']}]: {result['cameras']} cameras, {result['generators']} generator processes, "
          f"{result['cores']} cores shared by matcher + generators + this process; online step_s {result['step_s']}, "
          f"mean live tracks {result['mean_live_tracks']:.0f}")  # fmt: skip
    head = (f"{'target':>8} {'upd/s':>8} {'msg/s':>8} {'acked/s':>8} {'ack/sent':>8} {'inflight':>9} {'oldest':>7} "
            f"{'gen late':>8} {'ended':>6} {'p50 s':>6} {'p99 s':>6} {'max s':>6} {'unasg':>5} {'RSS MB s/m/e':>15} "
            f"{'m.CPU':>6} {'g.CPU':>6}  verdict")  # fmt: skip
    print(head)
    print("-" * len(head))

    def f(x, fmt):
        return "-" if x is None else format(x, fmt)

    for s in result["stages"]:
        verdict = "keeps up" if s["keeps_up"] else "FALLS BEHIND"
        if not s["load_reached"]:
            verdict += " (generators short of target)"
        print(f"{s['target_upd_per_s']:>8,.0f} {s['upd_per_s']:>8,.0f} {s['msg_per_s']:>8,.0f} {s['acked_msg_per_s']:>8,.0f} "
              f"{s['acked_msg_per_s'] / max(s['sent_msg_per_s'], 1e-9):>8.2f} {s['in_flight_end']:>9,d} "
              f"{s['oldest_unacked_max_s']:>6.2f}s {s['generator_behind_max_s']:>7.2f}s {s['tracklets_ended']:>6d} "
              f"{f(s['latency_p50_s'], '6.2f'):>6} {f(s['latency_p99_s'], '6.2f'):>6} {f(s['latency_max_s'], '6.2f'):>6} "
              f"{s['unassigned']:>5d} {s['rss_start_mb']:>5.0f}/{s['rss_mid_mb']:.0f}/{s['rss_end_mb']:.0f} "
              f"{s['matcher_cpu']:>6.0%} {s['generators_cpu']:>6.0%}  {verdict}")  # fmt: skip
    print("columns: upd/s, msg/s = TrackletUpdates / Batch messages (one per camera tick) sent per second; acked/s = messages the matcher "
          "acknowledged per second; inflight = sent but unacknowledged at the stage's end; oldest = oldest unacknowledged "
          "message (max); gen late = how far the generators' ticks slipped (max); p50/p99/max = wall seconds from a "
          "tracklet's ended update to its global id (PUB 'assign'); unasg = ended tracklets never assigned; RSS = matcher "
          "start/middle/end; m.CPU/g.CPU = matcher / generators CPU (100% = one core).")
    failing = [s for s in result["stages"] if not s["keeps_up"]]
    if len(result["stages"]) > 1:
        if failing:
            ok = [s["target_upd_per_s"] for s in result["stages"] if s["keeps_up"] and s["target_upd_per_s"] < failing[0]["target_upd_per_s"]]
            print(f"stops keeping up at {failing[0]['target_upd_per_s']:,.0f} updates/s "
                  f"(last rate kept up: {max(ok):,.0f})" if ok else f"falls behind already at {failing[0]['target_upd_per_s']:,.0f}")
        else:
            print("keeps up at every stage")
    tl = result["timeline"]
    if tl:
        picks = [tl[0], tl[len(tl) // 4], tl[len(tl) // 2], tl[3 * len(tl) // 4], tl[-1]]
        print("matcher RSS over time: " + ", ".join(f"t={x['t']:.0f}s {x['rss_mb']:.0f} MB" for x in picks)
              + f"; peak (VmHWM) {result['rss_peak_mb']:.0f} MB")
    if result["matcher_summary"]:
        print("matcher says:", result["matcher_summary"][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=10000, help="tracklet updates per second, all cameras")
    parser.add_argument("--duration", type=float, default=600, help="seconds at --rate")
    parser.add_argument("--quick", action="store_true", help="60 s instead of --duration")
    parser.add_argument("--ramp", action="store_true", help="stages at increasing rates (--ramp-rates, --stage-s)")
    parser.add_argument("--ramp-rates", default="2500,5000,10000,20000,40000")
    parser.add_argument("--stage-s", type=float, default=40)
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--generators", type=int, default=4)
    parser.add_argument("--start-s", type=float, default=100, help="data time the replay starts at")
    parser.add_argument("--step-s", type=float, default=0.5, help="matcher.online.step_s")
    parser.add_argument("--cosine-only", action="store_true", help="the matcher with appearance alone (the cues before issue 30)")
    parser.add_argument("--tick-hz", type=float, default=0.0,
                        help="batches per camera per second, fixed (default 0: as many as make --rate updates/s)")
    parser.add_argument("--nice", type=int, default=10, help="the generators' niceness (0: same priority as the matcher)")
    parser.add_argument("--window", type=int, default=256, help="go-back-N window per camera (messages)")
    parser.add_argument("--resend-s", type=float, default=2.0)
    parser.add_argument("--drain-s", type=float, default=30.0, help="after the last stage, wait this long for acks")
    parser.add_argument("--print-every", type=float, default=10.0)
    parser.add_argument("--profile", action="store_true", help="run the matcher under cProfile (slower)")
    parser.add_argument("--ray", action="store_true",
                        help="the matcher inside a Ray actor, as `mtmc run --ray` places it (a one-node cluster "
                        "started here: run inside `unshare -n` with lo up and RAY_AUTH_MODE=disabled, as the tests do)")
    args = parser.parse_args()
    if args.ramp:
        spec = [(float(x), args.stage_s) for x in args.ramp_rates.split(",")]
        label = "ramp"
    else:
        seconds = 60.0 if args.quick else args.duration
        spec = [(args.rate, seconds)]
        label = "quick" if args.quick else f"{args.rate:.0f}x{seconds:.0f}s"
    if args.cameras != 1000:
        label += f"-{args.cameras}cams"
    if args.ray:
        label += "-ray"
    if args.profile:
        label += "-profile"
    result = run(args, spec, label)
    report(result)
    path = CACHE / f"result-{label}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
