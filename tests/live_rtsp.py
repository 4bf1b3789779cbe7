"""The live RTSP monitor (``pipelines/live_rtsp``) against real RTSP servers on loopback, for
``tests/test_pipeline_live_rtsp.py`` and ``benchmarks/rtsp_soak.py`` (not a test module).

Two GStreamer RTSP servers (``rtsp_server.py``) loop the shared clips street-a.mp4 and street-b.mp4
as the pipeline's two cameras; ``monitor_config`` is the pipeline's own ``monitor.yaml`` with only
the camera URLs, the ports and the output folder replaced.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml
from rtsp_server import RtspServer, free_port, write_jpeg_frames

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "pipelines" / "live_rtsp"
CLIPS = REPO.parent / "shared" / "data" / "videos"
CLIP_NAMES = ("street-a", "street-b")
CLIP_FPS = 24  # both clips' native rate


def clip_frames(folder: Path, count: int = 100_000) -> dict[str, Path]:
    """Each clip's first ``count`` frames as JPEGs (the servers loop them), by clip name."""
    return {name: write_jpeg_frames(CLIPS / f"{name}.mp4", folder / name, count=count) for name in CLIP_NAMES}


def start_servers(frames: dict[str, Path], max_lifetime_s: float = 600.0) -> list[RtspServer]:
    servers: list[RtspServer] = []
    try:
        for name in CLIP_NAMES:
            servers.append(RtspServer(frames[name], fps=CLIP_FPS, path=name, max_lifetime_s=max_lifetime_s).start())
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


def monitor_config(folder: Path, urls: list[str], **worker: object) -> tuple[Path, dict]:
    """``folder/monitor.yaml``: the pipeline's config with its cameras reading ``urls`` (in order),
    free ports and ``folder/out``; returns the path and the config as written."""
    config = yaml.safe_load((PIPELINE / "monitor.yaml").read_text(encoding="utf-8"))
    if len(config["cameras"]) != len(urls):
        raise ValueError(f"monitor.yaml has {len(config['cameras'])} cameras, {len(urls)} URLs given")
    for camera, url in zip(config["cameras"], urls):
        camera["source"] = url
    config["matcher"].update(
        bind=f"tcp://127.0.0.1:{free_port()}", publish=f"tcp://127.0.0.1:{free_port()}", dashboard=free_port()
    )
    config.setdefault("worker", {}).update(worker)
    config["output"]["dir"] = str(folder.resolve() / "out")  # a relative one would be read from the config's folder
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "monitor.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path, config


def start_run(config: Path, stderr: object = subprocess.PIPE) -> subprocess.Popen:
    """``mtmc run CONFIG`` as run.sh starts it, in its own session (signals go to it alone)."""
    return subprocess.Popen(
        [sys.executable, "-m", "mtmc", "run", str(config), "-q", "--no-video"],
        stdout=subprocess.DEVNULL, stderr=stderr, text=True, start_new_session=True,
    )  # fmt: skip


def start_subscriber(endpoint: str) -> subprocess.Popen:
    """The pipeline's subscribe.py printing the feed as JSON lines."""
    return subprocess.Popen(
        [sys.executable, str(PIPELINE / "subscribe.py"), endpoint, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip


def api_state(port: int, timeout: float = 2.0) -> dict | None:
    """The dashboard's ``/api/state``, or None when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=timeout) as reply:
            return json.loads(reply.read())
    except (OSError, ValueError):
        return None


def children(supervisor: int) -> dict[str, int]:
    """The supervisor's children by role (``matcher``, ``worker:<camera>``): the processes whose
    environment names it in ``MTMC_PARENT_PID`` (``mtmc/runtime/lifeline.py``)."""
    found: dict[str, int] = {}
    mark = f"MTMC_PARENT_PID={supervisor}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            args = [a.decode() for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            continue
        if "matcher" in args:
            found["matcher"] = int(entry.name)
        elif "worker" in args and "--camera" in args:
            found[f"worker:{args[args.index('--camera') + 1]}"] = int(entry.name)
    return found


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` in MiB (psutil when installed, else /proc/PID/status VmRSS)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    try:
        if psutil is not None:
            return psutil.Process(pid).memory_info().rss / 2**20
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except Exception:  # gone between listing and reading
        return None
    return None


def journal_tracklets(journal: Path) -> dict:
    """What the workers sent, read from the matcher's journal (read-only; records as
    ``mtmc/transport/journal.py`` frames them): every tracklet key, the ended ones, and rows."""
    import struct

    from mtmc.transport.codec import Batch, decode

    data = journal.read_bytes()
    keys, ended = set(), set()
    rows = records = offset = 0
    while offset + 8 <= len(data):
        length, _crc = struct.unpack_from("<II", data, offset)
        payload = data[offset + 8 : offset + 8 + length]
        if len(payload) < length:
            break  # a torn tail
        offset += 8 + length
        message = decode(payload)
        records += 1
        if not isinstance(message, Batch):
            continue
        for update in message.updates:
            key = (message.camera, update.track)
            keys.add(key)
            rows += len(update.frames)
            if update.ended:
                ended.add(key)
    return {"records": records, "tracklets": keys, "ended": ended, "rows": rows}


def stop_all(*processes: subprocess.Popen | None) -> None:
    """Kill what a failed test or benchmark leaves running (each process's own group only)."""
    for process in processes:
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)
