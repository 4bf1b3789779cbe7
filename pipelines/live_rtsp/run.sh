#!/usr/bin/env bash
# The live RTSP monitor: runs until Ctrl-C (exit 130, status.json "interrupted").
# Each start writes to its own folder, so a restart never replaces the last run's outputs.
#   ./run.sh                      # monitor.yaml's cameras, outputs in runs/live/<date-time>/
#   ./run.sh my-cameras.yaml      # your copy of monitor.yaml
# In another terminal: python pipelines/live_rtsp/subscribe.py   (the live feed of global ids)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# mtmc on PATH (an activated .venv), else this checkout's .venv; MTMC=/path/to/mtmc overrides both.
mtmc="${MTMC:-$(command -v mtmc || echo "$here/../../.venv/bin/mtmc")}"
[[ -x "$mtmc" ]] || { echo "$(basename "$0"): mtmc not found: run 'make sync' in the repository (or set MTMC=/path/to/mtmc)" >&2; exit 2; }
config="${1:-$here/monitor.yaml}"
out="${OUT:-$here/../../runs/live/$(date +%Y%m%d-%H%M%S)}"
echo "dashboard: http://127.0.0.1:8765/   feed: python $here/subscribe.py   outputs: $out" >&2
exec "$mtmc" run "$config" --out "$out" --no-video
