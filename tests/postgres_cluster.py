"""A throwaway PostgreSQL cluster for the tests that need one: ``initdb`` into a temporary folder,
served on a unix socket there only (no TCP port to collide on), stopped at the session's end; each
test gets an empty database of its own. Skipped, with the reason, where no PostgreSQL binaries
are installed (Debian: ``apt-get install postgresql``, as ``.ci/install-test-deps`` does)."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "mtmc"  # the cluster's superuser (trust authentication on the private socket)
_numbers = itertools.count(1)


def _binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps them off PATH), else PATH's."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _as_owner() -> tuple[list[str], str | None]:
    """PostgreSQL refuses to run as root: as root, run it as ``postgres`` (or ``nobody``)."""
    if os.geteuid() != 0:
        return [], None
    owner = "postgres"
    try:
        pwd.getpwnam(owner)
    except KeyError:
        owner = "nobody"
    return ["runuser", "-u", owner, "--"], owner


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[str]:
    """The cluster's URL (its ``postgres`` database, for creating others)."""
    bindir = _binaries()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on PATH: apt-get install postgresql")
    prefix, owner = _as_owner()
    folder = Path(tempfile.mkdtemp(prefix="mtmc-pg-"))  # not pytest's tmp: its 0700 parent locks the server out
    if owner is not None:
        shutil.chown(folder, owner)
    data = folder / "data"

    def run(*command: str) -> None:
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
        if done.returncode:
            log = (folder / "server.log").read_text() if (folder / "server.log").exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}\n{log}")

    run(str(bindir / "initdb"), "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
    options = f"-k {folder} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-o", options, "-w", "-t", "60", "start")
    try:
        yield f"postgresql://{USER}@/postgres?host={folder}"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_cluster: str) -> Iterator[str]:
    """A fresh, empty database of the cluster, dropped after the test."""
    import psycopg

    name = f"test_{os.getpid()}_{next(_numbers)}"
    with psycopg.connect(postgres_cluster, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield postgres_cluster.replace("/postgres?", f"/{name}?")
    with psycopg.connect(postgres_cluster, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
