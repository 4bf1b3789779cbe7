"""pipelines/live_rtsp end to end against two real RTSP servers on loopback (GStreamer's, looping
street-a.mp4 and street-b.mp4 as the cameras gate and yard): its monitor.yaml under `mtmc run`
serves both cameras on the dashboard, publishes global ids on the feed (read by its
subscribe.py), and Ctrl-C ends it with exit 130, status.json "interrupted" and every tracklet
the workers sent written with an id. benchmarks/rtsp_soak.py runs the same setup for 20 minutes."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pytest
from live_rtsp import (
    CLIPS,
    api_state,
    children,
    clip_frames,
    journal_tracklets,
    monitor_config,
    start_run,
    start_servers,
    start_subscriber,
    stop_all,
)
from rtsp_server import missing

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    why = missing()
    if why:
        pytest.skip(why)
    if not all((CLIPS / f"{name}.mp4").is_file() for name in ("street-a", "street-b")):
        pytest.skip(f"shared clips not found in {CLIPS}")
    frames = clip_frames(tmp_path_factory.mktemp("live-frames"), count=240)  # 10 s loops at 24 fps
    running = start_servers(frames, max_lifetime_s=300)
    yield running
    for server in running:
        server.stop()


def _read_lines(stream, into: list) -> None:
    for line in stream:
        into.append(json.loads(line))


def test_live_monitor_dashboard_feed_and_ctrl_c(servers, tmp_path):
    config, settings = monitor_config(tmp_path, [s.url for s in servers])
    names = [c["id"] for c in settings["cameras"]]
    port = settings["matcher"]["dashboard"]
    feed = start_subscriber(settings["matcher"]["publish"])  # connects before the matcher binds: sees it all
    records: list[dict] = []
    threading.Thread(target=_read_lines, args=(feed.stdout, records), daemon=True).start()
    run = start_run(config)
    try:
        deadline = time.monotonic() + 120
        state = None
        while time.monotonic() < deadline:
            assert run.poll() is None, run.communicate()[1]
            state = api_state(port) or state
            live = state is not None and all(c["frames_done"] > 0 and not c["stale"] for c in state["cameras"])
            if live and any(r["kind"] == "assign" for r in records):
                break
            time.sleep(0.5)
        assert state is not None, "the dashboard never answered /api/state"
        assert [c["id"] for c in state["cameras"]] == names
        assert all(c["frames_done"] > 0 and not c["stale"] for c in state["cameras"]), state["cameras"]
        assigned = [r for r in records if r["kind"] == "assign"]
        assert assigned, f"no id on the feed; dashboard counters {state['counters']}"
        for record in records:
            assert record["name"] in names and record["kind"] in ("assign", "revise")
            assert all(isinstance(record[k], int) for k in ("camera", "track", "global_id"))
        processes = children(run.pid)
        assert sorted(processes) == ["matcher", *sorted(f"worker:{n}" for n in names)]

        run.send_signal(signal.SIGINT)  # Ctrl-C
        _, err = run.communicate(timeout=60)
        assert run.returncode == 130, err
        assert "interrupted" in err
        out = Path(settings["output"]["dir"])
        status = json.loads((out / "status.json").read_text())
        assert status["state"] == "interrupted" and not status["complete"]
        assert not any(Path(f"/proc/{pid}").exists() for pid in processes.values())
        # Every tracklet the workers sent got an id and was written, row for row.
        sent = journal_tracklets(out / "matcher.journal")
        written = (out / "submission.txt").read_text().splitlines()
        assert sent["tracklets"] and len(written) == sent["rows"]
        summary = (out / "logs" / "matcher.log").read_text()
        assert f"matcher: {len(sent['tracklets'])} tracklets ({sent['rows']} rows)" in summary
        assert (out / "sightings.db").is_file()  # for mtmc search

        feed.send_signal(signal.SIGINT)  # the subscriber ends quietly on Ctrl-C too
        assert feed.wait(timeout=10) == 0
    finally:
        stop_all(run, feed)
