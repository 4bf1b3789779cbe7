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


def test_twins_bound_what_appearance_alone_claims() -> None:
    plain = AppearanceCalibration(DistanceSample(0.2, 0.06, 100), DistanceSample(0.6, 0.1, 1000))
    twins = AppearanceCalibration(plain.same, plain.different, twins=0.05)
    near = np.array([0.1, 0.2])
    assert plain.llr(near) == pytest.approx([plain.cap, plain.cap])
    assert twins.llr(near) == pytest.approx(-np.log(0.05), abs=0.01)  # at most 1 / t: one in 20 pairs this close is two vehicles
    assert twins.llr(near, twins=False) == pytest.approx(plain.llr(near))
    assert np.all(np.diff(twins.llr(DISTANCES)) <= 1e-9)
    assert twins.llr(np.array([0.6]))[0] == pytest.approx(plain.llr(np.array([0.6]))[0], abs=0.05)  # far: no change
    assert AppearanceCalibration.from_dict(twins.to_dict()) == twins
    with pytest.raises(ValueError, match="twins"):
        AppearanceCalibration(plain.same, plain.different, twins=1.0)


def test_fitted_finds_the_twins_among_the_candidates() -> None:
    """Gated pairs: a tenth one vehicle (as the priors say), and a fifth of the others twins that
    look like one: the EM reads the excess of close pairs as twins."""
    rng = np.random.default_rng(1)
    same = rng.normal(0.25, 0.06, 400)
    twins = rng.normal(0.25, 0.06, 720)
    different = rng.normal(0.7, 0.1, 2880)
    start = AppearanceCalibration(DistanceSample(0.3, 0.1, 0), DistanceSample(0.8, 0.15, 0))
    fitted = start.fitted(np.clip(np.concatenate([same, twins, different]), 0, 2), same_share=0.1)
    assert fitted.twins == pytest.approx(0.2, abs=0.03)
    assert fitted.same.mean == pytest.approx(0.25, abs=0.02) and fitted.different.mean == pytest.approx(0.7, abs=0.02)
    assert fitted.llr(np.array([0.25]))[0] == pytest.approx(-np.log(fitted.twins), abs=0.1)
    none = start.fitted(np.clip(np.concatenate([same, different]), 0, 2), same_share=400 / 3280)
    assert none.twins < 0.01
