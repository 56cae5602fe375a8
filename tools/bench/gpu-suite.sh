#!/usr/bin/env bash
# The benchmark suite on the GPU machine (see BENCHMARKS.md). Run from the repository root there,
# after `bash tools/device/bundle.sh .device` here. Part A: real-sized models and references;
# part B: the tiny suite with the default-config iteration, and the full default training run on
# WebGPU. Logs and JSON go to $OUT/logs-<part>.tgz.
#   bash tools/bench/gpu-suite.sh a|b
set -u
source .device/activate.sh
L=/tmp/logs-$1; mkdir -p "$L"
t() { local name=$1; shift; local s=$(date +%s); timeout "$@" > "$L/$name.log" 2>&1; local rc=$?; echo "== $name rc=$rc $(( $(date +%s) - s )) s"; grep -v "VerifyEachNodeIsAssignedToAnEp\|TracerWarning\|DeprecationWarning\|^  \|Warning: \|Fontconfig" "$L/$name.log" | tail -n 24; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$L/gpu.txt"
if [ "$1" = a ]; then
  t clipmake 120 python3 tools/bench/make-random-clip.py /tmp/clip-b32
  t torch 100 python3 tools/bench/torch-reference.py --models gpt2 --decoding sampled --json "$L/torch.json"
  t tower32 40 node tools/bench/clip-tower.mjs --model /tmp/clip-b32 --device webgpu --json "$L/tower-fp32.json"
  t tower16 40 node tools/bench/clip-tower.mjs --model /tmp/clip-b32 --device webgpu --dtype fp16 --json "$L/tower-fp16.json"
  t profile 90 node tools/bench/policy-profile.mjs --backend webgpu --model gpt2-small --json "$L/profile-gpt2.json"
  t benchreal 280 node tools/bench/bench.mjs --device webgpu --suite real --clip-model /tmp/clip-b32 --skip-build --repeats 1 --json "$L/bench-real.json"
else
  t benchtiny 200 node tools/bench/bench.mjs --device webgpu --suite tiny --skip-build --iterations 4 --json "$L/bench-tiny.json"
  t train 360 node apps/trainer/dist/cli.js train --device webgpu --output-dir /tmp/run
  cp /tmp/run/final_results.json /tmp/run/vlm_grpo_training.log /tmp/run/metrics.jsonl /tmp/run/validation_iter_*.json "$L/" 2>/dev/null
fi
tar -czf "${OUT:-/tmp}/logs-$1.tgz" -C /tmp "logs-$1"
