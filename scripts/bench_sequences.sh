#!/usr/bin/env bash
# Benchmark the OpenCV baselines (and, optionally, one of our models) on the 11 real sequences in
# ../shared/data/sequences with the OTB one-pass protocol; writes results/ and reports/sequences/.
#
#   scripts/bench_sequences.sh                                  # OpenCV CSRT, KCF, MIL, Nano
#   scripts/bench_sequences.sh --tracker siamrpn_alex_dwxcorr@model.pth   # plus a model of ours
#
# Re-running skips finished sequences (add --force to redo them); extra arguments go to `siamtrack bench`.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
shared="${SIAMTRACK_SHARED:-$here/../shared}"
python="${PYTHON:-python}"
cd "$here"
exec "$python" -m tracker.cli bench "$shared/data/sequences" \
    --tracker opencv:csrt --tracker opencv:kcf --tracker opencv:mil \
    --tracker opencv:nano --nano-dir "$shared/peers" \
    --results results --report-dir reports/sequences --workers "${WORKERS:-1}" "$@"
