"""The scenario-wide files both SynthCity modes write: the AI City ground truth (vehicles seen by two
or more cameras, as AI City's), each camera's start on the global clock, and the topology."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtmc.sim.config import SimConfig
from mtmc.sim.topology import topology
from mtmc.sim.world import World


def write_scenario_truth(
    out_dir: Path, world: World, config: SimConfig, results: dict[str, dict], order: list[str]
) -> dict[int, set[str]]:
    """Write ground_truth.txt, cam_timestamp.txt and topology.yaml; return the cameras seeing each vehicle.

    ``results[camera]["rows"]`` are (frame, id, x, y, w, h, visibility, x_world, y_world) rows; world
    coordinates that are NaN are written as -1. ``order`` is the cameras' order in ground_truth.txt.
    """
    import yaml

    numbers = {c.id: c.number for c in world.cameras}
    seen_by: dict[int, set[str]] = {}
    for camera, result in results.items():
        for vehicle in np.unique(result["rows"][:, 1]).astype(int).tolist():
            seen_by.setdefault(vehicle, set()).add(camera)
    multi = {v for v, cams in seen_by.items() if len(cams) >= 2}
    lines = []
    for camera in order:
        for f, i, x, y, w, h, _v, wx, wy in results[camera]["rows"].tolist():
            if int(i) in multi:
                where = "-1 -1" if np.isnan(wx) else f"{wx:.2f} {wy:.2f}"
                lines.append(f"{numbers[camera]} {int(i)} {int(f)} {round(x)} {round(y)} {round(w)} {round(h)} {where}\n")
    (out_dir / "ground_truth.txt").write_text("".join(lines))
    (out_dir / "cam_timestamp.txt").write_text("".join(f"{c.id} {c.offset_s:.3f}\n" for c in world.cameras))
    (out_dir / "topology.yaml").write_text(yaml.safe_dump(topology(world, results, config), sort_keys=False))
    return seen_by
