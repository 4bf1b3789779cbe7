"""A live worker restarted from its checkpoint numbers frames on from it (issue 17 follow-up):
a reopened stream counts from 1 again, and skipping "frames already done" by that count would
drop as many live frames as the worker had processed before its restart. A file's worker resumes
only on the file it started (issue 32): a video replaced in between is refused."""

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


def _run_without_matcher(config: MtmcConfig, state_dir, port: int) -> None:
    """One worker run that ends, as after a crash, with its messages left in the outbox."""
    with pytest.raises(MtmcError, match="did not acknowledge"):
        worker_module.Worker(config.cameras[0], config, state_dir, f"tcp://127.0.0.1:{port}").run()


def _outbox_contents(path) -> tuple[bytes | None, list[tuple[int, bytes]]]:
    outbox = worker_module.Outbox(path)
    try:
        return outbox.checkpoint(), outbox.pending(0, 10_000)
    finally:
        outbox.close()


def test_a_resumed_worker_refuses_a_video_replaced_since_its_checkpoint(tmp_path, monkeypatch, free_port) -> None:
    video = tmp_path / "gate.mp4"
    video.write_bytes(b"original video" * 100)
    monkeypatch.setattr(worker_module, "build_parts", lambda *a: (_Stream(), _Detector(), _Tracker(), None))
    config = MtmcConfig(cameras=[CameraConfig(id="gate", source=str(video))], worker={"drain_timeout_s": 0.1}, embedder=None)
    state_dir = tmp_path / "state"
    _run_without_matcher(config, state_dir, free_port)
    kept = _outbox_contents(state_dir / "gate.outbox")
    assert pickle.loads(kept[0])["frame"] == 5 and kept[1]

    for replacement, change in [
        (b"another video!" * 100, "same size, different content"),
        (b"original video" * 101, "size 1400 -> 1414 bytes"),
    ]:
        video.write_bytes(replacement)
        with pytest.raises(MtmcError) as refused:
            worker_module.Worker(config.cameras[0], config, state_dir, f"tcp://127.0.0.1:{free_port}").run()
        message = str(refused.value)
        assert "\n" not in message and message.startswith(f"camera gate: {video} is not the source")
        assert f"({change})" in message and "`mtmc run CONFIG` without --resume" in message
        assert _outbox_contents(state_dir / "gate.outbox") == kept  # nothing computed is lost

    video.write_bytes(b"original video" * 100)  # the original back: it resumes
    _run_without_matcher(config, state_dir, free_port)


def test_a_checkpoint_without_a_source_identity_still_resumes(tmp_path, monkeypatch, free_port) -> None:
    """A checkpoint written before identities were kept resumes as before, unchecked."""
    video = tmp_path / "gate.mp4"
    video.write_bytes(b"original video")
    monkeypatch.setattr(worker_module, "build_parts", lambda *a: (_Stream(), _Detector(), _Tracker(), None))
    config = MtmcConfig(cameras=[CameraConfig(id="gate", source=str(video))], worker={"drain_timeout_s": 0.1}, embedder=None)
    _run_without_matcher(config, tmp_path, free_port)
    outbox = worker_module.Outbox(tmp_path / "gate.outbox")
    state = pickle.loads(outbox.checkpoint())
    assert state["source"] is not None
    del state["source"]
    outbox.commit([], checkpoint=pickle.dumps(state))
    outbox.close()
    video.write_bytes(b"another video!")
    _run_without_matcher(config, tmp_path, free_port)


def test_the_progress_bar_ends_full_before_the_drain(tmp_path, monkeypatch, free_port) -> None:
    """mtmc run may stop a worker still draining once the matcher has ended: the last progress call
    (every frame read, the bar full) comes before the drain, not after it."""
    video = tmp_path / "gate.mp4"
    video.write_bytes(b"a video")
    monkeypatch.setattr(worker_module, "build_parts", lambda *a: (_Stream(), _Detector(), _Tracker(), None))
    config = MtmcConfig(cameras=[CameraConfig(id="gate", source=str(video))], worker={"drain_timeout_s": 0.1}, embedder=None)
    calls: list[tuple[int, int | None]] = []
    with pytest.raises(MtmcError, match="did not acknowledge"):  # no matcher: the drain never ends well
        worker_module.Worker(config.cameras[0], config, tmp_path, f"tcp://127.0.0.1:{free_port}").run(on_frame=lambda f, t: calls.append((f, t)))
    assert calls[-1] == (5, 5) and [f for f, _ in calls[:-1]] == [1, 2, 3, 4, 5]


def test_the_heap_is_tuned_before_the_models_start_their_threads(tmp_path, monkeypatch, free_port) -> None:
    from mtmc.runtime.memory import tune_heap

    tune_heap()  # glibc: mallopt; elsewhere a no-op, never an error
    video = tmp_path / "gate.mp4"
    video.write_bytes(b"a video")
    order: list[str] = []
    monkeypatch.setattr(worker_module, "tune_heap", lambda: order.append("heap"))

    def parts(*args):
        order.append("models")
        return _Stream(), _Detector(), _Tracker(), None

    monkeypatch.setattr(worker_module, "build_parts", parts)
    config = MtmcConfig(cameras=[CameraConfig(id="gate", source=str(video))], worker={"drain_timeout_s": 0.1}, embedder=None)
    _run_without_matcher(config, tmp_path, free_port)
    assert order == ["heap", "models"]
