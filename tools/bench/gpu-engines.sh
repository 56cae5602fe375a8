#!/usr/bin/env bash
# One device call: what the GPU machine's adapter is, and the fused WebGPU policy engine's train
# step beside PyTorch on the same GPU. Carry .device (bundle.sh) and packages/policy-webgpu/dist.
#   bash tools/bench/gpu-engines.sh      → table last; JSON and logs in $OUT
set -u
source .device/activate.sh >/dev/null
O=${OUT:-/tmp}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$O/gpu.txt"
timeout 60 node tools/device/check-devices.mjs > "$O/check-devices.log" 2>&1; echo "== check-devices rc=$?"; tail -n 12 "$O/check-devices.log"
timeout 150 python3 tools/bench/torch-reference.py --json "$O/torch.json" > "$O/torch.log" 2>&1; echo "== torch rc=$?"; tail -n 3 "$O/torch.log"
timeout 240 node tools/bench/policy-webgpu.mjs --repeats 5 --out "$O/policy-webgpu.json" > "$O/policy-webgpu.log" 2>&1; echo "== policy-webgpu rc=$?"; tail -n 40 "$O/policy-webgpu.log"
python3 -c "import json;t=json.load(open('$O/torch.json'));print({k:v for k,v in t.items() if 'gpt2' in k or k in ('torch','gpu')})" 2>/dev/null
