#!/usr/bin/env bash
# Score trackers on the 19-sequence validation split next to OpenCV's NanoTrack and CSRT, in one run:
# AUC, P@20, box-size error, first-box jitter spread (4 jittered runs per sequence), lost-flag rates.
# Every run of this script is a look at the validation split: list it in weights/README.md.
#
#   scripts/validate_split.sh RESULTS_DIR TRACKER_SPEC [TRACKER_SPEC ...]
#   e.g. scripts/validate_split.sh runs/val anchorfree_effnet_lite0@runs/af/checkpoint_e012.pth=af_e12
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
    echo "usage: $0 RESULTS_DIR TRACKER_SPEC [TRACKER_SPEC ...]" >&2
    exit 2
fi
results=$1
shift
args=()
for t in "$@"; do args+=(-t "$t"); done
exec siamtrack bench scripts/splits/val19.txt "${args[@]}" -t opencv:nano -t opencv:csrt \
    --nano-dir ../shared/peers --jitter 4 --results "$results" --quiet
