"""``OUTPUT_DIR/status.json``: whether the results beside it are a whole run, and if not, why and how
to continue. The matcher writes it when it starts (running), stops early (interrupted) or ends
(complete); ``mtmc run`` adds what only it knows (failed cameras, lost frames, the resume command)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mtmc.errors import write_failed

NAME = "status.json"


def write_status(out_dir: Path, state: str, **details: Any) -> Path:
    """Replace the status atomically: ``state`` is running, interrupted, incomplete, failed or complete."""
    path = Path(out_dir) / NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps({"state": state, "complete": state == "complete", **details}, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise write_failed(exc, path, "the run's status") from None
    return path


def read_status(out_dir: Path) -> dict[str, Any] | None:
    path = Path(out_dir) / NAME
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
