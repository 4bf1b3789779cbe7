"""Separate uv environments for the reference tools, so they never become mtmc dependencies.

Each environment lives in ``benchmarks/.envs/<name>`` (git-ignored) and is created on first use
with ``uv venv`` + ``uv pip install --compile-bytecode``; a marker file records the pinned
requirements, so a changed pin rebuilds it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ENVS_DIR = Path(__file__).resolve().parent / ".envs"

MOTMETRICS = ("motmetrics==1.4.0", "numpy<2", "pandas<2.2", "scipy")
# PyPI's `trackeval` is Luiten's TrackEval as packaged by the github.com/kovalp/TrackEval fork
# (metric code unchanged; np.float and friends replaced, so numpy 2 works and no numpy<1.24 pin
# is needed); 1.3.0 is its only release on PyPI. numpy/scipy: the versions it was checked with.
TRACKEVAL = ("trackeval==1.3.0", "numpy==2.4.6", "scipy==1.17.1")


def ensure_env(name: str, requirements: tuple[str, ...]) -> Path:
    """Python executable of environment ``name``, created with ``requirements`` when missing."""
    env = ENVS_DIR / name
    python = env / "bin" / "python"
    marker = env / ".requirements"
    wanted = "\n".join(requirements)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is needed to create the reference environments: python3 -m pip install uv")
    print(f"creating {env} with {' '.join(requirements)} ...", file=sys.stderr, flush=True)
    shutil.rmtree(env, ignore_errors=True)
    # The interpreter mtmc runs on; uv does not download another one.
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(env)], check=True)
    # Bytecode compiled at install, as pip does, so that no run pays for compiling imports.
    install = [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(python), *requirements]
    subprocess.run(install, check=True)
    marker.write_text(wanted)
    return python
