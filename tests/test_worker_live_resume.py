"""A live worker restarted from its checkpoint numbers frames on from it (issue 17 follow-up):
a reopened stream counts from 1 again, and skipping "frames already done" by that count would
drop as many live frames as the worker had processed before its restart."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from mtmc.config import CameraConfig, MtmcConfig
from mtmc.errors import MtmcError
from mtmc.runtime import worker as worker_module
from mtmc.sources.base import Frame


class _Stream:
    lost_frames: list[int] = []

    def expected_frames(self) -> None:
        return None

    def lost_summary(self) -> str:
        return ""

    def __iter__(self):
        for k in range(1, 6):  # every (re)open starts at frame 1
            yield Frame(k, (k - 1) / 5, np.zeros((8, 8, 3), np.uint8))


class _Detector:
    def detect_frame(self, index: int, image: np.ndarray) -> np.ndarray:
        return np.zeros((0, 6))


class _Tracker:
    def __init__(self) -> None:
        self.frames: list[int] = []

    def update(self, detections, embeddings, frame: int) -> np.ndarray:
        self.frames.append(frame)
        return np.zeros((0, 8))


def test_a_restarted_live_worker_numbers_frames_on_from_its_checkpoint(tmp_path, monkeypatch, free_port) -> None:
    monkeypatch.setattr(worker_module, "build_parts", lambda *a: (_Stream(), _Detector(), _Tracker(), None))
    camera = CameraConfig(id="gate", source="rtsp://127.0.0.1:9/live")
    config = MtmcConfig(cameras=[camera], worker={"drain_timeout_s": 0.1}, embedder=None)
    frames = []
    for _ in range(2):  # no matcher: each run ends with its messages left in the outbox, as after a crash
        with pytest.raises(MtmcError, match="did not acknowledge"):
            worker_module.Worker(config.cameras[0], config, tmp_path, f"tcp://127.0.0.1:{free_port}").run()
        outbox = worker_module.Outbox(tmp_path / "gate.outbox")
        state = pickle.loads(outbox.checkpoint())
        outbox.close()
        frames.append(state["frame"])
        state["done"] = False  # a live stream that drops: the next run reads it again
        outbox = worker_module.Outbox(tmp_path / "gate.outbox")
        outbox.commit([], checkpoint=pickle.dumps(state))
        outbox.close()
    assert frames == [5, 10]
