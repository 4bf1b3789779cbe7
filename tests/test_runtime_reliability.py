"""Reliability with real processes on loopback (DESIGN.md, "Reliability model"): a worker or the
matcher killed with SIGKILL mid-run is restarted, resumes, and the run ends with exactly the
submission of an uninterrupted run: no tracklet lost, none duplicated."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from helpers import short_clips

from mtmc.config import load_config
from mtmc.formats import read_mot
from mtmc.runtime.supervisor import Supervisor

FRAMES = 96


@pytest.fixture(scope="module")
def clips(data_dir, tmp_path_factory) -> dict[str, Path]:
    return short_clips(data_dir, tmp_path_factory.mktemp("clips"), FRAMES)


def _config(folder: Path, clips: dict[str, Path], mode: str, port: int, extra: str = "") -> Path:
    """The run's config file; ``extra``: more YAML sections (e.g. ``store:``)."""
    path = folder / "city.yaml"
    path.write_text(
        f"cameras:\n  - {{id: c001, source: {clips['street-a']}}}\n  - {{id: c002, source: {clips['street-b']}}}\n"
        "tracker: {name: deepsort-byte}\n"
        f"matcher: {{mode: {mode}, bind: 'tcp://127.0.0.1:{port}', publish: null, dashboard: null,\n"
        "          distances: [{name: geometric}, {name: continuity}]}\n"
        "worker: {update_every_s: 0.25, resend_s: 0.5, preview_every_s: 0}\n"
        "output: {dir: out, video: false}\n" + extra
    )
    return path


def _run(
    folder: Path, clips, mode: str, port: int, kill: str | None = None, extra: str = ""
) -> tuple[list[str], Supervisor]:
    folder.mkdir(parents=True, exist_ok=True)
    path = _config(folder, clips, mode, port, extra)
    config = load_config(path)
    supervisor = Supervisor(path, config, config.output.dir, threads=1)
    killed = threading.Event()
    last_seen: dict[str, tuple] = {}

    def watch(sup: Supervisor) -> None:
        last_seen.update({name: (w.frame, w.total, w.outcome) for name, w in sup.workers.items()})
        if kill is None or killed.is_set():
            return
        worker = sup.workers["c001"]
        if worker.frame >= FRAMES // 3:  # mid-run: after several commits, well before the end
            victim = sup.matcher if kill == "matcher" else worker
            victim.process.kill()
            killed.set()

    outcomes = supervisor.run(on_change=watch)
    assert outcomes == {"c001": "done", "c002": "done"}
    # the last callback shows every bar full and done (mtmc run's progress), whatever the throttle held back
    assert last_seen == {name: (FRAMES, FRAMES, "done") for name in ("c001", "c002")}
    if kill is not None:
        assert killed.is_set(), "the run ended before the kill"
    lines = sorted((config.output.dir / "submission.txt").read_text().splitlines())
    return lines, supervisor


@pytest.mark.parametrize("mode", ["offline", "online"])
def test_killed_worker_resumes_without_lost_or_duplicated_tracklets(tmp_path, clips, free_port, mode):
    started = time.monotonic()
    reference, _ = _run(tmp_path / "plain", clips, mode, free_port)
    interrupted, supervisor = _run(tmp_path / "killed", clips, mode, free_port, kill="worker")
    assert supervisor.workers["c001"].restarts == 1
    assert "resuming after frame" in supervisor.workers["c001"].log_path.read_text()
    assert len(reference) > 100
    assert len(set(interrupted)) == len(interrupted)  # no row twice
    assert interrupted == reference
    rows = read_mot(tmp_path / "killed" / "out" / "mot" / "c001.txt")
    assert rows.frame.max() <= FRAMES
    print(f"{mode}: {len(reference)} rows identical after kill -9 of a worker ({time.monotonic() - started:.1f} s)")


def test_killed_matcher_replays_its_journal_to_the_same_submission(tmp_path, clips, free_port):
    reference, _ = _run(tmp_path / "plain", clips, "online", free_port)
    interrupted, supervisor = _run(tmp_path / "killed", clips, "online", free_port, kill="matcher")
    assert supervisor.matcher_restarts == 1
    summary = supervisor.matcher.log_path.read_text().splitlines()[-1]
    assert "replayed 0" not in summary and "replayed" in summary  # the restarted matcher read its journal
    assert interrupted == reference
