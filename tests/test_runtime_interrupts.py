"""Interrupt means interrupted, resume means resume (issue 17), with real `mtmc run` processes.

Ctrl-C (SIGINT) or SIGTERM to `mtmc run`, or SIGKILL of its whole process group, at some moment of
a run; then `mtmc run --resume` must end with the submission and scores of an uninterrupted run.
Also: a matcher stopped alone is restarted, not taken for the end; no child outlives its parent;
a camera whose video has a corrupt stretch says so, skips it and makes the run exit 1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import journal_size, short_clips, wait_for

FRAMES = 72


@pytest.fixture(scope="module")
def clips(data_dir, tmp_path_factory) -> dict[str, Path]:
    return short_clips(data_dir, tmp_path_factory.mktemp("clips"), FRAMES)


def _config(folder: Path, clips: dict[str, Path], port: int, gt: Path | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "city.yaml"
    path.write_text(
        f"cameras:\n  - {{id: c001, source: {clips['street-a']}}}\n  - {{id: c002, source: {clips['street-b']}}}\n"
        "tracker: {name: deepsort-byte}\nembedder: null\n"
        f"matcher: {{mode: online, bind: 'tcp://127.0.0.1:{port}', publish: null, dashboard: null, claim_timeout_s: 1,\n"
        "          distances: [{name: geometric}, {name: continuity}]}\n"
        "worker: {update_every_s: 0.25, resend_s: 0.5, preview_every_s: 0}\n"
        "output: {dir: out, video: false}\n" + (f"eval: {{gt: {gt}}}\n" if gt else "")
    )
    return path


def _start(config: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mtmc", "run", str(config), "-q", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def _finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err




def _children_of(pid: int) -> list[int]:
    """Every process whose parent was ``pid`` when started (read back from /proc's environ)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"MTMC_PARENT_PID={pid}".encode() in environ:
                found.append(int(entry.name))
    return found


def _sorted_submission(config: Path) -> list[str]:
    return sorted((config.parent / "out" / "submission.txt").read_text().splitlines())


@pytest.fixture(scope="module")
def reference(clips, tmp_path_factory) -> dict:
    """An uninterrupted run: its submission, used as ground truth so every run is also scored."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path_factory.mktemp("reference")
    config = _config(folder, clips, port)
    code, err = _finish(_start(config))
    assert code == 0, err
    gt = folder / "gt.txt"
    gt.write_text((folder / "out" / "submission.txt").read_text())
    lines = _sorted_submission(config)
    assert len(lines) > 100
    from mtmc.commands.eval import score
    from mtmc.config import load_config

    settings = load_config(_config(folder, clips, port, gt=gt)).eval.model_copy(update={"pred": gt})
    scores, _ = score(settings)  # the AI City protocol's score of this very submission
    return {"lines": lines, "gt": gt, "journal": journal_size(config), "scores": json.loads(json.dumps(scores))}


@pytest.mark.parametrize(
    "how, when",
    [(signal.SIGINT, "start"), (signal.SIGTERM, "middle"), (signal.SIGKILL, "middle")],
    ids=["ctrl-c-at-start", "sigterm-mid-run", "kill-9-group-mid-run"],
)
def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, clips, free_port, reference, how, when):
    config = _config(tmp_path, clips, free_port, gt=reference["gt"])
    process = _start(config)
    if when == "start":
        wait_for(lambda: (tmp_path / "out" / "status.json").is_file())  # the matcher is up
    else:
        wait_for(lambda: journal_size(config) >= reference["journal"] // 2)
    children = _children_of(process.pid)
    assert children, "no child process seen"
    if how == signal.SIGKILL:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)
        wait_for(lambda: not any(Path(f"/proc/{c}").exists() for c in children), timeout=30)  # no orphan
    else:
        process.send_signal(how)
        code, err = _finish(process, timeout=60)
        assert code == 128 + how, err
        assert "--resume" in err and "interrupted" in err
        assert not any(Path(f"/proc/{c}").exists() for c in children)
        status = json.loads((tmp_path / "out" / "status.json").read_text())
        assert status["state"] == "interrupted" and not status["complete"]
        assert not (tmp_path / "out" / "scores.json").exists()
    journal = journal_size(config)
    code, err = _finish(_start(config, "--resume"))
    assert code == 0, err
    assert journal_size(config) >= journal  # continued, not started over
    assert _sorted_submission(config) == reference["lines"]
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert scores == reference["scores"]
    assert json.loads((tmp_path / "out" / "status.json").read_text())["state"] == "complete"


def test_a_matcher_stopped_alone_is_restarted_and_a_busy_port_keeps_the_old_run(tmp_path, clips, free_port, reference):
    config = _config(tmp_path, clips, free_port, gt=reference["gt"])
    process = _start(config)
    wait_for(lambda: journal_size(config) >= reference["journal"] // 3)
    [matcher] = [p for p in _children_of(process.pid) if Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[3] == b"matcher"]
    os.kill(matcher, signal.SIGTERM)
    code, err = _finish(process)
    assert code == 0, err
    assert "matcher 1x" in err  # restarted, and the run went on to the end
    assert _sorted_submission(config) == reference["lines"]
    # Another run while the port is taken: it fails before touching the finished run.
    import socket

    journal = journal_size(config)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the old run's TIME_WAIT
        squatter.bind(("127.0.0.1", free_port))
        squatter.listen()
        code, err = _finish(_start(config))
    assert code == 2 and "already in use" in err
    assert journal_size(config) == journal and _sorted_submission(config) == reference["lines"]


def test_a_corrupt_stretch_of_video_is_skipped_reported_and_the_run_is_incomplete(tmp_path, clips, free_port):
    broken = tmp_path / "broken.mp4"
    data = bytearray(clips["street-a"].read_bytes())
    start, end = int(len(data) * 0.4), int(len(data) * 0.5)
    data[start:end] = os.urandom(end - start)
    broken.write_bytes(bytes(data))
    config = _config(tmp_path, {**clips, "street-a": broken}, free_port, gt=tmp_path / "gt.txt")
    (tmp_path / "gt.txt").write_text("")
    code, err = _finish(_start(config))
    assert code == 1, err
    assert "camera c001:" in err and "unreadable" in err and "skipped" in err
    status = json.loads((tmp_path / "out" / "status.json").read_text())
    assert status["state"] == "incomplete" and "c001" in status["lost_frames"]
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert "c001" in scores["incomplete"]["lost_frames"]
    frames = {int(line.split()[2]) for line in (tmp_path / "out" / "submission.txt").read_text().splitlines()
              if line.split()[0] == "1"}  # fmt: skip  (AI City rows: camera, id, frame, box...)
    assert max(frames) > FRAMES * 0.6  # frames after the corrupt stretch were tracked


def test_a_camera_whose_stream_never_answers_fails_the_run(tmp_path, clips, free_port):
    """Issue 32, point 3: beside a working camera, an RTSP camera that never answers makes the run
    incomplete, exit 1, the camera under "failed" with its reason on the terminal, in status.json
    and in scores.json (the order in which it was once reported done, its worker exiting after
    the matcher, is tested in test_runtime_supervisor)."""
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    config = _config(tmp_path, clips, free_port, gt=tmp_path / "gt.txt")
    text = config.read_text().replace(
        f"  - {{id: c002, source: {clips['street-b']}}}", f"  - {{id: c002, source: 'rtsp://127.0.0.1:{dead}/x', give_up_s: 3}}"
    )
    config.write_text(text)
    (tmp_path / "gt.txt").write_text("")
    code, err = _finish(_start(config))
    assert code == 1, err
    assert "mtmc run: error: camera c002:" in err and f"127.0.0.1:{dead}" in err
    status = json.loads((tmp_path / "out" / "status.json").read_text())
    assert status["state"] == "incomplete" and not status["complete"] and list(status["failed"]) == ["c002"]
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert list(scores["incomplete"]["failed"]) == ["c002"]
    assert (tmp_path / "out" / "state" / "c001.outbox").is_file()  # kept: only a complete run drops them
