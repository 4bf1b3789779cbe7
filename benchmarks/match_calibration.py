"""Is the matcher's evidence calibrated? Each cue's LLR and the posterior against the truth (issue 30).

The matcher adds each cue's log-likelihood ratio to a prior and reads the sum as the log-odds that
two tracklets are one vehicle. Where that holds, pairs it gives probability p are one vehicle a
fraction p of the time. This reads a run's journal (as ``match_threshold.py`` does), labels each
tracklet with its true vehicle (IoU with the cameras' ground truth), and for every pair the time
gates let through (offline: every tracklet against every other) prints:

- per cue, the LLR the model gives against the LLR the data show, in bins of the model's LLR: the
  empirical LLR of a bin is log(share of true pairs in it / share of false pairs in it); a cue is
  calibrated where the two columns agree, overconfident where the model's is larger in size;
- the prior alone and the posterior (prior + cues) as probabilities against the true rate.

    .venv/bin/python benchmarks/match_calibration.py benchmarks/.cache/e2e-synthcity-small-*-attributes5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from match_threshold import read_run, true_vehicles  # noqa: E402

from mtmc.match.offline import build_distances, network_for, run_scene  # noqa: E402
from mtmc.match.timing import CameraRates, Intervals, pair_prior  # noqa: E402

LLR_BINS = (-8.5, -6, -4, -2, -1, 0, 1, 2, 4, 6, 8.5)
PROBABILITY_BINS = (0.0, 0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95, 1.0)


def empirical(values: np.ndarray, truth: np.ndarray, bins: tuple[float, ...]) -> list[tuple[str, int, int, float, float]]:
    """Per bin of ``values``: its label, true and false pair counts, the mean value and the
    empirical LLR (add-half smoothed shares of the true and false pairs)."""
    rows = []
    n_true, n_false = max(int(truth.sum()), 1), max(int((~truth).sum()), 1)
    which = np.digitize(values, bins[1:-1])
    for k in range(len(bins) - 1):
        inside = which == k
        t, f = int((inside & truth).sum()), int((inside & ~truth).sum())
        if t + f == 0:
            continue
        llr = float(np.log(((t + 0.5) / n_true) / ((f + 0.5) / n_false)))
        rows.append((f"[{bins[k]:g}, {bins[k + 1]:g})", t, f, float(values[inside].mean()), llr))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders holding run.yaml and matcher.journal")
    args = parser.parse_args()
    for run in args.runs:
        config, state = read_run(run, {})
        tracklets = sorted(state.ended, key=lambda t: t.key)
        truth_ids = true_vehicles(config, tracklets)
        matcher = config.matcher
        topology = state.topology
        if topology is None:
            network = network_for(tracklets, matcher, state.scene)
            topology = network.topology() if network is not None else None
        scene = run_scene(state.scene, tracklets, matcher, topology)
        intervals = Intervals.of(tracklets)
        log_prior = pair_prior(matcher, topology).log_odds(intervals, intervals, CameraRates.of(tracklets))
        i, j = np.nonzero(np.triu(np.isfinite(log_prior), 1))
        truth = truth_ids[i] == truth_ids[j]
        cross = intervals.camera[i] != intervals.camera[j]
        print(f"\n{run.name}: {len(tracklets)} tracklets, {len(i)} gated pairs ({int(cross.sum())} across cameras), "
              f"{int(truth.sum())} of them one vehicle")  # fmt: skip
        total = log_prior[i, j].copy()
        for item, fn in zip(matcher.distances, build_distances(matcher)):
            llr = fn.llr(np.asarray(fn(tracklets, scene), np.float64), scene)[i, j]
            defined = np.isfinite(llr)
            total[defined] += item.weight * llr[defined]
            print(f"  {item.name}: defined for {int(defined.sum())} pairs ({int((defined & truth).sum())} true)")
            print(f"    {'model LLR bin':16s} {'true':>6s} {'false':>7s} {'model':>7s} {'data':>7s}")
            for label, t, f, mean, data in empirical(llr[defined], truth[defined], LLR_BINS):
                print(f"    {label:16s} {t:6d} {f:7d} {mean:7.2f} {data:7.2f}")
        for name, values in (("prior", log_prior[i, j]), ("posterior", total)):
            p = 1.0 / (1.0 + np.exp(-np.clip(values, -30, 30)))
            for scope, keep in (("across cameras", cross), ("within a camera", ~cross)):
                print(f"  {name} {scope}: {'p bin':14s} {'true':>6s} {'false':>7s} {'mean p':>7s} {'true rate':>9s}")
                which = np.digitize(p[keep], PROBABILITY_BINS[1:-1])
                for k in range(len(PROBABILITY_BINS) - 1):
                    inside = which == k
                    t, f = int((inside & truth[keep]).sum()), int((inside & ~truth[keep]).sum())
                    if t + f:
                        print(f"    {'':{len(name) + len(scope) + 1}s} [{PROBABILITY_BINS[k]:g}, {PROBABILITY_BINS[k + 1]:g})"
                              f"{'':{max(0, 10 - len(f'{PROBABILITY_BINS[k]:g}, {PROBABILITY_BINS[k + 1]:g}'))}s} {t:6d} {f:7d}"
                              f" {p[keep][inside].mean():7.3f} {t / (t + f):9.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
