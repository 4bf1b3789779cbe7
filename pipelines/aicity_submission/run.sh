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
root="$1" out="$2"
shift 2
"${MTMC:-mtmc}" aicity "$root" --split "${SPLIT:-test}" -o "$out" --config "${PARTS:-$here/parts.yaml}" "$@"
echo "submit: $out/track1.txt   (per scene: $out/SXX/submission.txt, mot/, status.json, logs/)" >&2
