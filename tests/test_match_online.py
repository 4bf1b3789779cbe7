"""Online association: bounded delay, determinism under any arrival/watermark order, revisions, memory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtmc.match.cluster import constrained_agglomerative
from mtmc.match.config import MatcherConfig, TopologyConfig
from mtmc.match.gates import cannot_link, time_gates
from mtmc.match.online import OnlineAssociator, cluster_sparse
from mtmc.types import Tracklet

from helpers import calibrated_scene


def tracklet(camera, track, t0, t1, feature=None, fps=5.0) -> Tracklet:
    times = np.arange(t0, t1 + 1e-9, 1 / fps)
    boxes = np.tile([10.0, 10.0, 20.0, 40.0], (len(times), 1))
    return Tracklet(camera, track, np.arange(1, len(times) + 1), boxes, times, feature=feature)


def angle(degrees: float) -> np.ndarray:
    return np.array([math.cos(math.radians(degrees)), math.sin(math.radians(degrees))])


def cosine_config(**online) -> MatcherConfig:
    """Appearance only, no camera network learnt (these tests are about the association core)."""
    return MatcherConfig.model_validate(
        {"distances": [{"name": "cosine"}], "threshold": 0.5, "online": online, "network": {"learn": False}}
    )


def calibrated(config: MatcherConfig, topology: TopologyConfig | None = None) -> OnlineAssociator:
    """The online matcher with a calibrated embedder (tests.helpers.calibrated_scene)."""
    return OnlineAssociator(config, calibrated_scene(), topology)


def run(online: OnlineAssociator, tracklets: list[Tracklet], watermarks: list[float]) -> dict:
    """Feed tracklets honouring the watermark guarantee (all ending at or before W are in)."""
    final = {}
    pending = sorted(tracklets, key=lambda t: t.end)
    for w in watermarks:
        while pending and pending[0].end <= w:
            online.add(pending.pop(0))
        final.update({t.key: g for t, g in online.advance(w)[1]})
    for t in pending:
        online.add(t)
    final.update({t.key: g for t, g in online.finish()[1]})
    return final


def test_vehicle_passing_two_cameras_gets_one_id():
    a1 = tracklet(1, 1, 0.0, 3.0, angle(0))
    b1 = tracklet(1, 2, 1.0, 4.0, angle(90))
    a2 = tracklet(2, 7, 10.0, 13.0, angle(5))
    b2 = tracklet(2, 8, 11.0, 14.0, angle(85))
    online = calibrated(cosine_config())
    for t in (a1, b1):
        online.add(t)
    decisions, _ = online.advance(5.0)
    assert sorted(d.kind for d in decisions) == ["assign", "assign"]
    assert all(d.decided_at_s - t.end <= 1.0 for d, t in zip(sorted(decisions, key=lambda d: d.key), (a1, b1)))
    assert online.global_id(a1.key) != online.global_id(b1.key)
    for t in (a2, b2):
        online.add(t)
    online.advance(15.0)
    assert online.global_id(a2.key) == online.global_id(a1.key)
    assert online.global_id(b2.key) == online.global_id(b1.key)
    _, finals = online.finish()
    assert len(finals) == 4 and online.window_size == 0 and online.global_id(a1.key) is None


def random_scene(seed: int, n: int = 60) -> list[Tracklet]:
    rng = np.random.default_rng(seed)
    identities = rng.standard_normal((12, 8))
    out = []
    for k in range(n):
        camera = int(rng.integers(1, 5))
        t0 = float(np.round(rng.uniform(0, 60), 1))
        feature = identities[int(rng.integers(0, 12))] + 0.4 * rng.standard_normal(8)
        out.append(tracklet(camera, k, t0, t0 + float(np.round(rng.uniform(0.5, 6), 1)), feature))
    return out


def test_final_ids_do_not_depend_on_arrival_or_watermark_steps():
    tracklets = random_scene(0)
    topology = TopologyConfig.model_validate(
        {"links": [{"from": f"c00{a}", "to": f"c00{b}", "min_s": 0, "max_s": 30} for a, b in ((1, 2), (2, 3), (3, 4))]}
    )
    results = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        order = list(rng.permutation(len(tracklets)))
        shuffled = [tracklets[k] for k in order]
        steps = np.cumsum(rng.uniform(0.05, 7.0, 40)).tolist()
        for topo in (None, topology):
            online = calibrated(cosine_config(window_s=20.0), topology=topo)
            # arrivals: every tracklet ending at or before W, shuffled, plus some that end later (early)
            final = {}
            remaining = list(shuffled)
            for w in steps:
                due = [t for t in remaining if t.end <= w or rng.uniform() < 0.05]
                for t in due:
                    online.add(t)
                remaining = [t for t in remaining if t not in due]
                final.update({t.key: g for t, g in online.advance(w)[1]})
            for t in remaining:
                online.add(t)
            final.update({t.key: g for t, g in online.finish()[1]})
            assert online.late == 0 and len(final) == len(tracklets)
            results.append((topo is None, final))
    for plain in (True, False):
        finals = [f for p, f in results if p == plain]
        assert all(f == finals[0] for f in finals[1:])
    assert len(set(results[0][1].values())) < len(tracklets)  # something was matched


def test_same_camera_overlapping_tracks_never_share_an_id():
    # two tracks of camera 1 at the same time look identical; camera 2 sees the same look later
    a = tracklet(1, 1, 0.0, 4.0, angle(0))
    b = tracklet(1, 2, 2.0, 6.0, angle(1))
    c = tracklet(2, 1, 8.0, 10.0, angle(0.5))
    d = tracklet(2, 2, 7.0, 10.5, angle(0.2))  # overlaps c on camera 2
    final = run(calibrated(cosine_config()), [a, b, c, d], [1.0, 5.0, 7.0, 9.0, 12.0, 30.0])
    assert final[a.key] != final[b.key]
    assert final[c.key] != final[d.key]
    assert {final[c.key], final[d.key]} == {final[a.key], final[b.key]}


def test_bridging_evidence_later_revises_two_ids_into_one():
    # A and B are 44 degrees apart (cosine distance 0.28: about as likely one vehicle as two, too
    # little against the prior): two identities. C, ending later, lies between them (22 degrees from
    # each, strong evidence): it joins A, and the revision merges B into A's identity.
    a = tracklet(1, 1, 0.0, 2.0, angle(0))
    b = tracklet(3, 1, 10.0, 12.0, angle(44))
    c = tracklet(2, 1, 20.0, 22.0, angle(22))
    online = calibrated(cosine_config())
    online.add(a)
    online.add(b)
    online.advance(15.0)
    first_a, first_b = online.global_id(a.key), online.global_id(b.key)
    assert first_a != first_b and online.revisions == 0
    online.add(c)
    decisions, _ = online.advance(25.0)
    assert online.revisions == 1
    assert [(d.key, d.global_id, d.kind) for d in decisions] == [(c.key, first_a, "assign"), (b.key, first_a, "revise")]
    _, finals = online.finish()
    assert {t.key: g for t, g in finals} == {a.key: first_a, b.key: first_a, c.key: first_a}


def test_memory_stays_bounded_over_a_long_run():
    rng = np.random.default_rng(1)
    looks = rng.standard_normal((500, 4))
    chain = [{"from": f"c{a:03d}", "to": f"c{a + 1:03d}", "min_s": 0.5, "max_s": 3.0} for a in range(9)]
    topology = TopologyConfig.model_validate({"links": chain, "exclusive_views": True})
    online = calibrated(cosine_config(window_s=5.0, step_s=1.0), topology=topology)
    n, rate = 20_000, 20.0  # 20 tracklets ending per second for 1,000 s
    biggest = {"window": 0, "ids": 0, "cache": 0}
    finalised = 0
    for k in range(n):
        end = k / rate
        online.add(tracklet(int(k % 10), k, end - 0.4, end, looks[k % 500] + 0.1 * rng.standard_normal(4), fps=5))
        if k % 20 == 19:
            finalised += len(online.advance(end)[1])
            biggest["window"] = max(biggest["window"], online.window_size)
            biggest["ids"] = max(biggest["ids"], len(online._members), len(online._final_end))
            biggest["cache"] = max(biggest["cache"], len(online._dist))
    finalised += len(online.finish()[1])
    assert finalised == n and online.window_size == 0 and not online._dist and not online._members
    window = (5.0 + 2.0) * rate  # window plus the decided epoch and the one in progress
    assert biggest["window"] <= window and biggest["cache"] <= window and biggest["ids"] <= window
    assert online.epochs >= 999


def test_late_tracklet_is_counted_and_still_assigned():
    a = tracklet(1, 1, 0.0, 2.0, angle(0))
    late = tracklet(2, 1, 3.0, 4.5, angle(2))
    online = calibrated(cosine_config())
    online.add(a)
    online.advance(10.0)  # epoch 4 (late's) is decided without it
    online.add(late)
    assert online.late == 1 and online.global_id(late.key) is None
    decisions, _ = online.advance(11.0)
    assert [(d.key, d.kind, d.decided_at_s) for d in decisions] == [(late.key, "assign", 11.0)]
    assert online.global_id(late.key) == online.global_id(a.key)


def test_sparse_clustering_equals_the_offline_clustering():
    rng = np.random.default_rng(2)
    for _ in range(20):
        n = 30
        ts = [tracklet(int(rng.integers(1, 4)), k, float(s), float(s) + 3.0) for k, s in enumerate(rng.uniform(0, 30, n))]
        d = np.round(rng.uniform(0, 1.2, (n, n)), 1)  # rounded: ties
        d = np.minimum(d, d.T)
        d[np.triu(rng.uniform(size=(n, n)) < 0.6)] = np.nan
        d = np.fmin(d, d.T)
        np.fill_diagonal(d, np.nan)
        pairs = {(i, j): d[i, j] for i in range(n) for j in range(i + 1, n) if np.isfinite(d[i, j])}
        for linkage in ("average", "complete"):
            expected = constrained_agglomerative(d, cannot_link(ts), 0.5, linkage)
            assert cluster_sparse(ts, pairs, 0.5, linkage).tolist() == expected.tolist()


def test_online_gates_equal_the_offline_time_gates():
    """The online matcher gates row by row on arrays; the offline core on the whole matrix: same pairs."""
    rng = np.random.default_rng(3)
    tracklets = [tracklet(int(c), k, float(t0), float(t0 + d)) for k, (c, t0, d) in
                 enumerate(zip(rng.integers(1, 5, 80), rng.uniform(0, 200, 80), rng.uniform(1, 15, 80)))]  # fmt: skip
    links = [{"from": "c001", "to": "c002", "min_s": 5, "max_s": 30}, {"from": "c002", "to": "c003", "min_s": 0, "max_s": 60},
             {"from": "c003", "to": "c002", "min_s": 10, "max_s": 20}]  # fmt: skip
    starts = np.array([t.start for t in tracklets])
    ends = np.array([t.end for t in tracklets])
    cameras = np.array([t.camera for t in tracklets])
    for complete in (True, False):
        for exclusive in (False, True):
            topology = TopologyConfig.model_validate({"links": links, "complete": complete, "exclusive_views": exclusive})
            config = cosine_config().model_copy(update={"max_gap_s": 40.0})
            online = calibrated(config, topology=topology)
            offline = time_gates(tracklets, topology, config.max_gap_s)
            for i, t in enumerate(tracklets):
                np.testing.assert_array_equal(online._gate(t, starts, ends, cameras), offline[i])


def test_window_candidates_equal_the_offline_time_gates_whatever_the_topology():
    """Candidates come from the window's per-camera slots when only linked cameras can pass (complete,
    exclusive topology), from a scan of the whole window otherwise: both give the offline gates' pairs,
    also after tracklets left the window and their slots were reused."""
    rng = np.random.default_rng(4)
    tracklets = [tracklet(int(c), k, float(t0), float(t0 + d)) for k, (c, t0, d) in
                 enumerate(zip(rng.integers(1, 6, 90), rng.uniform(0, 200, 90), rng.uniform(1, 15, 90)))]  # fmt: skip
    links = [{"from": "c001", "to": "c002", "min_s": 5, "max_s": 30}, {"from": "c002", "to": "c003", "min_s": 0, "max_s": 60},
             {"from": "c003", "to": "c002", "min_s": 10, "max_s": 20}]  # fmt: skip
    window, gone, batch = tracklets[:60], set(range(0, 60, 7)), tracklets[60:]
    for complete in (True, False):
        for exclusive in (False, True):
            topology = TopologyConfig.model_validate({"links": links, "complete": complete, "exclusive_views": exclusive})
            config = cosine_config().model_copy(update={"max_gap_s": 40.0})
            online = calibrated(config, topology=topology)
            for k, t in enumerate(window):
                online._columns.add(t, k + 1)
            for k in sorted(gone):
                online._columns.remove(window[k].key)
            for k in sorted(gone)[:3]:  # slots freed above are taken again
                online._columns.add(window[k], k + 1)
            present = [k for k in range(60) if k not in sorted(gone)[3:]]
            offline = time_gates(tracklets, topology, config.max_gap_s)
            for i, (slots, others) in enumerate(online._candidates(batch)):
                found = sorted(online._columns.tracklets[s].track for s in slots.tolist())
                expected = [k for k in present if offline[60 + i, k]]
                assert found == expected, (complete, exclusive, i)
                assert [t.key for t in (online._columns.tracklets[s] for s in slots)] == sorted(
                    online._columns.tracklets[s].key for s in slots
                )  # key order, as the distances expect
                assert others.tolist() == [j for j in range(len(batch)) if j != i and offline[60 + i, 60 + j]]


def test_shipped_calibration_is_rescaled_to_the_footage_before_the_first_cross_camera_decision():
    """An embedder calibrated elsewhere (two vehicles ~1.0 apart) on footage where two vehicles lie
    0.4 apart: unscaled, 0.4 reads as one vehicle. Five tracks seen at once by one camera (ten known
    negatives) rescale it before another camera's vehicle comes, so that vehicle is not joined."""
    from mtmc.match.distances import Scene
    from mtmc.match.evidence import AppearanceCalibration, DistanceSample

    shipped = AppearanceCalibration(DistanceSample(0.36, 0.15, 100), DistanceSample(0.99, 0.15, 1000), "elsewhere")
    assert shipped.llr(np.array([0.4]))[0] > 2.0
    basis = np.eye(8)

    def vehicle(k: int) -> np.ndarray:  # cosine distance 0.4 between any two
        return math.sqrt(0.6) * basis[0] + math.sqrt(0.4) * basis[k]

    seen_together = [tracklet(1, k, 0.0, 3.0, vehicle(k)) for k in range(1, 6)]
    other = tracklet(2, 1, 10.0, 13.0, vehicle(6))
    online = OnlineAssociator(cosine_config(), Scene(appearance=shipped))
    final = run(online, [*seen_together, other], [5.0, 15.0])
    assert len(set(final.values())) == 6
    assert online.scene.appearance.different.mean == pytest.approx(0.4, abs=1e-6)
