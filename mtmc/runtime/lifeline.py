"""Children of ``mtmc run`` end with it: a supervisor killed with SIGKILL leaves no matcher holding
its ports and no worker feeding nobody.

The supervisor names itself in ``MTMC_PARENT_PID``; the child asks Linux to send it SIGTERM when
that parent dies (``PR_SET_PDEATHSIG``), and elsewhere watches its parent id from a thread. SIGTERM
is what a stop means to every child: the matcher marks its results partial, a worker just ends
(its outbox and checkpoint are already on disk).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

ENV = "MTMC_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def follow_parent() -> None:
    """If started by a supervisor, end (SIGTERM to this process) when it is gone."""
    parent = os.environ.get(ENV)
    if not parent or not parent.isdigit():
        return
    parent_pid = int(parent)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0:
            if os.getppid() != parent_pid:  # it died before the request took effect
                os.kill(os.getpid(), signal.SIGTERM)
            return
    threading.Thread(target=_watch, args=(parent_pid,), name="mtmc-lifeline", daemon=True).start()


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)
