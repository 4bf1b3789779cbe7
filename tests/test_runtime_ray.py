"""`mtmc run --ray` on a simulated Ray cluster (issue 33): the same run as on one machine, through a
camera actor killed, the matcher actor killed, a node lost and replaced, and a camera's user error;
a placement no node has is one line. The cluster runs in a loopback-only network namespace
(`unshare -n`, root), since Ray binds the machine's own address: tests/ray_scenarios.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import tiny_video

pytest.importorskip("ray", reason="Ray is the optional extra mtmc[ray] (make sync installs it)")

SCENARIOS = Path(__file__).with_name("ray_scenarios.py")


@pytest.fixture(scope="module")
def results(data_dir, tmp_path_factory) -> dict:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a loopback-only network namespace")
    work = tmp_path_factory.mktemp("ray")
    script = f"ip link set lo up && exec {sys.executable} {SCENARIOS} {data_dir} {work}"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # explicit: loopback only, nothing to authenticate
    done = subprocess.run(["unshare", "-n", "bash", "-c", script], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_ray_run_through_kills_and_a_lost_node_ends_as_the_same_run_on_one_machine(results) -> None:
    local, ray = results["local"], results["ray"]
    assert local["code"] == 1 and len(local["lines"]) > 100  # c003's stream never answers: the run is incomplete
    assert ray["code"] == 1, ray["err"]
    assert ray["lines"] == local["lines"]  # nothing lost or duplicated through the kills and the lost node
    assert ray["status"]["failed"] == local["status"]["failed"]
    assert list(ray["status"]["failed"]) == ["c003"] and "unreachable" in ray["status"]["failed"]["c003"]
    assert "restarted: {'c001': 2} matcher 1x" in ray["err"]  # the user error was not restarted
    assert "c001: waiting for a node with labels site: north" in ray["err"] and "c001: running again" in ray["err"]


def test_ctrl_c_then_resume_on_the_cluster_ends_as_the_same_run_on_one_machine(results) -> None:
    interrupted, resumed, local = results["interrupted"], results["resumed"], results["local"]
    assert interrupted["code"] == 130, interrupted["err"]
    assert interrupted["status"]["state"] == "interrupted"
    assert resumed["code"] == 1, resumed["err"]  # c003 still does not answer
    assert resumed["lines"] == local["lines"]


def test_a_placement_no_node_has_is_one_line_before_anything_starts(results) -> None:
    no_node = results["no_node"]
    assert no_node["code"] == 2 and no_node["lines"] is None
    line = [x for x in no_node["err"].splitlines() if x.startswith("mtmc run: error:")]
    assert line == [
        "mtmc run: error: c001: no node of the Ray cluster fits its placement (labels site: nowhere); the nodes "
        "have labels disk: journal, site: north, site: south and custom resources none: fix placement: in the config"
    ]
    assert no_node["status"]["state"] == "failed"


def test_without_a_cluster_ray_says_so_in_one_line(tmp_path, capsys) -> None:
    from mtmc.cli import main

    video = tiny_video(tmp_path / "a.mp4")
    (tmp_path / "city.yaml").write_text(f"cameras: [{{id: north, source: {video}}}]\noutput: {{dir: out}}\n")
    assert main(["run", str(tmp_path / "city.yaml"), "-q", "--ray", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("mtmc run: error: --ray 127.0.0.1:1: no Ray cluster answers there (") and "ray start --head" in err
