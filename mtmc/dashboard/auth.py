"""Who may use the dashboard: loopback by default, a token anywhere else.

On a loopback host (127.0.0.0/8, ::1, ``localhost``) the dashboard needs no token, but a request
must name loopback in its Host header (a DNS-rebinding page names its own site: 403). On any other
host it refuses to start without one (:func:`check_exposure`). With a token set, every request but
``/healthz`` must carry it: an ``Authorization: Bearer TOKEN`` header, the ``mtmc_token`` cookie, or
``?token=TOKEN`` once (answered with a redirect that sets the cookie and drops the token from the
address bar). Tokens are compared with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import socket
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, urlencode

from mtmc.errors import MtmcError

TOKEN_ENV = "MTMC_DASHBOARD_TOKEN"
COOKIE = "mtmc_token"
MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback one (an unresolvable name is not)."""
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def token_from(value: str | None, env: dict | None = None) -> str | None:
    """The token given (``--token``, ``dashboard.token``), else :data:`TOKEN_ENV`'s; None: no token."""
    env = os.environ if env is None else env
    token = value if value else env.get(TOKEN_ENV) or None
    return token.strip() if token else None


def check_exposure(host: str, token: str | None) -> None:
    """Refuse, in one line, a dashboard on a non-loopback host without a token, and a short token."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise MtmcError(
            f"the dashboard token is {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
            '(python3 -c "import secrets; print(secrets.token_urlsafe(24))")'
        )
    if token is not None and not re.fullmatch(r"[A-Za-z0-9._~+/=-]+", token):
        raise MtmcError("the dashboard token may hold letters, digits and . _ ~ + / = - only (it travels in a cookie)")
    if token is None and not is_loopback(host):
        raise MtmcError(
            f"refusing to serve the dashboard on {host} without a token: anyone who can reach it would see "
            f"every camera and search every vehicle; set dashboard.token (or {TOKEN_ENV}, or --token), "
            "or serve on 127.0.0.1"
        )


def loopback_name(host_header: str) -> bool:
    """Whether a request's Host header names loopback literally (``127.0.0.1:8765``, ``[::1]``,
    ``localhost``), nothing resolved: without a token, a page of another site whose name a
    rebinding DNS points at 127.0.0.1 must not read the dashboard."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":")[0]
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cookie_token(header: str) -> str | None:
    try:
        cookie = SimpleCookie(header)
    except CookieError:
        return None
    morsel = cookie.get(COOKIE)
    return None if morsel is None else morsel.value


def _same(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())


class Verdict:
    """What :func:`authorize` decided: ``ok``; or a ``redirect`` (path, cookie header) after
    ``?token=``; or refused (``ok`` false, ``redirect`` None)."""

    def __init__(self, ok: bool, redirect: tuple[str, str] | None = None) -> None:
        self.ok, self.redirect = ok, redirect


def authorize(environ: dict, token: str | None, path: str) -> Verdict:
    """Whether the request carries ``token``; without a token, whether it names loopback in its
    Host header (the dashboard then listens on loopback only)."""
    if path == "/healthz":
        return Verdict(True)
    if token is None:
        return Verdict(loopback_name(environ.get("HTTP_HOST", "")))
    header = environ.get("HTTP_AUTHORIZATION", "")
    if header[:7].lower() == "bearer " and _same(header[7:].strip(), token):
        return Verdict(True)
    if _same(_cookie_token(environ.get("HTTP_COOKIE", "")), token):
        return Verdict(True)
    query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    given = [v for k, v in query if k == "token"]
    if given and _same(given[-1], token):
        rest = urlencode([(k, v) for k, v in query if k != "token"])
        cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
        return Verdict(True, (environ.get("SCRIPT_NAME", "") + path + (f"?{rest}" if rest else ""), cookie))
    return Verdict(False)
