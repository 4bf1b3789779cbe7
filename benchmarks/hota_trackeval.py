"""mtmc's HOTA (and IDF1, MOTA) against a real TrackEval run.

Sequences: TUD-Campus and TUD-Stadtmitte (../shared/data/mot-fixtures: gt.txt against the
tracker output test.txt) and PETS09-S2L1 against the perturbed copy that ``inputs.py`` makes
(the same one ``eval_speed.py`` times). The script writes TrackEval's MOTChallenge layout under
benchmarks/.cache/hota_trackeval/ (GT_FOLDER/<seq>/gt/gt.txt + seqinfo.ini with seqLength,
TRACKERS_FOLDER/bench/data/<seq>.txt, a seqmap; the files are copied unchanged) and scores it
twice, each tool in its own process:

* TrackEval 1.3.0 (PyPI ``trackeval``, Luiten's TrackEval as packaged by the kovalp fork) in its
  own uv environment, benchmarks/.envs/trackeval (created on first run): MotChallenge2DBox with
  DO_PREPROC False and BENCHMARK MOT15, metrics HOTA, CLEAR and Identity (threshold 0.5);
* ``uv run mtmc eval GT_FOLDER TRACKERS_FOLDER/bench/data --json OUT`` on the same folders.

Per sequence and combined it prints HOTA, DetA, AssA, LocA (means over alphas 0.05..0.95), IDF1
and MOTA from both, with the absolute differences, and checks that both scored the same number
of ground-truth and predicted boxes. TrackEval drops GT rows with confidence 0, as ``mtmc eval``
does; it keeps every tracker row here (their class column is -1, no preprocessing).

HOTA, DetA, AssA, LocA and IDF1 are defined identically by both. MOTA need not be: mtmc follows
py-motmetrics' CLEAR matching (an object keeps the hypothesis it was last matched to, however
long ago), while TrackEval's CLEAR favours only the partner of the previous frame that had
predictions, so after a missed frame it can pick another hypothesis and count an extra ID
switch. The inputs here happen to agree; dense scenes can differ by such switches.

Run: ``uv run python benchmarks/hota_trackeval.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from envs import TRACKEVAL, ensure_env
from inputs import CACHE_DIR, PETS09_GT, SHARED_DATA, perturbed_pets09

BENCH_DIR = Path(__file__).resolve().parent
TRACKER = "bench"  # must match trackeval_worker.TRACKER
METRICS = ("hota", "deta", "assa", "loca", "idf1", "mota")
COMBINED = "COMBINED_SEQ"
TOLERANCE = 1e-9


def sequences(seed: int) -> dict[str, tuple[Path, Path]]:
    """Sequence name -> (ground truth, prediction)."""
    fixtures = SHARED_DATA / "mot-fixtures"
    return {
        "TUD-Campus": (fixtures / "TUD-Campus" / "gt.txt", fixtures / "TUD-Campus" / "test.txt"),
        "TUD-Stadtmitte": (
            fixtures / "TUD-Stadtmitte" / "gt.txt",
            fixtures / "TUD-Stadtmitte" / "test.txt",
        ),
        "PETS09-S2L1": (PETS09_GT, perturbed_pets09(seed)),
    }


def last_frame(path: Path) -> int:
    table = np.loadtxt(path, delimiter=",", usecols=0, ndmin=1)
    return int(table.max()) if len(table) else 1


def write_layout(root: Path, seqs: dict[str, tuple[Path, Path]]) -> tuple[Path, Path, Path]:
    """TrackEval's folders under ``root``: (GT_FOLDER, TRACKERS_FOLDER, seqmap file)."""
    shutil.rmtree(root, ignore_errors=True)
    gt_folder, trackers = root / "gt", root / "trackers"
    data = trackers / TRACKER / "data"
    data.mkdir(parents=True)
    for name, (gt, pred) in seqs.items():
        (gt_folder / name / "gt").mkdir(parents=True)
        shutil.copyfile(gt, gt_folder / name / "gt" / "gt.txt")
        shutil.copyfile(pred, data / f"{name}.txt")
        length = max(last_frame(gt), last_frame(pred))
        (gt_folder / name / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nseqLength={length}\n")
    seqmap = root / "seqmap.txt"
    seqmap.write_text("name\n" + "".join(f"{name}\n" for name in seqs))
    return gt_folder, trackers, seqmap


def run(command: list[str]) -> None:
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(
            f"failed ({done.returncode}): {shlex.join(command)}\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the perturbed PETS09 prediction")
    parser.add_argument(
        "--mtmc-command",
        default="uv run mtmc eval",
        help="how to start mtmc eval (default: %(default)s)",
    )
    args = parser.parse_args()

    trackeval_python = ensure_env("trackeval", TRACKEVAL)
    seqs = sequences(args.seed)
    root = CACHE_DIR / "hota_trackeval"
    gt_folder, trackers, seqmap = write_layout(root, seqs)
    te_json, mtmc_json = root / "trackeval.json", root / "mtmc.json"
    run([str(trackeval_python), str(BENCH_DIR / "trackeval_worker.py"), str(gt_folder), str(trackers), str(seqmap),
         "--json", str(te_json)])  # fmt: skip
    run([*shlex.split(args.mtmc_command), str(gt_folder), str(trackers / TRACKER / "data"), "--mode", "mot",
         "--iou", "0.5", "--json", str(mtmc_json), "-q"])  # fmt: skip
    trackeval = json.loads(te_json.read_text())
    mtmc = json.loads(mtmc_json.read_text())
    mtmc[COMBINED] = mtmc.pop("overall")

    names = [*seqs, COMBINED]
    width = max(map(len, names))
    print(f"{'sequence':<{width}}  {'metric':<6} {'mtmc':>18} {'TrackEval':>18} {'|diff|':>9}")
    print("-" * (width + 56))
    worst: dict[str, float] = {}
    for name in names:
        ours, theirs = mtmc[name], trackeval[name]
        for metric in METRICS:
            diff = abs(ours[metric] - theirs[metric])
            worst[metric] = max(worst.get(metric, 0.0), diff)
            print(f"{name:<{width}}  {metric:<6} {ours[metric]:18.15f} {theirs[metric]:18.15f} {diff:9.2g}")
    print("\nBoxes scored (mtmc / TrackEval), and ID switches (mtmc: py-motmetrics' rule / TrackEval):")
    counts_agree = True
    for name in names:
        ours, theirs = mtmc[name], trackeval[name]
        same = ours["num_objects"] == theirs["gt_dets"] and ours["num_predictions"] == theirs["dets"]
        counts_agree &= same
        print(f"  {name:<{width}}  GT {ours['num_objects']} / {theirs['gt_dets']}, "
              f"predicted {ours['num_predictions']} / {theirs['dets']}{'' if same else '  <- DIFFERENT'}; "
              f"IDSW {ours['num_switches']} / {theirs['num_switches']}")  # fmt: skip
    print("\nLargest |difference| over all sequences and combined:")
    for metric in METRICS:
        verdict = "agrees" if worst[metric] <= TOLERANCE else "DIFFERS"
        print(f"  {metric:<5} {worst[metric]:9.2g}  {verdict} (tolerance {TOLERANCE:g})")
    if not counts_agree:
        print("  box counts differ: the two tools did not score the same rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
