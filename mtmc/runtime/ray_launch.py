"""``mtmc run CONFIG --ray ADDRESS|auto``: the run's processes placed and watched by Ray.

Ray places, supervises and restarts; ZeroMQ, the outboxes and the journal stay the data path. Each
process of the run (the matcher, one worker per camera) is a small actor that starts the same
``python -m mtmc ...`` command on its node and relays its output lines and exit code, so the
supervisor (:mod:`mtmc.runtime.supervisor`) decides what an exit means exactly as on one machine:
a crash is restarted and resumes, a user error (exit 2) is reported, not restarted. An actor is
placed by its ``placement:`` (node labels, e.g. ``{site: north}``, or custom resources). When its
node is lost the actor dies with its process: the supervisor starts it again, and Ray places it on
another node that fits, or holds it, said as "waiting for a node", until one joins. Workers find the
matcher through the launcher (the node it runs on) and are restarted towards it when it moves.

Actors take no CPU from Ray's accounting (``num_cpus=0``): the process inside uses what it uses,
as on one machine. The outboxes and the journal live under the run's output folder; for a camera
to resume on another node that folder must be shared storage (NFS, a volume), as docs/many-machines.md "Many
machines" says.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from mtmc.errors import MtmcError
from mtmc.runtime.launch import LineSink, LocalProcess, Placement

log = logging.getLogger(__name__)

POLL_S = 0.2  # how often the supervisor asks an actor for its new lines
PENDING_SAY_S = 2.0  # an actor not running after this long is "waiting for a node"
KILLED = -9  # the exit code of a process whose actor died (its node lost, or killed)


class ProcessActor:
    """Runs one command on the node Ray put it on (registered as a Ray actor class on first use):
    the same :class:`~mtmc.runtime.launch.LocalProcess` as on one machine, its lines kept until
    the supervisor drains them."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self._lock = threading.Lock()
        self._out: list[str] = []
        self._err: list[str] = []
        self.process = LocalProcess(argv, env, self._keeper(self._out), self._keeper(self._err))

    def _keeper(self, lines: list[str]) -> LineSink:
        def keep(line: str) -> None:
            with self._lock:
                lines.append(line)

        return keep

    def drain(self) -> tuple[list[str], list[str], int | None]:
        """The lines written since the last call, and the exit code once it has ended (then every line)."""
        code = self.process.poll()
        if code is not None:
            self.process.join_output(5.0)
        with self._lock:
            out, err = self._out[:], self._err[:]
            self._out.clear()
            self._err.clear()
        return out, err, code

    def send_signal(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def node_ip(self) -> str:
        import ray

        return ray.util.get_node_ip_address()


class RayProcess:
    """A process of the run inside a :class:`ProcessActor`; as much of ``Popen`` as the supervisor uses."""

    def __init__(
        self, ray: Any, actor_class: Any, name: str, argv: list[str], env: dict[str, str], placement: Placement,
        stdout: LineSink, stderr: LineSink,
    ) -> None:  # fmt: skip
        self._ray, self.name = ray, name
        self._stdout, self._stderr = stdout, stderr
        options: dict[str, Any] = {
            "num_cpus": 0, "max_restarts": 0, "name": f"mtmc-{name}-{uuid.uuid4().hex[:8]}",
            # Ray runs actors at nice 15; a camera or the matcher is the node's work, not background
            # (at 15 the matcher got 28 % of a core next to nice-10 load and fell behind at 1,000
            # cameras; benchmarks/matcher_scale.py --ray). Ray's job supervisor does the same.
            "runtime_env": {"env_vars": {"RAY_worker_niceness": "0"}},
        }  # fmt: skip
        if placement.labels:
            options["label_selector"] = dict(placement.labels)
        if placement.resources:
            options["resources"] = dict(placement.resources)
        self.placement = placement
        self.actor = actor_class.options(**options).remote(argv, env)
        self.returncode: int | None = None
        self.waiting: str | None = None  # why it is not running yet ("waiting for a node ..."), when so
        self._started = time.monotonic()
        self._poller = threading.Thread(target=self._poll_actor, name=f"ray-{name}", daemon=True)
        self._poller.start()

    def _poll_actor(self) -> None:
        ray = self._ray
        while self.returncode is None:
            try:
                out, err, code = ray.get(self.actor.drain.remote(), timeout=max(POLL_S, 5.0))
            except ray.exceptions.GetTimeoutError:  # not placed yet: no node fits, or one is starting
                if self.waiting is None and time.monotonic() - self._started > PENDING_SAY_S:
                    self.waiting = f"waiting for a node{_where(self.placement)}"
                    log.warning("%s: %s (its node was lost, or none fits yet)", self.name, self.waiting)
                continue
            except ray.exceptions.RayError as exc:  # the actor died: its node was lost, or it was killed
                self._stderr(f"ray: {self.name}'s actor ended ({type(exc).__name__}): its node was lost or it was killed")
                self.returncode = KILLED
                return
            if self.waiting is not None:
                log.warning("%s: running again", self.name)
                self.waiting = None
            for line in out:
                self._stdout(line)
            for line in err:
                self._stderr(line)
            if code is not None:
                self.returncode = code
                self._kill_actor()
                return
            time.sleep(POLL_S)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.name, timeout or 0.0)
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            self.actor.send_signal.remote(signum)

    def kill(self) -> None:
        self._kill_actor()  # its process ends with it (lifeline)
        self._poller.join(10.0)
        if self.returncode is None:
            self.returncode = KILLED

    def join_output(self, timeout: float) -> None:
        self._poller.join(timeout)

    def _kill_actor(self) -> None:
        try:
            self._ray.kill(self.actor)
        except Exception:  # already gone
            pass

    def node_ip(self) -> str:
        return self._ray.get(self.actor.node_ip.remote())


class RayLauncher:
    """Every process of the run as an actor of the Ray cluster at ``address`` (``auto``: the one
    this machine belongs to, or ``RAY_ADDRESS``)."""

    def __init__(self, address: str) -> None:
        try:
            import ray
        except ImportError:
            raise MtmcError("--ray needs Ray, an optional part: pip install 'mtmc[ray]' (or uv sync --extra ray)") from None
        self.ray = ray
        # Ray >= 2.43 starts the workers of a driver launched by `uv run` through `uv run` too, with the
        # working folder uploaded: a camera node would then resolve and install the project itself
        # (and hang offline). The nodes run the installed mtmc (deploy/Containerfile) instead.
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        if not ray.is_initialized():
            _check_answers(address)
            try:
                ray.init(address=address, namespace="mtmc", log_to_driver=False, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise MtmcError(
                    f"--ray {address}: no Ray cluster answers there ({first}); start one (ray start --head) "
                    "or give its address (HOST:6379, or auto on a cluster node)"
                ) from None
        self.actor_class = ray.remote(ProcessActor)

    def launch(
        self, name: str, argv: list[str], env: dict[str, str], placement: Placement, stdout: LineSink, stderr: LineSink
    ) -> RayProcess:
        return RayProcess(self.ray, self.actor_class, name, argv, env, placement, stdout, stderr)

    def check_placement(self, name: str, placement: Placement) -> None:
        """A placement no node of the cluster has ever offered is a typo: one line naming what exists."""
        if not placement.labels and not placement.resources:
            return
        nodes = [node for node in self.ray.nodes() if node.get("Alive")]
        labels = [dict(node.get("Labels") or {}) for node in nodes]
        resources = [dict(node.get("Resources") or {}) for node in nodes]
        fits = any(
            all(have.get(k) == v for k, v in placement.labels.items())
            and all(offer.get(k, 0) >= v for k, v in placement.resources.items())
            for have, offer in zip(labels, resources)
        )
        if fits:
            return
        known = sorted({f"{k}: {v}" for have in labels for k, v in have.items() if not k.startswith("ray.io/")})
        custom = sorted({k for offer in resources for k in offer if k not in ("CPU", "GPU", "memory", "object_store_memory")
                         and not k.startswith("node:")})  # fmt: skip
        raise MtmcError(
            f"{name}: no node of the Ray cluster fits its placement ({_describe(placement)}); the nodes have labels "
            f"{', '.join(known) or 'none'} and custom resources {', '.join(custom) or 'none'}: fix placement: in the config"
        )

    def endpoint(self, handle: Any, bind: str) -> str:
        """``bind`` as a worker on another node reaches it: a wildcard host becomes the matcher's node."""
        parts = urlsplit(bind)
        if parts.hostname in ("0.0.0.0", "*", "::"):
            return f"{parts.scheme}://{handle.node_ip()}:{parts.port}"
        return bind

    def close(self) -> None:
        if self.ray.is_initialized():
            self.ray.shutdown()


def _check_answers(address: str, timeout_s: float = 3.0) -> None:
    """A HOST:PORT nobody listens on, said in seconds (Ray itself retries for a minute)."""
    import socket

    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise MtmcError(f"--ray {address}: not an address: give HOST:PORT of the cluster's head (port 6379), or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return
    except OSError as exc:
        raise MtmcError(
            f"--ray {address}: no Ray cluster answers there ({exc.strerror or exc}); start one (ray start --head) "
            "or give its address (HOST:6379, or auto on a cluster node)"
        ) from None


def _describe(placement: Placement) -> str:
    """``labels site: north, resources gpu-box: 1``."""
    parts = [f"labels {', '.join(f'{k}: {v}' for k, v in placement.labels.items())}"] if placement.labels else []
    if placement.resources:
        parts.append(f"resources {', '.join(f'{k}: {v:g}' for k, v in placement.resources.items())}")
    return "; ".join(parts)


def _where(placement: Placement) -> str:
    return f" with {_describe(placement)}" if placement.labels or placement.resources else ""
