"""The ``mtmc simulate`` config (``configs/synthcity-*.yaml``): footage, sprites, world, cameras, traffic.

Every key has a default except the footage and the world, so a scenario file names only what
makes it different. Relative paths are taken from the config file's folder.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from mtmc.schema import PartConfig, StrictModel

VEHICLE_CLASSES = ["car", "bus", "truck", "motorcycle"]


class RoadConfig(StrictModel):
    """Where the footage's straight road lies in its image (a ground rectangle's four corners)."""

    corners: list[tuple[float, float]] = Field(
        description="image pixels (x, y) of the road rectangle: far-left, far-right, near-right, near-left"
    )
    width_m: float = Field(8.0, gt=0, description="road width across both directions, metres")
    length_m: float = Field(45.0, gt=0, description="length of the rectangle along the road, metres")

    @field_validator("corners")
    @classmethod
    def _four(cls, corners: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(corners) != 4:
            raise ValueError(f"needs 4 points (far-left, far-right, near-right, near-left), got {len(corners)}")
        return corners


class FootageConfig(StrictModel):
    """A fixed-camera video: sprites are cut from it and its median frame is a background."""

    video: Path = Field(description="video file of a fixed camera watching a road")
    road: RoadConfig
    frames: tuple[int, int] | None = Field(None, description="[first, stop) frame range used; default all")
    background_frames: int = Field(60, ge=3, le=1000, description="frames sampled for the median background")


class SpritesConfig(StrictModel):
    """How vehicle sprites (with masks and several views each) are harvested from footage."""

    footage: list[str] | None = Field(None, description="footage names to harvest; default all")
    detector: PartConfig = Field(
        default_factory=lambda: PartConfig(name="onnx-yolox", classes=VEHICLE_CLASSES, score_threshold=0.4)
    )
    frame_step: int = Field(2, ge=1, description="harvest every n-th frame")
    min_height_px: int = Field(24, ge=8, description="smaller vehicles are not harvested")
    max_views: int = Field(6, ge=1, le=50, description="views kept per real vehicle")
    min_views: int = Field(2, ge=1, description="a vehicle seen in fewer clean frames is skipped")


class GridConfig(StrictModel):
    """A generated city: ``rows`` x ``cols`` intersections ``block_m`` apart, exits on the border."""

    rows: int = Field(ge=2, le=200)
    cols: int = Field(ge=2, le=200)
    block_m: float = Field(200.0, gt=20)


class WorldConfig(StrictModel):
    """The road graph: named nodes (metres) joined by two-way roads, or a generated grid."""

    nodes: dict[str, tuple[float, float]] = Field(default_factory=dict)
    roads: list[tuple[str, str]] = Field(default_factory=list)
    exits: list[str] | None = Field(None, description="where vehicles enter and leave; default: dead ends")
    grid: GridConfig | None = None
    link_max_m: float = Field(1500.0, gt=0, description="topology lists camera links up to this driving distance")

    @model_validator(mode="after")
    def _graph(self) -> WorldConfig:
        if self.grid is None and not self.roads:
            raise ValueError("give either roads between nodes or a grid")
        for a, b in self.roads:
            for name in (a, b):
                if name not in self.nodes:
                    raise ValueError(f"road {a}-{b} names unknown node '{name}' (nodes: {', '.join(self.nodes)})")
            if a == b:
                raise ValueError(f"road {a}-{b} joins a node to itself")
        return self


class ViewConfig(StrictModel):
    """How one camera's picture differs from its footage; unset keys are drawn from the seed."""

    zoom: float | None = Field(None, ge=1.0, le=3.0, description="crop factor of the footage frame")
    center: tuple[float, float] | None = Field(None, description="crop centre, fractions of width and height")
    perspective: float | None = Field(None, ge=0.0, le=0.2, description="corner jitter, fraction of size")
    flip: bool | None = Field(None, description="mirror the picture")
    gamma: float | None = Field(None, gt=0.2, lt=5.0)
    gains: tuple[float, float, float] | None = Field(None, description="B, G, R multipliers")
    blur: float | None = Field(None, ge=0.0, le=5.0, description="Gaussian blur sigma, pixels")
    noise: float | None = Field(None, ge=0.0, le=50.0, description="Gaussian noise sigma, grey levels")


class SimCameraConfig(StrictModel):
    """One camera on one road, looking from its first node toward its second."""

    id: str = Field(pattern=r"^c\d{3,6}$", description="camera id, e.g. c001")
    road: tuple[str, str] = Field(description="the road (two node names); the camera looks toward the second")
    at_m: float | None = Field(None, ge=0, description="distance from the first node to the view's middle")
    footage: str | None = Field(None, description="footage name; default: the footage list in turn")
    fps: float = Field(10.0, gt=0, le=60)
    size: tuple[int, int] = Field((640, 360), description="output width and height")
    offset_s: float | None = Field(None, ge=0, description="start time on the global clock; default drawn")
    view: ViewConfig = Field(default_factory=ViewConfig)


class AutoCamerasConfig(StrictModel):
    """Cameras placed on distinct random roads (for generated cities and scale tests)."""

    count: int = Field(ge=1, le=100000)
    fps: list[float] = Field([10.0], description="each camera's frame rate is drawn from these")
    size: tuple[int, int] = (640, 360)


class TrafficConfig(StrictModel):
    vehicles: int = Field(40, ge=1, le=1_000_000)
    single_camera_fraction: float = Field(0.2, ge=0, le=1, description="distractors: pass exactly one camera")
    recolour_fraction: float = Field(
        0.25, ge=0, le=1, description="look-alikes: another vehicle's sprite in another colour"
    )
    twin_fraction: float = Field(0.1, ge=0, le=1, description="near-identical copies of another vehicle")
    speed_mps: tuple[float, float] = Field((7.0, 14.0), description="cruise speed range, m/s")
    headway_s: float = Field(1.2, ge=0, description="least time gap between vehicles in a lane")
    min_cameras: int = Field(2, ge=1, description="cameras every non-distractor route passes")
    max_route_roads: int = Field(12, ge=1)

    @field_validator("speed_mps")
    @classmethod
    def _range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1]:
            raise ValueError(f"needs 0 < low <= high, got {value}")
        return value


class RenderConfig(StrictModel):
    min_visibility: float = Field(0.1, ge=0, le=1, description="GT keeps boxes at least this visible")
    min_box_px: float = Field(8.0, ge=1, description="GT keeps boxes at least this tall after clipping")
    max_offset_s: float = Field(3.0, ge=0, description="camera start offsets are drawn in [0, this]")
    codec: str = Field("mp4v", min_length=4, max_length=4, description="OpenCV fourcc of vdo.mp4")
    avi_codec: str = Field(
        "XVID", min_length=4, max_length=4, description="OpenCV fourcc of vdo.avi (--layout aicity; XVID or MJPG)"
    )
    workers: int = Field(2, ge=1, le=64, description="cameras rendered in parallel")
    clear_parked: bool = Field(True, description="paint parked vehicles out of the backgrounds")


class EmbeddingConfig(StrictModel):
    """Synthetic tracklet features of ``--no-render``: identity + camera shift + noise, L2-normalised."""

    dim: int = Field(128, ge=2, le=4096)
    camera_shift: float = Field(0.3, ge=0, description="weight of a per-camera direction (domain gap)")
    noise: float = Field(0.4, ge=0, description="per-tracklet noise weight")
    lookalike: float = Field(0.5, ge=0, description="a look-alike's distance from its original (1: unrelated)")


class SimConfig(StrictModel):
    seed: int = 0
    duration_s: float = Field(120.0, gt=0, le=86400)
    footage: dict[str, FootageConfig]
    sprites: SpritesConfig = Field(default_factory=SpritesConfig)
    world: WorldConfig
    cameras: list[SimCameraConfig] = Field(default_factory=list)
    auto_cameras: AutoCamerasConfig | None = None
    traffic: TrafficConfig = Field(default_factory=TrafficConfig)
    render: RenderConfig = Field(default_factory=RenderConfig)
    embeddings: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    cache_dir: Path | None = Field(None, description="harvested sprites are kept here; default ~/.cache/mtmc")

    @model_validator(mode="after")
    def _consistent(self) -> SimConfig:
        if not self.footage:
            raise ValueError("footage: name at least one video")
        if not self.cameras and self.auto_cameras is None:
            raise ValueError("give cameras or auto_cameras")
        ids = [c.id for c in self.cameras]
        if len(set(ids)) != len(ids):
            raise ValueError(f"camera ids must be unique, got {ids}")
        for camera in self.cameras:
            if camera.footage is not None and camera.footage not in self.footage:
                raise ValueError(
                    f"camera {camera.id}: unknown footage '{camera.footage}' (known: {', '.join(self.footage)})"
                )
        for name in self.sprites.footage or []:
            if name not in self.footage:
                raise ValueError(f"sprites.footage: unknown footage '{name}' (known: {', '.join(self.footage)})")
        return self
