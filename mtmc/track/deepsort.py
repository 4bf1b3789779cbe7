"""Deep SORT (Wojke, Bewley & Paulus 2017) with optional, separately switched improvements.

Faithful part: Kalman prediction, Mahalanobis gating at the chi-square 0.95 quantile, a matching
cascade by time since update on the cosine distance to each track's feature gallery, an IoU stage
for tentative and just-lost tracks, and the tentative -> confirmed -> deleted life cycle.

Improvements (off in ``deepsort.yaml``, on in ``deepsort-byte.yaml``):

* ``motion_cascade``: without embeddings Deep SORT's cascade has no cost and a track lost for two
  frames can never come back. This runs the same cascade with the gated IoU of the predicted box,
  so lost tracks are recovered by motion, recently seen tracks still choosing first.
* ``second_stage_low_score`` (ByteTrack, Zhang et al. 2022): detections between ``min_score``
  and ``high_score`` are usually occluded people; they may continue a track that was seen on the
  last frame (IoU stage) but never start one.
* ``new_track_score``: only a detection at least this confident starts a track.
* ``occlusion_noise_scale``: a detection that overlaps another confirmed track's prediction by
  more than ``occlusion_iou`` is often one box around two people (or a part of one); it still
  continues its track, but with measurement noise this many times larger, so that it does not
  bend the track's velocity and swap identities when the two people separate again.
* ``max_age_seconds`` with ``fps``: how long a lost track waits, in time rather than frames.

Appearance options (off in both presets above, on in ``deepsort-strong.yaml``):

* ``appearance_weight`` (BoT-SORT / StrongSORT-style fused cost, Aharon et al. 2022, Du et al.
  2023): with embeddings, the cascade's cost is ``w * cosine + (1 - w) * (1 - IoU)`` of the
  predicted box instead of the cosine alone; a pair is feasible only inside the Mahalanobis gate,
  with cosine distance <= ``max_cosine_distance`` and ``1 - IoU`` <= ``max_iou_distance``. Motion
  then decides among nearby boxes and appearance vetoes the implausible ones, which matters with
  a generic (not re-id trained) embedder whose cosine distances barely separate people.
* ``feature_ema`` (StrongSORT): each track keeps one feature, ``a * old + (1 - a) * new``
  (renormalised), instead of a gallery of the last ``nn_budget`` raw features.
* ``nsa_kalman`` (StrongSORT's NSA Kalman): measurement noise covariance scaled by
  ``1 - score``, so a confident detection moves its track more than a doubtful one. A box that
  ``occlusion_noise_scale`` marks as occluded keeps that noise instead: a merged box around two
  people is often confident, and trusting it bent tracks into swaps (PETS09 IDF1 0.802 against
  0.736 in ``deepsort-bot``).
* ``confirm_high_only`` (ByteTrack's rule): only confirmed tracks take part in the low-score
  stage, so a track is confirmed by ``n_init`` confident detections, never by doubtful ones (a
  static false positive near ``high_score`` no longer becomes a long track).

Motion options (off in the presets above, on in ``deepsort-bot.yaml``):

* ``kalman_xywh`` (BoT-SORT): the Kalman state is ``(x, y, w, h)`` with the noise of horizontal
  values scaled by the box width and of vertical ones by the height, instead of Deep SORT's
  ``(x, y, aspect, h)`` scaled by the height alone.
* ``gating_threshold: null``: no Mahalanobis gate; association on IoU alone (ByteTrack, BoT-SORT).
* ``confirm_first_frame`` (ByteTrack): tracks started on the stream's first frame are confirmed
  at once; later ones still need ``n_init`` matches.
* ``freeze_lost_size`` (BoT-SORT): a track missed on the last frame is predicted with the
  velocities of its size terms (``a, h`` or ``w, h``) zeroed.
* ``std_weight_velocity``: the Kalman filter's velocity noise per frame relative to the box size
  (Deep SORT's 1/160); only its ratio to the position noise (1/20) matters.

Observation-centric options (OC-SORT: Cao et al. 2023; off in every preset, measured in
``benchmarks/track_kitti.py --ablation``: each gains a little on KITTI's cars and loses more on
PETS09's people):

* ``recovery_iou`` (OCR): after the other stages, unmatched tracks take unmatched confident boxes
  by the IoU of their last detection (not their prediction), at least this much.
* ``momentum_weight`` (OCM, OC-SORT's inertia) with ``momentum_frames`` (its delta_t): the IoU
  stages' cost ``1 - IoU`` is lowered by ``w x score x (pi/2 - angle) / pi``, the angle between the
  track's direction over its last detections and the way from its last detection to the box; pairs
  are still feasible by IoU alone. (OC-SORT's re-update along a virtual path after a gap was measured too and changed
nothing here: KITTI and PETS09 within 0.001; not kept.)

Embedding less (off in the papers' presets, on in ``deepsort-bot.yaml``; issue 33):

* ``reembed_seconds`` with ``fps`` (the rate of the frames the tracker is given): a detection that
  clearly continues a confirmed track seen on the last detected frame (IoU >= ``inherit_iou`` with
  its prediction, and no rival, another track's prediction over the detection or another confident
  detection over the prediction, overlapping by more than ``rival_ratio`` times that IoU) needs no
  new embedding to be associated: it inherits the track's last feature, so the appearance stages
  see it exactly where motion alone leaves no doubt. Such a track is embedded again once its last
  feature is this old (counted in frames given, detected or carried), which keeps its gallery and
  the matcher's tracklet mean fed (a few crops a second, each of a vehicle nobody overlaps).
  ``embedding_wanted(dets)`` tells the caller which rows to embed; an unembedded row is a zero
  row, and the tracker never stores it.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from mtmc.errors import MtmcError
from mtmc.track.kalman import ConstantVelocityKalman
from mtmc.track.matching import INFEASIBLE, CostFunction, iou_matrix, matching_cascade, min_cost_matching
from mtmc.track.options import OptionRule, load_options

UNIT = OptionRule(float, 0.0, 1.0)
DEEPSORT_OPTIONS: dict[str, OptionRule] = {
    "max_age": OptionRule(int, 1),
    "max_age_seconds": OptionRule(float, 0.0, low_open=True, optional=True),
    "fps": OptionRule(float, 0.0, low_open=True, optional=True),
    "n_init": OptionRule(int, 1),
    "max_iou_distance": UNIT,
    "max_cosine_distance": OptionRule(float, 0.0, 2.0),
    "nn_budget": OptionRule(int, 1, optional=True),
    "gating_threshold": OptionRule(float, 0.0, low_open=True, optional=True),
    "min_score": UNIT,
    "motion_cascade": OptionRule(bool),
    "second_stage_low_score": OptionRule(bool),
    "high_score": UNIT,
    "max_low_score_iou_distance": UNIT,
    "new_track_score": UNIT,
    "occlusion_iou": UNIT,
    "occlusion_noise_scale": OptionRule(float, 1.0),
    "appearance_weight": OptionRule(float, 0.0, 1.0, optional=True),
    "feature_ema": OptionRule(float, 0.0, 1.0, optional=True),
    "nsa_kalman": OptionRule(bool),
    "confirm_high_only": OptionRule(bool),
    "kalman_xywh": OptionRule(bool),
    "confirm_first_frame": OptionRule(bool),
    "freeze_lost_size": OptionRule(bool),
    "reembed_seconds": OptionRule(float, 0.0, optional=True),
    "inherit_iou": UNIT,
    "rival_ratio": UNIT,
    "recovery_iou": OptionRule(float, 0.0, 1.0, low_open=True, optional=True),
    "momentum_weight": OptionRule(float, 0.0, 1.0),
    "momentum_frames": OptionRule(int, 1),
    "std_weight_velocity": OptionRule(float, 0.0, 1.0, low_open=True),
}
# NSA Kalman: the noise covariance is scaled by 1 - score, floored so a score of 1 keeps some noise.
NSA_MIN_SCALE = 0.05

TENTATIVE, CONFIRMED, DELETED = 0, 1, 2


class Track:
    """One target: Kalman state, life-cycle counters and a bounded appearance gallery."""

    def __init__(
        self,
        track_id: int,
        mean: np.ndarray,
        covariance: np.ndarray,
        feature: np.ndarray | None,
        budget: int | None,
        ema: float | None = None,
        history: int = 2,
    ) -> None:
        self.track_id = track_id
        self.mean = mean
        self.covariance = covariance
        self.hits = 1
        self.time_since_update = 0
        self.state = TENTATIVE
        self.ema = ema
        self.features: deque[np.ndarray] = deque(maxlen=1 if ema is not None else budget)
        self.feature_tick: int | None = None  # the tracker's clock at the last embedded crop
        self._gallery: np.ndarray | None = None  # np.stack(features), kept until a feature is added
        if feature is not None:
            self.features.append(feature.copy())  # a row of the frame's array would keep it all alive
        self.score = 0.0
        self.cls = 0.0
        self.det_index = -1
        self.observation: np.ndarray | None = None  # x1, y1, x2, y2 of the last detection it took
        self.centres: deque[np.ndarray] = deque(maxlen=history)  # centres of its last ``history`` detections

    def observe(self, det: np.ndarray) -> None:
        """The detection it took (x1, y1, x2, y2, ...): OC-SORT's last observation and recent centres."""
        self.observation = det[:4].astype(np.float64)
        self.centres.append((self.observation[:2] + self.observation[2:]) / 2)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for a worker's checkpoint every second: without the stacked copy of the gallery."""
        return {**self.__dict__, "_gallery": None}

    def gallery(self) -> np.ndarray:
        """(F, D) the features, stacked once per change rather than at every cost evaluation."""
        if self._gallery is None:
            self._gallery = np.stack(self.features)
        return self._gallery

    def add_feature(self, feature: np.ndarray) -> None:
        """Into the gallery, or (``ema``) blended into the track's one feature and renormalised."""
        self._gallery = None
        if self.ema is None or not self.features:
            self.features.append(feature.copy())  # a row of the frame's array would keep it all alive
            return
        blended = self.ema * self.features[-1] + (1.0 - self.ema) * feature
        self.features[-1] = blended / max(float(np.linalg.norm(blended)), 1e-12)


class DeepSort:
    """Deep SORT for one camera: ``update(dets, embeddings, frame) -> (M, 8)`` (BoxMOT's contract).

    Output rows are ``[x1, y1, x2, y2, id, score, cls, det_index]`` for confirmed tracks matched on
    this frame; the box is the Kalman-filtered state, ``det_index`` the row of ``dets`` it matched.
    """

    def __init__(self, **options: Any) -> None:
        self._init_options(options)
        self.kalman = ConstantVelocityKalman(
            std_weight_velocity=options["std_weight_velocity"], state="xywh" if options["kalman_xywh"] else "xyah"
        )
        self.tracks: list[Track] = []
        self._next_id = 1
        self._frames_seen = 0  # updates (detected frames)
        self._clock = 0  # frames processed, detected or carried: the clock of reembed_seconds
        self._asked: tuple[np.ndarray, np.ndarray] | None = None  # embedding_wanted's boxes, their continuations

    def _init_options(self, options: dict[str, Any]) -> None:
        self.options = options
        self.max_age = options["max_age"]
        if options["max_age_seconds"] is not None:
            if options["fps"] is None:
                raise MtmcError("deepsort: max_age_seconds needs fps (the stream's frame rate)")
            self.max_age = max(1, math.ceil(options["max_age_seconds"] * options["fps"]))
        self.n_init = options["n_init"]
        self.max_iou_distance = options["max_iou_distance"]
        self.max_cosine_distance = options["max_cosine_distance"]
        self.nn_budget = options["nn_budget"]
        self.gating_threshold = options["gating_threshold"]
        self.min_score = options["min_score"]
        self.motion_cascade = options["motion_cascade"]
        self.second_stage = options["second_stage_low_score"]
        self.high_score = options["high_score"] if self.second_stage else options["min_score"]
        self.max_low_score_iou_distance = options["max_low_score_iou_distance"]
        self.new_track_score = options["new_track_score"]
        self.occlusion_iou = options["occlusion_iou"]
        self.occlusion_noise_scale = options["occlusion_noise_scale"]
        self.appearance_weight = options["appearance_weight"]
        self.feature_ema = options["feature_ema"]
        self.nsa_kalman = options["nsa_kalman"]
        self.confirm_high_only = options["confirm_high_only"]
        self.confirm_first_frame = options["confirm_first_frame"]
        self.freeze_lost_size = options["freeze_lost_size"]
        self.reembed_frames: int | None = None
        if options["reembed_seconds"] is not None:
            if options["fps"] is None:
                raise MtmcError("deepsort: reembed_seconds needs fps (the stream's frame rate)")
            self.reembed_frames = max(1, round(options["reembed_seconds"] * options["fps"]))
        self.inherit_iou = options["inherit_iou"]
        self.rival_ratio = options["rival_ratio"]
        self.recovery_iou = options["recovery_iou"]
        self.momentum_weight = options["momentum_weight"]
        self.momentum_frames = options["momentum_frames"]

    def embedding_wanted(self, dets: np.ndarray) -> np.ndarray:
        """(N,) bool: the rows of ``dets`` whose embedding the next ``update`` uses: the appearance
        candidates (score >= ``high_score``) less, with ``reembed_seconds``, those that clearly
        continue a track whose last feature is younger than that."""
        dets = np.asarray(dets, dtype=np.float32).reshape(-1, 6)
        wanted = dets[:, 4] >= self.high_score
        now = self._clock + 1  # the frame the next update is for
        owner = self._clear_continuations(dets)
        self._asked = (dets, owner)  # the update of these boxes reads them again: computed once a frame
        for d, k in enumerate(owner):
            feature_tick = self.tracks[k].feature_tick if k >= 0 else None
            if feature_tick is not None and now - feature_tick < self.reembed_frames:
                wanted[d] = False
        return wanted

    def update(self, dets: np.ndarray, embeddings: np.ndarray | None, frame: int) -> np.ndarray:
        """Advance one frame; ``frame`` is the source's frame number (not used for timing). A zero
        row of ``embeddings`` is a detection not embedded (see ``embedding_wanted``)."""
        dets = np.asarray(dets, dtype=np.float32).reshape(-1, 6)
        embedded = np.zeros(len(dets), bool)
        if embeddings is not None:
            embeddings = np.asarray(embeddings, dtype=np.float32)
            if embeddings.ndim != 2 or len(embeddings) != len(dets):  # (0, D) for a frame without boxes is fine
                embeddings = embeddings.reshape(len(dets), -1)
            norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
            embedded = norms[:, 0] > 0.0
            embeddings = embeddings / np.maximum(norms, 1e-12)
            if not embedded.all():
                asked, self._asked = self._asked, None
                same = asked is not None and asked[0].shape == dets.shape and np.array_equal(asked[0], dets)
                for d, k in enumerate(asked[1] if same else self._clear_continuations(dets)):
                    if k >= 0 and not embedded[d]:  # the association sees the track's own look there
                        embeddings[d] = self.tracks[k].features[-1]
        self._asked = None
        self._clock += 1
        self._predict()
        scores = dets[:, 4]
        measurements = self.kalman.from_xyxy(dets[:, :4])
        high = np.flatnonzero(scores >= self.high_score).tolist()
        low = np.flatnonzero((scores >= self.min_score) & (scores < self.high_score)).tolist()
        matches, unmatched_tracks, unmatched_high = self._associate(dets, measurements, embeddings, high)
        if self.second_stage and low:
            recent = [
                k
                for k in unmatched_tracks
                if self.tracks[k].time_since_update == 1
                and (self.tracks[k].state == CONFIRMED or not self.confirm_high_only)
            ]
            low_matches, _, _ = min_cost_matching(
                self._iou_cost(dets), self.max_low_score_iou_distance, recent, low
            )
            matches += low_matches
            matched = {k for k, _ in low_matches}
            unmatched_tracks = [k for k in unmatched_tracks if k not in matched]
        if self.recovery_iou is not None and unmatched_tracks and unmatched_high:
            recovered, unmatched_tracks, unmatched_high = min_cost_matching(
                self._observation_cost(dets), 1.0 - self.recovery_iou, unmatched_tracks, unmatched_high
            )
            matches += recovered
        noise_scales = self._occlusion_noise_scales(dets, matches)
        def feature(d: int) -> np.ndarray | None:  # what a track keeps: only what was embedded here
            return embeddings[d] if embeddings is not None and embedded[d] else None

        for (k, d), noise_scale in zip(matches, noise_scales):
            self._update_track(self.tracks[k], dets[d], measurements[d], feature(d), d, noise_scale)
        for k in unmatched_tracks:
            self._mark_missed(self.tracks[k])
        for d in unmatched_high:
            if scores[d] >= self.new_track_score:
                self._start_track(dets[d], measurements[d], feature(d), d)
        self.tracks = [t for t in self.tracks if t.state != DELETED]
        self._frames_seen += 1
        return self._output()

    def carry(self, frame: int) -> np.ndarray:
        """A frame the detector skipped (``detector.every``): every track moves on by its motion
        model, and the confirmed tracks matched at the last detected frame are output where it puts
        them (``det_index`` -1: a prediction, no detection); a skipped frame is no miss, so track
        ages count detected frames only. DeepStream's inference interval does the same."""
        shown = {t.track_id for t in self.tracks if t.state == CONFIRMED and t.time_since_update == 0}
        self._clock += 1
        self._predict()
        for track in self.tracks:
            track.time_since_update -= 1  # _predict counted the frame as a miss
        return self._rows([t for t in self.tracks if t.track_id in shown], predicted=True)

    def alive_ids(self) -> set[int]:
        """Ids of the tracks that may still output rows (confirmed, tentative or lost, not deleted):
        a track missing from this set has ended for good."""
        return {t.track_id for t in self.tracks}

    def _clear_continuations(self, dets: np.ndarray) -> np.ndarray:
        """(N,) index of the track each confident detection clearly continues, -1 where none or
        ``reembed_seconds`` is off: read before this frame's prediction is applied, so that
        ``embedding_wanted`` and ``update`` see the same."""
        owner = np.full(len(dets), -1)
        if self.reembed_frames is None or not self.tracks or not len(dets):
            return owner
        means, _ = self._predicted()
        overlap = iou_matrix(self.kalman.to_xyxy(means), dets[:, :4].astype(np.float64))  # tracks x dets
        confident = dets[:, 4] >= self.high_score
        for d in np.flatnonzero(confident):
            k = int(np.argmax(overlap[:, d]))
            track = self.tracks[k]
            if track.state != CONFIRMED or track.time_since_update != 0 or not track.features:
                continue
            if overlap[k, d] < self.inherit_iou:
                continue
            rivals = np.concatenate([np.delete(overlap[:, d], k), overlap[k, confident & (np.arange(len(dets)) != d)]])
            if (rivals > self.rival_ratio * overlap[k, d]).any():
                continue
            owner[d] = k
        return owner

    def _predicted(self) -> tuple[np.ndarray, np.ndarray]:
        """Every track's Kalman prediction for the next frame (means, covariances), not applied."""
        means = np.stack([t.mean for t in self.tracks])
        if self.freeze_lost_size:
            # BoT-SORT: a track missed on the last frame keeps its size (the velocities of the
            # state's last two values, a, h or w, h, are zeroed) while its centre keeps moving
            means[[t.time_since_update > 0 for t in self.tracks], 6:8] = 0.0
        return self.kalman.predict(means, np.stack([t.covariance for t in self.tracks]))

    def _predict(self) -> None:
        if not self.tracks:
            return
        means, covariances = self._predicted()
        for track, mean, covariance in zip(self.tracks, means, covariances):
            track.mean, track.covariance = mean, covariance
            track.time_since_update += 1

    def _associate(
        self, dets: np.ndarray, measurements: np.ndarray, embeddings: np.ndarray | None, candidates: list[int]
    ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        """Deep SORT's cascade then IoU stage, over the detections in ``candidates``."""
        confirmed = [k for k, t in enumerate(self.tracks) if t.state == CONFIRMED]
        unconfirmed = [k for k, t in enumerate(self.tracks) if t.state != CONFIRMED]
        ages = [t.time_since_update for t in self.tracks]
        if embeddings is not None and self.appearance_weight is not None:
            cost, max_cost = (
                self._gated(self._fused_cost(dets, embeddings), measurements),
                self.max_iou_distance,
            )
        elif embeddings is not None:
            cost, max_cost = (
                self._gated(self._appearance_cost(embeddings), measurements),
                self.max_cosine_distance,
            )
        elif self.motion_cascade:
            cost, max_cost = self._motion_cost(dets, measurements)
        else:
            cost = None
        if cost is None:
            matches_a, unmatched_a, unmatched_dets = [], confirmed, candidates
        else:
            matches_a, unmatched_a, unmatched_dets = matching_cascade(
                cost, max_cost, confirmed, candidates, ages, self.max_age
            )
        iou_candidates = unconfirmed + [k for k in unmatched_a if ages[k] == 1]
        lost = [k for k in unmatched_a if ages[k] != 1]
        matches_b, unmatched_b, unmatched_dets = min_cost_matching(
            *self._motion_cost(dets), iou_candidates, unmatched_dets
        )
        return matches_a + matches_b, lost + unmatched_b, unmatched_dets

    def _appearance_cost(self, embeddings: np.ndarray) -> CostFunction:
        def cost(tracks: list[int], detections: list[int]) -> np.ndarray:
            result = np.full((len(tracks), len(detections)), INFEASIBLE)
            for row, k in enumerate(tracks):
                if self.tracks[k].features:
                    similarity = self.tracks[k].gallery() @ embeddings[detections].T
                    result[row] = 1.0 - similarity.max(axis=0)
            return result

        return cost

    def _fused_cost(self, dets: np.ndarray, embeddings: np.ndarray) -> CostFunction:
        """``w * cosine + (1 - w) * (1 - IoU)``; infeasible where either is beyond its threshold."""
        appearance, overlap, weight = (
            self._appearance_cost(embeddings),
            self._iou_cost(dets),
            self.appearance_weight,
        )

        def cost(tracks: list[int], detections: list[int]) -> np.ndarray:
            cosine, iou_distance = appearance(tracks, detections), overlap(tracks, detections)
            result = weight * cosine + (1.0 - weight) * iou_distance
            result[(cosine > self.max_cosine_distance) | (iou_distance > self.max_iou_distance)] = INFEASIBLE
            return result

        return cost

    def _iou_cost(self, dets: np.ndarray) -> CostFunction:
        def cost(tracks: list[int], detections: list[int]) -> np.ndarray:
            boxes = self.kalman.to_xyxy(np.stack([self.tracks[k].mean for k in tracks]))
            return 1.0 - iou_matrix(boxes, dets[detections, :4].astype(np.float64))

        return cost

    def _motion_cost(self, dets: np.ndarray, measurements: np.ndarray | None = None) -> tuple[CostFunction, float]:
        """The IoU stages' cost and its largest allowed value: ``1 - IoU`` of the prediction (gated
        when ``measurements`` are given and a gate is set), less OC-SORT's momentum term
        (``momentum_weight`` x score x (pi/2 - angle) / pi, the angle between a track's recent
        direction from its detections and the way to this box); a pair is feasible by its IoU alone."""
        iou_cost = self._iou_cost(dets) if measurements is None else self._gated(self._iou_cost(dets), measurements)
        if not self.momentum_weight:
            return iou_cost, self.max_iou_distance

        def cost(tracks: list[int], detections: list[int]) -> np.ndarray:
            base = iou_cost(tracks, detections)
            centres = (dets[detections, :2] + dets[detections, 2:4]).astype(np.float64) / 2
            bonus = np.zeros_like(base)
            for row, k in enumerate(tracks):
                track = self.tracks[k]
                if len(track.centres) < 2:
                    continue
                heading = track.centres[-1] - track.centres[0]
                way = centres - track.centres[-1]
                norms = np.linalg.norm(way, axis=1) * np.linalg.norm(heading)
                cosine = np.clip(way @ heading / np.maximum(norms, 1e-9), -1.0, 1.0)
                bonus[row] = np.where(norms > 1e-9, (np.pi / 2 - np.arccos(cosine)) / np.pi, 0.0)
            result = base - self.momentum_weight * bonus * dets[detections, 4][None, :]
            result[base > self.max_iou_distance] = INFEASIBLE
            return result

        return cost, self.max_iou_distance + self.momentum_weight / 2

    def _observation_cost(self, dets: np.ndarray) -> CostFunction:
        """``1 - IoU`` of each track's last detection (not its prediction) with each detection:
        OC-SORT's observation-centric recovery of a track whose motion estimate went astray."""

        def cost(tracks: list[int], detections: list[int]) -> np.ndarray:
            boxes = np.stack([self.tracks[k].observation for k in tracks])
            return 1.0 - iou_matrix(boxes, dets[detections, :4].astype(np.float64))

        return cost

    def _gated(self, cost_of: CostFunction, measurements: np.ndarray) -> CostFunction:
        """``cost_of`` with pairs beyond the Mahalanobis gate made infeasible (no gate: null threshold)."""
        if self.gating_threshold is None:
            return cost_of

        def cost(tracks: list[int], detections: list[int]) -> np.ndarray:
            result = cost_of(tracks, detections)
            means = np.stack([self.tracks[k].mean for k in tracks])
            covariances = np.stack([self.tracks[k].covariance for k in tracks])
            distance = self.kalman.gating_distance(means, covariances, measurements[detections])
            result[distance > self.gating_threshold] = INFEASIBLE
            return result

        return cost

    def _occlusion_noise_scales(self, dets: np.ndarray, matches: list[tuple[int, int]]) -> list[float]:
        """Measurement noise scale of each match: larger where the box overlaps another track."""
        confirmed = [k for k, t in enumerate(self.tracks) if t.state == CONFIRMED]
        if self.occlusion_noise_scale == 1.0 or not matches or len(confirmed) < 2:
            return [1.0] * len(matches)
        predicted = self.kalman.to_xyxy(np.stack([self.tracks[k].mean for k in confirmed]))
        overlap = iou_matrix(dets[[d for _, d in matches], :4].astype(np.float64), predicted)
        overlap[np.array([k for k, _ in matches])[:, None] == np.array(confirmed)[None, :]] = 0.0
        occluded = overlap.max(axis=1) > self.occlusion_iou
        return np.where(occluded, self.occlusion_noise_scale, 1.0).tolist()

    def _update_track(
        self,
        track: Track,
        det: np.ndarray,
        measurement: np.ndarray,
        feature: np.ndarray | None,
        index: int,
        noise_scale: float = 1.0,
    ) -> None:
        if self.nsa_kalman and noise_scale == 1.0:
            noise_scale *= math.sqrt(max(1.0 - float(det[4]), NSA_MIN_SCALE))
        track.mean, track.covariance = self.kalman.update(
            track.mean, track.covariance, measurement, noise_scale
        )
        track.observe(det)
        if feature is not None:
            track.add_feature(feature)
            track.feature_tick = self._clock
        track.hits += 1
        track.time_since_update = 0
        track.score, track.cls, track.det_index = float(det[4]), float(det[5]), index
        if track.state == TENTATIVE and track.hits >= self.n_init:
            track.state = CONFIRMED

    def _mark_missed(self, track: Track) -> None:
        if track.state == TENTATIVE or track.time_since_update > self.max_age:
            track.state = DELETED

    def _start_track(
        self, det: np.ndarray, measurement: np.ndarray, feature: np.ndarray | None, index: int
    ) -> None:
        mean, covariance = self.kalman.initiate(measurement)
        track = Track(
            self._next_id, mean, covariance, feature, self.nn_budget, self.feature_ema, history=self.momentum_frames + 1
        )
        track.observe(det)
        if feature is not None:
            track.feature_tick = self._clock
        track.score, track.cls, track.det_index = float(det[4]), float(det[5]), index
        if self.n_init <= 1 or (self.confirm_first_frame and self._frames_seen == 0):
            track.state = CONFIRMED
        self._next_id += 1
        self.tracks.append(track)

    def _output(self) -> np.ndarray:
        return self._rows([t for t in self.tracks if t.state == CONFIRMED and t.time_since_update == 0])

    def _rows(self, shown: list[Track], predicted: bool = False) -> np.ndarray:
        """(M, 8) output rows of ``shown``; ``predicted``: no detection behind them (det_index -1)."""
        if not shown:
            return np.zeros((0, 8), np.float32)
        boxes = self.kalman.to_xyxy(np.stack([t.mean for t in shown]))
        extra = np.array([[t.track_id, t.score, t.cls, -1 if predicted else t.det_index] for t in shown], np.float64)
        return np.column_stack([boxes, extra]).astype(np.float32)


def build_deepsort(config: str, overrides: dict[str, Any]) -> DeepSort:
    return DeepSort(**load_options(config, DEEPSORT_OPTIONS, overrides))
