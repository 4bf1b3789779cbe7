"""The deployment files, checked offline (issue 33): the KubeRay cluster's pod templates and the
runs volume against Kubernetes' own schemas (kubernetes-validate), the pieces mtmc relies on (a
head labelled for the matcher with the runs volume, a labelled worker group per site, the Ray of
uv.lock), and the container recipe's inputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

kubernetes_validate = pytest.importorskip("kubernetes_validate")

ROOT = Path(__file__).resolve().parents[1]
KUBERAY = ROOT / "deploy" / "kuberay"
KUBERNETES = "1.30.0"


def _pod(template: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", **template.get("metadata", {})},
            "spec": template["spec"]}  # fmt: skip


def _locked(package: str) -> str:
    text = (ROOT / "uv.lock").read_text()
    found = re.search(rf'\[\[package\]\]\nname = "{package}"\nversion = "([^"]+)"', text)
    assert found, f"{package} not in uv.lock"
    return found.group(1)


def test_the_raycluster_pods_and_the_runs_volume_are_valid_kubernetes() -> None:
    cluster = yaml.safe_load((KUBERAY / "raycluster.yaml").read_text())
    assert cluster["apiVersion"] == "ray.io/v1" and cluster["kind"] == "RayCluster"
    templates = [cluster["spec"]["headGroupSpec"]["template"]]
    templates += [group["template"] for group in cluster["spec"]["workerGroupSpecs"]]
    for template in templates:
        kubernetes_validate.validate(_pod(template), KUBERNETES, strict=True)
    kubernetes_validate.validate(yaml.safe_load((KUBERAY / "runs-pvc.yaml").read_text()), KUBERNETES, strict=True)
    with pytest.raises(kubernetes_validate.ValidationError):  # the check can fail: a typo in a field name
        broken = _pod(templates[0])
        broken["spec"]["containers"][0]["volumeMount"] = broken["spec"]["containers"][0].pop("volumeMounts")
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_the_raycluster_gives_the_matcher_and_each_site_what_mtmc_run_places_them_by() -> None:
    cluster = yaml.safe_load((KUBERAY / "raycluster.yaml").read_text())
    head = cluster["spec"]["headGroupSpec"]
    assert json.loads(head["rayStartParams"]["labels"]) == {"disk": "journal"} and head["rayStartParams"]["num-cpus"] == "0"
    claim = yaml.safe_load((KUBERAY / "runs-pvc.yaml").read_text())
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    for spec in [head["template"]["spec"]] + [g["template"]["spec"] for g in cluster["spec"]["workerGroupSpecs"]]:
        mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"]}
        assert mounts == {"runs": "/runs"} and volumes == {"runs": claim["metadata"]["name"]}  # shared journal, outboxes
    sites = [json.loads(g["rayStartParams"]["labels"]) for g in cluster["spec"]["workerGroupSpecs"]]
    assert sites == [{"site": "north"}, {"site": "south"}]
    assert cluster["spec"]["rayVersion"] == _locked("ray")  # the cluster and the image run one Ray


def test_the_container_recipe_copies_what_exists_and_installs_from_the_lock() -> None:
    recipe = (ROOT / "deploy" / "Containerfile").read_text()
    python = re.search(r"^FROM python:(\d+\.\d+)", recipe, re.M)
    assert python and python.group(1) in ("3.10", "3.11", "3.12", "3.13")  # pyproject's requires-python
    for line in re.findall(r"^COPY (.+)$", recipe, re.M):
        *sources, _ = line.split()
        for source in sources:
            assert list(ROOT.glob(source)), f"COPY {source}: not in the repository"
    assert "uv sync --frozen --no-dev --extra ray" in recipe
