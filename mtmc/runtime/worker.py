"""One camera's worker process: source -> detector -> (embedder) -> tracker -> (attributes) -> outbox -> matcher.

Every ``update_every_s`` of video the worker commits, in one outbox transaction, the messages of
that stretch and a checkpoint (tracker, emitter, frame number, the source's identity: a resumed
worker refuses a video replaced since, :mod:`mtmc.sources.identity`). So a worker killed at any moment
restarts from its last commit, recomputes the same frames to the same messages, and has never sent
anything it cannot stand behind. Messages leave the outbox only when the matcher acknowledges them
(go-back-N over a DEALER socket); the worker never waits for the matcher while frames come in.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtmc.camera import attributes_for_matcher, build_attributes, build_parts, detector_every, track_frame
from mtmc.config import CameraConfig, MtmcConfig
from mtmc.errors import MtmcError
from mtmc.runtime.emitter import TrackletEmitter
from mtmc.runtime.memory import release_free_memory, tune_heap
from mtmc.sources.identity import source_change, source_identity
from mtmc.transport.codec import Ack, Heartbeat, Preview, WireError, decode, encode
from mtmc.transport.outbox import Outbox
from mtmc.transport.tokens import worker_token_from_env

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 5  # 3: the emitter keeps attribute sums; 4: tracks keep the frame of their last feature;
# 5: tracks keep their last observation and recent centres (OC-SORT's options)
MAX_RESEND_S = 30.0


@dataclass
class WorkerReport:
    camera: str
    frames: int
    resumed_from: int
    messages: int
    unacked: int
    wall: float
    lost: str | None = None  # the source's unreadable frames, skipped, when any

    def summary(self) -> str:
        resumed = f", resumed after frame {self.resumed_from}" if self.resumed_from else ""
        left = f", {self.unacked} messages still in the outbox" if self.unacked else ""
        lost = f"; {self.lost}, skipped" if self.lost else ""
        return f"{self.camera}: {self.frames} frames in {self.wall:.1f} s{resumed}, {self.messages} messages{left}{lost}"


class OutboxSender:
    """Go-back-N over one DEALER socket: up to ``window`` messages in flight, cumulative acks,
    and a resend from the oldest unacknowledged message when acks stop for ``resend_s``. Each
    resend without progress doubles the wait (up to ``MAX_RESEND_S``), so an overloaded matcher is
    not buried under duplicates of what it has not yet read."""

    def __init__(
        self, socket: Any, outbox: Outbox, camera: int, window: int, resend_s: float,
        clock: Callable[[], float] = time.monotonic, token: bytes | None = None,
    ) -> None:  # fmt: skip
        self.socket, self.outbox, self.camera = socket, outbox, camera
        self.token = token  # the run token sent before every message (mtmc.transport.tokens)
        self.window, self.resend_s, self.clock = window, resend_s, clock
        self.sent_through = outbox.acked_through
        self.waiting_since = clock()
        self.wait_s = resend_s
        self.resends = 0

    def pump(self) -> None:
        import zmq

        while self.socket.poll(0):
            try:
                message = decode(self.socket.recv())
            except WireError as exc:
                log.warning("camera %d: %s", self.camera, exc)
                continue
            if isinstance(message, Ack) and message.camera == self.camera:
                through = min(message.through, self.outbox.next_number - 1)
                if through > self.outbox.acked_through:
                    self.outbox.ack_through(through)
                    self.waiting_since = self.clock()
                    self.wait_s = self.resend_s
        acked = self.outbox.acked_through
        self.sent_through = max(self.sent_through, acked)
        if self.sent_through > acked and self.clock() - self.waiting_since > self.wait_s:
            self.sent_through = acked  # go back: the matcher lost or refused what followed
            self.resends += 1
            self.wait_s = min(2 * self.wait_s, MAX_RESEND_S)
        room = self.window - (self.sent_through - acked)
        if room <= 0:
            return
        for number, payload in self.outbox.pending(self.sent_through, room):
            if self.sent_through == self.outbox.acked_through:
                self.waiting_since = self.clock()
            try:
                self._send(payload)
            except zmq.Again:  # no connection or the high-water mark: the outbox keeps it
                break
            self.sent_through = number

    def send_now(self, payload: bytes) -> None:
        """Best effort, for messages that are not journaled (heartbeats, previews)."""
        import zmq

        try:
            self._send(payload)
        except zmq.Again:
            pass

    def _send(self, payload: bytes) -> None:
        import zmq

        if self.token is None:
            self.socket.send(payload, zmq.NOBLOCK)
        else:
            self.socket.send_multipart([self.token, payload], zmq.NOBLOCK)


def _preview(camera: int, frame: Any, tracks: np.ndarray, width: int) -> Preview:
    import cv2

    image = frame.image
    scale = min(1.0, width / image.shape[1])
    if scale < 1.0:
        image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)))
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 70])
    boxes = tracks[:, :4] * scale
    return Preview(
        camera, frame.index, frame.timestamp, jpeg.tobytes(),
        np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]), tracks[:, 4].astype(np.int64),
    )  # fmt: skip


class Worker:
    """One camera, end to end. ``run`` processes frames until the source ends (or resumes first)."""

    def __init__(self, camera: CameraConfig, config: MtmcConfig, state_dir: Path, endpoint: str) -> None:
        self.camera, self.config, self.endpoint = camera, config, endpoint
        state_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(state_dir / f"{camera.id}.outbox", max_bytes=int(config.worker.outbox_max_mb * 2**20))

    def _checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint to resume from, None to start; refuses (outbox closed, untouched) one of
        another mtmc version, or one taken from another file than the camera's source now."""
        blob = self.outbox.checkpoint()
        if blob is None:
            return None
        state: dict[str, Any] = pickle.loads(blob)
        refusal = None
        if state.get("version") != CHECKPOINT_VERSION:
            refusal = f"{self.outbox.path}: checkpoint of another mtmc version (delete it to start the camera over)"
        elif state.get("source") is not None and (change := source_change(state["source"], self.camera.source)):
            # A single outbox cannot be deleted to start this camera over: the matcher has journaled
            # what it sent, and would take the new file's first messages for those and drop them.
            refusal = (
                f"camera {self.camera.id}: {self.camera.source} is not the source this camera started from "
                f"({change}), so it is not resumed: put the original back to resume, or start the whole run over "
                f"with `mtmc run CONFIG` without --resume (this camera cannot start over alone: the matcher "
                f"holds what it sent from the original)"
            )
        if refusal is not None:
            self.outbox.close()
            raise MtmcError(refusal)
        return state

    def run(self, threads: int = 1, on_frame: Callable[[int, int | None], None] | None = None) -> WorkerReport:
        import zmq

        from mtmc.runtime.config import transport_security
        from mtmc.sources.stream import is_stream_url
        from mtmc.transport.sockets import connection_id, stop_authenticator, worker_socket

        started = time.monotonic()
        settings = self.config.worker
        state = self._checkpoint()  # before the models load: a refusal is said at once
        identity = source_identity(self.camera.source)  # kept in every checkpoint
        tune_heap()  # before the models start their threads (mtmc.runtime.memory)
        source, detector, tracker, embedder = build_parts(self.camera, self.config, threads)
        classifier = build_attributes(self.config, threads)
        release_free_memory()  # what loading the models freed (parsed model files, compile buffers)
        every = self.config.attributes.every if self.config.attributes is not None else 1
        every_nth = detector_every(self.config)
        emitter = TrackletEmitter(self.camera.number)
        resumed_from, done, lost_before = 0, False, []
        if state is not None:
            tracker, emitter, resumed_from, done = state["tracker"], state["emitter"], state["frame"], state["done"]
            lost_before = state.get("lost", [])
            log.warning("%s: resuming after frame %d (%d messages unacknowledged)", self.camera.id, resumed_from, len(self.outbox))
        context = zmq.Context()
        socket = worker_socket(context, self.endpoint, connection_id(self.camera.id), transport_security(self.config.security))
        sender = OutboxSender(
            socket, self.outbox, self.camera.number, settings.window, settings.resend_s,
            token=worker_token_from_env(self.camera.id),
        )  # fmt: skip
        live = is_stream_url(self.camera.source)
        wall_base = time.time() if live else 0.0  # live: the global clock is the wall
        last_frame = resumed_from
        messages = 0
        next_commit: float | None = None
        next_beat = next_preview = 0.0

        def lost() -> list[int]:
            return sorted(set(lost_before) | set(source.lost_frames))

        def commit(final: bool = False) -> None:
            nonlocal messages
            batches = emitter.flush(self.outbox.next_number, done=final)
            state = {
                "version": CHECKPOINT_VERSION, "tracker": tracker, "emitter": emitter, "frame": last_frame, "done": final,
                "lost": lost(), "source": identity,
            }  # fmt: skip
            self.outbox.commit([encode(b) for b in batches], checkpoint=pickle.dumps(state))
            messages += len(batches)
            release_free_memory()

        error: MtmcError | None = None
        try:
            if not done:
                total = source.expected_frames()
                try:
                    for frame in source:
                        if live:  # a reopened stream counts from 1 again: number on from the checkpoint
                            frame = dataclasses.replace(frame, index=resumed_from + frame.index)
                        elif frame.index <= resumed_from:  # a file replays its frames: skip those done
                            continue
                        time_s = self.camera.offset_s + wall_base + frame.timestamp
                        detections, embeddings, tracks = track_frame(frame, detector, embedder, tracker, every_nth)
                        alive = tracker.alive_ids() if hasattr(tracker, "alive_ids") else None
                        scores = None
                        if classifier is not None:
                            scores = attributes_for_matcher(classifier, frame.image, detections, tracks, frame.index, every)
                        emitter.add(frame.index, time_s, tracks, embeddings, alive, scores, image=frame.image)
                        last_frame = frame.index
                        if next_commit is None:
                            next_commit = time_s + settings.update_every_s
                        if time_s >= next_commit:
                            commit()
                            next_commit = time_s + settings.update_every_s
                        now = time.monotonic()
                        if settings.preview_every_s and now >= next_preview:
                            sender.send_now(encode(_preview(self.camera.number, frame, tracks, settings.preview_width)))
                            next_preview = now + settings.preview_every_s
                        if now >= next_beat:
                            sender.send_now(encode(Heartbeat(self.camera.number, time.time(), emitter.frames_done, len(self.outbox))))
                            next_beat = now + settings.heartbeat_s
                        sender.pump()
                        if on_frame is not None:
                            on_frame(frame.index, total)
                except MtmcError as exc:  # the stream gave up: keep what was computed, then say so
                    error = exc
                emitter.end_all()
                commit(final=True)
            if on_frame is not None and last_frame:  # every frame is read: the bar ends full now, not after
                on_frame(last_frame, last_frame)  # the drain (mtmc run may stop a draining worker once its matcher ends)
            deadline = time.monotonic() + settings.drain_timeout_s
            while len(self.outbox) and time.monotonic() < deadline:
                sender.pump()
                socket.poll(50)
                if time.monotonic() >= next_beat:  # still alive: the matcher keeps this camera's claim
                    sender.send_now(encode(Heartbeat(self.camera.number, time.time(), emitter.frames_done, len(self.outbox))))
                    next_beat = time.monotonic() + settings.heartbeat_s
        finally:
            socket.close(linger=0)
            stop_authenticator(context)
            context.term()
            unacked = len(self.outbox)
            self.outbox.close()
        source.lost_frames = lost()
        report = WorkerReport(
            self.camera.id, emitter.frames_done, resumed_from, messages, unacked, time.monotonic() - started,
            source.lost_summary() or None,
        )  # fmt: skip
        if error is not None:
            raise error
        if unacked:
            raise MtmcError(
                f"camera {self.camera.id}: the matcher at {self.endpoint} did not acknowledge {unacked} messages within "
                f"{settings.drain_timeout_s:g} s; they stay in the outbox and are sent when this worker runs again"
            )
        return report
