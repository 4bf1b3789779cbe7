#!/usr/bin/env bash
# A folder of videos as cameras: `mtmc run city.yaml`, then where the outputs are.
#   ./run.sh                       # city.yaml here (set its cameras: to your folder)
#   ./run.sh my-city.yaml          # a copy of it placed beside your videos
#   ./run.sh city.yaml --resume    # after Ctrl-C; any other `mtmc run` option passes through
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# mtmc on PATH (an activated .venv), else this checkout's .venv; MTMC=/path/to/mtmc overrides both.
mtmc="${MTMC:-$(command -v mtmc || echo "$here/../../.venv/bin/mtmc")}"
[[ -x "$mtmc" ]] || { echo "$(basename "$0"): mtmc not found: run 'make sync' in the repository (or set MTMC=/path/to/mtmc)" >&2; exit 2; }
config="${1:-$here/city.yaml}"
shift || true
"$mtmc" run "$config" "$@"
code=$?
cat >&2 <<DONE
in output.dir (the line "outputs in ..." above; --out DIR overrides it):
  submission.txt    AI City rows: camera number, global id, frame, box, ground position
  mot/<camera>.txt  MOTChallenge rows per camera, with global ids
  videos/           each camera's video, boxes coloured and labelled by global id
  cameras.csv       camera name -> the submission's camera number
  status.json       "complete", or why not (a failed camera, unreadable frames, interrupted)
  logs/             the matcher's and each camera's log
DONE
exit $code
