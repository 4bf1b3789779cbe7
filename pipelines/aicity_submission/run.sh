#!/usr/bin/env bash
# An AI City Challenge Track 1 submission: every scene of ROOT's test split -> OUT/track1.txt.
#   ./run.sh /data/AIC21_Track3_MTMC runs/aic-test
#   ./run.sh /data/AIC21_Track3_MTMC runs/aic-test --resume     (after Ctrl-C: finished scenes are kept)
#   SPLIT=validation ./run.sh /data/AIC21_Track3_MTMC runs/aic-val   (scored: OUT/scores.json)
#   PARTS=my-parts.yaml ./run.sh ROOT OUT                          (other parts than parts.yaml)
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 ROOT OUT [mtmc aicity options]   (ROOT holds test/ cam_timestamp/ ...)" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
# mtmc on PATH (an activated .venv), else this checkout's .venv; MTMC=/path/to/mtmc overrides both.
mtmc="${MTMC:-$(command -v mtmc || echo "$here/../../.venv/bin/mtmc")}"
[[ -x "$mtmc" ]] || { echo "$(basename "$0"): mtmc not found: run 'make sync' in the repository (or set MTMC=/path/to/mtmc)" >&2; exit 2; }
root="$1" out="$2"
shift 2
"$mtmc" aicity "$root" --split "${SPLIT:-test}" -o "$out" --config "${PARTS:-$here/parts.yaml}" "$@"
echo "submit: $out/track1.txt   (per scene: $out/SXX/submission.txt, mot/, status.json, logs/)" >&2
