"""The supervisor's bookkeeping with stand-in processes: what a camera's outcome is, whichever
process ends first, and what it hands its children (issue 32)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mtmc.config import CameraConfig, MtmcConfig
from mtmc.errors import MtmcError
from mtmc.runtime.supervisor import Supervisor
from mtmc.transport.tokens import CAMERA_TOKEN_ENV, RUN_SECRET_ENV, camera_token

from helpers import tiny_video

READY = "import sys; print('{\"dashboard\": null}', flush=True)"  # what a matcher says once it holds its ports


def _supervisor(tmp_path: Path) -> Supervisor:
    config = MtmcConfig(cameras=[CameraConfig(id="north", source="a.mp4"), CameraConfig(id="south", source="b.mp4")])
    return Supervisor(tmp_path / "city.yaml", config, tmp_path / "out")


def _stand_in(script: str):
    return lambda extra: [sys.executable, "-c", script]


def _matcher_stops(supervisor: Supervisor, script: str) -> MtmcError:
    """Run ``supervisor`` with a stand-in matcher (``script``) and workers that would run long: the
    error the run stops with."""
    supervisor.matcher.command = _stand_in(script)
    for worker in supervisor.workers.values():
        worker.command = _stand_in("import time; time.sleep(30)")
    with pytest.raises(MtmcError) as error:
        supervisor.run()
    return error.value


def test_a_camera_that_fails_after_the_matcher_ended_is_failed_not_done(tmp_path) -> None:
    """The matcher ends once every camera sent its last batch; a camera whose stream gave up sends
    one too, then exits with its error. Seen after the matcher's exit, it was once called done."""
    supervisor = _supervisor(tmp_path)
    supervisor.matcher.command = _stand_in(READY)
    supervisor.workers["north"].command = _stand_in("pass")
    supervisor.workers["south"].command = _stand_in(
        "import sys, time; time.sleep(1.5); "
        "print('mtmc worker: error: stream rtsp://127.0.0.1:9/x unreachable', file=sys.stderr); sys.exit(2)"
    )
    outcomes = supervisor.run()
    assert outcomes == {"north": "done", "south": "mtmc worker: error: stream rtsp://127.0.0.1:9/x unreachable"}


def test_the_run_secret_reaches_the_matcher_and_each_worker_only_its_token_never_argv(tmp_path) -> None:
    supervisor = _supervisor(tmp_path)
    secret = bytes.fromhex(supervisor.matcher.env[RUN_SECRET_ENV])
    for name, worker in supervisor.workers.items():
        assert worker.env == {CAMERA_TOKEN_ENV: camera_token(secret, name).hex()}
        assert not any(secret.hex() in arg or worker.env[CAMERA_TOKEN_ENV] in arg for arg in worker.command([]))
    assert camera_token(secret, "north") != camera_token(secret, "south")
    assert _supervisor(tmp_path).matcher.env != supervisor.matcher.env  # a new secret each run


def test_a_matcher_that_stops_mid_run_is_told_as_stopped_with_its_last_line(tmp_path) -> None:
    """It crashes once it served; its restart fails: not "the matcher did not start"."""
    marker = tmp_path / "started-once"
    supervisor = _supervisor(tmp_path)
    error = _matcher_stops(
        supervisor,
        f"import pathlib, sys, time; p = pathlib.Path({str(marker)!r})\n"
        "if p.exists(): print('OSError: [Errno 5] Input/output error', file=sys.stderr); sys.exit(1)\n"
        "p.touch(); print('{\"dashboard\": null}', flush=True); time.sleep(0.3)\n"
        "print('Traceback (most recent call last):', file=sys.stderr); print('MemoryError', file=sys.stderr); sys.exit(1)",
    )
    assert str(error) == (
        "the matcher stopped (exit 1: MemoryError) and did not start again: OSError: [Errno 5] Input/output error "
        f"(see {tmp_path / 'out' / 'logs' / 'matcher.log'})"
    )
    assert all(w.process.poll() is not None for w in supervisor.workers.values())  # nothing left running


def test_the_matchers_fatal_error_reaches_the_supervisor_when_its_log_cannot_be_written(tmp_path) -> None:
    supervisor = _supervisor(tmp_path)
    supervisor.matcher.log_path = Path("/dev/full")  # every write: No space left on device
    error = _matcher_stops(
        supervisor,
        READY + "; print('mtmc matcher: error: cannot write the journal /x/matcher.journal: No space left on device', "
        "file=sys.stderr); sys.exit(2)",
    )
    assert str(error) == (
        "the matcher stopped: mtmc matcher: error: cannot write the journal /x/matcher.journal: No space left on "
        "device (its log could not be written: /dev/full: No space left on device)"
    )


def test_a_failed_run_ends_with_status_failed_and_its_reason(tmp_path, monkeypatch, capsys, free_port) -> None:
    import mtmc.progress
    from mtmc.cli import main

    video = tiny_video(tmp_path / "a.mp4")
    (tmp_path / "city.yaml").write_text(
        f"cameras: [{{id: north, source: {video}}}]\nmatcher: {{publish: null, dashboard: null, bind: 'tcp://127.0.0.1:{free_port}'}}\n"
        "output: {dir: out}\n"
    )

    def stopped(supervisor, quiet):
        raise MtmcError("the matcher stopped: MemoryError (see out/logs/matcher.log)")

    monkeypatch.setattr(mtmc.progress, "supervise_with_bars", stopped)
    assert main(["run", str(tmp_path / "city.yaml"), "-q"]) == 2
    assert capsys.readouterr().err.strip().endswith("mtmc run: error: the matcher stopped: MemoryError (see out/logs/matcher.log)")
    status = json.loads((tmp_path / "out" / "status.json").read_text())
    assert status["state"] == "failed" and not status["complete"]
    assert status["why"] == "the matcher stopped: MemoryError (see out/logs/matcher.log)"
