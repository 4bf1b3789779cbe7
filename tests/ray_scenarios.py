"""`mtmc run --ray` on a simulated three-node Ray cluster, run inside a loopback-only network
namespace by tests/test_runtime_ray.py (Ray binds the machine's own address otherwise).

    unshare -n python tests/ray_scenarios.py DATA_DIR WORK_DIR     # prints one JSON line of results

Nodes: a head (no CPUs: nothing is placed there), `site: north` (camera c001), `site: south`
(cameras c002, c003) and `disk: journal` (the matcher). c003's stream never answers: its worker
gives up with a user error, reported and not restarted (a file that is not a video is refused before
the run starts). The run on the cluster, compared by the test with the same run on this
machine without Ray: c001's actor killed, then the matcher's, then c001's node removed mid-run and
a replacement added; then a run stopped with Ctrl-C and resumed (`--resume`) on the cluster. Then a
placement no node has.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
FRAMES = 60


def _config(folder: Path, clips: dict[str, Path], bad: str, north: str = "north") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "city.yaml"
    path.write_text(
        f"cameras:\n  - {{id: c001, source: {clips['street-a']}, placement: {{labels: {{site: {north}}}}}}}\n"
        f"  - {{id: c002, source: {clips['street-b']}, placement: {{labels: {{site: south}}}}}}\n"
        f"  - {{id: c003, source: '{bad}', give_up_s: 3, placement: {{labels: {{site: south}}}}}}\n"
        "tracker: {name: deepsort-byte}\nembedder: null\n"
        "matcher: {mode: online, bind: 'tcp://127.0.0.1:47555', publish: null, dashboard: null, claim_timeout_s: 1,\n"
        "          distances: [{name: geometric}, {name: continuity}], placement: {labels: {disk: journal}}}\n"
        "worker: {update_every_s: 0.25, resend_s: 0.5, preview_every_s: 0}\n"
        "output: {dir: out, video: false}\n"
    )
    return path


def _run(config: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mtmc", "run", str(config), "-q", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _result(process: subprocess.Popen, config: Path, timeout: float = 300) -> dict:
    _, err = process.communicate(timeout=timeout)
    submission = config.parent / "out" / "submission.txt"
    status = config.parent / "out" / "status.json"
    return {
        "code": process.returncode,
        "err": err[-3000:],
        "lines": sorted(submission.read_text().splitlines()) if submission.is_file() else None,
        "status": json.loads(status.read_text()) if status.is_file() else None,
    }


def _actor(ray, prefix: str):
    """The live actor whose name starts with ``prefix`` (names carry a random part per start)."""
    for name in ray.util.list_named_actors():
        if name.startswith(prefix):
            return ray.get_actor(name, namespace="mtmc")
    raise LookupError(f"no actor {prefix}*")


def main() -> int:
    data_dir, work = Path(sys.argv[1]), Path(sys.argv[2])
    from helpers import journal_size, short_clips, wait_for

    (work / "clips").mkdir(parents=True, exist_ok=True)
    clips = short_clips(data_dir, work / "clips", FRAMES)
    bad = "rtsp://127.0.0.1:9/none"  # camera c003: nothing listens there (its own network namespace)
    results: dict = {}
    started = time.monotonic()
    config = _config(work / "local", clips, bad)
    results["local"] = _result(_run(config), config)
    results["local_s"] = time.monotonic() - started

    import ray
    from ray.cluster_utils import Cluster

    started = time.monotonic()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0, "include_dashboard": False,
            "_system_config": {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                               "health_check_failure_threshold": 4},
        },
    )  # fmt: skip
    north = cluster.add_node(num_cpus=1, labels={"site": "north"})
    cluster.add_node(num_cpus=1, labels={"site": "south"})
    cluster.add_node(num_cpus=1, labels={"disk": "journal"})
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, namespace="mtmc", log_to_driver=False)
    results["cluster_s"] = time.monotonic() - started
    try:
        # the same run on the cluster: c001's actor killed, then the matcher's, then c001's node
        # lost and a replacement added, where c001 resumes
        started = time.monotonic()
        config = _config(work / "ray", clips, bad)
        run = _run(config, "--ray", cluster.address)
        grown = [0]

        def grows() -> bool:
            return journal_size(config) > grown[0] + 1500

        try:
            wait_for(grows, 240)
        except TimeoutError:
            run.kill()
            raise TimeoutError(f"the run on the cluster never journaled anything: {run.communicate()[1][-3000:]}") from None
        ray.kill(_actor(ray, "mtmc-c001-"))
        grown[0] = journal_size(config)
        wait_for(grows, 240)
        ray.kill(_actor(ray, "mtmc-matcher-"))
        grown[0] = journal_size(config)
        wait_for(grows, 240)
        cluster.remove_node(north)
        time.sleep(8.0)  # c001 waits for a node with site: north: the loss seen (2 s of health checks), then "waiting" said after 2 s pending
        cluster.add_node(num_cpus=1, labels={"site": "north"})
        results["ray"] = _result(run, config)
        results["ray_s"] = time.monotonic() - started

        # Ctrl-C mid-run on the cluster, then --resume there: the same run as on one machine
        started = time.monotonic()
        config = _config(work / "resume", clips, bad)
        run = _run(config, "--ray", cluster.address)
        grown[0] = 0
        wait_for(grows, 240)
        run.send_signal(signal.SIGINT)
        results["interrupted"] = _result(run, config, timeout=120)
        results["resumed"] = _result(_run(config, "--ray", cluster.address, "--resume"), config)
        results["resume_s"] = time.monotonic() - started

        # a placement no node has: one line before anything starts
        config = _config(work / "no-node", clips, bad, north="nowhere")
        results["no_node"] = _result(_run(config, "--ray", cluster.address), config, timeout=120)
    finally:
        ray.shutdown()
        cluster.shutdown()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # loopback-only namespace: no token between nodes
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # under `make test` (uv run): no uv run on nodes
    raise SystemExit(main())
