"""What a camera costs one machine: worker memory, and how many cameras it keeps live (issue 33).

Runs ``mtmc run`` with the default parts (vehicle-detection-0202, ``glamor-mobilenetv2-2cam``,
``deepsort-bot``), the matcher online, no video or dashboard, on 1, 2, ... cameras that each read a
real clip sampled at ``--fps`` (``cameras[].fps``: what a live camera set to that rate delivers),
the clips taken in turn from ``--clips``, each played back to back until it lasts ``--seconds``
(written once with OpenCV; a short clip would leave the models' loading a large share of the time). Every worker runs as fast as it can; a camera is kept
live when it processed its frames at least at ``--fps`` (frames over the worker's own wall time,
from its log; model loading included, so the rate is a little below the steady one), so a machine keeps N cameras live when the slowest of N does.
While they run, every worker's resident memory is sampled from ``/proc`` (peak and median).

    .venv/bin/python benchmarks/camera_cost.py                          # 1..6 cameras at 10 fps
    .venv/bin/python benchmarks/camera_cost.py --fps 10 --cameras 1 2 3 --clips detrac-intersection

Machines here are noisy and shared: run it on idle cores, and read the table with its peer row
(one camera) as the reference.
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "data" / "videos"
REPORT = re.compile(r": (\d+) frames in ([\d.]+) s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_rss_mb() -> dict[int, float]:
    """Resident MB of every running ``mtmc worker`` process, by pid."""
    sizes = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
            if b"worker" not in command or b"--camera" not in command:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes[int(proc.name)] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return sizes


def looped(clip: Path, seconds: float, out: Path) -> Path:
    """``clip`` played back to back until it lasts ``seconds`` (vehicles jump at each seam: this
    measures cost, not tracking)."""
    import cv2

    path = out / f"{clip.stem}-{seconds:g}s.mp4"
    if path.is_file():
        return path
    out.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(str(clip))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while (frame := capture.read()[1]) is not None:
        frames.append(frame)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for index in range(max(len(frames), round(seconds * fps))):
        writer.write(frames[index % len(frames)])
    writer.release()
    return path


def run_cameras(count: int, clips: list[Path], fps: float, out: Path) -> dict[str, object]:
    cameras = [{"id": f"cam{i + 1}", "source": str(clips[i % len(clips)]), "fps": fps} for i in range(count)]
    config = {
        "cameras": cameras,
        "matcher": {"bind": f"tcp://127.0.0.1:{free_port()}", "dashboard": None, "publish": None},
        "output": {"dir": str(out), "video": False},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    path = out.parent / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(config))
    samples: list[float] = []
    peaks: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid, mb in worker_rss_mb().items():
                samples.append(mb)
                peaks[pid] = max(peaks.get(pid, 0.0), mb)
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "mtmc", "run", str(path), "-q"], capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if result.returncode != 0:
        raise SystemExit(
            f"mtmc run with {count} cameras failed (exit {result.returncode}): {result.stderr.strip()[-500:]}"
        )
    rates = []
    for camera in cameras:
        log = (out / "logs" / f"{camera['id']}.log").read_text()
        frames, seconds = map(float, REPORT.findall(log)[-1])
        rates.append(frames / seconds)
    return {
        "rates": rates,
        "wall": wall,
        "rss_peak": max(peaks.values(), default=float("nan")),
        "rss_median": statistics.median(samples) if samples else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fps", type=float, default=10.0, help="each camera's frame rate (cameras[].fps)")
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6], metavar="N")
    parser.add_argument("--clips", nargs="+", default=["street-a", "street-b", "detrac-intersection"],
                        help="clip stems under ../shared/data/videos, used in turn")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=60.0, help="each clip played back to back to at least this long")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="run in DIR and keep the runs' outputs and logs")
    args = parser.parse_args()
    print(
        f"default parts, cameras at {args.fps:g} fps from {', '.join(args.clips)} in turn; {len(__import__('os').sched_getaffinity(0))} cores"
    )
    header = f"{'cameras':>7s} | {'slowest fps':>11s} {'mean fps':>9s} | {'live':>4s} | {'worker RSS peak':>15s} {'median':>7s} MB | {'run s':>6s}"
    print(header)
    print("-" * len(header))
    kept = 0
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="mtmc-camera-cost-"))
    try:
        clips = [looped(VIDEOS / f"{clip}.mp4", args.seconds, scratch / "clips") for clip in args.clips]
        for count in args.cameras:
            r = run_cameras(count, clips, args.fps, scratch / f"run{count}")
            rates = r["rates"]
            live = min(rates) >= args.fps
            kept = count if live else kept
            print(
                f"{count:7d} | {min(rates):11.1f} {statistics.mean(rates):9.1f} | {'yes' if live else 'no':>4s} | "
                f"{r['rss_peak']:15.0f} {r['rss_median']:7.0f}    | {r['wall']:6.1f}"
            )
            if not live:
                break
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"kept live at {args.fps:g} fps: {kept} camera(s) on this machine")


if __name__ == "__main__":
    main()
