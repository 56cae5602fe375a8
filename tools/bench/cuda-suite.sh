#!/usr/bin/env bash
# ONNX Runtime's CUDA EP from Node.js beside PyTorch, on the GPU machine (NVIDIA, CUDA 13 in its
# Python stack, no Node.js, no network). Run from the repository root there once the Node bundle
# (tools/device/bundle.sh .device --split-extra), the CUDA provider bundle and its parts
# (tools/device/bundle-cuda-provider.sh: .device-cuda/core, .device-cuda/part-K) have been carried
# in calls back to back, and the replicas made (bash tools/replicas/gpu-real-scale.sh
# replicas-turbo replicas-original, carrying .replicas/carry: /tmp/rep/real/…):
#   bash tools/bench/cuda-suite.sh [STEP...]     (default: every step, in this order)
# Steps, each with a time limit, logged to $OUT/logs-cuda/logs-cuda.tgz as it goes:
#   doctor      node apps/trainer/dist/cli.js doctor (it probes every provider; cuda should read ok)
#   unet-turbo  tools/bench/unet-webgpu.mjs --device cuda --vae on $SD_TURBO (fp16): UNet step at
#               batches 2 and 8, a 50-step image (host loop), VAE decode 512² at batches 1 and 8
#   unet-sd15   the same on $SD15 (fp32, external data)
#   clip        tools/bench/clip-tower.mjs --device cuda on $CLIP, fp32 and fp16, batches 1–64
#   torch       tools/bench/torch-diffusion.py: the same UNet/VAE/CLIP work in PyTorch, fp16 and fp32
#   iteration   bench.mjs --suite iteration --device cuda, config/sd-turbo-clip.json, 2 iterations,
#               with torch-iteration.py's reference
# The summary table (tools/bench/cuda-summary.mjs) prints last and goes to $OUT/logs-cuda/summary.md;
# results of steps run by earlier calls on the same held machine (kept in /tmp/logs-cuda) count.
# One call has 10 minutes: the first five steps should take ~5 min, the iteration ~4 (estimates, not
# measured yet), so run them in two calls. The whole sequence of device calls, back to back (the
# machine is given back after ~30 s idle; sizes for the 14.5 MB tree with the world models moved out):
#   1. carry .device .device-cuda/core (50.7 MB)                   command: nvidia-smi
#   2. carry .device-cuda/part-1 .replicas/carry .whl (45.5 MB)   bash tools/replicas/gpu-real-scale.sh replicas-turbo
#   3. carry .device-cuda/part-2 .device-extra (48.1 MB)           bash tools/replicas/gpu-real-scale.sh replicas-original
#   4. carry .device-cuda/part-3 (41.9 MB)                         nvidia-smi
#   5. carry .device-cuda/part-4 (38.0 MB)                         bash tools/bench/cuda-suite.sh doctor unet-turbo unet-sd15 clip torch
#   6. no carry                                                    bash tools/bench/cuda-suite.sh iteration
# With `bundle-cuda-provider.sh --keep-sm 90` (one 37.4 MB part, H100 only): 1. as above; 2. carry
# .device-cuda/part-1 .replicas/carry .whl .device-extra (47.1 MB), replicas-turbo; 3. replicas-original;
# 4. and 5. the two suite calls. bundle-cuda-provider.sh prints the grouping for the tree of the day.
# Env: SD_TURBO, SD15, CLIP, POLICY (default /tmp/rep/real/{sd-turbo,stable-diffusion-v1-5-onnx,
# clip-vit-base-patch32,smollm2-135m-instruct}); REPEATS (10), IMAGE_STEPS (50), ITERATIONS (2);
# CUDA_BUNDLE (.device-cuda); DEVICE (cuda: `webgpu` times ONNX Runtime's WebGPU EP in the same
# steps for comparison, `cpu` is a dry run of the whole suite on a machine without a GPU).
# A step whose model folder is missing is skipped, saying so.
set -u
REAL=/tmp/rep/real
SD_TURBO=${SD_TURBO:-$REAL/sd-turbo}
SD15=${SD15:-$REAL/stable-diffusion-v1-5-onnx}
CLIP=${CLIP:-$REAL/clip-vit-base-patch32}
POLICY=${POLICY:-$REAL/smollm2-135m-instruct}
REPEATS=${REPEATS:-10}
IMAGE_STEPS=${IMAGE_STEPS:-50}
ITERATIONS=${ITERATIONS:-2}
DEVICE=${DEVICE:-cuda}
CUDA_BUNDLE=${CUDA_BUNDLE:-.device-cuda}
ALL=(doctor unet-turbo unet-sd15 clip torch iteration)
STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=("${ALL[@]}")
for s in "${STEPS[@]}"; do [[ " ${ALL[*]} " == *" $s "* ]] || { echo "cuda-suite: unknown step $s (expected some of: ${ALL[*]})" >&2; exit 2; }; done

K=/tmp/logs-cuda                                 # every step's log and JSON, kept while the machine is held
R=${OUT:-/tmp/cuda-suite-out}/logs-cuda          # what comes back: summary.md and logs-cuda.tgz (the tool returns ≤ 8 files)
mkdir -p "$K" "$R"
# back to the caller after each step, so a call cut at its limit still returns what was done
publish() {
  node tools/bench/cuda-summary.mjs "$K" --json "$K/summary.json" > "$K/summary.md" 2>> "$K/summary.err"
  cp "$K/summary.md" "$R/summary.md" 2>/dev/null
  tar -czf "$R/logs-cuda.tgz" -C /tmp logs-cuda 2>/dev/null
}
t() {  # t NAME LIMIT CMD…: run with a time limit, log, record rc and seconds, print the tail
  local name=$1 limit=$2; shift 2
  local s=$(date +%s)
  timeout "$limit" "$@" > "$K/$name.log" 2>&1
  local rc=$?
  local took=$(( $(date +%s) - s ))
  sed -i "/^$name\t/d" "$K/steps.tsv" 2>/dev/null
  printf '%s\t%s\t%s\n' "$name" "$rc" "$took" >> "$K/steps.tsv"
  echo "== $name rc=$rc ${took} s$([ $rc = 124 ] && echo " (stopped at its ${limit} s limit)")"
  grep -v "VerifyEachNodeIsAssignedToAnEp\|TracerWarning\|DeprecationWarning\|Warning: \|^\s*$" "$K/$name.log" | tail -n 14
  publish
}
skip() { echo "== $1 skipped: $2"; printf '%s\t%s\t%s\n' "$1" skipped 0 >> "$K/steps.tsv"; }

# ---- environment: the Node bundle, then ONNX Runtime 1.29 with its CUDA provider
[ -f .device/activate.sh ] || { echo "cuda-suite: .device/activate.sh is missing: carry .device (tools/device/bundle.sh .device --split-extra)" >&2; exit 1; }
source .device/activate.sh > "$K/activate.log" 2>&1
CUDA_OK=1
if [ ! -f "$CUDA_BUNDLE/core/activate-cuda.sh" ]; then
  echo "cuda-suite: $CUDA_BUNDLE/core/activate-cuda.sh is missing: carry $CUDA_BUNDLE/core (tools/device/bundle-cuda-provider.sh)" | tee "$K/activate-cuda.log" >&2
  CUDA_OK=0
else
  source "$CUDA_BUNDLE/core/activate-cuda.sh" > "$K/activate-cuda.log" 2>&1 || CUDA_OK=0
  cat "$K/activate-cuda.log"
fi
[ $CUDA_OK = 1 ] || echo "cuda-suite: the CUDA provider is not ready (see above): our CUDA steps will fail; the doctor says why"
# diffusers' source and requests, as tools/replicas/gpu-real-scale.sh lays them out in /tmp/rep
[ -d /tmp/rep/src/diffusers ] && export VLM_GRPO_DIFFUSERS_SRC=/tmp/rep/src
if ! python3 -c "import requests" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/pysite .whl/*.whl
fi
[ -d /tmp/pysite ] && export PYTHONPATH=/tmp/pysite${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; node --version; python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } > "$K/gpu.txt" 2>&1
cat "$K/gpu.txt"

for STEP in "${STEPS[@]}"; do case $STEP in
  doctor) t doctor 120 node apps/trainer/dist/cli.js doctor ;;
  unet-turbo|unet-sd15)
    model=$([ "$STEP" = unet-turbo ] && echo "$SD_TURBO" || echo "$SD15")
    if [ ! -f "$model/unet/model.onnx" ]; then skip "$STEP" "no $model/unet/model.onnx (make the replicas: bash tools/replicas/gpu-real-scale.sh replicas-turbo replicas-original)"; continue; fi
    t "$STEP" 300 node tools/bench/unet-webgpu.mjs --model "$model" --device "$DEVICE" --batches 2,8 --steps "$IMAGE_STEPS" --repeats "$REPEATS" \
      --vae --vae-batches 1,8 --vae-latent 64 --json "$K/$STEP.json" ;;
  clip)
    if [ ! -f "$CLIP/onnx/vision_model.onnx" ]; then skip clip "no $CLIP/onnx/vision_model.onnx"; continue; fi
    t clip-fp32 90 node tools/bench/clip-tower.mjs --model "$CLIP" --device "$DEVICE" --batches 1,8,32,64 --repeats 20 --json "$K/tower-fp32.json"
    if [ -f "$CLIP/onnx/vision_model_fp16.onnx" ]; then
      t clip-fp16 90 node tools/bench/clip-tower.mjs --model "$CLIP" --device "$DEVICE" --dtype fp16 --batches 1,8,32,64 --repeats 20 --json "$K/tower-fp16.json"
    fi ;;
  torch)
    args=()
    for m in "$SD_TURBO" "$SD15"; do [ -f "$m/unet/config.json" ] && args+=(--sd-model "$m"); done
    [ -f "$CLIP/config.json" ] && args+=(--clip-model "$CLIP")
    if [ ${#args[@]} -eq 0 ]; then skip torch "none of $SD_TURBO, $SD15, $CLIP is there"; continue; fi
    t torch 420 python3 tools/bench/torch-diffusion.py "${args[@]}" --device "$([ "$DEVICE" = cpu ] && echo cpu || echo cuda)" --batches 2,8 --dtypes fp16,fp32 --vae-batches 1,8 --vae-latent 64 \
      --clip-batch 64 --repeats "$REPEATS" --json "$K/torch-diffusion.json" ;;
  iteration)
    missing=""
    for m in "$POLICY" "$SD_TURBO" "$CLIP"; do [ -d "$m" ] || missing+=" $m"; done
    if [ -n "$missing" ]; then skip iteration "missing:$missing (bash tools/replicas/gpu-real-scale.sh replicas-turbo)"; continue; fi
    t iteration 540 node tools/bench/bench.mjs --suite iteration --skip-build --device "$DEVICE" --config config/sd-turbo-clip.json \
      --policy "$POLICY" --sd-model "$SD_TURBO" --clip-model "$CLIP" --iterations "$ITERATIONS" --repeats 1 \
      --run-dir "$K/run-iteration" --json "$K/iteration-turbo.json"
    find "$K/run-iteration" \( -name '*.safetensors' -o -name '*.png' \) -delete 2>/dev/null
    publish ;;
esac; done

echo "--- summary (also $R/summary.md; every log and JSON in $R/logs-cuda.tgz)"
cat "$K/summary.md"
