"""The matcher's three ports as ``mtmc run`` sets them: ``matcher.bind`` (workers connect),
``matcher.publish`` (the live feed) and ``matcher.dashboard`` (the web page).

``--port BASE`` puts them on BASE, BASE+1 and BASE+2 (hosts kept). Before anything starts, each
port is tried on this machine: one the config leaves at its default that another process holds
(a second ``make demo``) is replaced by a free one and said; one the user chose (in the config or
by ``--port``) that is taken is an error naming its key and the fix, so a run never serves where
its user does not expect.
"""

from __future__ import annotations

import errno
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass

from mtmc.errors import MtmcError
from mtmc.runtime.config import MatcherServiceConfig

KEYS = ("bind", "publish", "dashboard")
_TCP = re.compile(r"tcp://(?P<host>\[[^\]]+\]|[^:/]+):(?P<port>\d+)")


@dataclass(frozen=True)
class Moved:
    """A default port that was taken, and the one used instead."""

    key: str
    was: str
    now: str


def tcp_address(endpoint: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``tcp://HOST:PORT`` endpoint (``*``: every address); None for other
    transports and for ports ZeroMQ picks itself (``tcp://host:*``)."""
    match = _TCP.fullmatch(endpoint)
    if match is None:
        return None
    host = match["host"].strip("[]")
    return ("0.0.0.0" if host == "*" else host), int(match["port"])


def _with_port(endpoint: str, port: int) -> str:
    match = _TCP.fullmatch(endpoint)
    assert match is not None
    return f"tcp://{match['host']}:{port}"


def with_base_port(settings: MatcherServiceConfig, base: int) -> MatcherServiceConfig:
    """``settings`` with bind, publish and dashboard on ``base``, ``base + 1``, ``base + 2``
    (hosts kept; a feed or dashboard turned off stays off)."""
    if not 1 <= base <= 65533:
        raise MtmcError(f"--port {base}: give a port from 1 to 65533 (the run takes BASE, BASE+1 and BASE+2)")
    update: dict = {"dashboard": None if settings.dashboard is None else base + 2}
    for key, offset in (("bind", 0), ("publish", 1)):
        endpoint = getattr(settings, key)
        if endpoint is None:
            continue
        if tcp_address(endpoint) is None:
            raise MtmcError(
                f"--port {base}: matcher.{key} {endpoint} has no TCP port to set: use tcp://HOST:PORT in the config, "
                "or leave --port out"
            )
        update[key] = _with_port(endpoint, base + offset)
    return settings.model_copy(update=update)


def bind_error(host: str, port: int) -> OSError | None:
    """Why ``host:port`` cannot be listened on right now (None: it can). Tried as ZeroMQ and the
    dashboard bind (SO_REUSEADDR), so a port left in TIME_WAIT by an ended run counts as free."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError:
        return None  # a name ZeroMQ resolves itself (an interface such as eth0): its bind will say
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
            probe.listen()
        except OSError as exc:
            return exc
    return None


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def free_port(host: str) -> int:
    """A port on ``host`` that nothing listens on now (the system's choice)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.bind(address)
        return probe.getsockname()[1]


def settle_ports(
    settings: MatcherServiceConfig, dashboard_host: str, chosen: set[str], fix: Callable[[str], str]
) -> tuple[MatcherServiceConfig, list[Moved]]:
    """``settings`` with every taken default port replaced by a free one, and what moved.

    ``chosen``: the keys the user set (config or ``--port``); one of those that is taken is an
    ``MtmcError`` naming the key, the address and ``fix(key)``; so is an address this machine
    cannot listen on at all."""
    update: dict = {}
    moved: list[Moved] = []
    for key in KEYS:
        value = getattr(settings, key)
        if value is None:
            continue
        address = (dashboard_host, value) if key == "dashboard" else tcp_address(value)
        if address is None or address[1] == 0:
            continue  # ipc://, or any free port already
        failure = bind_error(*address)
        if failure is None:
            continue
        shown = _url(*address) if key == "dashboard" else value
        taken = failure.errno == errno.EADDRINUSE
        if not taken:
            where = (
                "choose a port from 1024 up" if failure.errno == errno.EACCES
                else "give an address of this machine (127.0.0.1, 0.0.0.0 or one of its interfaces)"
            )  # fmt: skip
            raise MtmcError(f"matcher.{key} {shown}: cannot listen there ({failure.strerror or failure}): {where}")
        if key in chosen:
            raise MtmcError(f"matcher.{key} {shown} is already in use (another run?): {fix(key)}")
        port = free_port(address[0])
        update[key] = port if key == "dashboard" else _with_port(value, port)
        now = _url(address[0], port) if key == "dashboard" else update[key]
        moved.append(Moved(key, shown, now))
    return settings.model_copy(update=update), moved


def check_ports(settings: MatcherServiceConfig, dashboard_host: str) -> None:
    """The matcher's own look before it binds, on whichever machine it runs (a Ray node too): a
    port it cannot take is one line naming its key, not a socket error."""
    settle_ports(
        settings, dashboard_host, set(KEYS),
        lambda key: f"stop that process, or choose another port (matcher.{key} in the config; mtmc run --port BASE)",
    )  # fmt: skip
