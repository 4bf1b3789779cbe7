"""Which camera follows which, and how long the drive takes: from the road graph and from the scenario.

A link ``c1 -> c2`` exists when a vehicle can drive from c1's view to c2's without passing
another camera. Its expected travel time (view centre to view centre) spans the configured speeds,
with room for slower legs and waits at junctions; the times actually driven in the scenario (from
the ground truth) are listed beside it, so a matcher's learnt gates can be checked.
"""

from __future__ import annotations

import numpy as np

from mtmc.sim.config import SimConfig
from mtmc.sim.world import World, cameras_by_road

JUNCTION_WAIT_S = 10.0  # slack for queueing at junctions (headway waits)
SLOWEST_LEG = 0.9  # legs are driven at 0.9-1.1 x a vehicle's cruise speed


def camera_links(world: World, config: SimConfig) -> list[dict]:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    graph, cameras = world.graph, world.cameras
    if len(cameras) < 2:
        return []
    camera_roads = set(cameras_by_road(cameras))
    free = [(a, b) for a, b in graph.roads if (min(a, b), max(a, b)) not in camera_roads]
    n = len(graph.names)
    if free:
        a, b = np.array(free).T
        w = np.array([graph.length(i, j) for i, j in free])
        matrix = csr_matrix((np.concatenate([w, w]), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n))
    else:
        matrix = csr_matrix((n, n))
    ends = sorted({c.a for c in cameras} | {c.b for c in cameras})
    row = {node: k for k, node in enumerate(ends)}
    dist = dijkstra(matrix, indices=ends, limit=config.world.link_max_m)
    low, high = config.traffic.speed_mps
    links = []
    for c1 in cameras:
        centre1 = c1.start_m + c1.view_m / 2
        length1 = graph.length(c1.a, c1.b)
        best: dict[str, float] = {}
        for exit_node, to_exit in ((c1.b, length1 - centre1), (c1.a, centre1)):
            for c2 in cameras:
                if c2 is c1:
                    continue
                centre2 = c2.start_m + c2.view_m / 2
                length2 = graph.length(c2.a, c2.b)
                if {c2.a, c2.b} == {c1.a, c1.b}:  # two cameras on one road
                    along = centre2 if c2.a == c1.a else length2 - centre2
                    d = abs(along - centre1)
                else:
                    d = to_exit + min(dist[row[exit_node], c2.a] + centre2, dist[row[exit_node], c2.b] + length2 - centre2)
                if np.isfinite(d) and d <= config.world.link_max_m and d < best.get(c2.id, np.inf):
                    best[c2.id] = float(d)
        for target, d in sorted(best.items()):
            links.append(
                {
                    "from": c1.id,
                    "to": target,
                    "distance_m": round(d, 1),
                    "min_s": round(d / high, 2),
                    "max_s": round(d / (SLOWEST_LEG * low) + JUNCTION_WAIT_S, 2),
                }
            )
    return links


def observed_travel(world: World, results: dict[str, dict]) -> dict[tuple[str, str], list[float]]:
    """Centre-to-centre travel times seen in the ground truth, per consecutive camera pair."""
    fps = {c.id: c.fps for c in world.cameras}
    offset = {c.id: c.offset_s for c in world.cameras}
    visits: dict[int, list[tuple[float, str]]] = {}
    for camera, result in results.items():
        rows = result["rows"]
        for vehicle in np.unique(rows[:, 1]).astype(int).tolist():
            frames = rows[rows[:, 1] == vehicle, 0]
            middle = offset[camera] + ((frames.min() + frames.max()) / 2 - 1) / fps[camera]
            visits.setdefault(vehicle, []).append((float(middle), camera))
    travel: dict[tuple[str, str], list[float]] = {}
    for seen in visits.values():
        seen.sort()
        for (t1, c1), (t2, c2) in zip(seen, seen[1:]):
            travel.setdefault((c1, c2), []).append(t2 - t1)
    return travel


def topology(world: World, results: dict[str, dict], config: SimConfig) -> dict:
    observed = observed_travel(world, results)
    links = camera_links(world, config)
    for link in links:
        times = observed.pop((link["from"], link["to"]), [])
        if times:
            link["observed_s"] = [round(min(times), 2), round(max(times), 2), len(times)]
    return {
        "cameras": [
            {
                "id": c.id,
                "road": [world.graph.names[c.a], world.graph.names[c.b]],
                "view_start_m": round(c.start_m, 2),
                "view_m": c.view_m,
                "fps": c.fps,
                "offset_s": round(c.offset_s, 3),
                "footage": c.footage,
            }
            for c in world.cameras
        ],
        "links": links,
        "exclusive_views": _exclusive_views(world),
    }


def _exclusive_views(world: World) -> bool:
    """No two cameras see the same stretch of road (so time-overlapping views are different vehicles)."""
    spans: dict[frozenset, list[tuple[float, float]]] = {}
    for c in world.cameras:
        near, far = c.start_m, c.start_m + c.view_m
        if c.a > c.b:  # measure every camera of a road from the same end
            length = world.graph.length(c.a, c.b)
            near, far = length - far, length - near
        spans.setdefault(frozenset((c.a, c.b)), []).append((near, far))
    for intervals in spans.values():
        intervals.sort()
        if any(later[0] < earlier[1] for earlier, later in zip(intervals, intervals[1:])):
            return False
    return True
