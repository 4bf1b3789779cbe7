"""The central matcher: receives every camera's numbered messages, journals them, acknowledges
them, and turns ended tracklets into global identities (online or offline, one association core).

``MatchState`` is everything the matcher knows and is rebuilt exactly by replaying the journal, so
a matcher killed at any moment and restarted ends with the same ids as one that never stopped:
messages are applied per camera strictly in their numbered order, and online decisions are taken
on the data's clock (behind every camera's progress mark), never on the wall clock.
"""

from __future__ import annotations

import gc
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtmc.config import MtmcConfig
from mtmc.errors import MtmcError
from mtmc.match.distances import Scene
from mtmc.match.evidence import UNCALIBRATED, AppearanceCalibration
from mtmc.match.geometry import ground_maps
from mtmc.runtime.refusals import Refusals
from mtmc.runtime.results import ResultWriter
from mtmc.runtime.validation import BatchScreen
from mtmc.transport.codec import (
    MAX_MESSAGE_BYTES,
    Ack,
    Batch,
    Heartbeat,
    Preview,
    TrackletBuilder,
    UpdateGap,
    WireError,
    decode,
    encode,
)
from mtmc.types import Tracklet

log = logging.getLogger(__name__)

# The matcher's state is acyclic (arrays, dataclasses, dicts). At 10,000 messages a second the
# cyclic collector's default trigger (700 new objects) ran it hundreds of times a second, walking
# the window for nothing: a third of the decoding time. Rare collections still catch any cycle.
GC_THRESHOLDS = (100_000, 50, 100)

def scene_of(config: MtmcConfig) -> Scene:
    """The cameras' ground maps, in metres: GPS calibrations around one origin for the whole run."""
    return Scene(ground_maps(config.cameras))


LEARNT_TOPOLOGY = "topology.learnt.yaml"  # OUT/: the camera network a run without a topology learnt


def appearance_of(config: MtmcConfig) -> AppearanceCalibration | None:
    """The run's appearance calibration: ``matcher.calibration`` when given, else its embedder's
    (None: motion only). An uncalibrated embedder is said once in the log, with how to calibrate it."""
    embedder = None if config.embedder is None else config.embedder.model_dump(mode="json")
    return calibration_of(config.matcher.calibration, embedder)


def calibration_of(given: Path | None, embedder: dict | None) -> AppearanceCalibration | None:
    """``given`` (a calibration YAML, or a manifest weights name) or else ``embedder``'s calibration;
    says in the log where it came from."""
    from mtmc.reid.calibration import appearance_calibration

    if given is not None:
        embedder = {"name": "reid", **({"calibration": str(given)} if given.is_file() else {"weights": given.name})}
    calibration, source = appearance_calibration(embedder)
    if given is not None and calibration is UNCALIBRATED:
        raise MtmcError(
            f"matcher.calibration: {given} is neither a calibration file nor a weights name with a calibration "
            f"in the manifest (make one: mtmc reid calibrate WEIGHTS DATA -o {given.name}.calibration.yaml)"
        )
    if calibration is UNCALIBRATED:
        log.warning("appearance: %s", source)
    elif calibration is not None:
        log.info("appearance calibration: %s", source)
    return calibration


@dataclass
class Assignment:
    """A global id given (``assign``) or changed (``revise``) for one tracklet, last seen at data
    time ``time_s``."""

    key: tuple[int, int]
    global_id: int
    kind: str
    time_s: float = field(default=math.nan, compare=False)


@dataclass
class MatchState:
    """Tracklets being built, per-camera progress, and the association; no sockets, no clocks."""

    config: MtmcConfig
    writer: ResultWriter
    through: dict[int, int] = field(default_factory=dict)
    closed: dict[int, float] = field(default_factory=dict)
    active: dict[tuple[int, int], TrackletBuilder] = field(default_factory=dict)
    ended: list[Tracklet] = field(default_factory=list)  # offline mode only
    applied: int = 0
    rejected: int = 0
    store: Any = None  # a SightingStore: each ended tracklet, its id once decided, merges relabelled

    def __post_init__(self) -> None:
        self.through = {c.number: 0 for c in self.config.cameras}
        self.closed = {c.number: -math.inf for c in self.config.cameras}
        self._lowest = -math.inf  # min(self.closed.values()), recomputed only when a camera at it moves
        self.scene = scene_of(self.config)
        self.scene.appearance = appearance_of(self.config)
        self.topology = topology_of(self.config)
        self.seed = seed_of(self.config)
        self.names = {c.number: c.id for c in self.config.cameras}
        self.online = None
        self.learner = None  # the camera network learnt from the run (no topology given): NetworkLearner
        if self.config.matcher.mode == "online":
            from mtmc.match.online import OnlineAssociator

            self.online = OnlineAssociator(self.config.matcher, self.scene, self.topology, self.seed, self.names)
            self.learner = self.online.learner
        self.watermark = -math.inf
        self.screen = BatchScreen(*run_message_shape(self.config))
        # live tracklets as last read for provisional answers, and those updated since: a cache
        # read only by ``provisional`` (nothing decided depends on it, so replay need not rebuild it)
        self._so_far: dict[tuple[int, int], Tracklet] = {}
        self._updated: set[tuple[int, int]] = set()
        self.live_changed = False  # a live tracklet grew or a decision came since ``provisional``

    def verdict(self, message: Batch, expected: int) -> str:
        """``next`` (apply it), ``duplicate`` (already applied: ack again) or ``gap`` (wait for a resend)."""
        if message.number == expected:
            return "next"
        return "duplicate" if message.number < expected else "gap"

    @property
    def finished(self) -> bool:
        return self._lowest == math.inf

    def apply(self, batch: Batch, allow_gap: bool = False) -> list[Assignment]:
        """Apply the camera's next batch (screened: :class:`BatchScreen`); what the association
        decided because of it. ``allow_gap``: a replayed journal may lack a record it could not read."""
        camera = batch.camera
        if batch.number != self.through[camera] + 1 and not (allow_gap and batch.number > self.through[camera]):
            raise ValueError(f"camera {camera}: batch {batch.number} applied after {self.through[camera]}")
        self.through[camera] = batch.number
        self.applied += 1
        for update in batch.updates:
            key = (camera, update.track)
            builder = self.active.get(key) or TrackletBuilder(camera, update.track, spill_dir=self.writer.out_dir)
            try:
                builder.add(update)
            except UpdateGap as exc:  # only a worker bug gets here: say so, keep serving the others
                log.error("%s", exc)
                self.rejected += 1
                continue
            if not builder.ended:
                self.active[key] = builder
                self._updated.add(key)
                self.live_changed = True
                continue
            self.active.pop(key, None)
            self._so_far.pop(key, None)
            self._updated.discard(key)
            self.live_changed = True
            self._ended(builder.tracklet())
        before = self.closed[camera]
        self.closed[camera] = math.inf if batch.done else max(before, batch.closed_s)
        if before <= self._lowest:  # this camera held the minimum (maybe with others): recompute
            self._lowest = min(self.closed.values())
        watermark = self._lowest
        if self.online is None or watermark <= self.watermark:
            return []
        self.watermark = watermark
        return self._decided(*(self.online.finish() if self.finished else self.online.advance(watermark)))

    def provisional(self) -> dict[tuple[int, int], int | None]:
        """Online mode: the identity each live tracklet would join if decided now
        (``OnlineAssociator.provisional``; None: a new one), for the dashboard; only the tracklets
        updated since the last call are read again. Changes nothing the decisions depend on."""
        self.live_changed = False
        if self.online is None:
            return {}
        for key in self._updated:
            builder = self.active.get(key)
            live = None if builder is None else builder.so_far()
            if live is None:
                self._so_far.pop(key, None)
            else:
                live.thumbnail = None
                self._so_far[key] = live
        self._updated.clear()
        return self.online.provisional(list(self._so_far.values()))

    def _ended(self, tracklet: Tracklet) -> None:
        if self.store is not None:
            self.store.record(tracklet)
        tracklet.thumbnail = None  # the store keeps it; the matcher's memory need not
        if self.online is None:
            self.ended.append(tracklet)
        else:
            self.online.add(tracklet)

    def _final(self, tracklet: Tracklet, global_id: int) -> None:
        """A tracklet whose id will not change again: out to the files."""
        self.writer.write(tracklet, global_id)

    def _decided(self, decisions: list, finalised: list[tuple[Tracklet, int]]) -> list[Assignment]:
        self.live_changed = self.live_changed or bool(decisions)
        for tracklet, global_id in sorted(finalised, key=lambda item: item[0].start):
            self._final(tracklet, global_id)
        if self.store is not None:
            self._store_decisions(decisions)
        return [Assignment(tuple(d.key), d.global_id, d.kind, d.end_s) for d in decisions]

    def _store_decisions(self, decisions: list) -> None:
        """``assign``: the sighting takes its id; ``revise`` (a merge): every sighting of the key's
        old identity takes the new id, the final ones too, so none keeps a stale id."""
        for d in decisions:
            if d.kind == "assign":
                self.store.assign(d.key, d.global_id)
                continue
            old = self.store.matcher_id(d.key)  # its own grouping: people's corrections apply over it
            if old is not None and old != d.global_id:
                self.store.relabel({old: d.global_id})

    def close_all(self) -> list[Assignment]:
        """The run is stopped early: every tracklet being built ends here, every camera is done."""
        for key in sorted(self.active):
            self._ended(self.active[key].tracklet(ended=True))
        self.active.clear()
        self._so_far.clear()
        self._updated.clear()
        self.closed = dict.fromkeys(self.closed, math.inf)
        self._lowest = math.inf
        return [] if self.online is None else self._decided(*self.online.finish())

    def finish_offline(self) -> None:
        """Offline mode, once every camera is done: cluster all tracklets and write them."""
        from mtmc.match.files import global_ids
        from mtmc.match.offline import associate, network_for

        tracklets = sorted(self.ended, key=lambda t: t.key)
        if self.topology is None:
            self.learner = network_for(tracklets, self.config.matcher, self.scene, self.seed, self.names)
        labels = associate(tracklets, self.config.matcher, self.scene, self.topology, self.learner)
        ids = global_ids(tracklets, labels).tolist()
        for k in np.argsort([t.start for t in tracklets], kind="stable").tolist():
            self._final(tracklets[k], int(ids[k]))
            if self.store is not None:
                self.store.assign(tracklets[k].key, int(ids[k]))


def store_of(config: MtmcConfig, out_dir: Path) -> Any:
    """The sightings store the config asks for (None: ``store.enabled: false``), not yet opened."""
    settings = config.store
    if not settings.enabled:
        return None
    from mtmc.reid.attributes import VEHICLE_ATTRIBUTES
    from mtmc.store import open_store

    embedder = None if config.embedder is None else config.embedder.model_dump(mode="json")
    return open_store(
        settings, out_dir, cameras={c.number: c.id for c in config.cameras}, labels=VEHICLE_ATTRIBUTES, embedder=embedder
    )  # fmt: skip


def max_message_bytes(config: MtmcConfig) -> int:
    """The largest message the matcher's socket takes: a batch (the codec's bound) or a preview of
    ``worker.preview_width`` (its JPEG bounded by its pixels, as ``_preview_fits`` checks); a peer
    sending more is disconnected by ZeroMQ before the message is held in memory."""
    width = config.worker.preview_width
    return max(MAX_MESSAGE_BYTES, width * 2 * width + (64 << 10))


def run_message_shape(config: MtmcConfig) -> tuple[int | None, dict[str, int]]:
    """What the run's workers send: the embedder's feature length (0: no embedder, so no feature;
    None: not known from its files) and the sizes of the attributes its model gives."""
    from mtmc.reid.attributes import ATTRIBUTE_NAMES, VEHICLE_ATTRIBUTES
    from mtmc.reid.embedder import feature_dim_of

    dim = 0
    if config.embedder is not None:
        dim = feature_dim_of(config.embedder.name, **config.embedder.options())
    names = () if config.attributes is None else ATTRIBUTE_NAMES.get(config.attributes.name, ())
    return dim, {name: len(VEHICLE_ATTRIBUTES[name]) for name in names if name in VEHICLE_ATTRIBUTES}


def topology_of(config: MtmcConfig, strict: bool = True) -> Any:
    """The config's topology with its links' cameras by number (``TopologyConfig.by_number``);
    ``strict``: a link naming a camera the config does not have is an error."""
    from mtmc.match.config import TopologyConfig

    topology = config.topology
    if topology is not None and not isinstance(topology, TopologyConfig):
        topology = read_topology(topology)
    # links name cameras; the gates read them by AI City number
    return None if topology is None else topology.by_number({c.id: c.number for c in config.cameras}, strict)


def seed_of(config: MtmcConfig) -> Any:
    """``matcher.network.seed`` (an earlier run's learnt network) by camera number, or None."""
    seed = config.matcher.network.seed
    if seed is None:
        return None
    return read_topology(seed).by_number({c.id: c.number for c in config.cameras}, strict=False)


def read_topology(path: Path) -> Any:
    """A topology YAML (``links``, ``exclusive_views``, ``complete``; other keys, as SynthCity's
    ``cameras``, ignored)."""
    import yaml

    from mtmc.match.config import TopologyConfig

    if not Path(path).is_file():
        raise MtmcError(f"topology file not found: {path} (check topology: in the config)")
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise MtmcError(f"{path}: expected a mapping with links:")
    try:
        return TopologyConfig.model_validate({k: data[k] for k in ("links", "exclusive_views", "complete", "overlaps") if k in data})
    except ValueError as exc:
        raise MtmcError(f"{path}: not a valid topology ({str(exc).splitlines()[0]})") from None


@dataclass
class Stats:
    """What the matcher counts for its log, its dashboard and its live feed."""

    received: int = 0
    dropped: Counter = field(default_factory=Counter)
    latencies: deque = field(default_factory=lambda: deque(maxlen=20000))
    ended_at: dict[tuple[int, int], float] = field(default_factory=dict)
    beats: dict[int, tuple[int, float]] = field(default_factory=dict)
    told: set = field(default_factory=set)  # refusals already logged once
    disconnections: int = 0

    def latency(self, q: float) -> float | None:
        return float(np.quantile(np.fromiter(self.latencies, float), q)) if self.latencies else None


class MatcherService:
    """Sockets, journal, dashboard and live feed around a ``MatchState``.

    ``fresh`` starts a new run: the journal is emptied only once the ports are bound and the
    journal's lock is held, so a matcher that cannot start never destroys the run it found.
    """

    def __init__(self, config: MtmcConfig, out_dir: Path, fresh: bool = False) -> None:
        from mtmc.transport.journal import Journal

        if not config.cameras:
            raise MtmcError("the config names no cameras (add a cameras: list, or scenario: DIR)")
        self.config, self.out_dir = config, out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(out_dir / "matcher.journal")
        self.fresh = fresh
        self.names = {c.number: c.id for c in config.cameras}
        self.state = MatchState(
            config, ResultWriter(out_dir, self.names, scene_of(config).homographies), store=store_of(config, out_dir)
        )
        self.stats = Stats()
        self.refusals = Refusals()
        self.max_bytes = MAX_MESSAGE_BYTES
        self._monitor: Any = None  # the ROUTER's disconnections: how ZeroMQ cuts an oversized sender
        self.replayed = 0
        self.live: Any = None
        self.dashboard_server: Any = None
        self.publisher: Any = None
        self.stopping: str | None = None  # why it stops early: "interrupted" (a signal) or "finish" (asked to)
        self.started = time.monotonic()
        self._provisional_due = -math.inf  # monotonic time the next provisional answers may be computed
        self._provisional_told: dict[tuple[int, int], int | None] = {}  # as last published

    def stop(self, why: str = "interrupted") -> None:
        """Stop early with what has arrived: ``interrupted`` (SIGTERM, Ctrl-C: the results are
        marked partial; a restart resumes) or ``finish`` (the supervisor gave up on a camera: the
        results are final for the cameras that ran)."""
        self.stopping = why

    def summary(self) -> dict:
        return {
            "complete": self.state.finished and self.stopping != "interrupted",
            "tracklets": self.state.writer.tracklets,
            "rows": self.state.writer.rows,
            "received": self.stats.received,
            "dropped": dict(self.stats.dropped),
            "replayed": self.replayed,
            "disconnections": self.stats.disconnections,
            "revisions": getattr(self.state.online, "revisions", 0),
            "latency_p50_s": self.stats.latency(0.5),
            "latency_p99_s": self.stats.latency(0.99),
            "seconds": time.monotonic() - self.started,
        }

    def replay(self) -> int:
        """Rebuild the state (and the sightings store, from nothing) from the journal, silently:
        nothing is published for old decisions.

        Records are screened as new messages are (:class:`BatchScreen`): what a journal of an older
        version holds that this one refuses (an unreadable record, a batch of a camera not in the
        run, an update that fails the run's checks) is skipped and counted as ``replay_<reason>``,
        so a journal never locks a run out."""
        if self.state.store is not None:
            self.state.store.open()
        for payload in self.journal.replay():
            self.replayed += 1
            try:
                message = decode(payload)
            except WireError as exc:
                self._drop(f"replay_{exc.reason}", f"journal record {self.replayed}: {exc}")
                continue
            if not isinstance(message, Batch) or message.camera not in self.names:
                self._drop("replay_not_a_batch_of_the_run", f"journal record {self.replayed}: {type(message).__name__}")
                continue
            if message.number <= self.state.through[message.camera]:
                self._drop("replay_duplicate", f"journal record {self.replayed}: camera {message.camera} batch {message.number} again")
                continue
            message, refusals = self.state.screen.screen(message)
            for reason, count in refusals.items():
                self._drop(f"replay_{reason}", f"journal record {self.replayed}: {count} update(s) of camera {message.camera}", count)
            self.state.apply(message, allow_gap=True)
        self._commit_store()
        return self.replayed

    def _drop(self, reason: str, detail: str, count: int = 1) -> None:
        self.stats.dropped[reason] += count
        self.refusals.add(reason, detail, count)

    def _commit_store(self) -> None:
        if self.state.store is not None:
            self.state.store.prune()
            self.state.store.commit()

    def serve(self, on_ready: Callable[[dict], None] | None = None) -> dict:
        """Serve until every camera is done (or ``stop``); returns a summary."""
        import zmq

        from mtmc.camera_names import write_cameras_csv
        from mtmc.runtime.admission import Admission
        from mtmc.runtime.config import transport_security
        from mtmc.runtime.ports import check_ports
        from mtmc.runtime.status import write_status
        from mtmc.transport.keys import camera_permits
        from mtmc.transport.sockets import matcher_socket, publisher_socket
        from mtmc.transport.tokens import camera_token, run_secret_from_env

        settings = self.config.matcher
        security = transport_security(self.config.security)
        context = zmq.Context()
        router = None
        try:  # the ports first: a matcher that cannot start must leave the run it found untouched
            check_ports(settings, self.config.dashboard.host)  # a taken one said with its config key
            self.max_bytes = max_message_bytes(self.config)
            router = matcher_socket(context, settings.bind, security, max_message_bytes=self.max_bytes)
            self._monitor = router.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            if settings.publish:
                self.publisher = publisher_socket(context, settings.publish, security)
            dashboard_url = self._start_dashboard()
            if self.state.store is not None:  # a store path naming some other file stops it here
                self.state.store.open()
            permits = camera_permits(security.allowed_clients) if security.allowed_clients is not None else None
            secret = run_secret_from_env()
            tokens = None if secret is None else {n: camera_token(secret, name) for n, name in self.names.items()}
            admission = Admission(self.names, settings.claim_timeout_s, permits, tokens, self.refusals)
            if permits is not None:  # a key mapped to cameras this run lacks: a typo, said before anything is cleared
                unknown = sorted({c for ids in permits.values() for c in ids} - set(self.names.values()))
                if unknown and isinstance(security.allowed_clients, dict):
                    raise MtmcError(
                        f"security.allowed_clients maps keys to {', '.join(unknown)}, not cameras of this run "
                        f"({', '.join(self.names.values())}): fix the camera ids"
                    )
        except BaseException:
            self._close_sockets(context, router)
            raise
        thresholds = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        try:
            if self.fresh:
                self.journal.clear()
                if self.state.store is not None:  # they name the old run's tracklets
                    self.state.store.clear_corrections()
                self.fresh = False
            write_cameras_csv(self.out_dir / "cameras.csv", self.config.cameras)  # submission numbers -> names
            self.replay()
            write_status(self.out_dir, "running")
            if on_ready is not None:
                on_ready({"bind": settings.bind, "dashboard": dashboard_url, "replayed": self.replayed})
            self._serve(router, admission, keyed=permits is not None)
            if self.stopping:
                self._publish(self.state.close_all(), time.monotonic())
            if self.state.online is None:
                self.state.finish_offline()
            if self.state.learner is not None:
                learnt = self.state.learner.write(self.out_dir / LEARNT_TOPOLOGY)
                log.info("camera network learnt from the traffic: %d links and overlaps (%s)", learnt, LEARNT_TOPOLOGY)
        finally:
            gc.set_threshold(*thresholds)
            self.state.writer.close()
            if self.state.store is not None:
                self.state.store.close()
            self.journal.close()
            self._close_sockets(context, router)
        summary = self.summary()
        if summary["complete"]:
            write_status(self.out_dir, "complete")
        else:
            write_status(
                self.out_dir, "interrupted" if self.stopping == "interrupted" else "incomplete",
                why="the matcher was stopped before every camera was done: these results are partial",
                resume="start the matcher again (mtmc run CONFIG --resume): it replays its journal and continues",
            )  # fmt: skip
        return summary

    def _close_sockets(self, context: Any, router: Any) -> None:
        from mtmc.transport.sockets import stop_authenticator

        if self._monitor is not None:
            router.disable_monitor()
            self._monitor.close(linger=0)
            self._monitor = None

        if self.dashboard_server is not None:
            self.dashboard_server.close()
            self.dashboard_server = None
        for socket in (router, self.publisher):
            if socket is not None:
                socket.close(linger=0)
        stop_authenticator(context)
        context.term()

    def _serve(self, router: Any, admission: Any, keyed: bool) -> None:
        import zmq

        settings = self.config.matcher
        expected = {c: n + 1 for c, n in self.state.through.items()}
        unacked: dict[int, bytes] = {}  # camera -> its peer, for messages journaled but not yet acked
        acked_at: dict[int, float] = {}
        while not self.state.finished and not self.stopping:
            if not router.poll(200):
                self._acknowledge(router, unacked, acked_at, settings.ack_every_s)
                self._tick()
                continue
            received: list[tuple[Batch, bytes]] = []
            reply: dict[int, bytes] = {}
            while len(received) < settings.batch:
                try:
                    frames = router.recv_multipart(zmq.NOBLOCK, copy=not keyed)
                except zmq.Again:
                    break
                self.stats.received += 1
                if not 2 <= len(frames) <= 3:  # peer, [run token,] message
                    self.stats.dropped["malformed"] += 1
                    continue
                key = frames[-1].get("User-Id") if keyed else None
                if keyed:
                    frames = [frame.bytes for frame in frames]
                peer, token, payload = frames[0], frames[1] if len(frames) == 3 else None, frames[-1]
                try:
                    message = decode(payload, self.max_bytes)
                except WireError as exc:
                    self.stats.dropped[exc.reason] += 1
                    log.debug("%s", exc)
                    continue
                if isinstance(message, Ack):
                    self.stats.dropped["unexpected"] += 1
                    continue
                refused = admission.check(message.camera, peer, key, time.monotonic(), token)
                if refused is not None:
                    self.stats.dropped[refused] += 1
                    continue
                if isinstance(message, Heartbeat | Preview):
                    self._observe(message)
                    continue
                verdict = self.state.verdict(message, expected[message.camera])
                if verdict == "next":
                    screened, refusals = self.state.screen.screen(message)
                    if refusals:  # journaled without what the run refuses, its number kept
                        for reason, count in refusals.items():
                            self._drop(reason, f"camera {self.names[message.camera]}: {count} update(s) in batch {message.number}", count)
                        message, payload = screened, encode(screened)
                    received.append((message, payload))
                    expected[message.camera] += 1
                elif verdict == "gap":
                    self.stats.dropped["out_of_order"] += 1
                    continue
                reply[message.camera] = peer  # acks go only to the connection that sent the batch
            if received:
                self.journal.append([payload for _, payload in received])
                now = time.monotonic()
                for message, _ in received:
                    if self.state.online is not None:
                        for update in message.updates:
                            if update.ended:
                                self.stats.ended_at[(message.camera, update.track)] = now
                    self._publish(self.state.apply(message), now)
            unacked.update(reply)
            self._acknowledge(router, unacked, acked_at, settings.ack_every_s)
            self._tick()
        self._acknowledge(router, unacked, acked_at, 0.0)

    def _disconnections(self) -> None:
        """Say (a line a minute at most) that connections were cut: a peer that left, or one whose
        message was over the size limit, which ZeroMQ refuses by disconnecting it unread."""
        import zmq

        while self._monitor is not None and self._monitor.poll(0):
            self._monitor.recv_multipart(zmq.NOBLOCK)
            self.stats.disconnections += 1
            finished = sum(1 for closed in self.state.closed.values() if closed == math.inf)
            if self.stats.disconnections <= finished:  # as many as the workers that ended after their camera
                log.info("a connection to the matcher ended (a worker done with its camera)")
                continue
            self.refusals.add(
                "disconnected",
                f"a connection to the matcher ended before its camera was done: a worker that stopped, or a peer "
                f"cut for a message over the {self.max_bytes:,}-byte limit (set from worker.preview_width)",
            )

    def _acknowledge(self, router: Any, unacked: dict[int, bytes], acked_at: dict[int, float], every_s: float) -> None:
        """Cumulative acks for the cameras not acknowledged in the last ``every_s``: at 10 messages
        a camera a second, one ack per message was a tenth of the matcher's work (and the workers')."""
        now = time.monotonic()
        for camera in [c for c in unacked if now - acked_at.get(c, -math.inf) >= every_s]:
            router.send_multipart([unacked.pop(camera), encode(Ack(camera, self.state.through[camera]))])
            acked_at[camera] = now

    def _feed(self, topic: bytes, key: tuple[int, int], global_id: int | None, kind: str) -> None:
        """One record on the live feed (best effort: a slow subscriber loses records, never the matcher)."""
        import msgpack
        import zmq

        record = {"camera": key[0], "name": self.names.get(key[0]), "track": key[1], "global_id": global_id, "kind": kind}
        try:
            self.publisher.send_multipart([topic, msgpack.packb(record)], zmq.NOBLOCK)
        except zmq.Again:
            pass

    def _publish(self, assignments: list[Assignment], now: float) -> None:
        for a in assignments:
            ended = self.stats.ended_at.pop(a.key, None)
            if a.kind == "assign" and ended is not None:
                self.stats.latencies.append(now - ended)
            if self.live is not None:  # on the run's data clock; the track's boxes on the previews take the id
                self.live.identity(a.global_id, self.names.get(a.key[0], str(a.key[0])), a.time_s, track=a.key[1])
            if self.publisher is not None:
                self._feed(b"id", a.key, a.global_id, a.kind)

    def _provisional(self) -> None:
        """Each live tracklet's provisional id (``MatchState.provisional``) to the dashboard, and
        those that changed to the feed under their own topic ``b"provisional"`` (kind
        "provisional", ``global_id`` None: a new identity), which a subscriber of ``b"id"`` never
        receives. At most once per ``max(1 s, matcher.online.step_s)`` of wall time, and only when
        a live tracklet grew or a decision came since, and never more than a quarter of the
        matcher's time (the next waits three times as long as this one took); never journaled:
        decisions do not read it. A failure here is logged once and costs only the marks."""
        if self.state.online is None or (self.live is None and self.publisher is None) or not self.state.live_changed:
            return
        now = time.monotonic()
        if now < self._provisional_due:
            return
        try:
            answers = self.state.provisional()
        except Exception:  # advisory only: the matcher's decisions must go on
            if "provisional" not in self.stats.told:
                self.stats.told.add("provisional")
                log.exception("provisional ids for the live view failed (decisions are unaffected)")
            answers = {}
        took = time.monotonic() - now
        self._provisional_due = now + max(1.0, self.config.matcher.online.step_s, 4 * took)
        if self.live is not None:
            self.live.provisional({(self.names.get(c, str(c)), t): gid for (c, t), gid in answers.items()})
        if self.publisher is None:
            return
        for key, gid in sorted(answers.items()):
            if key not in self._provisional_told or self._provisional_told[key] != gid:
                self._feed(b"provisional", key, gid, "provisional")
        self._provisional_told = answers

    def _observe(self, message: Heartbeat | Preview) -> None:
        if self.live is None:
            return
        name = self.names[message.camera]
        if isinstance(message, Heartbeat):
            now = time.monotonic()
            before = self.stats.beats.get(message.camera)
            self.stats.beats[message.camera] = (message.frames_done, now)
            fps = (message.frames_done - before[0]) / (now - before[1]) if before and now > before[1] else 0.0
            self.live.heartbeat(name, message.frames_done, max(fps, 0.0), message.outbox_size, max(0.0, time.time() - message.sent))
            return
        if not self._preview_fits(message):
            return
        ids = [
            self.state.online.global_id((message.camera, int(t))) if self.state.online is not None else None
            for t in message.tracks.tolist()
        ]
        self.live.frame(name, message.frame, message.time_s, message.jpeg, message.boxes, ids, message.tracks.tolist())

    def _preview_fits(self, message: Preview) -> bool:
        """A preview is at most ``preview_width`` wide (and twice that tall): its size is checked in
        its header before anything decodes it, so a few bytes claiming 20000x20000 are refused."""
        from mtmc.dashboard.images import jpeg_dimensions

        width = self.config.worker.preview_width
        bound = (width, 2 * width)
        size = jpeg_dimensions(message.jpeg) if len(message.jpeg) <= bound[0] * bound[1] else None
        if size is None or size[0] > bound[0] or size[1] > bound[1]:
            self.stats.dropped["preview_refused"] += 1
            if ("preview", message.camera) not in self.stats.told:
                self.stats.told.add(("preview", message.camera))
                log.warning(
                    "camera %s: a preview of %s bytes, %s, refused (at most %dx%d)", self.names[message.camera],
                    len(message.jpeg), "not a JPEG" if size is None else f"{size[0]}x{size[1]}", *bound,
                )  # fmt: skip
            return False
        return True

    def _start_dashboard(self) -> str | None:
        port = self.config.matcher.dashboard
        if port is None:
            return None
        from mtmc.dashboard.live import start_dashboard

        # the live view, and the sightings store's journeys, searches and camera graph (dashboard: host, token)
        self.live, self.dashboard_server, url = start_dashboard(self.config, self.state.store, lambda: self.state.learner, port)
        return url

    def _tick(self) -> None:
        self._disconnections()
        self.state.writer.flush()
        self._commit_store()
        self._provisional()
        if self.live is not None:
            online = self.state.online
            self.live.counters(
                self.stats.received,
                dict(self.stats.dropped),
                getattr(online, "identities_active", 0),
                getattr(online, "identities_issued", 0),
                getattr(online, "revisions", 0),
                self.stats.latency(0.5),
                self.stats.latency(0.99),
            )
