"""Appearance evidence: the LLR of a cosine distance must fall with distance for any calibration."""

import numpy as np
import pytest

from mtmc.match.evidence import AppearanceCalibration, DistanceSample, NegativeMoments

DISTANCES = np.linspace(0.0, 2.0, 401)


@pytest.mark.parametrize(
    ("same", "different"),
    [
        ((0.19, 0.063), (0.515, 0.063)),  # a run's self-scaled 2cam model: equal spreads
        ((0.3692, 0.1203), (0.9813, 0.1207)),  # the 2cam model as shipped
        ((0.2132, 0.0648), (0.4365, 0.109)),  # ImageNet features: the different pairs wider
        ((0.2, 0.15), (0.6, 0.05)),  # the same pairs wider
    ],
)
def test_llr_never_rises_with_distance(same: tuple[float, float], different: tuple[float, float]) -> None:
    model = AppearanceCalibration(DistanceSample(*same, 100), DistanceSample(*different, 1000))
    llr = model.llr(DISTANCES)
    assert np.all(np.diff(llr) <= 1e-9)
    assert model.llr(np.array([same[0]]))[0] > 0 > model.llr(np.array([different[0]]))[0]
    assert model.llr(np.array([2.0]))[0] < -3  # opposite features are never alike


def test_scaled_to_a_run_keeps_the_order() -> None:
    """A run whose different vehicles lie at half the shipped distance: the scaled model still says
    "different" at the run's typical negative distance (the city run once read every pair as alike)."""
    shipped = AppearanceCalibration(DistanceSample(0.3692, 0.1203, 102), DistanceSample(0.9813, 0.1207, 10302))
    negatives = NegativeMoments()
    negatives.add(np.random.default_rng(0).normal(0.515, 0.06, 1198))
    run = shipped.scaled(negatives)
    assert run.different.mean == pytest.approx(0.515, abs=0.01)
    assert run.llr(np.array([0.515]))[0] < -4
    assert run.llr(np.array([0.1]))[0] > 4
