"""Runs one BoxMOT tracker on the KITTI sequences' cached boxes, inside BoxMOT's own environment.

``python kitti_peer_worker.py TRACKER BOXES.npz OUT_DIR``: BOXES.npz holds, per sequence SEQ,
``SEQ/boxes`` (M, 6) [x1, y1, x2, y2, score, class] and ``SEQ/starts`` (frames + 1,) row offsets;
writes OUT_DIR/SEQ.txt as MOTChallenge rows (frames from 1) and prints ``{"seconds_per_frame": ...}``
(update calls only). Motion only: BoxMOT's trackers take a frame, so each gets a blank one of
KITTI's size (BoT-SORT's ECC camera-motion compensation then finds no motion). Only numpy and
boxmot are used, so this file must not import mtmc.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

FPS = 10  # KITTI tracking is recorded at 10 fps
SIZE = (375, 1242)  # KITTI 0000-0010 images, height x width
# BoxMOT's own defaults, with the stream's frame rate where a tracker takes one.
TRACKERS = {
    "boxmot-ocsort": ("OcSort", {}),
    "boxmot-bytetrack": ("ByteTrack", {"frame_rate": FPS}),
    "boxmot-botsort": ("BotSort", {"use_embeddings": False, "frame_rate": FPS}),
}


def main() -> None:
    name, boxes_file, out_dir = sys.argv[1:4]
    import boxmot

    class_name, options = TRACKERS[name]
    data = np.load(boxes_file)
    sequences = sorted({key.split("/")[0] for key in data.files})
    blank = np.zeros((*SIZE, 3), np.uint8)
    seconds, frames = 0.0, 0
    for sequence in sequences:
        tracker = getattr(boxmot, class_name)(**options)
        boxes, starts = data[f"{sequence}/boxes"], data[f"{sequence}/starts"]
        lines = []
        for index, (a, b) in enumerate(zip(starts[:-1], starts[1:]), start=1):
            start = time.perf_counter()
            out = np.asarray(tracker.update(boxes[a:b].astype(np.float32), blank)).reshape(-1, 8)
            seconds += time.perf_counter() - start
            lines += [f"{index},{int(r[4])},{r[0]:.2f},{r[1]:.2f},{r[2] - r[0]:.2f},{r[3] - r[1]:.2f},{r[5]:.4f},-1,-1,-1\n" for r in out]
        frames += len(starts) - 1
        Path(out_dir, f"{sequence}.txt").write_text("".join(lines))
    print(json.dumps({"seconds_per_frame": seconds / max(frames, 1)}))


if __name__ == "__main__":
    main()
