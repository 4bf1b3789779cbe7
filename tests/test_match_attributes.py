"""The ``attributes`` cue: colour / type agreement as a likelihood ratio of one vehicle against two."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtmc.errors import MtmcError
from mtmc.match.config import DistanceConfig, MatcherConfig
from mtmc.match.distances import ATTRIBUTE_CAP, DISTANCES, Scene, class_prior_of
from mtmc.match.offline import build_distances, distance_rows
from mtmc.types import Tracklet


def tracklet(camera: int, track: int, **attributes) -> Tracklet:
    one = np.array([0.0])
    scores = {name: np.asarray(p, np.float32) for name, p in attributes.items()}
    return Tracklet(camera, track, np.array([1]), np.zeros((1, 4)), one, attributes=scores)


def llr(fn, tracklets, others=None) -> np.ndarray:
    return fn.llr(fn(tracklets, None, others), None)


@pytest.fixture
def two_classes(monkeypatch):
    """An attribute model that also sends ``light`` with two classes, for examples by hand."""
    from mtmc.match import distances

    known = {**distances._known_attributes(), "light": ("dark", "bright")}
    monkeypatch.setattr(distances, "_known_attributes", lambda: known)


def test_two_class_ratio_by_hand(two_classes):
    # Uniform prior, confusion 0.2: p = (0.9, 0.1) is tempered to 0.8 p + 0.2 (0.5, 0.5) = (0.82, 0.18).
    # Agreeing: LR = (0.82^2 + 0.18^2) / 0.5 = 1.4096; disagreeing: LR = 2 * 0.82 * 0.18 / 0.5 =
    # 0.5904; a uniform posterior against anything: LR = (0.5 * 0.82 + 0.5 * 0.18) / 0.5 = 1.
    fn = DISTANCES.build("attributes", attributes=["light"], confusion=0.2, class_prior="uniform")
    a, b = tracklet(1, 1, light=[0.9, 0.1]), tracklet(2, 1, light=[0.9, 0.1])
    c, u = tracklet(2, 2, light=[0.1, 0.9]), tracklet(3, 1, light=[0.5, 0.5])
    out = llr(fn, [a, b, c, u])
    assert out[0, 1] == pytest.approx(math.log(1.4096)) and out[0, 1] > 0
    assert out[0, 2] == pytest.approx(math.log(0.5904)) and out[0, 2] < 0
    assert out[0, 3] == pytest.approx(0.0, abs=1e-12) and out[2, 3] == pytest.approx(0.0, abs=1e-12)
    assert np.allclose(out, out.T, equal_nan=True)


def test_two_class_prior_by_hand(two_classes):
    # Prior pi = (0.8, 0.2), no confusion: LR = sum_c p_a(c) p_b(c) / pi(c). Agreeing on the rare
    # class: 0.81 / 0.2 + 0.01 / 0.8 = 4.0625; on the common one: 0.81 / 0.8 + 0.01 / 0.2 = 1.0625
    # (agreeing on a common class says less); disagreeing: 0.09 / 0.8 + 0.09 / 0.2 = 0.5625.
    fn = DISTANCES.build("attributes", attributes=["light"], confusion=0.0, class_prior={"light": {"dark": 4, "bright": 1}})
    rare, rare2 = tracklet(1, 1, light=[0.1, 0.9]), tracklet(2, 1, light=[0.1, 0.9])
    common, common2 = tracklet(1, 2, light=[0.9, 0.1]), tracklet(2, 2, light=[0.9, 0.1])
    out = llr(fn, [rare, rare2, common, common2])
    assert out[0, 1] == pytest.approx(math.log(4.0625))
    assert out[2, 3] == pytest.approx(math.log(1.0625))
    assert out[0, 3] == pytest.approx(math.log(0.5625))
    # the prior itself as a posterior says nothing, whatever the other says; so does confusion 1
    assert llr(fn, [tracklet(1, 3, light=[0.8, 0.2]), rare])[0, 1] == pytest.approx(0.0, abs=1e-12)
    blind = DISTANCES.build("attributes", attributes=["light"], confusion=1.0, class_prior={"light": [0.8, 0.2]})
    assert llr(blind, [rare, rare2])[0, 1] == pytest.approx(0.0, abs=1e-12)


def test_confident_colours_default_confusion():
    fn = DISTANCES.build("attributes", attributes=["colour"], class_prior="uniform")
    white, white2, black = (tracklet(1, 1, colour=np.eye(7)[0]), tracklet(2, 1, colour=np.eye(7)[0]), tracklet(2, 2, colour=np.eye(7)[6]))
    out = llr(fn, [white, white2, black])
    q = 0.7 + 0.3 / 7, 0.3 / 7
    assert out[0, 1] == pytest.approx(math.log(7 * (q[0] ** 2 + 6 * q[1] ** 2)))  # +1.37
    assert out[0, 2] == pytest.approx(math.log(7 * (2 * q[0] * q[1] + 5 * q[1] ** 2)))  # -0.67
    assert out[0, 1] == pytest.approx(1.371, abs=1e-3) and out[0, 2] == pytest.approx(-0.673, abs=1e-3)
    # the distance is the probability of two vehicles at even odds
    d = fn([white, white2, black], None)
    assert d[0, 1] == pytest.approx(1 / (1 + math.exp(out[0, 1])))
    assert np.allclose(d, d.T, equal_nan=True)


def test_run_class_prior(two_classes):
    # The default pi is the tracklets' mean posterior, Laplace-smoothed: (sum_i p_i + 1) / (n + K).
    # Three "dark" (0.9, 0.1) and one "bright" (0.2, 0.8): pi = (2.9, 1.1) / 6 = (0.4833, 0.1833)
    # ... + one pseudo-count each: ((2.9 + 1) / 6, (1.1 + 1) / 6) = (0.65, 0.35).
    dark = [tracklet(c, 1, light=[0.9, 0.1]) for c in (1, 2, 3)]
    bright = tracklet(4, 1, light=[0.2, 0.8])
    bare = tracklet(4, 2)
    assert class_prior_of([*dark, bright, bare, dark[0]], "light", 2) == pytest.approx([0.65, 0.35])  # once each
    assert class_prior_of([bare], "light", 2) == pytest.approx([0.5, 0.5])  # nothing known: uniform
    fn = DISTANCES.build("attributes", attributes=["light"], confusion=0.0)
    out = llr(fn, [*dark, bright, bare])
    pi = np.array([0.65, 0.35])
    p, q = np.array([0.9, 0.1]), np.array([0.2, 0.8])
    assert out[0, 1] == pytest.approx(math.log((p * p / pi).sum()))
    assert out[0, 3] == pytest.approx(math.log((p * q / pi).sum()))
    # against others: the prior of both sets, here (0.9 + 0.9 + 0.2 + 1, 0.1 + 0.1 + 0.8 + 1) / 5;
    # the scene's kept prior wins over the tracklets at hand
    pi3 = np.array([0.6, 0.4])
    assert llr(fn, dark[:1], [dark[1], bright])[0] == pytest.approx(np.log([(p * p / pi3).sum(), (p * q / pi3).sum()]))
    kept = Scene(attribute_priors={"light": np.array([0.9, 0.1])})
    assert fn(dark[:2], kept)[0, 1] == pytest.approx(1 / (1 + (p * p / kept.attribute_priors["light"]).sum()))


def test_run_prior_discounts_the_common_class():
    # Most vehicles are cars: with a uniform prior two cars are evidence of one vehicle (LR 4 with
    # no confusion), with the run's prior they are nearly neutral; two vans (rare) still count.
    car, van = np.eye(4)[0], np.eye(4)[3]
    fleet = [tracklet(1, k, type=car) for k in range(18)] + [tracklet(2, 1, type=van), tracklet(2, 2, type=van)]
    uniform = llr(DISTANCES.build("attributes", attributes=["type"], class_prior="uniform"), fleet)
    run = llr(DISTANCES.build("attributes", attributes=["type"]), fleet)
    assert uniform[0, 1] == pytest.approx(0.904, abs=1e-3)
    assert 0 < run[0, 1] < 0.2 and run[18, 19] > 1.0
    assert run[0, 18] < 0


def test_nan_without_attributes():
    fn = DISTANCES.build("attributes")
    bare = [tracklet(1, 1), tracklet(2, 1)]
    assert np.isnan(fn(bare, None)).all()
    one = [tracklet(1, 1, colour=np.eye(7)[0], type=np.eye(4)[0]), tracklet(2, 1), tracklet(2, 2, colour=np.zeros(7))]
    out = fn(one, None)
    assert np.isnan(out[0, 1]) and np.isnan(out[0, 2])  # missing, and never classified (zeros)
    # a pair sharing only colour gets the colour term alone
    only_colour = tracklet(3, 1, colour=np.eye(7)[0])
    both = llr(fn, [one[0], only_colour])[0, 1]
    assert both == pytest.approx(llr(DISTANCES.build("attributes", attributes=["colour"]), [one[0], only_colour])[0, 1])
    # rectangles against others, and the matcher's rows: nan stays "no evidence"
    assert fn(one[:1], None, [only_colour, bare[0]]).shape == (1, 2)
    config = MatcherConfig(distances=[DistanceConfig(name="attributes")])
    rows = distance_rows(bare, None, config, np.zeros((2, 2)), built=build_distances(config))
    assert np.isnan(rows).all()


def test_cap_on_the_sum():
    # Colour and type both agreeing with no confusion: log 7 + log 4 = 3.33 > the cap 3.
    exact = DISTANCES.build("attributes", confusion=0.0, class_prior="uniform")
    a = tracklet(1, 1, colour=np.eye(7)[3], type=np.eye(4)[2])
    b = tracklet(2, 1, colour=np.eye(7)[3], type=np.eye(4)[2])
    c = tracklet(2, 2, colour=np.eye(7)[4], type=np.eye(4)[1])
    out = llr(exact, [a, b, c])
    assert out[0, 1] == pytest.approx(ATTRIBUTE_CAP) and ATTRIBUTE_CAP == 3.0
    assert out[0, 2] == pytest.approx(-ATTRIBUTE_CAP)  # LR 0: log clipped, not -inf
    assert llr(DISTANCES.build("attributes", confusion=0.0, class_prior="uniform", cap=1.0), [a, b, c])[0, 1] == pytest.approx(1.0)
    assert np.isfinite(exact([a, b, c], None)[0, 2])


def test_weights_per_attribute():
    a = tracklet(1, 1, colour=np.eye(7)[0], type=np.eye(4)[0])
    b = tracklet(2, 1, colour=np.eye(7)[0], type=np.eye(4)[1])  # same colour, other type
    colour = llr(DISTANCES.build("attributes", attributes={"colour": 1.0}), [a, b])[0, 1]
    kind = llr(DISTANCES.build("attributes", attributes={"type": 1.0}), [a, b])[0, 1]
    both = llr(DISTANCES.build("attributes", attributes={"colour": 0.5, "type": 2.0}), [a, b])[0, 1]
    assert both == pytest.approx(0.5 * colour + 2.0 * kind)
    assert llr(DISTANCES.build("attributes"), [a, b])[0, 1] == pytest.approx(colour + kind)  # default: both, weight 1


def test_bad_options_rejected_at_build_time():
    with pytest.raises(ValueError, match=r"no attribute 'color'.*colour, type"):
        DISTANCES.build("attributes", attributes={"color": 1.0})
    with pytest.raises(ValueError, match="weights > 0"):
        DISTANCES.build("attributes", attributes={"colour": -1})
    with pytest.raises(ValueError, match="weights > 0"):
        DISTANCES.build("attributes", attributes={})
    with pytest.raises(ValueError, match="confusion"):
        DISTANCES.build("attributes", confusion=1.5)
    with pytest.raises(ValueError, match="every class of type"):
        DISTANCES.build("attributes", class_prior={"type": {"car": 0.9}})
    with pytest.raises(ValueError, match="one probability > 0 per class"):
        DISTANCES.build("attributes", class_prior={"colour": [0.8, 0.2]})
    with pytest.raises(ValueError, match="class_prior must be run, uniform or a map"):
        DISTANCES.build("attributes", class_prior="flat")
    with pytest.raises(ValueError, match="class_prior must be run, uniform or a map"):
        DISTANCES.build("attributes", attributes=["colour"], class_prior={"type": [1, 1, 1, 1]})
    prior = DISTANCES.build("attributes", class_prior={"type": {"car": 0.7, "bus": 0.05, "truck": 0.1, "van": 0.15}})
    assert prior  # by label
    config = MatcherConfig(distances=[DistanceConfig(name="attributes", attributes=["colour", "make"])])
    with pytest.raises(MtmcError, match=r"matcher.distances: attributes: bad option \(no attribute 'make'"):
        build_distances(config)
