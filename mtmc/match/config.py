"""The ``mtmc match`` config: cameras (clock, ground-plane homography), topology, matcher options.

Defaults are generic, not fitted to a data set; each says why it is what it is. A camera's
homography is given as ``homography`` (3x3, with ``homography_maps`` saying which way) or as
``calibration``: an AI City ``calibration.txt`` whose ``Homography matrix: a b c;d e f;g h i``
maps world to image (as AI City and SynthCity write it). GPS grounds (CityFlow) and lens
distortion are handled where the maps are built, :mod:`mtmc.match.geometry`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mtmc.camera_names import aicity_number, assign_numbers, check_name
from mtmc.errors import MtmcError
from mtmc.match.evidence import logit
from mtmc.schema import StrictModel


class CameraGeometry(StrictModel):
    """Where a camera sits in time and on the ground: what the matcher needs besides tracks."""

    offset_s: float = Field(0.0, description="global time of the camera's frame 1, seconds")
    homography: list[list[float]] | None = Field(None, description="3x3 ground-plane homography")
    homography_maps: Literal["image_to_ground", "ground_to_image"] = Field(
        "image_to_ground", description="which way `homography` maps (EPFL: image_to_ground)"
    )
    calibration: Path | None = Field(None, description="AI City calibration.txt (world -> image)")
    ground_units: Literal["auto", "metres", "degrees"] = Field(
        "auto",
        description="the homography's ground unit: metres, or GPS degrees (CityFlow: lat, lon; turned into metres); "
        "auto: degrees when the view spans well under a degree at a valid latitude and longitude",
    )

    @field_validator("homography")
    @classmethod
    def _three_by_three(cls, value: list[list[float]] | None) -> list[list[float]] | None:
        if value is not None and (len(value) != 3 or any(len(row) != 3 for row in value)):
            raise ValueError("must be a 3x3 matrix (three rows of three numbers)")
        if value is not None and np.linalg.matrix_rank(np.array(value, np.float64)) < 3:
            raise ValueError("must be invertible (this one maps the plane onto a line)")
        return value

    @model_validator(mode="after")
    def _one_homography(self) -> CameraGeometry:
        if self.homography is not None and self.calibration is not None:
            raise ValueError("give homography or calibration, not both")
        return self


class NamedCamera(CameraGeometry):
    """A camera's name and AI City number (rules: :mod:`mtmc.camera_names`). ``number`` is set here
    for names like ``c001``; the others get theirs from the list they are in (``assign_numbers``)."""

    id: str = Field(description="camera name: letters, digits, - and _ (e.g. north-gate, c001)")
    number: int | None = Field(
        None, ge=1, description="AI City camera number; default: a name like c001 is 1, others the lowest free in name order"
    )

    @field_validator("id")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    @model_validator(mode="after")
    def _number_from_name(self) -> NamedCamera:
        if self.number is None:
            self.number = aicity_number(self.id)
        return self


class MatchCamera(NamedCamera):
    fps: float = Field(gt=0, description="frame rate of the track files' frame numbers")


class Link(StrictModel):
    """A vehicle seen by ``from`` can next be seen by ``to`` after ``min_s``..``max_s`` seconds
    (between the middle times of the two tracklets, i.e. view centre to view centre)."""

    from_: str = Field(alias="from", description="camera name")
    to: str = Field(description="camera name")
    min_s: float = Field(ge=0, description="the shortest travel time, seconds")
    max_s: float = Field(gt=0, description="the longest travel time, seconds")
    mean_s: float | None = Field(None, description="travel time's mean when known (learnt): a normal density")
    std_s: float | None = Field(None, gt=0, description="travel time's standard deviation when known")
    exit_zone: list[float] | None = Field(
        None, min_length=3, max_length=3, description="[x, y, radius] pixels of `from` its vehicles leave through (learnt)"
    )
    entry_zone: list[float] | None = Field(
        None, min_length=3, max_length=3, description="[x, y, radius] pixels of `to` its vehicles arrive through (learnt)"
    )
    model_config = ConfigDict(extra="ignore", populate_by_name=True)  # SynthCity adds distance_m, observed_s

    @field_validator("from_", "to")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    @model_validator(mode="after")
    def _ordered(self) -> Link:
        if self.max_s < self.min_s:
            raise ValueError(f"link {self.from_} -> {self.to}: max_s < min_s")
        return self


class TopologyConfig(StrictModel):
    links: list[Link] = Field(default_factory=list)
    exclusive_views: bool = Field(
        False,
        description="true: no two cameras see the same place, so tracklets of different cameras "
        "that overlap in time are never one identity",
    )
    complete: bool = Field(
        True,
        description="true: the links are every way between cameras (an unlinked pair is never direct "
        "evidence); false: only what is known (a learnt topology), so an unlinked pair is gated by "
        "time alone (matcher.max_gap_s), as without a topology",
    )
    overlaps: list[tuple[str, str]] = Field(
        default_factory=list,
        description="with exclusive_views: the camera pairs whose views do overlap (a vehicle may be in both at once)",
    )

    @field_validator("overlaps")
    @classmethod
    def _overlap_names(cls, value: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(check_name(a), check_name(b)) for a, b in value]

    def may_overlap(self, a: int, b: int) -> bool:
        """Whether cameras ``a`` and ``b`` (numbers; topology ``by_number``) can see one vehicle at once."""
        return not self.exclusive_views or a == b or {f"c{a:03d}", f"c{b:03d}"} in [set(pair) for pair in self.overlaps]

    def overlap_allowed(self, cameras_a: np.ndarray, cameras_b: np.ndarray) -> np.ndarray:
        """``may_overlap`` for arrays of camera numbers, broadcast."""
        a, b = np.broadcast_arrays(np.asarray(cameras_a), np.asarray(cameras_b))
        if not self.exclusive_views:
            return np.ones(a.shape, bool)
        out = a == b
        for x, y in self.overlaps:
            x, y = int(x[1:]), int(y[1:])
            out |= ((a == x) & (b == y)) | ((a == y) & (b == x))
        return out

    def by_number(self, numbers: Mapping[str, int], strict: bool = True) -> TopologyConfig:
        """This topology as the matcher's gates read it: each link's cameras as ``c<number>``, by
        ``numbers`` (camera name -> AI City number). A link to a camera not in ``numbers`` gates
        nothing and is left out; unless ``strict`` is false, an unknown name that is not ``cNNN``
        (a scenario's other cameras) is an error: most likely a typo."""
        links = []
        for link in self.links:
            unknown = [end for end in (link.from_, link.to) if end not in numbers and aicity_number(end) is None]
            if unknown and strict:
                unknown = unknown[0]
                raise MtmcError(
                    f"topology link {link.from_} -> {link.to}: no camera named {unknown} "
                    f"(the cameras are {', '.join(sorted(numbers))}): fix the name"
                )
            if link.from_ in numbers and link.to in numbers:
                update = {"from_": f"c{numbers[link.from_]:03d}", "to": f"c{numbers[link.to]:03d}"}
                links.append(link.model_copy(update=update))
        for pair in self.overlaps:
            unknown = [end for end in pair if end not in numbers and aicity_number(end) is None]
            if unknown and strict:
                raise MtmcError(
                    f"topology overlap {pair[0]} - {pair[1]}: no camera named {unknown[0]} "
                    f"(the cameras are {', '.join(sorted(numbers))}): fix the name"
                )
        overlaps = [(f"c{numbers[a]:03d}", f"c{numbers[b]:03d}") for a, b in self.overlaps if a in numbers and b in numbers]
        return self.model_copy(update={"links": links, "overlaps": overlaps})


class DistanceConfig(BaseModel):
    """A distance from the registry by name; other keys are its options (unknown ones are errors)."""

    name: str = Field(description="the cue, by registered name: cosine, euclidean, geometric, velocity, continuity, attributes, handover")
    weight: float = Field(1.0, gt=0, description="multiplies this cue's log-likelihood ratio in the sum")
    model_config = ConfigDict(extra="allow")

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class RerankConfig(StrictModel):
    """k-reciprocal re-ranking (Zhong et al., CVPR 2017) of the appearance distances."""

    enabled: bool = Field(
        False, description="off by default: it helps with dense galleries, can hurt with few tracklets"
    )
    k1: int = Field(20, ge=1, description="the paper's value; clipped to the number of tracklets")
    k2: int = Field(6, ge=1, description="the paper's value (query expansion)")
    lambda_: float = Field(0.3, alias="lambda", ge=0, le=1, description="weight of the original distance")
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OnlineConfig(StrictModel):
    """The online mode: decisions on a fixed data-time grid, so that they depend only on the
    tracklets, never on their arrival order or on how the watermark advanced."""

    step_s: float = Field(
        1.0,
        gt=0,
        description="epoch length: tracklets ending in [e*step, (e+1)*step) are decided together once "
        "the watermark passes (e+1)*step; the decision delay is at most this (plus patience_s)",
    )
    window_s: float | None = Field(
        None,
        gt=0,
        description="revision window (data seconds, between tracklet ends): an identity can be joined "
        "or revised while a member ended within it; older tracklets are final and leave memory. "
        "None: 60 s without topology (a vehicle at urban speed, ~10 m/s, reaches cameras ~600 m away "
        "in a minute), else the topology's longest travel time max_s + 30 s (travel is measured "
        "between view centres, the window between tracklet ends), so that every link stays usable",
    )
    patience_s: float = Field(
        0.0, ge=0, description="extra watermark lag before an epoch is decided (room for stragglers)"
    )
    max_block: int = Field(
        256,
        ge=2,
        description="with re-ranking, most tracklets per distance_matrix call: the whole window "
        "when it fits, else the epoch's tracklets cut into chunks whose gated candidates fit",
    )

    def window(self, topology: TopologyConfig | None) -> float:
        if self.window_s is not None:
            return self.window_s
        links = topology.links if topology is not None else []
        return max(60.0, max((link.max_s for link in links), default=0.0) + 30.0)


class PriorConfig(StrictModel):
    """How often a vehicle has each kind of continuation (:mod:`mtmc.match.timing`); the prior odds
    of a pair are these over the number of other tracklets that could be that continuation."""

    link: float = Field(0.5, gt=0, le=1, description="a vehicle leaving a camera is seen next by a linked camera")
    overlap: float = Field(0.5, gt=0, le=1, description="a vehicle in one of two views that may overlap is seen by the other at once")
    unknown: float = Field(0.1, gt=0, le=1, description="a vehicle seen by a camera is seen by one it has no known link with")
    fragment: float = Field(0.5, gt=0, le=1, description="a track breaks and resumes within the continuity gap")
    reappear: float = Field(0.05, gt=0, le=1, description="a vehicle leaves a view and comes back into it later")


class NetworkConfig(StrictModel):
    """The camera network learnt from the run when no topology is given (:mod:`mtmc.match.network`)."""

    learn: bool = Field(True, description="without a topology: learn links and overlaps from the traffic, and join only across them")
    seed: Path | None = Field(None, description="a topology.learnt.yaml of an earlier run: start from its links and overlaps")
    confident_llr: float = Field(4.0, gt=0, description="appearance evidence that makes a match confident (odds ~55:1 alone)")
    alpha: float = Field(1e-3, gt=0, lt=1, description="chance (Poisson tail) below which confident matches make a link")
    min_pairs: int = Field(3, ge=1, description="confident matches a link or an overlap needs at least")


class MatcherConfig(StrictModel):
    distances: list[DistanceConfig] = Field(
        default_factory=lambda: [
            DistanceConfig(name="cosine"),
            DistanceConfig(name="geometric"),
            DistanceConfig(name="continuity"),
            DistanceConfig(name="handover"),
        ],
        description="the cues: each distance's log-likelihood ratio (same vehicle against different), "
        "summed over those defined for a pair with the prior log-odds",
    )
    # A decision, not a distance: the cues are calibrated likelihoods, so 0.5 (link when one
    # vehicle is likelier than two) is right for any embedder; raise it to link less.
    threshold: float = Field(
        0.5, gt=0, lt=1, description="link when the probability that two tracklets are one vehicle is at least this"
    )
    priors: PriorConfig = Field(default_factory=PriorConfig)
    linkage: Literal["average", "complete"] = Field(
        "average", description="how two groups of tracklets are compared: average (robust to one noisy pair) or complete"
    )
    rerank: RerankConfig = Field(default_factory=RerankConfig)
    max_gap_s: float = Field(
        math.inf,
        gt=0,
        description="without topology: tracklets of different cameras further apart in time than "
        "this give no direct evidence (inf: no limit)",
    )
    online: OnlineConfig = Field(default_factory=OnlineConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    calibration: Path | None = Field(
        None,
        description="the appearance cue's calibration: a `mtmc reid calibrate` YAML file or a weights name of "
        "the manifest; null: the run's embedder's (mtmc run), uncalibrated (mtmc match)",
    )

    @property
    def cost_threshold(self) -> float:
        """``threshold`` on the clustering's cost scale (minus the posterior log-odds)."""
        return -logit(self.threshold)


class MatchConfig(StrictModel):
    cameras: list[MatchCamera] = Field(min_length=1)
    topology: TopologyConfig | None = None
    matcher: MatcherConfig = Field(default_factory=MatcherConfig)

    @model_validator(mode="after")
    def _consistent(self) -> MatchConfig:
        self.cameras = assign_numbers(self.cameras)
        known = {c.id for c in self.cameras}
        for link in self.topology.links if self.topology else []:
            for end in (link.from_, link.to):
                if end not in known:
                    raise ValueError(f"topology link {link.from_} -> {link.to}: unknown camera {end}")
        for pair in self.topology.overlaps if self.topology else []:
            for end in pair:
                if end not in known:
                    raise ValueError(f"topology overlap {pair[0]} - {pair[1]}: unknown camera {end}")
        return self

