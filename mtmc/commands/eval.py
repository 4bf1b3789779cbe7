"""``mtmc eval``: score tracking results by IDF1, CLEAR MOT and HOTA, or by the AI City protocol."""

from __future__ import annotations

import argparse
import sys
import time

from pydantic import ValidationError

from mtmc.config import EvalConfig, load_config
from mtmc.errors import MtmcError

HELP = "score tracks against ground truth (IDF1/IDP/IDR, MOTA/MOTP, HOTA; AI City MTMC protocol)"
DESCRIPTION = """\
Score a prediction against ground truth.

mot mode (default): GT and PRED are files or folders of sequences (MOTChallenge `SEQ.txt`,
`SEQ/gt/gt.txt`, `SEQ/gt.txt`, or --pred-name inside each sequence folder). Each sequence and
the overall result get IDF1, IDP, IDR, MOTA, MOTP, recall, precision, FP, FN, ID switches,
fragmentations, MT/PT/ML, and HOTA with DetA, AssA, LocA. Results equal py-motmetrics'
(CLEAR, identity) and TrackEval's (HOTA).

aicity mode: GT and PRED are AI City MTMC files (`camera id frame x y w h xworld yworld`).
Predicted boxes with a corner on a non-white ROI pixel are dropped (--roi-dir), ids seen in
one camera are dropped, and all cameras are joined into one sequence so that identities are
matched globally; IDF1/IDP/IDR is the challenge's score.

Formats are sniffed (UA-DETRAC .xml, VATIC lines ending in a quoted label, KITTI tracking
labels/results, else the mode's format) or given with --gt-format/--pred-format.
KITTI ground truth (label_02/SEQ.txt, frames from 0; a MOTChallenge prediction's frame 1 is its
frame 0) is scored by the KITTI protocol for one class (--kitti-class, default car): predictions
matched to the neighbouring class (Van for cars) or lying mostly inside a DontCare region are
ignored, other classes are not scored; --kitti-official also ignores truncated or fully occluded
cars and predictions 25 px tall or less, as the KITTI devkit and TrackEval do.
MOTChallenge ground-truth rows with
confidence 0 mean "ignore" and are not scored (as TrackEval and py-motmetrics' eval app do;
--keep-ignored-gt scores them, as py-motmetrics' library default does). MOTP is the mean of
1 - IoU over matches.
"""
EPILOG = """\
examples:
  mtmc eval data/MOT17/train results/ --json scores.json
  mtmc eval gt.txt tracks.txt --iou 0.5
  mtmc eval kitti-tracking/label_02 tracks/ --kitti-class car
  mtmc eval test_gt.txt submission.txt --mode aicity --roi-dir AIC/test/S06
  mtmc eval --config configs/eval-fixtures.yaml
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("gt", nargs="?", metavar="GT", help="ground truth: file or folder")
    p.add_argument("pred", nargs="?", metavar="PRED", help="prediction: file or folder")
    p.add_argument("--mode", choices=["mot", "aicity"], help="mot (default) or aicity")
    p.add_argument("--iou", type=float, metavar="T", help="boxes match at IoU >= T (default 0.5)")
    p.add_argument("--roi-dir", metavar="DIR", help="aicity: folder with cXXX/roi.jpg masks")
    p.add_argument("--json", dest="json_out", metavar="OUT", help="write all numbers to OUT as JSON")
    p.add_argument("--gt-format", choices=["auto", "mot", "aicity", "vatic", "detrac", "kitti"], help="default: auto")
    p.add_argument(
        "--pred-format", choices=["auto", "mot", "aicity", "vatic", "detrac", "kitti"], help="default: auto"
    )
    p.add_argument(
        "--pred-name", metavar="NAME", help="mot: prediction file name inside each sequence folder"
    )
    p.add_argument(
        "--ignore-extra-cameras",
        action="store_true",
        default=None,
        help="aicity: skip prediction cameras not in GT",
    )
    p.add_argument(
        "--per-camera", action="store_true", default=None, help="aicity: also score each camera alone"
    )
    p.add_argument(
        "--keep-ignored-gt",
        action="store_true",
        default=None,
        help="mot: also score GT rows with confidence 0",
    )
    p.add_argument(
        "--kitti-class", default="car", metavar="TYPE", help="KITTI ground truth: the class scored (default car)"
    )
    p.add_argument(
        "--kitti-official",
        action="store_true",
        help="KITTI ground truth: also ignore truncated and fully occluded objects and predictions <= 25 px tall",
    )
    p.add_argument(
        "--config", metavar="CFG", help="YAML whose eval: section gives defaults for these options"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no table (use with --json)")
    p.set_defaults(run=run, command="eval")


def settings(args: argparse.Namespace) -> EvalConfig:
    """Options from --config, overridden by those given on the command line."""
    base = load_config(args.config).eval if args.config else EvalConfig()
    given = {k: v for k, v in vars(args).items() if k in EvalConfig.model_fields and v is not None}
    merged = base.model_dump(by_alias=False) | given
    try:
        config = EvalConfig.model_validate(merged)
    except ValidationError as exc:  # report the first problem in one line
        error = exc.errors()[0]
        raise MtmcError(f"--{'-'.join(map(str, error['loc']))}: {error['msg']}") from None
    if config.gt is None or config.pred is None:
        raise MtmcError("give GT and PRED (or a --config whose eval: section names gt and pred)")
    return config


def run(args: argparse.Namespace) -> int:
    from mtmc.metrics.report import print_table, write_json
    from mtmc.outputs.paths import writable_file

    config = settings(args)
    if config.json_out is not None:
        writable_file(config.json_out, "scores file")
    started = time.perf_counter()
    results, notes = score(config, args.kitti_class, args.kitti_official)
    elapsed = time.perf_counter() - started
    if config.json_out is not None:
        write_json(config.json_out, results)
    if not args.quiet:
        print_table(results, f"{config.mode} mode, IoU >= {config.iou:g}")
        for note in notes:
            print(note, file=sys.stderr)
        print(
            f"evaluated in {elapsed:.2f} s" + (f"; numbers in {config.json_out}" if config.json_out else ""),
            file=sys.stderr,
        )
    return 0


def score(config: EvalConfig, kitti_class: str = "car", kitti_official: bool = False) -> tuple[dict, list[str]]:
    """The numbers (by sequence or camera, plus ``overall``) and notes for the reader."""
    return _aicity(config) if config.mode == "aicity" else _mot(config, kitti_class, kitti_official)


def _mot(config: EvalConfig, kitti_class: str, kitti_official: bool) -> tuple[dict, list[str]]:
    from mtmc.formats import read_kitti, read_kitti_objects, read_tracks, sniff_format
    from mtmc.formats.layout import find_sequences, pair_sequences
    from mtmc.metrics.evaluate import evaluate_sequence
    from mtmc.metrics.kitti import kitti_scored
    from mtmc.metrics.report import results_dict

    sequences = pair_sequences(
        find_sequences(config.gt, "ground truth"), find_sequences(config.pred, "prediction", config.pred_name)
    )
    per_sequence = {}
    ignored: list[int] = []  # boxes matching a neighbouring class, in DontCare regions
    for name, gt_file, pred_file in sequences:
        pred_format = config.pred_format if config.pred_format != "auto" else sniff_format(pred_file, "mot")
        if pred_format == "kitti":
            pred = read_kitti(pred_file, "prediction", kitti_class)
        else:
            pred = read_tracks(pred_file, pred_format, "mot", "prediction")
        gt_format = config.gt_format if config.gt_format != "auto" else sniff_format(gt_file, "mot")
        if gt_format == "kitti":  # only sniffed: the protocol picks the rows of both sides
            kept = kitti_scored(read_kitti_objects(gt_file, "ground truth"), pred, kitti_class, config.iou, kitti_official)
            gt, pred = kept.gt, kept.pred
            ignored = [a + b for a, b in zip(ignored or [0, 0], (kept.dropped_neighbour, kept.dropped_ignored))]
        else:
            gt = read_tracks(gt_file, gt_format, "mot", "ground truth", ground_truth=not config.keep_ignored_gt)
        per_sequence[name] = evaluate_sequence(gt, pred, config.iou)
    overall = sum(list(per_sequence.values())[1:], start=next(iter(per_sequence.values())))
    notes = []
    if ignored:
        notes.append(
            f"KITTI protocol ({kitti_class}{', official' if kitti_official else ''}): ignored {ignored[0]} predicted boxes "
            f"matching a neighbouring class and {ignored[1]} in DontCare regions"
            + (" or <= 25 px tall" if kitti_official else "")
        )
    return results_dict(per_sequence, overall), notes


def _aicity(config: EvalConfig) -> tuple[dict, list[str]]:
    import numpy as np

    from mtmc.formats import read_tracks
    from mtmc.metrics.aicity import camera_name, evaluate_aicity, extra_cameras, find_roi_masks
    from mtmc.metrics.report import results_dict

    gt = read_tracks(config.gt, config.gt_format, "aicity", "ground truth", ground_truth=True)
    pred = read_tracks(config.pred, config.pred_format, "aicity", "prediction")
    masks = None
    if config.roi_dir is not None:
        masks = find_roi_masks(
            config.roi_dir, np.unique(gt.camera).tolist(), optional=extra_cameras(gt, pred)
        )
    result = evaluate_aicity(gt, pred, masks, config.iou, config.ignore_extra_cameras, config.per_camera)
    results = results_dict(
        {camera_name(c): counts for c, counts in result.per_camera.items()}, result.overall
    )
    results["overall"].update(
        dropped_roi=result.dropped_roi,
        dropped_single_camera=result.dropped_single_camera,
        dropped_repeats=result.dropped_repeats,
    )
    notes = [
        f"dropped from the prediction: {result.dropped_roi} boxes outside the ROI"
        + ("" if masks else " (no --roi-dir given)")
        + f", {result.dropped_single_camera} boxes of ids seen by one camera, {result.dropped_repeats} repeated boxes",
    ]
    if config.per_camera:
        notes.append("per-camera rows use the global ids; the overall row is the AI City score")
    return results, notes
