"""The supervisor's bookkeeping with stand-in processes: what a camera's outcome is, whichever
process ends first, and what it hands its children (issue 32)."""

from __future__ import annotations

import sys
from pathlib import Path

from mtmc.config import CameraConfig, MtmcConfig
from mtmc.runtime.supervisor import Supervisor
from mtmc.transport.tokens import CAMERA_TOKEN_ENV, RUN_SECRET_ENV, camera_token

READY = "import sys; print('{\"dashboard\": null}', flush=True)"  # what a matcher says once it holds its ports


def _supervisor(tmp_path: Path) -> Supervisor:
    config = MtmcConfig(cameras=[CameraConfig(id="north", source="a.mp4"), CameraConfig(id="south", source="b.mp4")])
    return Supervisor(tmp_path / "city.yaml", config, tmp_path / "out")


def _stand_in(script: str):
    return lambda extra: [sys.executable, "-c", script]


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
