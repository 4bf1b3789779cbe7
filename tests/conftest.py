from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATA = SHARED / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA} (clone the project next to shared/)")
    return DATA


@pytest.fixture
def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def torch_one_thread():
    """One intra-op torch thread: the 2-core test machine is shared, and oversubscribed threads made
    the re-id model tests about 5x slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def browser(tmp_path: Path):
    """Headless Chromium over the DevTools protocol (``test_dashboard_store.Browser``), for the
    dashboard's page tests; skipped where chromium is not installed."""
    from test_dashboard_store import CHROMIUM, Browser

    if CHROMIUM is None:
        pytest.skip("chromium is not on PATH (Debian: apt-get install chromium)")
    b = Browser(tmp_path / "profile")
    try:
        yield b
    finally:
        b.close()
