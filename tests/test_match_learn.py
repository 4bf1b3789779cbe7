"""Travel times learnt from confident matches."""

import numpy as np
import yaml

from mtmc.match.learn import TravelTimeLearner
from mtmc.runtime.matcher import read_topology
from mtmc.types import Tracklet


def _t(camera: int, track: int, start: float, feature: list[float]) -> Tracklet:
    times = np.array([start, start + 4.0])  # view centre at start + 2
    return Tracklet(camera, track, np.array([1, 2]), np.zeros((2, 4)), times, np.array(feature, np.float32), 2)


def test_learns_links_from_confident_pairs_only(tmp_path):
    learner = TravelTimeLearner(confident=0.1, min_pairs=2, slack=0.5)
    for k, travel in enumerate((10.0, 14.0, 12.0)):  # three vehicles c001 -> c002
        learner.observe(_t(1, k, 100.0 * k, [1, 0]), global_id=k)
        learner.observe(_t(2, k, 100.0 * k + travel, [1, 0.05]), global_id=k)
    learner.observe(_t(1, 9, 500.0, [1, 0]), global_id=9)  # an unsure match: not an observation
    learner.observe(_t(3, 9, 530.0, [0, 1]), global_id=9)
    learner.observe(_t(2, 7, 600.0, [1, 0]), global_id=7)  # only once c002 -> c003: too few
    learner.observe(_t(3, 7, 640.0, [1, 0]), global_id=7)
    assert learner.links() == [{"from": "c001", "to": "c002", "min_s": 5.0, "max_s": 21.0, "observations": 3}]
    assert learner.write(tmp_path / "t.yaml") == 1
    assert yaml.safe_load((tmp_path / "t.yaml").read_text())["links"][0]["max_s"] == 21.0
    topology = read_topology(tmp_path / "t.yaml")  # usable as a run's topology: a partial one
    assert not topology.complete and topology.links[0].max_s == 21.0


def test_memory_is_bounded_by_identities():
    learner = TravelTimeLearner(max_identities=100)
    for k in range(1000):
        learner.observe(_t(1, k, float(k), [1, 0]), global_id=k)
    assert len(learner._last) == 100


def test_identities_beyond_the_horizon_are_forgotten_and_observations_are_bounded():
    learner = TravelTimeLearner(confident=0.1, min_pairs=1, horizon_s=60.0, max_observations=5)
    for k in range(1000):  # a vehicle every 10 s, each seen on c001 then 20 s later on c002
        learner.observe(_t(1, k, 10.0 * k, [1, 0]), global_id=k)
        learner.observe(_t(2, k, 10.0 * k + 20.0, [1, 0]), global_id=k)
    assert len(learner._last) <= 8  # the last minute's identities, not a thousand
    assert len(learner.observed[(1, 2)]) == 5
    assert learner.links()[0]["observations"] == 5
    learner.observe(_t(1, 5000, 20_000.0, [1, 0]), global_id=5000)
    learner.observe(_t(2, 5000, 20_000.0 + 30.0, [1, 0]), global_id=5000)  # within the horizon: learnt
    assert max(learner.observed[(1, 2)]) == 30.0
