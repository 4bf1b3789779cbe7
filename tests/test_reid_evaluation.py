"""Re-id evaluation on tiny cases checked by hand: AP / CMC with VeRi-776 junk removal, image-to-track,
track averaging, ensembles, metadata distances and k-reciprocal re-ranking."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtmc.match.rerank import rerank
from mtmc.reid.evaluation import (
    Metadata,
    RerankConfig,
    average_by_track,
    average_precision,
    ensemble,
    evaluate,
    image_to_track,
    k_reciprocal_rerank,
    metadata_distance,
    pairwise_distance,
    query_gallery_distance,
    reduce_by_track,
    retrieval_metrics,
)

# ---- AP and CMC ---------------------------------------------------------------------------------


def test_average_precision_by_hand():
    # hits at ranks 1, 3, 6: precisions 1/1, 2/3, 3/6
    assert average_precision(np.array([1, 0, 1, 0, 0, 1], bool)) == pytest.approx((1 + 2 / 3 + 1 / 2) / 3)
    assert average_precision(np.array([0, 0, 1])) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="at least one correct match"):
        average_precision(np.zeros(3, bool))


# Gallery of 8, ascending distance in index order for every query unless changed.
GALLERY_PIDS = np.array([0, 1, 0, 2, 0, 3, 4, 5])
GALLERY_CAMS = np.array([0, 1, 1, 2, 2, 0, 1, 1])
RAMP = np.arange(1, 9) / 10.0


def four_queries() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dist = np.tile(RAMP, (4, 1))
    dist[1, 7] = 0.05  # query 1 (id 5) finds its match first
    return dist, np.array([0, 5, 3, 4]), np.zeros(4, int)


def test_retrieval_metrics_junk_skip_and_cmc_by_hand():
    dist, query_pids, query_cams = four_queries()
    out = retrieval_metrics(dist, query_pids, GALLERY_PIDS, query_cams, GALLERY_CAMS)
    # q0 (id 0, cam 0): gallery 0 is junk (same id, same camera); kept relevance 0 1 0 1 0 0 0 -> AP 1/2,
    #   first hit at rank 2. q1: rank 1, AP 1. q2 (id 3): its only match is on camera 0 -> skipped.
    # q3 (id 4): its match is 7th -> AP 1/7, in the top 10 but not the top 5.
    assert out["mAP"] == pytest.approx((0.5 + 1 + 1 / 7) / 3)
    assert out["rank1"] == pytest.approx(1 / 3)
    assert out["rank5"] == pytest.approx(2 / 3)
    assert out["rank10"] == pytest.approx(1.0)
    assert (out["num_queries"], out["num_valid_queries"]) == (4, 3)


def test_junk_removal_changes_the_result_as_expected():
    dist, query_pids, query_cams = four_queries()
    seen_elsewhere = GALLERY_CAMS.copy()
    seen_elsewhere[0] = 3  # gallery 0 (id 0) now from another camera: a correct match at rank 1 for q0
    kept = retrieval_metrics(dist[:1], query_pids[:1], GALLERY_PIDS, query_cams[:1], seen_elsewhere)
    removed = retrieval_metrics(dist[:1], query_pids[:1], GALLERY_PIDS, query_cams[:1], GALLERY_CAMS)
    assert kept["mAP"] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)  # relevance 1 0 1 0 1 0 0 0
    assert kept["rank1"] == 1.0
    assert removed["mAP"] == pytest.approx(0.5) and removed["rank1"] == 0.0


def test_ties_keep_gallery_order():
    out = retrieval_metrics(np.zeros((1, 3)), [7], [1, 7, 7], [0], [1, 1, 1])
    assert out["mAP"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_retrieval_metrics_errors():
    with pytest.raises(ValueError, match="no query has a correct match"):
        retrieval_metrics(np.zeros((1, 2)), [0], [0, 1], [0], [0, 0])  # only a same-camera match
    with pytest.raises(ValueError, match=r"dist must be \(num_query, num_gallery\) = \(1, 2\)"):
        retrieval_metrics(np.zeros((2, 2)), [0], [0, 1], [0], [0, 0])


# ---- tracks -------------------------------------------------------------------------------------

# One query (id 0, camera 0). Gallery: track 10 = images 0, 3 (id 1); track 11 = images 1, 2 (id 0);
# track 12 = image 4 (id 0, camera 0: a junk track); image 5 in no track (label -1, id 2).
TRACK_DIST = np.array([[0.1, 0.5, 0.2, 0.2, 0.05, 0.3]])
TRACKS = np.array([10, 11, 11, 10, 12, -1])
TRACK_PIDS = np.array([1, 0, 0, 1, 0, 2])
TRACK_CAMS = np.array([1, 1, 1, 1, 0, 2])


def test_image_to_track_min_and_mean_by_hand():
    dist, pids, cams = image_to_track(TRACK_DIST, TRACKS, TRACK_PIDS, TRACK_CAMS, reduce="min")
    assert dist == pytest.approx(np.array([[0.1, 0.2, 0.05, 0.3]]))  # tracks 10, 11, 12, the lone image
    assert pids.tolist() == [1, 0, 0, 2] and cams.tolist() == [1, 1, 0, 2]
    # min: junk 12, then 10 (0.1, wrong), 11 (0.2, right), lone (0.3) -> AP 1/2
    assert retrieval_metrics(dist, [0], pids, [0], cams)["mAP"] == pytest.approx(1 / 2)
    mean, _, _ = image_to_track(TRACK_DIST, TRACKS, TRACK_PIDS, TRACK_CAMS, reduce="mean")
    assert mean == pytest.approx(np.array([[0.15, 0.35, 0.05, 0.3]]))
    # mean: 10 (0.15), lone (0.3), then 11 (0.35) -> AP 1/3
    assert retrieval_metrics(mean, [0], pids, [0], cams)["mAP"] == pytest.approx(1 / 3)
    # image level for comparison: junk, 0.1 x, 0.2 v, 0.2 x, 0.3 x, 0.5 v -> (1/2 + 2/5) / 2
    assert retrieval_metrics(TRACK_DIST, [0], TRACK_PIDS, [0], TRACK_CAMS)["mAP"] == pytest.approx(0.45)


def test_image_to_track_rejects_a_track_of_two_vehicles_or_cameras():
    with pytest.raises(ValueError, match="track 10 mixes more than one identity"):
        image_to_track(TRACK_DIST, TRACKS, np.array([1, 0, 0, 3, 0, 2]), TRACK_CAMS)
    with pytest.raises(ValueError, match="track 11 mixes more than one camera"):
        image_to_track(TRACK_DIST, TRACKS, TRACK_PIDS, np.array([1, 1, 2, 1, 0, 2]))


def test_average_by_track_gallery_and_query_by_hand():
    dist = np.array([[1.0, 3.0, 2.0, 10.0], [5.0, 1.0, 0.0, 4.0]])
    tracks = np.array([0, 0, 1, -1])
    assert average_by_track(dist, tracks).tolist() == [[2.0, 2.0, 2.0, 10.0], [3.0, 3.0, 0.0, 4.0]]
    both = average_by_track(dist, tracks, query_tracks=np.array([4, 4]))
    assert both.tolist() == [[2.5, 2.5, 1.0, 7.0], [2.5, 2.5, 1.0, 7.0]]
    assert average_by_track(dist).tolist() == dist.tolist()


def test_reduce_by_track_errors():
    with pytest.raises(ValueError, match="reduce must be one of 'min', 'mean', got 'max'"):
        reduce_by_track(TRACK_DIST, TRACKS, "max")
    with pytest.raises(ValueError, match="tracks must label the 6 gallery images, got 5 labels"):
        reduce_by_track(TRACK_DIST, TRACKS[:5])


# ---- distances and ensembles --------------------------------------------------------------------


def test_pairwise_distances_by_hand():
    a, b = np.array([[3.0, 4.0]]), np.array([[6.0, 8.0], [0.0, 1.0], [3.0, 0.0]])
    assert pairwise_distance(a, b, "cosine") == pytest.approx(np.array([[0.0, 0.2, 0.4]]))
    assert pairwise_distance(a, b, "euclidean") == pytest.approx(np.array([[5.0, math.sqrt(18), 4.0]]))
    with pytest.raises(ValueError, match="metric must be one of 'cosine', 'euclidean', got 'manhattan'"):
        pairwise_distance(a, b, "manhattan")
    with pytest.raises(ValueError, match=r"features must be \(N, D\) and \(M, D\)"):
        pairwise_distance(a, np.ones((2, 3)))


def test_ensemble_averages_distance_matrices():
    a, b = np.array([[0.0, 4.0]]), np.array([[2.0, 0.0]])
    assert ensemble([a, b]).tolist() == [[1.0, 2.0]]
    assert ensemble([a, b], weights=[3, 1]).tolist() == [[0.5, 3.0]]
    with pytest.raises(ValueError, match="must share one shape"):
        ensemble([a, np.zeros((2, 2))])
    with pytest.raises(ValueError, match="2 non-negative numbers with a positive sum"):
        ensemble([a, b], weights=[1, -1])
    with pytest.raises(ValueError, match="at least one"):
        ensemble([])


def test_query_gallery_distance_of_an_ensemble_of_models():
    rng = np.random.default_rng(0)
    q1, g1 = rng.normal(size=(2, 4)), rng.normal(size=(3, 4))  # model 1: 4-d features
    q2, g2 = rng.normal(size=(2, 8)), rng.normal(size=(3, 8))  # model 2: 8-d features
    d1, d2 = pairwise_distance(q1, g1), pairwise_distance(q2, g2)
    assert query_gallery_distance([q1, q2], [g1, g2]) == pytest.approx((d1 + d2) / 2)
    assert query_gallery_distance([q1, q2], [g1, g2], ensemble_weights=[1, 3]) == pytest.approx(
        (d1 + 3 * d2) / 4
    )
    with pytest.raises(ValueError, match="same models' features"):
        query_gallery_distance([q1, q2], [g1])


# ---- metadata and re-ranking --------------------------------------------------------------------


def test_metadata_distance_added_with_gamma_weights():
    query, gallery = np.array([[1.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    colour = Metadata(np.array([[0.0]]), np.array([[3.0], [0.0], [1.0]]), gamma=0.5, name="colour")
    kind = Metadata(np.zeros((1, 2)), np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]]), gamma=0.1, name="type")
    assert metadata_distance([colour, kind]) == pytest.approx(np.array([[1.5, 0.5, 0.5]]))
    appearance = [0.0, 1.0, 1 - 1 / math.sqrt(2)]
    dist = query_gallery_distance(query, gallery, metadata=[colour, kind])
    assert dist == pytest.approx(np.array([[appearance[0] + 1.5, appearance[1] + 0.5, appearance[2] + 0.5]]))
    assert np.argmin(dist) == 2  # the colour moved gallery 0 (same look, other colour) off rank 1
    square = metadata_distance([colour, kind], all_pairs=True)  # over (query, gallery 0, 1, 2)
    assert square.shape == (4, 4) and square[0, 1:].tolist() == pytest.approx([1.5, 0.5, 0.5])
    assert square[1, 2] == pytest.approx(0.5 * 3 + 0.1 * 5) and np.allclose(square, square.T)


def test_metadata_enters_the_original_distance_before_reranking():
    rng = np.random.default_rng(1)
    query, gallery = rng.normal(size=(3, 4)), rng.normal(size=(9, 4))
    colour = Metadata(rng.normal(size=(3, 2)), rng.normal(size=(9, 2)), gamma=0.7)
    config = RerankConfig(k1=3, k2=2, lambda_=0.3)
    everything = np.concatenate([query, gallery])
    colours = np.concatenate([colour.query, colour.gallery])
    original = pairwise_distance(everything, everything) + 0.7 * pairwise_distance(
        colours, colours, "euclidean"
    )
    expected = k_reciprocal_rerank(original, 3, config)
    assert query_gallery_distance(query, gallery, metadata=[colour], rerank=config) == pytest.approx(expected)


def test_metadata_checks():
    with pytest.raises(ValueError, match="gamma of metadata 'colour' must be >= 0"):
        Metadata(np.zeros((1, 2)), np.zeros((2, 2)), gamma=-1.0, name="colour")
    with pytest.raises(ValueError, match=r"must be \(Q, D\) and \(G, D\) embeddings"):
        Metadata(np.zeros((1, 2)), np.zeros((2, 3)), gamma=1.0)
    wrong = Metadata(np.zeros((2, 1)), np.zeros((2, 1)), gamma=1.0, name="type")
    with pytest.raises(ValueError, match="metadata 'type' must hold 1 query and 2 gallery embeddings"):
        query_gallery_distance(np.ones((1, 2)), np.ones((2, 2)), metadata=[wrong])


def test_rerank_jaccard_step_by_hand():
    # Points 0 | 1 2 | 5 6 on a line, the first one the query. With k1 = 2 (3 nearest, itself
    # included; ties by index) R(0) = R(1) = R(2) = {0, 1, 2}; 5's three nearest are {5, 6, 2} but 5
    # is not among 2's, so R(5) = R(6) = {5, 6}; the 1-reciprocal expansions add nothing.
    x = np.array([0.0, 1.0, 2.0, 5.0, 6.0])
    dist = np.abs(x[:, None] - x[None, :])
    original = dist / dist.max(axis=0)[:, None]  # row i scaled by column i's maximum (reference code)
    cluster = [0, 1, 2]

    def encoding(i: int) -> np.ndarray:
        weight = np.exp(-original[i, cluster])
        return weight / weight.sum()

    overlap = [np.minimum(encoding(0), encoding(j)).sum() for j in (1, 2)]
    jaccard = [1 - m / (2 - m) for m in overlap] + [1.0, 1.0]  # nothing shared with 5 and 6
    out = k_reciprocal_rerank(dist, 1, RerankConfig(k1=2, k2=1, lambda_=0.3))
    assert out.shape == (1, 4)
    assert out[0].tolist() == pytest.approx([0.7 * jaccard[j] + 0.3 * original[0, j + 1] for j in range(4)])
    assert out[0, 2] == pytest.approx(0.7 + 0.3 * 5 / 6)


def test_rerank_query_gallery_equals_square_rows():
    rng = np.random.default_rng(2)
    centres = np.array([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0]])
    pids = np.repeat(np.arange(3), 8)
    points = centres[pids] + rng.normal(scale=1.0, size=(24, 3))
    dist = np.linalg.norm(points[:, None] - points[None], axis=2)
    config = RerankConfig(k1=5, k2=3, lambda_=0.3)
    query_rows = k_reciprocal_rerank(dist, 6, config)
    assert query_rows.shape == (6, 18)
    assert query_rows == pytest.approx(rerank(dist, 5, 3, 0.3)[:6, 6:])
    assert k_reciprocal_rerank(dist, 6, RerankConfig(lambda_=1.0)) == pytest.approx(
        (dist / dist.max(axis=0)[:, None])[:6, 6:]
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k1": 0}, r"k1 \(k-reciprocal neighbours\) must be an integer >= 1, got 0"),
        ({"k2": 2.5}, r"k2 \(query expansion neighbours; 1 = none\) must be an integer >= 1, got 2.5"),
        ({"lambda_": 1.5}, r"lambda_ \(weight of the original distance\) must lie in \[0, 1\], got 1.5"),
    ],
)
def test_rerank_config_errors(options, message):
    with pytest.raises(ValueError, match=message):
        RerankConfig(**options)


def test_rerank_config_defaults_are_zhongs():
    assert RerankConfig() == RerankConfig(k1=20, k2=6, lambda_=0.3)
    assert RerankConfig(k1=np.int64(3)).k1 == 3


# ---- end to end ---------------------------------------------------------------------------------


def at(degrees: float, norm: float = 1.0) -> list[float]:
    return [norm * math.cos(math.radians(degrees)), norm * math.sin(math.radians(degrees))]


# Query: id 0, camera 0, at 0 degrees. Gallery (ids 0, 1, 0, 1; cameras 0, 1, 1, 1) at 0, 10, 20, 90
# degrees with unequal norms: by angle the order is 0 (junk), 1 (wrong), 2 (right), 3.
QUERY = np.array([at(0)])
GALLERY = np.array([at(0, 2.0), at(10, 5.0), at(20, 0.1), at(90, 3.0)])
SCENE = dict(query_pids=[0], gallery_pids=[0, 1, 0, 1], query_camids=[0], gallery_camids=[0, 1, 1, 1])


def test_evaluate_normalises_features_and_reports_the_protocol():
    for metric in ("cosine", "euclidean"):  # on unit features both give the angular order
        out = evaluate(QUERY, GALLERY, **SCENE, metric=metric)
        assert out == pytest.approx(
            {"mAP": 0.5, "rank1": 0.0, "rank5": 1.0, "rank10": 1.0, "num_queries": 1, "num_valid_queries": 1}
        )


def test_evaluate_image_to_track_and_track_averaging():
    tracks = np.array([0, 1, 2, 1])  # track 1 = gallery 1 (10 degrees) and 3 (90 degrees)
    out = evaluate(QUERY, GALLERY, **SCENE, gallery_tracks=tracks)
    assert out["mAP"] == pytest.approx(0.5)
    # min: track 1 is as close as its 10-degree image, ahead of track 2
    assert out["track_mAP"] == pytest.approx(0.5) and out["track_rank1"] == 0.0
    mean = evaluate(QUERY, GALLERY, **SCENE, gallery_tracks=tracks, track_reduce="mean")
    assert mean["track_mAP"] == pytest.approx(1.0)  # track 1's mean (0.015 + 1) / 2 > 1 - cos 20 = 0.06
    averaged = evaluate(QUERY, GALLERY, **SCENE, gallery_tracks=tracks, average_tracks=True)
    assert averaged["mAP"] == pytest.approx(1.0) and averaged["track_mAP"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="average_tracks=True needs gallery_tracks"):
        evaluate(QUERY, GALLERY, **SCENE, average_tracks=True)


def test_evaluate_with_reranking_metadata_and_ensemble():
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, 16)) * 3
    query_pids, gallery_pids = np.arange(4), np.repeat(np.arange(4), 5)
    query = centres[query_pids] + rng.normal(size=(4, 16))
    gallery = centres[gallery_pids] + rng.normal(size=(20, 16))
    scene = dict(query_pids=query_pids, gallery_pids=gallery_pids, query_camids=np.zeros(4, int),
                 gallery_camids=np.ones(20, int))  # fmt: skip
    colour = Metadata(np.eye(4)[query_pids], np.eye(4)[gallery_pids], gamma=0.2, name="colour")
    config = RerankConfig(k1=4, k2=2)
    models_query, models_gallery = (
        [query, query[:, ::-1] ** 2],
        [gallery, gallery[:, ::-1] ** 2],
    )  # two "models"
    out = evaluate(models_query, models_gallery, **scene, rerank=config, metadata=[colour])
    dist = query_gallery_distance(models_query, models_gallery, rerank=config, metadata=[colour])
    assert out == retrieval_metrics(dist, **scene)
    assert out["mAP"] == pytest.approx(1.0) and out["rank1"] == 1.0


# ---- recolour: colour is identity ---------------------------------------------------------------


def _mean_colour(crops):
    """A colour-aware stand-in embedder: each crop's mean B, G, R, centred and unit length."""
    rows = np.stack([c.reshape(-1, 3).mean(axis=0) - 100.0 for c in crops])
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _brightness(crops):
    """A colour-blind stand-in: the grey level's histogram (a repaint of equal value looks the same)."""
    import cv2

    rows = np.stack([np.histogram(cv2.cvtColor(c, cv2.COLOR_BGR2HSV)[..., 2], bins=8, range=(0, 256))[0] for c in crops]).astype(float)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_recoloured_turns_the_hue_and_keeps_grey():
    from mtmc.reid.evaluation import is_coloured, recoloured

    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 2] = 200
    green = recoloured(red, 120)
    assert green[0, 0].tolist() == [0, 200, 0]
    assert recoloured(red, 360)[0, 0].tolist() == [0, 0, 200]
    grey = np.full((8, 8, 3), 120, np.uint8)
    assert np.array_equal(recoloured(grey, 180), grey)
    assert is_coloured(red) and not is_coloured(grey)
    from mtmc.reid.evaluation import greyed

    assert greyed(red)[0, 0].tolist() == [200, 200, 200] and not is_coloured(greyed(red))


def test_recolour_auc_tells_colour_aware_from_colour_blind(data_dir):
    """Real crops of vehicles seen by two cameras: a mean-colour embedder tells a vehicle from itself
    repainted far better than a grey-level one, which sits near chance."""
    import cv2

    from mtmc.reid.evaluation import recolour_auc

    root = data_dir / "vehicle-reid-2cam"
    names = [line.split()[0] for line in (root / "val.txt").read_text().splitlines() if line.strip()]
    views: dict[str, dict[str, np.ndarray]] = {}
    for name in names:
        vehicle, camera = name.rsplit("_", 1)
        views.setdefault(vehicle, {})[camera] = cv2.imread(str(root / "images" / "train" / name))
    pairs = [(v["cam1.jpg"], v["cam2.jpg"]) for v in views.values() if len(v) == 2][:60]
    aware, blind = recolour_auc(_mean_colour, pairs), recolour_auc(_brightness, pairs)
    assert aware["vehicles"] == blind["vehicles"] >= 5
    assert aware["auc"] > 0.8
    assert abs(blind["auc"] - 0.5) < 0.2
    assert recolour_auc(_mean_colour, [])["vehicles"] == 0


class _Thumbnail:
    """A stand-in embedder: the box's 4 x 4 colour thumbnail, L2-normalised."""

    def embed(self, bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        import cv2

        rows = []
        for x1, y1, x2, y2 in boxes.astype(int):
            small = cv2.resize(bgr[y1:y2, x1:x2], (4, 4), interpolation=cv2.INTER_AREA).astype(np.float64).ravel() - 100
            rows.append(small / np.linalg.norm(small))
        return np.stack(rows)


def test_deployed_scores_pair_each_query_with_its_vehicle_both_ways(tmp_path):
    """Two cameras seeing each vehicle identically: whatever embeds them, every query's first match
    is its own vehicle in both directions, and a repaint of a coloured vehicle is told apart."""
    import cv2

    from mtmc.reid.evaluation.deployed import deployed_scores, two_camera_directions

    rng = np.random.default_rng(0)
    names = []
    for k in range(1, 9):
        image = rng.integers(0, 255, (4, 4, 3)).astype(np.uint8).repeat(8, 0).repeat(8, 1)
        for camera in (1, 2):
            name = f"car_{k:04d}_cam{camera}.jpg"
            (tmp_path / "images" / "train").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(tmp_path / "images" / "train" / name), image)
            names.append(name)
    (tmp_path / "val.txt").write_text("\n".join(names) + "\n")
    directions = two_camera_directions(tmp_path, "val.txt")
    assert list(directions) == ["cam1->cam2", "cam2->cam1"]
    assert {s.camid for s in directions["cam1->cam2"].query} == {0} and {s.camid for s in directions["cam2->cam1"].query} == {1}
    scores = deployed_scores(_Thumbnail(), directions)
    assert scores["cam1->cam2"] == scores["cam2->cam1"] == scores["mean"] == {"mAP": 1.0, "rank1": 1.0}
    assert scores["recolour"]["vehicles"] >= 4 and scores["recolour"]["auc"] > 0.9
