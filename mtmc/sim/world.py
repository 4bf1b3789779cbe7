"""The simulated city: a road graph, cameras on roads, and vehicles driving routes through them.

Motion is scheduled per road, not integrated per frame: a vehicle enters a directed road at time
``a`` and leaves it at ``b``, moving at constant speed in between. Vehicles are scheduled in the
order they reach each road, so within a lane entries and exits keep their order and are at least
``headway_s`` apart; with constant speed in between, the gap holds at every point of the road (no
vehicle passes through another). A vehicle that reaches a road too soon after the last one waits
at the junction. Everything is drawn from the seed, so a config and a seed give one world.
"""

from __future__ import annotations

import heapq
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from mtmc.errors import MtmcError
from mtmc.sim.config import SimConfig, WorldConfig


def rng_for(seed: int, *purpose: int | str) -> np.random.Generator:
    """An independent generator per purpose, so adding one random draw never shifts the others."""
    words = [seed] + [p if isinstance(p, int) else zlib.crc32(p.encode()) for p in purpose]
    return np.random.default_rng(words)


@dataclass(eq=False)
class RoadGraph:
    names: list[str]
    xy: np.ndarray  # (N, 2) metres
    roads: list[tuple[int, int]]  # undirected, as node indices
    exits: list[int]
    neighbours: list[list[int]] = field(init=False)

    def __post_init__(self) -> None:
        self.neighbours = [[] for _ in self.names]
        for a, b in self.roads:
            self.neighbours[a].append(b)
            self.neighbours[b].append(a)
        self.index = {name: i for i, name in enumerate(self.names)}

    @classmethod
    def from_config(cls, world: WorldConfig) -> RoadGraph:
        if world.grid is not None:
            g = world.grid
            names = [f"r{r}c{c}" for r in range(g.rows) for c in range(g.cols)]
            xy = np.array([[c * g.block_m, r * g.block_m] for r in range(g.rows) for c in range(g.cols)], float)
            roads = [(r * g.cols + c, r * g.cols + c + 1) for r in range(g.rows) for c in range(g.cols - 1)]
            roads += [(r * g.cols + c, (r + 1) * g.cols + c) for r in range(g.rows - 1) for c in range(g.cols)]
            border = [
                i for i in range(len(names)) if i // g.cols in (0, g.rows - 1) or i % g.cols in (0, g.cols - 1)
            ]
            return cls(names, xy, roads, world.exits and [names.index(e) for e in world.exits] or border)
        names = list(world.nodes)
        xy = np.array([world.nodes[n] for n in names], float)
        index = {n: i for i, n in enumerate(names)}
        roads = [(index[a], index[b]) for a, b in world.roads]
        degree = np.bincount(np.array(roads).ravel(), minlength=len(names))
        exits = [index[e] for e in world.exits] if world.exits else [i for i in range(len(names)) if degree[i] == 1]
        for e in world.exits or []:
            if e not in index:
                raise MtmcError(f"world.exits: unknown node '{e}' (nodes: {', '.join(names)})")
        if len(exits) < 2:
            raise MtmcError("world: need at least two exits (dead-end nodes, or list world.exits)")
        return cls(names, xy, roads, exits)

    def length(self, a: int, b: int) -> float:
        return float(np.linalg.norm(self.xy[b] - self.xy[a]))

    def shortest_path(self, start: int, goal: int, weights: np.ndarray) -> list[int] | None:
        """The node path of least total ``weights`` (one per road, metres perturbed per driver)."""
        predecessors = _shortest_path_tree(self, weights.tobytes(), start)
        if goal != start and predecessors[goal] < 0:
            return None
        path = [goal]
        while path[-1] != start:
            path.append(int(predecessors[path[-1]]))
        return path[::-1]


@lru_cache(maxsize=4096)
def _shortest_path_tree(graph: RoadGraph, weights: bytes, start: int) -> np.ndarray:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    w = np.frombuffer(weights, np.float64)
    a, b = np.array(graph.roads).T
    n = len(graph.names)
    matrix = csr_matrix((np.concatenate([w, w]), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n))
    _, predecessors = dijkstra(matrix, indices=start, return_predecessors=True)
    return predecessors


@dataclass
class CameraPlacement:
    """A camera on road ``a -> b`` (node indices) looking toward ``b``; its view spans ``view_m`` metres."""

    id: str
    a: int
    b: int
    start_m: float  # distance from a of the view's near edge (s = 0)
    view_m: float
    footage: str
    fps: float
    size: tuple[int, int]
    offset_s: float

    @property
    def number(self) -> int:
        return int(self.id[1:])

    def world_to_local(self, graph: RoadGraph) -> np.ndarray:
        """3x3 affine map from world metres to the footage road's (u across, s along)."""
        origin = graph.xy[self.a]
        direction = graph.xy[self.b] - origin
        direction = direction / np.linalg.norm(direction)
        right = np.array([direction[1], -direction[0]])  # right-hand side when facing b
        m = np.eye(3)
        m[0, :2], m[1, :2] = right, direction
        m[0, 2] = -right @ origin
        m[1, 2] = -direction @ origin - self.start_m
        return m


@dataclass
class Leg:
    """One road of a route: entered at ``t0``, left at ``t1``, driven from node ``a`` to node ``b``."""

    a: int
    b: int
    t0: float
    t1: float


@dataclass
class Vehicle:
    id: int  # global id, from 1
    legs: list[Leg]
    lane_offset_m: float  # sideways jitter within its lane
    distractor: bool
    cameras: list[str] = field(default_factory=list)  # cameras on its route, in order


@dataclass
class World:
    graph: RoadGraph
    cameras: list[CameraPlacement]
    vehicles: list[Vehicle]
    duration_s: float
    lane_m: float  # distance of a lane's centre from the road's centre line

    def passages(self) -> dict[tuple[int, int], list[tuple[Vehicle, Leg]]]:
        """Every (vehicle, leg) per undirected road (node indices, smaller first), in time order."""
        found: dict[tuple[int, int], list[tuple[Vehicle, Leg]]] = {}
        for vehicle in self.vehicles:
            for leg in vehicle.legs:
                found.setdefault((min(leg.a, leg.b), max(leg.a, leg.b)), []).append((vehicle, leg))
        for items in found.values():
            items.sort(key=lambda item: item[1].t0)
        return found

    def local_positions(
        self, camera: CameraPlacement, passages: list[tuple[Vehicle, Leg]], t: float
    ) -> list[tuple[Vehicle, float, float, bool]]:
        """(vehicle, u, s, approaching) of the vehicles on the camera's road at time ``t``."""
        length = self.graph.length(camera.a, camera.b)
        out = []
        for vehicle, leg in passages:
            if not leg.t0 <= t <= leg.t1:
                continue
            fraction = (t - leg.t0) / max(leg.t1 - leg.t0, 1e-9)
            receding = leg.a == camera.a
            from_a = fraction * length if receding else (1.0 - fraction) * length
            side = 1.0 if receding else -1.0
            u = side * self.lane_m + vehicle.lane_offset_m
            out.append((vehicle, u, from_a - camera.start_m, not receding))
        return out


def place_cameras(config: SimConfig, graph: RoadGraph) -> list[CameraPlacement]:
    footage_names = list(config.footage)
    rng = rng_for(config.seed, "cameras")
    specs = []
    for i, cam in enumerate(config.cameras):
        a, b = cam.road
        for name in (a, b):
            if name not in graph.index:
                raise MtmcError(f"camera {cam.id}: road names unknown node '{name}'")
        ia, ib = graph.index[a], graph.index[b]
        if ib not in graph.neighbours[ia]:
            raise MtmcError(f"camera {cam.id}: there is no road {a}-{b} in world.roads")
        specs.append((cam.id, ia, ib, cam.at_m, cam.footage or footage_names[i % len(footage_names)], cam.fps, cam.size, cam.offset_s))
    if config.auto_cameras is not None:
        auto = config.auto_cameras
        taken = {(min(a, b), max(a, b)) for _, a, b, *_ in specs}
        free = [r for r in graph.roads if (min(r), max(r)) not in taken]
        if auto.count > len(free):
            raise MtmcError(f"auto_cameras.count {auto.count} exceeds the {len(free)} roads without a camera")
        picks = rng.choice(len(free), size=auto.count, replace=False)
        first = 1 + max([int(s[0][1:]) for s in specs], default=0)
        for k, pick in enumerate(sorted(picks.tolist())):
            a, b = free[pick]
            if rng.random() < 0.5:
                a, b = b, a
            fps = float(auto.fps[int(rng.integers(len(auto.fps)))])
            specs.append((f"c{first + k:03d}", a, b, None, footage_names[k % len(footage_names)], fps, auto.size, None))
    cameras = []
    for cam_id, a, b, at_m, footage, fps, size, offset in specs:
        view_m = config.footage[footage].road.length_m
        length = graph.length(a, b)
        middle = length / 2 if at_m is None else at_m
        start = middle - view_m / 2
        if start < 0 or start + view_m > length:
            raise MtmcError(
                f"camera {cam_id}: its {view_m:.0f} m view centred at {middle:.0f} m does not fit on road "
                f"{graph.names[a]}-{graph.names[b]} ({length:.0f} m long); move at_m or lengthen the road"
            )
        drawn_offset = float(rng.uniform(0, config.render.max_offset_s))
        cameras.append(
            CameraPlacement(
                cam_id, a, b, start, view_m, footage, fps, tuple(size), drawn_offset if offset is None else offset
            )
        )
    return cameras


def cameras_by_road(cameras: list[CameraPlacement]) -> dict[tuple[int, int], list[CameraPlacement]]:
    """Cameras per undirected road (node indices, smaller first)."""
    roads: dict[tuple[int, int], list[CameraPlacement]] = {}
    for camera in cameras:
        roads.setdefault((min(camera.a, camera.b), max(camera.a, camera.b)), []).append(camera)
    return roads


def _route_cameras(route: list[int], camera_roads: dict[tuple[int, int], list[CameraPlacement]]) -> list[str]:
    found = []
    for a, b in zip(route, route[1:]):
        found += [c.id for c in camera_roads.get((min(a, b), max(a, b)), [])]
    return found


def plan_routes(config: SimConfig, graph: RoadGraph, cameras: list[CameraPlacement]) -> list[tuple[list[int], bool]]:
    """A route (node list) and distractor flag per vehicle: shortest paths under per-vehicle road weights.

    Drivers differ in which roads they like (weights perturbed by up to 25 %), so two vehicles
    between the same exits may take different ways.
    """
    traffic = config.traffic
    rng = rng_for(config.seed, "routes")
    camera_roads = cameras_by_road(cameras)
    lengths = np.array([graph.length(a, b) for a, b in graph.roads])
    variants = [lengths * rng_for(config.seed, "road-weights", k).uniform(1.0, 1.25, len(lengths)) for k in range(8)]
    n_distractors = int(round(traffic.vehicles * traffic.single_camera_fraction))
    routes = []
    for v in range(traffic.vehicles):
        distractor = v < n_distractors
        for _ in range(2000):
            start, goal = rng.choice(graph.exits, size=2, replace=False)
            route = graph.shortest_path(int(start), int(goal), variants[int(rng.integers(len(variants)))])
            if route is None or len(route) - 1 > traffic.max_route_roads:
                continue
            seen = len(_route_cameras(route, camera_roads))
            if (distractor and seen == 1) or (not distractor and seen >= traffic.min_cameras):
                routes.append((route, distractor))
                break
        else:
            kind = "exactly one camera" if distractor else f"at least {traffic.min_cameras} cameras"
            raise MtmcError(
                f"no route between exits passes {kind}: add cameras or roads, or change "
                "traffic.single_camera_fraction / traffic.min_cameras"
            )
    order = rng.permutation(len(routes))  # distractors mixed in time with the others
    return [routes[i] for i in order]


def schedule(config: SimConfig, graph: RoadGraph, routes: list[tuple[list[int], bool]], cameras: list[CameraPlacement]) -> list[Vehicle]:
    """Entry and exit times of every leg, lanes kept in order with ``headway_s`` between vehicles."""
    traffic = config.traffic
    rng = rng_for(config.seed, "schedule")
    camera_roads = cameras_by_road(cameras)
    n = len(routes)
    # spawn so that vehicles are on camera roads during the recording: start a bit before 0
    spawn = np.sort(rng.uniform(-0.15 * config.duration_s, 0.9 * config.duration_s, size=n))
    speed = rng.uniform(*traffic.speed_mps, size=n)
    lane_offset = rng.uniform(-0.4, 0.4, size=n)
    leg_factor = rng.uniform(0.9, 1.1, size=(n, traffic.max_route_roads))  # drivers vary speed per road
    legs: list[list[Leg]] = [[] for _ in range(n)]
    last_entry: dict[tuple[int, int], float] = {}
    last_exit: dict[tuple[int, int], float] = {}
    heap = [(float(spawn[v]), v, 0) for v in range(n)]
    heapq.heapify(heap)
    h = traffic.headway_s
    while heap:
        arrival, v, k = heapq.heappop(heap)
        route = routes[v][0]
        a, b = route[k], route[k + 1]
        travel = graph.length(a, b) / (speed[v] * leg_factor[v, k % leg_factor.shape[1]])
        t0 = max(arrival, last_entry.get((a, b), -np.inf) + h)
        t1 = max(t0 + travel, last_exit.get((a, b), -np.inf) + h)
        last_entry[(a, b)], last_exit[(a, b)] = t0, t1
        legs[v].append(Leg(a, b, t0, t1))
        if k + 2 < len(route):
            heapq.heappush(heap, (t1, v, k + 1))
    vehicles = []
    for v in range(n):
        route, distractor = routes[v]
        vehicles.append(Vehicle(v + 1, legs[v], float(lane_offset[v]), distractor, _route_cameras(route, camera_roads)))
    return vehicles


def build_world(config: SimConfig) -> World:
    graph = RoadGraph.from_config(config.world)
    cameras = place_cameras(config, graph)
    routes = plan_routes(config, graph, cameras)
    vehicles = schedule(config, graph, routes, cameras)
    widths = {f.road.width_m for f in config.footage.values()}
    return World(graph, cameras, vehicles, config.duration_s, lane_m=min(widths) / 4)
