"""Render one camera: sprites composited on its footage's background, then the camera's own look.

Frames are composed in the footage's image space (where the road homography and the sprites'
scales hold), farthest vehicle first, with a label image recording which vehicle owns each
pixel. The camera's picture is that canvas warped by its own perspective (crop, zoom, tilt,
mirror), through its lens when it has one (barrel distortion, as AI City's wide cameras), then
graded (gamma, white balance), blurred and given sensor noise. Ground truth is read from the same
pass: the box of each vehicle's silhouette as the picture shows it (distorted by the lens) and how
much of it is visible.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from mtmc.match.geometry import Lens
from mtmc.sim.appearance import Look, apply_look
from mtmc.sim.config import ViewConfig
from mtmc.sim.geometry import RoadView, apply_homography
from mtmc.sim.sprites import SpriteVehicle, SpriteView
from mtmc.sim.world import CameraPlacement, World, rng_for

VEHICLE_HEIGHT_M = 1.6  # a car's height, for the "too far to draw" cut-off
SMALLEST_DRAWN_PX = 5.0  # vehicles smaller than this are not drawn (they vanish toward the horizon)
BELOW_PICTURE = 1.25  # vehicles whose foot is this far down (x footage height) are out of the picture
FARTHEST_VIEWS = 1.5  # vehicles are drawn up to 1.5 road lengths away: beyond, the footage's road bends away
MOT_CAR_CLASS = 3  # MOTChallenge class id of cars
OUTLINE_STEPS = 8  # points per box edge: a lens bends the edges, so the box of the corners is not enough


def draw_lens(size: tuple[int, int], rng: np.random.Generator) -> Lens:
    """A wide-angle traffic camera's lens for a ``size`` (w, h) picture: principal point at the
    centre, focal length 0.8 x the width, moderate barrel distortion (k1 -0.3..-0.2, about 10 %
    at the corners) with a little tangential error. k2 = 0.6 k1^2 keeps the radial map monotonic
    everywhere, so points far outside the picture never fold back into it."""
    w, h = size
    f = 0.8 * w
    k1 = float(rng.uniform(-0.3, -0.2))
    p1, p2 = (float(v) for v in rng.uniform(-5e-4, 5e-4, 2))
    return Lens(np.array([[f, 0.0, w / 2], [0.0, f, h / 2], [0.0, 0.0, 1.0]]), np.array([k1, 0.6 * k1**2, p1, p2]))


@dataclass
class CameraLook:
    """A camera's warp of the footage and its colour/noise, drawn from the seed where not set."""

    warp: np.ndarray  # 3x3 footage pixels -> camera pixels
    size: tuple[int, int]
    gamma: float
    gains: tuple[float, float, float]
    blur: float
    noise: float

    @classmethod
    def draw(cls, view: ViewConfig, footage_size: tuple[int, int], size: tuple[int, int], rng: np.random.Generator) -> CameraLook:
        fw, fh = footage_size
        ow, oh = size
        zoom = view.zoom if view.zoom is not None else float(rng.uniform(1.0, 1.35))
        cw = fw / zoom
        ch = cw * oh / ow
        if ch > fh:
            ch, cw = fh, fh * ow / oh
        cx, cy = view.center if view.center is not None else (rng.uniform(0.4, 0.6), rng.uniform(0.5, 0.65))
        x0 = float(np.clip(cx * fw - cw / 2, 0, fw - cw))
        y0 = float(np.clip(cy * fh - ch / 2, 0, fh - ch))
        src = np.array([[x0, y0], [x0 + cw, y0], [x0 + cw, y0 + ch], [x0, y0 + ch]], np.float32)
        jitter = view.perspective if view.perspective is not None else float(rng.uniform(0.0, 0.06))
        src = src + (rng.uniform(-1, 1, size=(4, 2)) * jitter * np.array([cw, ch])).astype(np.float32)
        src = np.clip(src, 0, [fw - 1, fh - 1]).astype(np.float32)  # stay inside the footage: no smeared borders
        dst = np.array([[0, 0], [ow, 0], [ow, oh], [0, oh]], np.float32)
        flip = view.flip if view.flip is not None else bool(rng.random() < 0.5)
        if flip:
            dst = dst[[1, 0, 3, 2]]
        warp = cv2.getPerspectiveTransform(src, dst)
        return cls(
            warp=warp / warp[2, 2],
            size=(ow, oh),
            gamma=view.gamma if view.gamma is not None else float(rng.uniform(0.8, 1.25)),
            gains=view.gains if view.gains is not None else tuple(float(g) for g in rng.uniform(0.9, 1.1, 3)),
            blur=view.blur if view.blur is not None else float(rng.uniform(0.0, 1.0)),
            noise=view.noise if view.noise is not None else float(rng.uniform(1.0, 4.0)),
        )

    def grade(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        lut = np.clip(255.0 * (np.arange(256) / 255.0) ** (1.0 / self.gamma), 0, 255)
        graded = np.stack([lut[image[..., c]] * self.gains[c] for c in range(3)], axis=-1).astype(np.float32)
        if self.blur > 0.05:
            graded = cv2.GaussianBlur(graded, (0, 0), self.blur)
        if self.noise > 0:
            graded += rng.standard_normal(graded.shape, dtype=np.float32) * self.noise
        return np.clip(graded + 0.5, 0, 255).astype(np.uint8)


@dataclass
class GroundTruthBox:
    vehicle: int
    box: tuple[float, float, float, float]  # x, y, w, h, clipped to the picture
    visibility: float
    world: tuple[float, float]  # where the vehicle stands, metres


class CameraRenderer:
    """Draws camera ``placement`` of ``world`` from its footage's background and the sprite bank."""

    def __init__(
        self,
        world: World,
        placement: CameraPlacement,
        road: RoadView,
        background: np.ndarray,
        bank: list[SpriteVehicle],
        looks: dict[int, Look],
        look: CameraLook,
        seed: int,
        lens: Lens | None = None,
    ) -> None:
        self.seed = seed
        self.lens = lens
        self.world = world
        self.placement = placement
        self.road = road
        self.background = background
        self.bank = bank
        self.looks = looks
        self.look = look
        self.passages = world.passages().get((min(placement.a, placement.b), max(placement.a, placement.b)), [])
        self.local_to_world = np.linalg.inv(placement.world_to_local(world.graph))
        self._painted: dict[tuple[int, int], SpriteView] = {}
        if lens is not None:  # per picture pixel, where it is undistorted and on the footage canvas
            ow, oh = look.size
            xs, ys = np.meshgrid(np.arange(ow, dtype=np.float64), np.arange(oh, dtype=np.float64))
            undistorted = lens.undistort(np.column_stack([xs.ravel(), ys.ravel()]))
            self.look = look = replace(look, warp=_widened(look.warp, look.size, lens, undistorted))
            self._undistorted = undistorted.reshape(oh, ow, 2).astype(np.float32)
            canvas = apply_homography(np.linalg.inv(look.warp), undistorted)
            self._from_canvas = canvas.reshape(oh, ow, 2).astype(np.float32)
        # the farthest s still worth drawing: where a car is SMALLEST_DRAWN_PX tall
        s = np.linspace(0, 20 * road.length_m, 400)
        ppm = road.pixels_per_metre(np.column_stack([np.zeros_like(s), s]))
        tall = (ppm * VEHICLE_HEIGHT_M >= SMALLEST_DRAWN_PX) & road.in_front(np.column_stack([np.zeros_like(s), s]))
        self.farthest_s = min(float(s[tall].max()) if tall.any() else road.length_m, FARTHEST_VIEWS * road.length_m)
        # the nearest s worth drawing: the foot still within reach of the picture's bottom
        near = np.column_stack([np.zeros(200), np.linspace(0, -road.length_m, 200)])
        reachable = road.in_front(near) & (road.to_image(near)[:, 1] <= BELOW_PICTURE * background.shape[0])
        self.nearest_s = float(near[np.argmin(reachable), 1]) if not reachable.all() else -road.length_m

    def frame_count(self) -> int:
        p = self.placement
        return max(0, int(np.floor((self.world.duration_s - p.offset_s) * p.fps)))

    def frame_time(self, index: int) -> float:
        return self.placement.offset_s + index / self.placement.fps

    def _view(self, vehicle_id: int, s: float, approaching: bool) -> SpriteView:
        look = self.looks[vehicle_id]
        views = self.bank[look.sprite].views
        matching = [i for i, v in enumerate(views) if v.approaching == approaching] or list(range(len(views)))
        best = min(matching, key=lambda i: abs(views[i].s - s))
        key = (vehicle_id, best)
        if key not in self._painted:
            view = views[best]
            self._painted[key] = replace(view, bgr=apply_look(view.bgr, view.alpha, look))
        return self._painted[key]

    def render(self, index: int) -> tuple[np.ndarray, list[GroundTruthBox]]:
        """Frame ``index`` (0-based) of this camera and its ground truth."""
        t = self.frame_time(index)
        canvas = self.background.astype(np.float32)
        labels = np.zeros(canvas.shape[:2], np.uint16)
        fh, fw = labels.shape
        present = [
            (vehicle, u, s, approaching)
            for vehicle, u, s, approaching in self.world.local_positions(self.placement, self.passages, t)
            if self.nearest_s <= s <= self.farthest_s
        ]
        present.sort(key=lambda item: -item[2])  # far to near: nearer vehicles cover farther ones
        drawn: list[tuple[int, np.ndarray, float, tuple[float, float]]] = []
        for slot, (vehicle, u, s, approaching) in enumerate(present, start=1):
            view = self._view(vehicle.id, s, approaching)
            foot = self.road.to_image(np.array([[u, s]]))[0]
            scale = float(self.road.pixels_per_metre(np.array([[u, s]]))[0] / view.ppm)
            h, w = view.alpha.shape
            if not self.road.in_front(np.array([[u, s]]))[0] or not 0 < h * scale < 2 * fh:
                continue  # behind the footage camera, or so close it would fill the picture
            sw, sh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
            x0 = int(round(foot[0] - view.foot[0] * scale))
            y0 = int(round(foot[1] - view.foot[1] * scale))
            cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + sw, fw), min(y0 + sh, fh)
            if cx0 >= cx1 or cy0 >= cy1:
                continue
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            bgr = cv2.resize(view.bgr, (sw, sh), interpolation=interpolation)
            alpha = cv2.resize(view.alpha, (sw, sh), interpolation=interpolation)
            sub = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
            a = alpha[sub].astype(np.float32)[..., None] / 255.0
            region = canvas[cy0:cy1, cx0:cx1]
            region *= 1.0 - a
            region += bgr[sub].astype(np.float32) * a
            labels[cy0:cy1, cx0:cx1][alpha[sub] > 127] = slot
            ys, xs = np.nonzero(alpha > 127)
            if len(xs) == 0:
                continue
            box = np.array([x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1], np.float64)
            world_xy = apply_homography(self.local_to_world, np.array([[u, s]]))[0]
            drawn.append((vehicle.id, box, float(len(xs)), (float(world_xy[0]), float(world_xy[1]))))
        ow, oh = self.look.size
        painted = np.clip(canvas + 0.5, 0, 255).astype(np.uint8)
        if self.lens is None:
            picture = cv2.warpPerspective(painted, self.look.warp, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            seen = cv2.warpPerspective(labels, self.look.warp, (ow, oh), flags=cv2.INTER_NEAREST, borderValue=0)
        else:  # one remap does the camera's warp and its lens: as fast as the warp alone
            picture = cv2.remap(painted, self._from_canvas, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            seen = cv2.remap(labels, self._from_canvas, None, cv2.INTER_NEAREST, borderValue=0)
        visible = np.bincount(seen.ravel(), minlength=len(present) + 1)
        truth = []
        slot_of = {vehicle.id: slot for slot, (vehicle, *_rest) in enumerate(present, start=1)}
        for vehicle_id, box, area, world_xy in drawn:
            outline = _outline(box)
            warped = self.to_picture(outline)
            amodal = area * _polygon_area(warped) / max(_polygon_area(outline), 1e-9)
            x1, y1 = warped.min(axis=0)
            x2, y2 = warped.max(axis=0)
            x1, x2 = np.clip([x1, x2], 0, ow)
            y1, y2 = np.clip([y1, y2], 0, oh)
            if x2 <= x1 or y2 <= y1:
                continue
            visibility = float(min(1.0, visible[slot_of[vehicle_id]] / max(amodal, 1e-9)))
            truth.append(GroundTruthBox(vehicle_id, (float(x1), float(y1), float(x2 - x1), float(y2 - y1)), visibility, world_xy))
        noise_rng = rng_for(self.seed, "noise", self.placement.number, index)
        return self.look.grade(picture, noise_rng), truth

    def to_picture(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) footage canvas pixels -> pixels of this camera's picture (its warp, then its lens)."""
        warped = apply_homography(self.look.warp, points)
        return warped if self.lens is None else self.lens.distort(warped)

    def roi(self) -> np.ndarray:
        """255 where vehicles can appear (the road and the space a vehicle's height takes above it)."""
        road = self.road
        half = road.width_m / 2 + 1.0
        s = np.linspace(self.nearest_s, self.farthest_s, 40)
        edge = np.concatenate([np.column_stack([np.full_like(s, -half), s]), np.column_stack([np.full_like(s, half), s])])
        edge = edge[road.in_front(edge)]
        points = road.to_image(edge)
        lift = road.pixels_per_metre(edge) * 3.5  # up to a bus's height above the road
        points = np.concatenate([points, points - np.column_stack([np.zeros_like(lift), lift])])
        warped = apply_homography(self.look.warp, points)
        ow, oh = self.look.size
        warped = np.clip(warped, -4 * ow, 4 * ow)
        if self.lens is None:
            mask = np.zeros((oh, ow), np.uint8)
            cv2.fillConvexPoly(mask, cv2.convexHull(np.round(warped).astype(np.int32)), 255)
        else:  # drawn undistorted, over all the picture's lens sees, then through the lens
            low = np.floor(self._undistorted.reshape(-1, 2).min(axis=0))
            high = np.ceil(self._undistorted.reshape(-1, 2).max(axis=0))
            wide = np.zeros((int(high[1] - low[1]) + 1, int(high[0] - low[0]) + 1), np.uint8)
            cv2.fillConvexPoly(wide, cv2.convexHull(np.round(warped - low).astype(np.int32)), 255)
            mask = cv2.remap(wide, self._undistorted - low.astype(np.float32), None, cv2.INTER_NEAREST)
        return cv2.dilate(mask, np.ones((9, 9), np.uint8))


def _widened(warp: np.ndarray, size: tuple[int, int], lens: Lens, undistorted: np.ndarray) -> np.ndarray:
    """``warp`` (footage -> camera pixels) magnified about the principal point until the camera's
    crop of the footage covers ``undistorted``, all the ``size`` (w, h) picture's pixels undistorted:
    a barrel lens sees beyond the frame's corners, where the crop may meet the footage's border
    (smeared when sampled)."""
    centre = lens.matrix[:2, 2]
    scale = float((np.abs(undistorted - centre).max(axis=0) / (np.array(size) / 2)).max())
    zoom = np.array([[scale, 0.0, centre[0] * (1 - scale)], [0.0, scale, centre[1] * (1 - scale)], [0.0, 0.0, 1.0]])
    widened = zoom @ warp
    return widened / widened[2, 2]


def _outline(box: np.ndarray) -> np.ndarray:
    """(4 * OUTLINE_STEPS, 2) points around the edges of an x1, y1, x2, y2 box, clockwise from its top left."""
    x1, y1, x2, y2 = box
    t = np.linspace(0.0, 1.0, OUTLINE_STEPS, endpoint=False)
    top = np.column_stack([x1 + t * (x2 - x1), np.full_like(t, y1)])
    right = np.column_stack([np.full_like(t, x2), y1 + t * (y2 - y1)])
    bottom = np.column_stack([x2 - t * (x2 - x1), np.full_like(t, y2)])
    left = np.column_stack([np.full_like(t, x1), y2 - t * (y2 - y1)])
    return np.concatenate([top, right, bottom, left])


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
