#!/usr/bin/env bash
# Train, export and check the world models on the GPU machine, in one command:
#   1. node tools/world/write-dataset.mjs   (the world's pictures + captions, ~20 s on 16 cores)
#   2. python3 tools/world/train-all.py     (VAE, CLIP, aesthetic head, text-to-image; export; eval)
#   3. node tools/world/check-export.mjs    (the exported folders through our own TS loaders)
#   4. results packed into $OUT (at most 8 files of ≤ 15 MiB): world-models.tgz.NN (world-clip/,
#      world-sd/, report.json, check-export.json, sample sheets), world-checkpoints.tgz.NN (torch
#      weights, for `train-all.py --stages export,eval --resume` without retraining), log.txt.
#
# Usage (repository root, Node from the device bundle): bash tools/world/gpu-train.sh
# Environment: OUT (default /tmp/world-out), WORLD_MINUTES training budget (default 5.5; the whole
# script then takes about 8 minutes),
# WORLD_TRAIN / WORLD_VAL pictures (default 50000 / 1000), WORLD_WORK scratch (default /tmp/world).
# Unpack here: cat world-models.tgz.* | tar -xzf - -C data/models   (gives world-clip/, world-sd/).
set -uo pipefail
OUT=${OUT:-/tmp/world-out}
MINUTES=${WORLD_MINUTES:-5.5}
TRAIN=${WORLD_TRAIN:-50000}
VAL=${WORLD_VAL:-1000}
WORK=${WORLD_WORK:-/tmp/world}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$WORK"
LOG="$OUT/log.txt"
if ! command -v node >/dev/null 2>&1 && [ -f .device/activate.sh ]; then
  # shellcheck disable=SC1091
  source .device/activate.sh
fi
status=0
start=$(date +%s)
{
  echo "== world: $(date -u +%FT%TZ) on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1), node $(node --version 2>/dev/null), $(python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' 2>&1)"
  node tools/world/write-dataset.mjs --out "$WORK/data" --train "$TRAIN" --val "$VAL" || exit 10
  python3 tools/world/train-all.py --data "$WORK/data" --out "$WORK/models" --minutes "$MINUTES" || echo "train-all.py exited with $?"
  echo "== check-export ($(( $(date +%s) - start )) s so far)"
  node tools/world/check-export.mjs --models "$WORK/models" --data "$WORK/data" --report "$WORK/models/report.json" --captions 120 \
    --json "$WORK/models/check-export.json" --sheet "$WORK/models/check-samples.png" || echo "check-export.mjs exited with $?"
  echo "== done in $(( $(date +%s) - start )) s"
} 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
cd "$WORK/models" 2>/dev/null && {
  files=$(ls -d world-clip world-sd report.json check-export.json check-samples.png samples-* 2>/dev/null)
  [ -n "$files" ] && tar -czf - $files | split -b 15m -d - "$OUT/world-models.tgz."
  [ -d checkpoints ] && tar -czf - checkpoints | split -b 15m -d - "$OUT/world-checkpoints.tgz."
  cp report.json "$OUT/report.json" 2>/dev/null
}
ls -la "$OUT"
exit "$status"
