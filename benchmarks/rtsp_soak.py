"""Soak of the live RTSP monitor (pipelines/live_rtsp): does it run for a long time in bounded memory,
without restarts, giving every tracklet an id?

The setup of tests/test_pipeline_live_rtsp.py, for ``--minutes``: two GStreamer RTSP servers on
loopback loop the shared clips street-a.mp4 and street-b.mp4 (all frames, 24 fps) as the cameras
of pipelines/live_rtsp/monitor.yaml (only URLs, ports and the output folder replaced), under
``mtmc run``, with the pipeline's subscribe.py reading the feed. Every ``--sample-s`` it records
each process's RSS (psutil when installed, else /proc/PID/status VmRSS) and CPU time (the
supervisor's children found by ``MTMC_PARENT_PID``, see mtmc/runtime/lifeline.py; a new PID for a
role is a restart), the dashboard's /api/state (frames, fps, stale, counters) and the journal's
size. Then Ctrl-C (SIGINT), and:

- RSS per process: median of the first 5 minutes after both cameras deliver frames against the
  median of the last 5 (windows of a third of the run when it is shorter); flat = growth < 3 %;
- restarts: PIDs that changed, "restarted:" lines on the run's stderr, "resuming" in OUT/logs;
- ids: tracklets in the journal (all the workers sent) against tracklets and rows the matcher
  wrote (its summary line and submission.txt), and ended tracklets against ids on the feed.

    nice .venv/bin/python benchmarks/rtsp_soak.py --minutes 20     # writes benchmarks/.cache/rtsp_soak/
    nice .venv/bin/python benchmarks/rtsp_soak.py --minutes 1      # a trial
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from live_rtsp import (  # noqa: E402
    api_state,
    children,
    clip_frames,
    journal_tracklets,
    monitor_config,
    rss_mb,
    start_run,
    start_servers,
    start_subscriber,
    stop_all,
)
from rtsp_server import missing  # noqa: E402

FLAT_PCT = 3.0
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (/proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def read_feed(stream, into: list) -> None:
    for line in stream:
        try:
            into.append(json.loads(line))
        except ValueError:
            pass


def sample(run_pid: int, port: int, journal: Path, started: float, feed: list) -> dict:
    roles = {"supervisor": run_pid, **children(run_pid)}
    state = api_state(port)
    return {
        "t": round(time.monotonic() - started, 1),
        "pids": roles,
        "rss_mb": {role: rss_mb(pid) for role, pid in roles.items()},
        "cpu_s": {role: cpu_s(pid) for role, pid in roles.items()},
        "cameras": None if state is None else {
            c["id"]: {k: c[k] for k in ("frames_done", "fps", "stale", "outbox", "boxes", "assigned")}
            for c in state["cameras"]
        },
        "counters": None if state is None else state["counters"],
        "journal_mb": round(journal.stat().st_size / 2**20, 3) if journal.is_file() else 0.0,
        "feed": len(feed),
        "load": os.getloadavg()[0],
    }  # fmt: skip


def median_of(samples: list[dict], role: str, lo: float, hi: float) -> float | None:
    values = [s["rss_mb"].get(role) for s in samples if lo <= s["t"] <= hi]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def analyse(samples: list[dict], feed: list[dict], out: Path, stderr: str, code: int | None, minutes: float) -> dict:
    live = [s for s in samples if s["cameras"] and all(c["frames_done"] > 0 for c in s["cameras"].values())]
    if not live:
        return {"error": "the cameras never delivered frames", "exit_code": code}
    t0, t1 = live[0]["t"], samples[-1]["t"]
    window = min(300.0, (t1 - t0) / 3)
    roles = sorted({r for s in samples for r in s["rss_mb"]}, key=lambda r: (r != "supervisor", r != "matcher", r))
    memory = {}
    for role in roles:
        first, last = median_of(samples, role, t0, t0 + window), median_of(samples, role, t1 - window, t1)
        peak = max((s["rss_mb"].get(role) or 0.0) for s in samples)
        growth = None if not first or last is None else 100.0 * (last - first) / first
        cpus = [(s["t"], s["cpu_s"].get(role)) for s in samples if s["cpu_s"].get(role) is not None and s["t"] >= t0]
        cpu_pct = None
        if len(cpus) > 1 and cpus[-1][0] > cpus[0][0]:
            cpu_pct = 100.0 * (cpus[-1][1] - cpus[0][1]) / (cpus[-1][0] - cpus[0][0])
        memory[role] = {
            "rss_first_mb": None if first is None else round(first, 1),
            "rss_last_mb": None if last is None else round(last, 1),
            "rss_peak_mb": round(peak, 1),
            "growth_pct": None if growth is None else round(growth, 2),
            "flat": growth is not None and growth < FLAT_PCT,
            "cpu_pct": None if cpu_pct is None else round(cpu_pct, 1),
        }
    pids: dict[str, set] = {}
    for s in samples:
        for role, pid in s["pids"].items():
            pids.setdefault(role, set()).add(pid)
    resumed = {p.stem: p.read_text(errors="replace").count("resuming after frame") for p in (out / "logs").glob("*.log")}
    restarts = {
        "pid_changes": {role: len(found) - 1 for role, found in pids.items()},
        "restarted_lines": [line for line in stderr.splitlines() if line.startswith("restarted:")],
        "resumed_in_logs": {k: v for k, v in resumed.items() if v},
    }
    cameras = {}
    for name in live[-1]["cameras"]:
        rates = [s["cameras"][name]["fps"] for s in live if s["cameras"] and s["cameras"][name]["fps"] is not None]
        cameras[name] = {
            "frames_done": live[-1]["cameras"][name]["frames_done"],
            "fps_mean": round(statistics.mean(rates), 2) if rates else None,
            "fps_min": round(min(rates), 2) if rates else None,
            "stale_samples": sum(1 for s in live if s["cameras"] and s["cameras"][name]["stale"]),
            "samples": len(live),
        }
    sent = journal_tracklets(out / "matcher.journal")
    assigned = {(r["camera"], r["track"]) for r in feed if r.get("kind") == "assign"}
    submission = out / "submission.txt"
    rows_written = sum(1 for _ in submission.open()) if submission.is_file() else 0
    log = (out / "logs" / "matcher.log").read_text(errors="replace") if (out / "logs" / "matcher.log").is_file() else ""
    summary = re.findall(r"matcher: (\d+) tracklets \((\d+) rows\)", log)
    written = (int(summary[-1][0]), int(summary[-1][1])) if summary else (None, None)
    not_on_feed = sent["ended"] - assigned
    ids = {
        "tracklets_sent": len(sent["tracklets"]),
        "tracklets_ended_while_running": len(sent["ended"]),
        "rows_sent": sent["rows"],
        "tracklets_written": written[0],
        "rows_written": rows_written,
        "every_tracklet_written": written[0] == len(sent["tracklets"]) and rows_written == sent["rows"],
        "ended_assigned_on_feed": len(sent["ended"] & assigned),
        "ended_not_on_feed": len(not_on_feed),
        "feed_messages": len(feed),
        "feed_revisions": sum(1 for r in feed if r.get("kind") == "revise"),
        "global_ids": len({r["global_id"] for r in feed}),
    }
    counters = live[-1]["counters"] or {}
    status = out / "status.json"
    hours = (t1 - t0) / 3600
    return {
        "minutes": minutes,
        "measured_s": round(t1 - t0, 1),
        "window_s": round(window, 1),
        "exit_code": code,
        "status": json.loads(status.read_text())["state"] if status.is_file() else None,
        "memory": memory,
        "restarts": restarts,
        "cameras": cameras,
        "ids": ids,
        "dashboard_counters": counters,
        "journal_mb": samples[-1]["journal_mb"],
        "journal_mb_per_hour": round(samples[-1]["journal_mb"] / hours, 1) if hours else None,
        "load_mean": round(statistics.mean(s["load"] for s in samples), 2),
    }


def print_table(result: dict) -> None:
    if "error" in result:
        print(result)
        return
    print(f"\nRTSP soak: {result['measured_s'] / 60:.1f} min with both cameras live; exit {result['exit_code']}, "
          f"status {result['status']}; load average {result['load_mean']}")  # fmt: skip
    w = result["window_s"] / 60
    print(f"\n| process | RSS first {w:.0f} min (MiB) | last {w:.0f} min | peak | growth | flat | CPU |")
    print("|---|---|---|---|---|---|---|")
    for role, m in result["memory"].items():
        growth = "-" if m["growth_pct"] is None else f"{m['growth_pct']:+.2f} %"
        cpu = "-" if m["cpu_pct"] is None else f"{m['cpu_pct']:.0f} %"
        print(f"| {role} | {m['rss_first_mb']} | {m['rss_last_mb']} | {m['rss_peak_mb']} | {growth} | "
              f"{'yes' if m['flat'] else 'NO'} | {cpu} |")  # fmt: skip
    print("\n| camera | frames | fps mean / min | stale samples |")
    print("|---|---|---|---|")
    for name, c in result["cameras"].items():
        print(f"| {name} | {c['frames_done']} | {c['fps_mean']} / {c['fps_min']} | {c['stale_samples']} of {c['samples']} |")
    r, i = result["restarts"], result["ids"]
    print(f"\nrestarts: PID changes {r['pid_changes']}, 'restarted:' lines {len(r['restarted_lines'])}, "
          f"resumed {r['resumed_in_logs'] or 'none'}")  # fmt: skip
    print(f"ids: {i['tracklets_sent']} tracklets sent ({i['rows_sent']} rows), {i['tracklets_written']} written "
          f"({i['rows_written']} rows): every tracklet written {i['every_tracklet_written']}; "
          f"{i['tracklets_ended_while_running']} ended while running, {i['ended_assigned_on_feed']} of them "
          f"assigned on the feed ({i['ended_not_on_feed']} not); {i['global_ids']} global ids, "
          f"{i['feed_messages']} feed messages ({i['feed_revisions']} revisions)")  # fmt: skip
    print(f"dashboard counters: {result['dashboard_counters']}")
    print(f"journal: {result['journal_mb']} MiB ({result['journal_mb_per_hour']} MiB/hour)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="how long the monitor runs")
    parser.add_argument("--sample-s", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / ".cache" / "rtsp_soak")
    args = parser.parse_args()
    args.out = args.out.resolve()
    why = missing()
    if why:
        print(f"rtsp_soak: {why}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    run_dir = args.out / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    frames_dir = Path(tempfile.mkdtemp(prefix="rtsp-soak-frames-"))
    servers, run, feed_process = [], None, None
    try:
        frames = clip_frames(frames_dir)
        counts = {name: len(list(folder.glob("*.jpg"))) for name, folder in frames.items()}
        print(f"frames served in a loop at 24 fps: {counts}", flush=True)
        servers = start_servers(frames, max_lifetime_s=args.minutes * 60 + 900)
        config, settings = monitor_config(run_dir, [s.url for s in servers])
        out = Path(settings["output"]["dir"])
        feed: list[dict] = []
        feed_process = start_subscriber(settings["matcher"]["publish"])
        threading.Thread(target=read_feed, args=(feed_process.stdout, feed), daemon=True).start()
        stderr_path = run_dir / "run.stderr"
        with stderr_path.open("w") as stderr_file:
            run = start_run(config, stderr=stderr_file)
            started = time.monotonic()
            samples: list[dict] = []
            with (args.out / "samples.jsonl").open("w") as log:
                while time.monotonic() - started < args.minutes * 60:
                    time.sleep(max(0.0, args.sample_s - (time.monotonic() - started) % args.sample_s))
                    if run.poll() is not None:
                        print(f"mtmc run ended early (exit {run.returncode})", flush=True)
                        break
                    samples.append(sample(run.pid, settings["matcher"]["dashboard"], out / "matcher.journal", started, feed))
                    log.write(json.dumps(samples[-1]) + "\n")
                    log.flush()
                    s = samples[-1]
                    cams = " ".join(f"{k}:{v['frames_done']}" for k, v in (s["cameras"] or {}).items())
                    rss = " ".join(f"{k}={v:.0f}" for k, v in s["rss_mb"].items() if v)
                    print(f"{s['t']:7.0f} s  {cams}  feed {s['feed']}  RSS MiB {rss}", flush=True)
            if run.poll() is None:
                run.send_signal(signal.SIGINT)
            code = run.wait(timeout=120)
        time.sleep(1.0)  # the last feed lines
        result = analyse(samples, feed, out, stderr_path.read_text(), code, args.minutes)
        (args.out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        print_table(result)
        print(f"\nwritten: {args.out / 'result.json'} (samples: {args.out / 'samples.jsonl'})")
        return 0
    finally:
        stop_all(run, feed_process)
        for server in servers:
            server.stop()
        shutil.rmtree(frames_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
