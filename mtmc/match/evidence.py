"""Evidence: each cue's distance as a log-likelihood ratio, so cues add up instead of averaging.

A cue measures a distance ``d`` between two tracklets (appearance, ground position, a fragment's
jump, travel time ...). Its evidence is ``LLR(d) = log p(d | same vehicle) - log p(d | different
vehicles)``: positive when ``d`` is typical of one vehicle, negative when typical of two. The
matcher sums the LLRs of the cues defined for a pair (each times its ``weight``) with the prior
log-odds and links on the posterior probability (``matcher.threshold``), so two weak agreeing cues
outweigh one and a cue that says nothing adds nothing. Each LLR is capped at ``LLR_CAP``: no single
measurement is certain.

Models:

- ``AppearanceCalibration``: an embedder's same / different-vehicle distance distributions, each a
  Beta distribution of the cosine distance / 2, fitted by moments on labelled pairs
  (``mtmc reid calibrate``) and shipped in the weights manifest. Its LLR is made monotone (a closer
  pair is never less likely the same vehicle).
  Shipped calibrations come from other footage, and an embedder's distances move on unfamiliar
  footage (every vehicle looks more alike to it there). So a run calibrates its embedder again on
  itself, without labels (``self_calibrated``): (1) two tracklets of one camera that overlap in time
  are two vehicles, so their distances scale the shipped calibration to the footage (the ratio of
  their mean to the shipped different-vehicle mean); (2) the cross-camera pairs the time gates let
  through are a mixture of one vehicle (the share the priors say, ``mtmc.match.timing``) and two,
  and a few EM steps started from (1) fit both distributions to them; (3) twins: some different
  vehicles look like one (same make, model and colour; a fleet's taxis), so the different-vehicle
  distribution is a mixture, ``(1 - t) p_different + t p_same``. The EM of (2) lets the weight of
  the one-vehicle component grow past the priors' share; what it finds beyond it is twins: ``t =
  (weight - share) / (1 - share)``. That bounds what appearance alone can claim at about ``-log t``
  (``benchmarks/match_calibration.py``: on SynthCity, whose twins and repaints are many, the plain
  two-Beta LLR of +8 came true as +3). Two tracks of one camera seen at once are no measure of
  twins: side by side, in one light and from one side, they look more alike than two cameras'
  vehicles do. Each step needs enough pairs (``MIN_NEGATIVES``, ``MIN_CANDIDATES``), else the one
  before stands.
- ``ProximityModel``: a distance in metres (or box heights) between where one vehicle would be
  twice: Rayleigh(``sigma``) when the same vehicle (2-D Gaussian error), the distance to a point
  uniform in a disc of radius ``radius`` when different: ``LLR = log(R^2 / 2 sigma^2) - d^2 / 2 sigma^2``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

# A run's co-occurring pairs needed before they rescale its calibration. The scale is one mean
# (known-negative distances vary by ~20 %, so ten pin it to ~6 %), and it should come before the
# first cross-camera decision: a shipped calibration read unscaled on unfamiliar footage takes
# every pair for one vehicle (SynthCity, 2cam: positive evidence up to distance 0.70 where two
# vehicles average 0.56). At 30 the first 40 s of SynthCity small were decided unscaled.
MIN_NEGATIVES = 10
MIN_CANDIDATES = 200  # gated cross-camera pairs needed before the mixture is fitted to them
EM_STEPS = 30
LLR_CAP = 8.0  # a likelihood ratio of ~3000: stronger claims from one cue are not trusted
_GRID = np.linspace(0.0, 2.0, 2001)  # cosine distances at which an appearance LLR is tabulated


def beta_logpdf(x: np.ndarray, a: float, b: float) -> np.ndarray:
    """log of the Beta(a, b) density at ``x`` in (0, 1): scipy.stats' value, without its per-call
    checks (the matcher calls this on every refit) or scipy itself (camera workers import this
    module through the run config, and scipy.special alone is tens of MB of their memory)."""
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    return (a - 1) * np.log(x) + (b - 1) * np.log1p(-x) - log_beta


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class DistanceSample:
    """Moments of a set of distances (cosine distance, 0..2) and how many pairs gave them."""

    mean: float
    std: float
    pairs: int

    @classmethod
    def of(cls, values: np.ndarray) -> DistanceSample:
        values = np.asarray(values, np.float64)
        if len(values) < 2:
            raise ValueError(f"need at least 2 distances to fit a distribution, got {len(values)}")
        return cls(float(values.mean()), float(max(values.std(ddof=1), 1e-4)), int(len(values)))

    def beta(self) -> tuple[float, float]:
        """Beta(a, b) of d / 2 with this mean and standard deviation (method of moments)."""
        m = min(max(self.mean / 2, 1e-4), 1 - 1e-4)
        v = min((self.std / 2) ** 2, m * (1 - m) * 0.999)
        k = m * (1 - m) / v - 1
        return m * k, (1 - m) * k


@dataclass(frozen=True)
class AppearanceCalibration:
    """How one embedder's cosine distances between tracklets of one vehicle and of two differ."""

    same: DistanceSample
    different: DistanceSample
    data: str = ""  # where the pairs came from, e.g. "vehicle-reid-2cam val, cross-camera"
    cap: float = LLR_CAP  # the largest |LLR| this calibration may claim
    twins: float = 0.0  # the share of different-vehicle pairs that look like one vehicle (module docstring, 3)
    _table: np.ndarray = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    _alone: np.ndarray = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not 0.0 <= self.twins < 1.0:
            raise ValueError(f"twins is a share of different-vehicle pairs in [0, 1), got {self.twins}")
        alone = self._tabulate()
        object.__setattr__(self, "_alone", np.clip(alone, -self.cap, self.cap))
        with np.errstate(divide="ignore"):  # -log((1 - t) e^-raw + t): the twin mixture's LLR
            mixed = -np.logaddexp(math.log1p(-self.twins) - alone, np.log(self.twins))
        object.__setattr__(self, "_table", np.clip(mixed, -self.cap, self.cap))

    @classmethod
    def fit(cls, same: np.ndarray, different: np.ndarray, data: str = "") -> AppearanceCalibration:
        """From cosine distances of same-vehicle and different-vehicle pairs; the twins among the
        different ones (module docstring, 3) by EM, the same-vehicle distribution held: a few
        different pairs as close as one vehicle's views would otherwise stretch the different
        distribution towards them and still leave appearance alone unbounded."""
        plain = cls(DistanceSample.of(same), DistanceSample.of(different), data)
        x = np.clip(np.asarray(different, np.float64), 1e-4, 2.0 - 1e-4)
        floor = 1.0 / (len(x) + 2)
        t, rest = floor, plain.different
        same_density = np.exp(beta_logpdf(x / 2, *plain.same.beta()))  # held: computed once
        for _ in range(EM_STEPS):
            p_twin = t * same_density
            p_rest = (1 - t) * np.exp(beta_logpdf(x / 2, *rest.beta()))
            r = p_twin / np.maximum(p_twin + p_rest, 1e-300)
            t = float(min(max(r.mean(), floor), 0.5))
            rest = _weighted(x, 1 - r)
        return cls(plain.same, rest, data, twins=t)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> AppearanceCalibration:
        try:
            return cls(
                DistanceSample(**values["same"]),
                DistanceSample(**values["different"]),
                str(values.get("data", "")),
                float(values.get("cap", LLR_CAP)),
                float(values.get("twins", 0.0)),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(
                f"an appearance calibration needs same: {{mean, std, pairs}} and different: {{mean, std, pairs}} ({exc})"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        out = {"same": asdict(self.same), "different": asdict(self.different), "data": self.data}
        if self.cap != LLR_CAP:
            out["cap"] = self.cap
        if self.twins:
            out["twins"] = self.twins
        return out

    def scaled(self, negatives: NegativeMoments) -> AppearanceCalibration:
        """Scaled to a run whose known-negative distances have these moments (module docstring, 1)."""
        if negatives.count < MIN_NEGATIVES:
            return self
        k = negatives.sample().mean / self.different.mean
        same = DistanceSample(self.same.mean * k, self.same.std * k, self.same.pairs)
        different = DistanceSample(self.different.mean * k, self.different.std * k, self.different.pairs)
        return AppearanceCalibration(
            same, different, f"{self.data}; scaled x{k:.2f} to {negatives.count} co-occurring pairs", self.cap, self.twins
        )

    def fitted(self, distances: np.ndarray, same_share: float) -> AppearanceCalibration:
        """Both distributions refitted by EM to a mixture of ``distances``, ``same_share`` of them
        one vehicle as the priors say, and the twins among the rest (module docstring, 2 and 3),
        starting from this calibration. The one-vehicle weight may grow to half the rest."""
        x = np.clip(np.asarray(distances, np.float64), 1e-4, 2.0 - 1e-4)
        if len(x) < MIN_CANDIDATES:
            return self
        same, different = self.same, self.different
        w = same_share
        for _ in range(EM_STEPS):
            p_same = w * np.exp(beta_logpdf(x / 2, *same.beta()))
            p_different = (1 - w) * np.exp(beta_logpdf(x / 2, *different.beta()))
            r = p_same / np.maximum(p_same + p_different, 1e-300)
            if r.sum() < 1 or (1 - r).sum() < 1:
                return self
            same, different = _weighted(x, r), _weighted(x, 1 - r)
            w = float(np.clip(r.mean(), same_share, same_share + 0.5 * (1 - same_share)))
        if not same.mean < different.mean:
            return self
        twins = max((w - same_share) / (1 - same_share), 1.0 / (len(x) + 2))
        data = f"{self.data}; fitted to {len(x)} cross-camera pairs ({same_share:.0%} one vehicle, twins {twins:.1%})"
        return AppearanceCalibration(same, different, data, self.cap, twins)

    def _tabulate(self) -> np.ndarray:
        x = np.clip(_GRID / 2, 1e-6, 1 - 1e-6)
        raw = beta_logpdf(x, *self.same.beta()) - beta_logpdf(x, *self.different.beta())
        raw = np.nan_to_num(raw, nan=0.0, posinf=700.0, neginf=-700.0)
        # the same-vehicle peak lies below the different-vehicle mean: far beyond it the narrower
        # beta's tail can fall faster than the wider one's and the raw ratio climbs again
        peak = int(np.argmax(raw[: max(1, int(np.searchsorted(_GRID, self.different.mean)))]))
        raw[:peak] = raw[peak]  # below the same-vehicle mode: as likely as at the mode, not less
        raw[peak:] = np.minimum.accumulate(raw[peak:])  # further is never more likely the same
        return raw

    def llr(self, distance: np.ndarray, twins: bool = True) -> np.ndarray:
        """LLR of cosine distances (nan stays nan); ``twins=False``: as if no two vehicles looked
        alike (the camera network learner's "confident match", whose false rate it measures)."""
        d = np.asarray(distance, np.float64)
        return np.where(np.isfinite(d), np.interp(d, _GRID, self._table if twins else self._alone), np.nan)

    def distance_at(self, llr: float) -> float:
        """The largest cosine distance whose LLR is at least ``llr`` (0 when none is)."""
        ok = np.flatnonzero(self._table >= llr)
        return float(_GRID[ok[-1]]) if len(ok) else 0.0


@dataclass
class NegativeMoments:
    """Running moments of a run's known-negative distances (module docstring): bounded memory."""

    count: int = 0
    total: float = 0.0
    squares: float = 0.0

    def add(self, distances: np.ndarray) -> None:
        d = np.asarray(distances, np.float64)
        d = d[np.isfinite(d)]
        self.count += len(d)
        self.total += float(d.sum())
        self.squares += float((d**2).sum())


    def sample(self) -> DistanceSample:
        mean = self.total / self.count
        variance = max(self.squares / self.count - mean**2, 0.0) * self.count / max(self.count - 1, 1)
        return DistanceSample(mean, max(math.sqrt(variance), 1e-4), self.count)


def _weighted(x: np.ndarray, w: np.ndarray) -> DistanceSample:
    mean = float((w * x).sum() / w.sum())
    std = float(np.sqrt((w * (x - mean) ** 2).sum() / w.sum()))
    return DistanceSample(mean, max(std, 1e-3), int(round(float(w.sum()))))


def self_calibrated(
    calibration: AppearanceCalibration, negatives: NegativeMoments, candidates: np.ndarray, same_share: float
) -> AppearanceCalibration:
    """``calibration`` read on a run: scaled to its co-occurring pairs, then fitted to its gated
    cross-camera pairs, twins with them (module docstring). An uncalibrated embedder stays capped."""
    return calibration.scaled(negatives).fitted(candidates, same_share)


# An embedder nobody calibrated: a typical trained re-id model's distances, and its evidence
# capped below what it takes to link across cameras by appearance alone (the prior's odds), so
# an uncalibrated model links only with other evidence (position, a fragment's continuity).
UNCALIBRATED = AppearanceCalibration(
    DistanceSample(0.2, 0.1, 0), DistanceSample(0.6, 0.15, 0), data="uncalibrated default", cap=2.0
)


@dataclass(frozen=True)
class ProximityModel:
    """Where a vehicle is against where it should be: Rayleigh(``sigma``) for the same vehicle,
    a point uniform in a disc of ``radius`` around it for another (module docstring)."""

    sigma: float
    radius: float

    def __post_init__(self) -> None:
        if not (self.sigma > 0 and self.radius > self.sigma):
            raise ValueError(f"need 0 < sigma < radius, got sigma={self.sigma}, radius={self.radius}")

    def llr(self, distance: np.ndarray) -> np.ndarray:
        d = np.asarray(distance, np.float64)
        value = math.log(self.radius**2 / (2 * self.sigma**2)) - d**2 / (2 * self.sigma**2)
        return np.clip(value, -LLR_CAP, LLR_CAP)
