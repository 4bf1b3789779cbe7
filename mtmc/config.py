"""YAML configuration read into pydantic models.

A bad file fails in one line that names the file, the field and what is wrong. Relative paths in
a config are taken relative to the config file, so a config works from any working directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mtmc.camera_names import ERROR_TYPE, assign_numbers, expand
from mtmc.errors import MtmcError
from mtmc.match.config import NamedCamera, TopologyConfig
from mtmc.detect.defaults import DEFAULT_TRACKER, VEHICLE_DETECTOR, VEHICLE_EMBEDDER
from mtmc.runtime.config import MatcherServiceConfig, PlacementConfig, SecurityConfig, WorkerConfig
from mtmc.schema import PartConfig, StrictModel

FormatName = Literal["auto", "mot", "aicity", "vatic", "detrac", "kitti"]


class EvalConfig(StrictModel):
    """What ``mtmc eval`` scores and how (also the ``eval:`` section of a run config)."""

    gt: Path | None = Field(None, description="ground truth: a file or a folder of sequences")
    pred: Path | None = Field(None, description="prediction: a file or a folder of sequences")
    mode: Literal["mot", "aicity"] = Field(
        "mot", description="mot: per sequence; aicity: AI City MTMC protocol"
    )
    iou: float = Field(0.5, gt=0.0, le=1.0, description="a box matches at IoU >= this")
    roi_dir: Path | None = Field(None, description="AI City ROI masks (cXXX/roi.jpg)")
    gt_format: FormatName = Field("auto", description="the ground truth's file format (auto: from its content)")
    pred_format: FormatName = Field("auto", description="the prediction's file format (auto: from its content)")
    pred_name: str | None = Field(None, description="file name of a prediction inside each sequence folder")
    ignore_extra_cameras: bool = Field(
        False, description="aicity: score only the cameras the ground truth has (predictions for others are dropped)"
    )
    per_camera: bool = Field(False, description="aicity: also score each camera alone")
    keep_ignored_gt: bool = Field(False, description="score MOTChallenge GT rows with confidence 0")
    json_out: Path | None = Field(None, alias="json", description="write the numbers here")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("pred_name")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or Path(value).is_absolute()):
            raise ValueError("must be a file name relative to each sequence folder, e.g. test.txt")
        return value


class CameraConfig(NamedCamera):
    """One camera: its name (``id``, e.g. ``north-gate`` or AI City's ``c001``) and AI City ``number``
    (:mod:`mtmc.camera_names`), where its frames come from, and (for the matcher) its clock offset
    and ground-plane homography."""

    source: str = Field(description="video file, image folder, or rtsp:// / http:// URL")
    fps: float | None = Field(None, gt=0, description="subsample to this frame rate")
    give_up_s: float = Field(60.0, gt=0, description="streams: end the camera after this long without frames")
    placement: PlacementConfig | None = Field(None, description="Ray: the node its worker runs on (labels, resources)")


class OutputConfig(StrictModel):
    dir: Path = Field(Path("runs/run"), description="everything a run writes goes here")
    mot: bool = Field(True, description="mot/<camera>.txt: MOTChallenge rows with global ids")
    aicity: bool = Field(True, description="submission.txt: AI City rows (camera, global id, frame, box)")
    jsonl: bool = Field(True, description="tracklets.jsonl: every tracklet with its global id")
    video: bool = Field(True, description="videos/<camera>.mp4: each camera annotated with global ids")


class AttributesConfig(PartConfig):
    """Vehicle attributes (colour, type) per track, for the matcher's metadata distance; other keys
    are the model's options (``weights``, ``batch_size``)."""

    name: str = "openvino-vehicle-attributes"
    every: int = Field(
        1, ge=1, description="classify a confirmed track's crop every this many frames (1: every frame)"
    )

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        from mtmc.reid.attributes import ATTRIBUTE_NAMES

        if value not in ATTRIBUTE_NAMES:
            raise ValueError(f"unknown attribute model {value!r}: valid names are {', '.join(ATTRIBUTE_NAMES)}")
        return value


class StoreConfig(StrictModel):
    """The sightings database the matcher writes (``mtmc search``): SQLite, or PostgreSQL at ``url``;
    rebuilt from the journal each time the matcher starts."""

    enabled: bool = Field(True, description="write each identity's sightings (false: none)")
    path: Path | None = Field(None, description="the SQLite database file; null: OUT/sightings.db")
    url: str | None = Field(
        None, description="a PostgreSQL database instead of the file: postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
    )
    keep_days: float | None = Field(
        None, gt=0, description="drop sightings that ended this many days before the newest (null: keep all)"
    )

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        from mtmc.store.opening import is_url

        if value is not None and not is_url(value):
            raise ValueError(f"store.url must be a postgresql:// URL, got {value.split('@')[-1]!r}")
        return value

    @model_validator(mode="after")
    def _one_database(self) -> StoreConfig:
        if self.url is not None and self.path is not None:
            raise ValueError("store: give path (SQLite) or url (PostgreSQL), not both")
        return self


class DashboardConfig(StrictModel):
    """Where the matcher's dashboard listens (its port is ``matcher.dashboard``) and who may use it."""

    host: str = Field(
        "127.0.0.1", description="the address to serve on; anything but loopback needs a token"
    )
    token: str | None = Field(
        None,
        description="required from every client (Authorization: Bearer, or ?token= once); null: "
        "MTMC_DASHBOARD_TOKEN's, else none (loopback only)",
    )


class MtmcConfig(StrictModel):
    """The root of a config file (``configs/*.yaml``); every section has defaults."""

    cameras: list[CameraConfig] = Field(
        default_factory=list,
        description="camera entries, or a folder / glob of videos (one camera per file, named by its stem), or a list of both",
    )
    # The measured best parts (mtmc/detect/defaults.py says by how much): Open Model Zoo
    # vehicle-detection-0202, passing low-score boxes to deepsort-bot's second stage; the re-id
    # weights trained on real labelled vehicles. `mtmc track --classes` picks by class.
    detector: PartConfig = Field(default_factory=VEHICLE_DETECTOR.model_copy, description="the detector every camera runs")
    tracker: PartConfig = Field(default_factory=DEFAULT_TRACKER.model_copy, description="the single-camera tracker")
    embedder: PartConfig | None = Field(
        default_factory=VEHICLE_EMBEDDER.model_copy,
        description="re-id embedder for appearance; null: motion only",
    )
    attributes: AttributesConfig | None = Field(
        None, description="vehicle attribute scores per track for matcher metadata; none: not computed"
    )
    output: OutputConfig = Field(default_factory=OutputConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    scenario: Path | None = Field(
        None, description="an AI City / SynthCity scenario folder: cameras, clocks, calibration, topology, GT from it"
    )
    topology: TopologyConfig | Path | None = Field(None, description="camera links and travel times (or a YAML file)")
    matcher: MatcherServiceConfig = Field(default_factory=MatcherServiceConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    security: SecurityConfig | None = Field(None, description="CURVE keys; none: plaintext (loopback only)")
    store: StoreConfig = Field(default_factory=StoreConfig, description="the sightings database (mtmc search)")
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig, description="the web dashboard's host and token")

    @field_validator("cameras", mode="before")
    @classmethod
    def _expand_folders(cls, value: Any, info: ValidationInfo) -> Any:
        """Folders and globs of videos -> one camera each, relative to the config file's folder."""
        base = (info.context or {}).get("base")
        return expand(value, Path(base) if base is not None else Path.cwd())

    @field_validator("cameras")
    @classmethod
    def _numbered(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        return assign_numbers(cameras)

    @model_validator(mode="after")
    def _metadata_has_attributes(self) -> MtmcConfig:
        """A metadata weight on an attribute no worker sends would silently do nothing."""
        from mtmc.reid.attributes import ATTRIBUTE_NAMES

        sent = () if self.attributes is None else ATTRIBUTE_NAMES[self.attributes.name]
        for k, distance in enumerate(self.matcher.distances):
            metadata = distance.options().get("metadata")
            for name in metadata if isinstance(metadata, dict) else ():  # other shapes: the distance says
                if name not in sent:
                    fix = (
                        f"the attribute model sends {', '.join(sent)}" if sent
                        else "add an attributes: section (name: openvino-vehicle-attributes) so workers send colour and type"
                    )
                    raise ValueError(f"matcher.distances.{k}.metadata: no attribute {name!r}; {fix}")
        return self


Model = TypeVar("Model", bound=BaseModel)


def load_config(path: str | Path, model: type[Model] = MtmcConfig) -> Model:  # type: ignore[assignment]
    """Read ``path`` as YAML into ``model``; relative paths are resolved against its folder."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise MtmcError(f"config not found: {path} (check the path)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else f"{path}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise MtmcError(f"{where}: not valid YAML: {problem}") from None
    except UnicodeDecodeError:
        raise MtmcError(f"{path}: not a text file") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MtmcError(f"{path}: expected a mapping of sections at the top, found {type(data).__name__}")
    try:
        config = model.model_validate(data, context={"base": path.parent})
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")  # a misspelt key first
        error = errors[0]
        field = ".".join(str(p) for p in error["loc"]) or "(top)"
        shown = (
            "input" in error and not isinstance(error["input"], dict)
            and error["type"] not in (ERROR_TYPE, "extra_forbidden")  # an unknown key's value says nothing
        )
        value = f" (got {error['input']!r})" if shown else ""
        more = f" [+{exc.error_count() - 1} more]" if exc.error_count() > 1 else ""
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key" + _did_you_mean(model, error["loc"])
        raise MtmcError(f"{path}: {field}: {message}{value}{more}") from None
    return _resolve_paths(config, path.parent)


def _did_you_mean(model: type[BaseModel], loc: tuple) -> str:
    """For a misspelt key: the valid key nearest to it, found by walking the models along ``loc``."""
    import difflib
    import typing

    for key in loc[:-1]:
        if isinstance(key, int):
            continue
        field = model.model_fields.get(str(key))
        if field is None:
            return ""
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        candidates += [inner for c in list(candidates) for inner in typing.get_args(c)]
        models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not models:
            return ""
        model = models[0]
    key, keys = str(loc[-1]), list(model.model_fields)
    close = difflib.get_close_matches(key, keys, n=1) or [k for k in keys if key.startswith(k) or k.startswith(key)]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _resolve_paths(model: Model, base: Path) -> Model:
    updates: dict[str, Any] = {}
    for name, value in model:
        if isinstance(value, Path) and not value.is_absolute():
            updates[name] = Path(os.path.normpath(base / value))
        elif isinstance(value, BaseModel):
            updates[name] = _resolve_paths(value, base)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            updates[name] = [_resolve_paths(item, base) for item in value]
        elif isinstance(value, dict) and value and isinstance(next(iter(value)), Path):  # key files -> cameras
            updates[name] = {k if k.is_absolute() else Path(os.path.normpath(base / k)): v for k, v in value.items()}
        elif isinstance(value, dict) and value and isinstance(next(iter(value.values())), BaseModel):
            updates[name] = {key: _resolve_paths(item, base) for key, item in value.items()}
    if isinstance(model, CameraConfig) and "://" not in model.source and not Path(model.source).is_absolute():
        updates["source"] = os.path.normpath(base / model.source)
    detections = model.options().get("path") if isinstance(model, PartConfig) and model.name == "file" else None
    if isinstance(detections, str) and not Path(detections).is_absolute() and not detections.startswith("{source_dir}"):
        # a detections file, like any path ({source_dir}: the camera's video folder, already absolute)
        updates["path"] = os.path.normpath(base / detections)
    calibration = model.options().get("calibration") if isinstance(model, PartConfig) else None
    if isinstance(calibration, str) and not Path(calibration).is_absolute():  # an embedder's calibration file
        updates["calibration"] = os.path.normpath(base / calibration)
    return model.model_copy(update=updates)
