"""TrackEval side of ``hota_trackeval.py``; runs inside ``benchmarks/.envs/trackeval`` only.

Runs TrackEval's MotChallenge2DBox evaluator (no preprocessing) with the HOTA, CLEAR and
Identity metrics on a MOTChallenge folder layout and writes, per sequence and for
``COMBINED_SEQ``: HOTA, DetA, AssA, LocA (means over the 19 alphas), IDF1, MOTA and the
detection counts TrackEval scored, as JSON to ``--json``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path

import numpy as np
import trackeval

TRACKER = "bench"


def evaluate(gt_folder: Path, trackers_folder: Path, seqmap: Path) -> dict[str, dict[str, float]]:
    dataset = trackeval.datasets.MotChallenge2DBox({
        "GT_FOLDER": str(gt_folder),
        "TRACKERS_FOLDER": str(trackers_folder),
        "SEQMAP_FILE": str(seqmap),
        "TRACKERS_TO_EVAL": [TRACKER],
        "BENCHMARK": "MOT15",
        "SPLIT_TO_EVAL": "train",
        "SKIP_SPLIT_FOL": True,
        "DO_PREPROC": False,
        "PRINT_CONFIG": False,
    })  # fmt: skip
    evaluator = trackeval.Evaluator({
        "USE_PARALLEL": False,
        "PRINT_RESULTS": False,
        "PRINT_CONFIG": False,
        "TIME_PROGRESS": False,
        "OUTPUT_SUMMARY": False,
        "OUTPUT_DETAILED": False,
        "PLOT_CURVES": False,
        "LOG_ON_ERROR": None,
    })  # fmt: skip
    threshold = {"THRESHOLD": 0.5, "PRINT_CONFIG": False}
    metrics = [
        trackeval.metrics.HOTA(),
        trackeval.metrics.CLEAR(threshold),
        trackeval.metrics.Identity(threshold),
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        results, messages = evaluator.evaluate([dataset], metrics)
    if messages["MotChallenge2DBox"][TRACKER] != "Success":
        raise SystemExit(f"TrackEval failed: {messages['MotChallenge2DBox'][TRACKER]}")
    out = {}
    for seq, by_class in results["MotChallenge2DBox"][TRACKER].items():
        res = by_class["pedestrian"]
        hota = res["HOTA"]
        out[seq] = {
            "hota": float(np.mean(hota["HOTA"])),
            "deta": float(np.mean(hota["DetA"])),
            "assa": float(np.mean(hota["AssA"])),
            "loca": float(np.mean(hota["LocA"])),
            "idf1": float(res["Identity"]["IDF1"]),
            "mota": float(res["CLEAR"]["MOTA"]),
            "num_switches": int(res["CLEAR"]["IDSW"]),
            "gt_dets": int(res["Count"]["GT_Dets"]),
            "dets": int(res["Count"]["Dets"]),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("gt_folder", type=Path, help="GT_FOLDER/<seq>/gt/gt.txt and <seq>/seqinfo.ini")
    parser.add_argument("trackers_folder", type=Path, help=f"TRACKERS_FOLDER/{TRACKER}/data/<seq>.txt")
    parser.add_argument("seqmap", type=Path, help="seqmap file: a 'name' header, then one sequence a line")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    args = parser.parse_args()
    args.json.write_text(json.dumps(evaluate(args.gt_folder, args.trackers_folder, args.seqmap), indent=1))


if __name__ == "__main__":
    main()
