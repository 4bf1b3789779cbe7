"""Speed, peak memory and agreement of ``mtmc eval`` against py-motmetrics 1.4.0.

Inputs (generated once, deterministically, into benchmarks/.cache/ by ``inputs.py``):

* pets09: PETS09-S2L1 ground truth against a perturbed copy of it (mot mode). py-motmetrics:
  ``mm.io.loadtxt`` (GT with ``min_confidence=1``, as ``mtmc eval`` drops GT rows marked 0),
  ``compare_to_groundtruth(gt, pred, 'iou', distth=0.5)``, ``mh.compute`` of motchallenge_metrics.
* aicity: a generated 40-camera x 2,000-frame AI City scenario (aicity mode). py-motmetrics
  reproduces the official AI City MTMC evaluation (no ROI filter): drop repeated predicted
  (camera, id, frame) rows and predicted ids seen by one camera, shift each GT camera's frames by
  a running offset, compare as one sequence, compute idf1 idp idr mota.

Each tool runs as its own subprocess (the whole command, Python start-up included):
``uv run mtmc eval GT PRED --mode M --json OUT`` against ``motmetrics_worker.py`` in its own uv
environment (benchmarks/.envs/motmetrics, created on first run). Each is run ``--repeats``
times; the table shows the best wall time, the largest peak RSS (``ru_maxrss`` of the
command's process tree, taken by a small wrapper process per run) and the in-process time each
tool reports (reading + scoring).
The goal: identical IDF1/IDP/IDR/MOTA (|difference| <= 1e-9), >= 10x faster, lower peak memory.

Run: ``uv run python benchmarks/eval_speed.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from envs import MOTMETRICS, ensure_env
from inputs import CACHE_DIR, PETS09_GT, aicity_scenario, perturbed_pets09

BENCH_DIR = Path(__file__).resolve().parent
COMPARED = ("idf1", "idp", "idr", "mota")
TOLERANCE = 1e-9
SPEEDUP_GOAL = 10.0


@dataclass(frozen=True)
class Case:
    name: str
    mode: str
    gt: Path
    pred: Path


@dataclass(frozen=True)
class Timing:
    seconds: float  # best wall time of the whole command
    peak_mb: float  # largest peak RSS over the runs
    inprocess: float | None  # in-process time the tool reported in its best run
    metrics: dict[str, float]


# Runs one command and records its wall time and peak RSS. A fresh small process does this: a
# child forked from this (large) process would report this process's RSS as its own peak.
_MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[2:])
seconds = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": seconds, "peak_kb": peak_kb, "returncode": code}, out)
"""


def run_measured(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB (largest process of the command's tree) and the output.

    Python may cache bytecode, as it does by default: with PYTHONDONTWRITEBYTECODE set, every
    run would compile numpy, scipy and pandas from source again, start-up would dominate, and
    more so for the tool with the bigger imports.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as tmp:
        measured, log = Path(tmp) / "measured.json", Path(tmp) / "output.txt"
        with log.open("wb") as output:
            subprocess.run(
                [sys.executable, "-I", "-S", "-c", _MEASURE, str(measured), *command],
                stdout=output,
                stderr=subprocess.STDOUT,
                check=True,
                env=env,
            )
        result = json.loads(measured.read_text())
        text = log.read_text(errors="replace")
    if result["returncode"] != 0:
        raise SystemExit(f"failed ({result['returncode']}): {shlex.join(command)}\n{text[-3000:]}")
    return result["seconds"], result["peak_kb"] / 1024, text


def time_tool(
    command: list[str],
    json_out: Path,
    repeats: int,
    inprocess_of: Callable[[str, Path], float | None],
) -> Timing:
    """Run ``command`` ``repeats`` times; its metrics are read from ``json_out`` after the last run."""
    best: tuple[float, float | None] | None = None
    peak = 0.0
    for _ in range(repeats):
        json_out.unlink(missing_ok=True)
        seconds, peak_mb, text = run_measured(command)
        peak = max(peak, peak_mb)
        if best is None or seconds < best[0]:
            best = (seconds, inprocess_of(text, json_out))
    metrics = json.loads(json_out.read_text())["overall"]
    return Timing(best[0], peak, best[1], {k: float(metrics[k]) for k in COMPARED})


def mtmc_inprocess(text: str, _: Path) -> float | None:
    """``mtmc eval`` prints 'evaluated in S s' (reading and scoring) on stderr."""
    found = re.search(r"evaluated in ([0-9.]+) s", text)
    return float(found.group(1)) if found else None


def motmetrics_inprocess(_: str, json_out: Path) -> float:
    return float(json.loads(json_out.read_text())["compute_seconds"])


def build_cases(args: argparse.Namespace) -> list[Case]:
    cases = []
    if "pets09" in args.inputs:
        cases.append(Case("PETS09-S2L1 (mot)", "mot", PETS09_GT, perturbed_pets09(args.seed)))
    if "aicity" in args.inputs:
        files = aicity_scenario(args.cameras, args.frames, args.per_frame, args.seed)
        label = f"AI City {args.cameras}x{args.frames} (aicity)"
        cases.append(Case(label, "aicity", files.gt, files.pred))
    return cases


def count_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inputs", nargs="+", choices=("pets09", "aicity"), default=["pets09", "aicity"])
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per tool and input; the best time counts"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated inputs")
    parser.add_argument("--cameras", type=int, default=40, help="AI City scenario: cameras")
    parser.add_argument("--frames", type=int, default=2000, help="AI City scenario: frames per camera")
    parser.add_argument(
        "--per-frame", type=float, default=15.0, help="AI City scenario: GT boxes per camera-frame"
    )
    parser.add_argument(
        "--mtmc-command",
        default="uv run mtmc eval",
        help="how to start mtmc eval (default: %(default)s)",
    )
    args = parser.parse_args()

    motmetrics_python = ensure_env("motmetrics", MOTMETRICS)
    cases = build_cases(args)
    out_dir = CACHE_DIR / "eval_speed"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[Case, Timing, Timing]] = []
    for case in cases:
        print(
            f"{case.name}: GT {count_rows(case.gt):,} rows, prediction {count_rows(case.pred):,} rows",
            flush=True,
        )
        mtmc_json, mm_json = out_dir / "mtmc.json", out_dir / "motmetrics.json"
        mtmc_cmd = [*shlex.split(args.mtmc_command), str(case.gt), str(case.pred), "--mode", case.mode,
                    "--iou", "0.5", "--json", str(mtmc_json)]  # fmt: skip
        mm_cmd = [str(motmetrics_python), str(BENCH_DIR / "motmetrics_worker.py"), "--mode", case.mode,
                  str(case.gt), str(case.pred), "--json", str(mm_json)]  # fmt: skip
        mtmc = time_tool(mtmc_cmd, mtmc_json, args.repeats, mtmc_inprocess)
        print(f"  mtmc eval     best {mtmc.seconds:7.2f} s, peak {mtmc.peak_mb:7.0f} MB", flush=True)
        mm = time_tool(mm_cmd, mm_json, args.repeats, motmetrics_inprocess)
        print(f"  py-motmetrics best {mm.seconds:7.2f} s, peak {mm.peak_mb:7.0f} MB", flush=True)
        rows.append((case, mtmc, mm))
    print_report(rows, args.repeats)
    return 0


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_report(rows: list[tuple[Case, Timing, Timing]], repeats: int) -> None:
    width = max(len(case.name) for case, _, _ in rows)
    print(
        f"\nBest of {repeats} runs; seconds = whole command, in-proc = reading + scoring as the tool reports it."
    )
    header = (f"{'input':<{width}}  {'tool':<13} {'IDF1':>8} {'IDP':>8} {'IDR':>8} {'MOTA':>9} "
              f"{'seconds':>8} {'in-proc':>8} {'peak MB':>8}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for case, mtmc, mm in rows:
        for tool, t in (("mtmc eval", mtmc), ("py-motmetrics", mm)):
            m = t.metrics
            print(f"{case.name:<{width}}  {tool:<13} {m['idf1']:8.6f} {m['idp']:8.6f} {m['idr']:8.6f} "
                  f"{m['mota']:9.6f} {t.seconds:8.2f} {_seconds(t.inprocess):>8} {t.peak_mb:8.0f}")  # fmt: skip
    print()
    header = (f"{'input':<{width}}  {'time ratio':>10} {'in-proc ratio':>13} {'MB ratio':>8}  "
              f"{'max |diff| IDF1/IDP/IDR/MOTA':>29}  {'identical':>9}  goal")  # fmt: skip
    print(header)
    print("-" * len(header))
    verdicts = []
    for case, mtmc, mm in rows:
        diff = max(abs(mtmc.metrics[k] - mm.metrics[k]) for k in COMPARED)
        identical = diff <= TOLERANCE
        speedup = mm.seconds / mtmc.seconds
        inproc = mm.inprocess / mtmc.inprocess if mtmc.inprocess and mm.inprocess else None
        memory = mm.peak_mb / mtmc.peak_mb
        met = identical and speedup >= SPEEDUP_GOAL and memory > 1.0
        missed = [
            *([] if identical else [f"metrics differ by up to {diff:.3g}"]),
            *([] if speedup >= SPEEDUP_GOAL else [f"only {speedup:.1f}x faster (goal {SPEEDUP_GOAL:g}x)"]),
            *([] if memory > 1.0 else [f"peak memory not lower ({mtmc.peak_mb:.0f} vs {mm.peak_mb:.0f} MB)"]),
        ]
        verdict = f"{case.name}: {'MET' if met else 'NOT MET: ' + '; '.join(missed)}"
        if speedup < SPEEDUP_GOAL and inproc is not None and inproc >= SPEEDUP_GOAL:
            verdict += (
                f" as a whole command; reading + scoring alone is {inproc:.1f}x faster (the rest is start-up)"
            )
        verdicts.append(verdict)
        inproc_text = "-" if inproc is None else f"{inproc:.1f}x"
        print(f"{case.name:<{width}}  {speedup:9.1f}x {inproc_text:>13} {memory:7.2f}x  {diff:29.3g}  "
              f"{'yes' if identical else 'NO':>9}  {'met' if met else 'NOT met'}")  # fmt: skip
    print("\nGoal (identical IDF1/IDP/IDR/MOTA to 1e-9, >= 10x faster, lower peak memory):")
    for verdict in verdicts:
        print(f"  {verdict}")


if __name__ == "__main__":
    sys.exit(main())
