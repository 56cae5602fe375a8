#!/usr/bin/env bash
# Real scale on the GPU machine (issue: real layouts end to end). Run from the repository root
# there after `bash tools/device/bundle.sh .device` here, carrying .device and .replicas/carry:
#   bash tools/replicas/gpu-real-scale.sh STEP...   (each call of the device tool ≤ 10 minutes)
# Steps: replicas-turbo (SmolLM2 + CLIP + SD-Turbo replicas), train-turbo (config/sd-turbo-clip.json:
# 2 iterations with validation, then --resume to 3), lean-turbo (one iteration with and without
# memory_efficient: peak host and GPU memory), bench-turbo (bench --suite iteration beside PyTorch),
# replicas-original (DialoGPT + SD 1.5), train-original, bench-original (config/original_design.json).
# Replicas stay in /tmp/rep/real while the machine is held (later calls reuse them).
# Logs, run folders' small files and JSON go to $OUT/logs-<steps>/; a summary prints last.
# BENCH_ITERATIONS / BENCH_REPEATS (default 3 / 2) shorten bench-turbo to fit one call after replicas-turbo.
set -u
PART=$(IFS=-; echo "$*")
[ -f .device/activate.sh ] && source .device/activate.sh >/dev/null
R=/tmp/rep; L=${OUT:-/tmp}/logs-$PART; mkdir -p $R $L  # under $OUT: comes back even when a call is cut at its limit
for a in .replicas/carry/*.txz; do [ -f "$a" ] && tar -xJf "$a" -C $R; done
REAL=$R/real
export VLM_GRPO_DIFFUSERS_SRC=$R/src
# diffusers' source imports requests, which the GPU image may lack: wheels carried in .whl
# (see tools/replicas/README.md) are installed into /tmp/pysite only when the import fails.
if ! python3 -c "import requests" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/pysite .whl/*.whl &&
    export PYTHONPATH=/tmp/pysite${PYTHONPATH:+:$PYTHONPATH}
fi
python3 -c "import torch, transformers, onnx, onnxruntime, requests; print('python', torch.__version__, 'transformers', transformers.__version__, 'onnx', onnx.__version__, 'onnxruntime', onnxruntime.__version__)" 2>&1 | tail -1 | tee -a $L/summary.txt
t() {  # t NAME TIMEOUT CMD…: run, log, print rc/seconds and the tail; peak host RSS and GPU memory
  local name=$1 limit=$2; shift 2
  local s=$(date +%s)
  ( while sleep 0.5; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits; done ) > "$L/$name.gpu-mem" 2>/dev/null &
  local sampler=$!
  /usr/bin/time -v timeout "$limit" "$@" > "$L/$name.log" 2> "$L/$name.err"
  local rc=$?
  kill $sampler 2>/dev/null
  local rss=$(grep "Maximum resident" "$L/$name.err" | awk '{print $NF}')
  local gpu=$(sort -n "$L/$name.gpu-mem" 2>/dev/null | tail -1)
  echo "== $name rc=$rc $(( $(date +%s) - s )) s, peak host RSS $(( ${rss:-0} / 1024 )) MiB, peak GPU ${gpu:-?} MiB" | tee -a $L/summary.txt
  grep -v "Warning: \|TracerWarning\|DeprecationWarning\|^\s*$\|Command being timed\|^\s\+[A-Z].*: " "$L/$name.err" | tail -n 12
  tail -n 12 "$L/$name.log"
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee $L/gpu.txt
MR="python3 tools/replicas/make-replicas.py $REAL --tokenizers $R/tokenizers --clip-tokenizers $R/real-tokenizers --diffusers-src $R/src"
COMMON=(--device webgpu --training_settings.validation_every 2 --validation_settings.num_prompts 4 --training_settings.checkpoint_every 1)
MT=(--model_settings.vlm_model $REAL/smollm2-135m-instruct --model_settings.sd_model $REAL/sd-turbo --model_settings.clip_model $REAL/clip-vit-base-patch32)
MO=(--model_settings.vlm_model $REAL/dialogpt-medium --model_settings.sd_model $REAL/stable-diffusion-v1-5-onnx --model_settings.clip_model $REAL/clip-vit-base-patch32)
for STEP in "$@"; do case $STEP in
  replicas-turbo) t replicas-turbo 540 $MR --only smollm2,clip,sd-turbo; du -sh $REAL/* | tee -a $L/summary.txt ;;
  replicas-original) t replicas-original 540 $MR --only dialogpt,sd15; du -sh $REAL/* | tee -a $L/summary.txt ;;
  train-turbo)
    t train-turbo 240 node apps/trainer/dist/cli.js train --config config/sd-turbo-clip.json "${MT[@]}" "${COMMON[@]}" \
      --training_settings.num_iterations 2 --training_settings.batch_size 2 --output-dir /tmp/run-turbo
    t resume-turbo 150 node apps/trainer/dist/cli.js train --resume --output-dir /tmp/run-turbo --training_settings.num_iterations 3 --allow-config-change
    ls -la /tmp/run-turbo | tee -a $L/summary.txt
    cp -r /tmp/run-turbo $L/run-turbo 2>/dev/null; find $L/run-turbo \( -name "*.safetensors" -o -name "*.png" \) -delete 2>/dev/null ;;
  lean-turbo)  # the same iteration with and without memory_efficient: peak host RSS and GPU memory
    for ME in false true; do
      t lean-$ME 150 node apps/trainer/dist/cli.js train --config config/sd-turbo-clip.json "${MT[@]}" --device webgpu \
        --training_settings.num_iterations 1 --training_settings.batch_size 2 --training_settings.validation_every 0 \
        --model_settings.memory_efficient $ME --output-dir /tmp/run-lean-$ME
    done ;;
  bench-turbo)
    t bench-turbo 540 node tools/bench/bench.mjs --suite iteration --skip-build --device webgpu --config config/sd-turbo-clip.json \
      --policy $REAL/smollm2-135m-instruct --sd-model $REAL/sd-turbo --clip-model $REAL/clip-vit-base-patch32 --iterations ${BENCH_ITERATIONS:-3} --repeats ${BENCH_REPEATS:-2} --run-dir $L/run-bench-turbo --json $L/iteration-turbo.json
    find $L/run-bench-turbo -name "*.safetensors" -delete 2>/dev/null ;;
  train-original)
    t train-original 400 node apps/trainer/dist/cli.js train --config config/original_design.json "${MO[@]}" "${COMMON[@]}" \
      --training_settings.num_iterations 1 --training_settings.batch_size 1 --validation_settings.num_prompts 1 --output-dir /tmp/run-original
    ls -la /tmp/run-original | tee -a $L/summary.txt
    cp -r /tmp/run-original $L/run-original 2>/dev/null; find $L/run-original \( -name "*.safetensors" -o -name "*.png" \) -delete 2>/dev/null ;;
  bench-original)
    t bench-original 540 node tools/bench/bench.mjs --suite iteration --skip-build --device webgpu --config config/original_design.json \
      --policy $REAL/dialogpt-medium --sd-model $REAL/stable-diffusion-v1-5-onnx --clip-model $REAL/clip-vit-base-patch32 --iterations 1 --repeats 1 --run-dir $L/run-bench-original --json $L/iteration-original.json
    find $L/run-bench-original -name "*.safetensors" -delete 2>/dev/null ;;
  *) echo "unknown step $STEP"; exit 2 ;;
esac; done
echo "--- summary"; cat $L/summary.txt; grep -h "^|\|^One GRPO" $L/bench-*.log 2>/dev/null
