#!/usr/bin/env bash
# One device call: what the GPU machine's adapter is, then the fused WebGPU policy engine beside
# PyTorch on the same GPU, for GPT-2 small and a SmolLM2-135M-sized Llama (random weights):
#   - train step, 8×128 tokens: ours (GRPO step: forwardTrain + backward + clip + AdamW) vs
#     PyTorch (LM loss forward + backward + AdamW), fp32 and bf16 autocast; ours also with mixed
#     precision (f16) and with activation recomputation (fp32-layer): step time and plan memory;
#   - generation, 8 prompt + 48 new tokens (EOS off), batch 1 and 16, greedy and sampled
#     (T = 1, top-k 50): tokens/s and time to first token, ours (engine.generate) vs Hugging Face
#     `generate` in eager PyTorch (fp32 and bf16 autocast), plus tfjs on WebGPU (batch 1, greedy)
#     for reference;
#   - with .tmp/f16probe/probe.mjs carried along: that f16/tensor-core probe, log only.
# Carry .device (tools/device/bundle.sh) and packages/policy-webgpu/dist (and .tmp/f16probe if any).
#   bash tools/bench/gpu-engines.sh      → table last; JSON and logs in $OUT
# Each step has its own timeout (≤ 570 s in all, under one 600 s device call); a step that fails
# or times out leaves "–" in its cells, and the Node benches keep the models they finished.
set -u
source .device/activate.sh >/dev/null
O=${OUT:-/tmp}
step() { local name=$1 limit=$2; shift 2; local s=$(date +%s); timeout "$limit" "$@" > "$O/$name.log" 2>&1; local rc=$?; echo "== $name rc=$rc $(( $(date +%s) - s )) s (log: $name.log)"; [ $rc -eq 0 ] || grep -v "^Warning: \|^  \|^{\|^}\|^\[transformers\]" "$O/$name.log" | tail -n 8; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$O/gpu.txt"
step check-devices 45 node tools/device/check-devices.mjs; tail -n 12 "$O/check-devices.log"
step torch 180 python3 tools/bench/torch-reference.py --json "$O/torch.json"
step policy-webgpu 240 node tools/bench/policy-webgpu.mjs --repeats 5 --train-variants fp32,f16,fp32-layer --gen-engines policy-webgpu --out "$O/policy-webgpu.json"
grep -v "^Warning: " "$O/policy-webgpu.log" | head -n 70
step tfjs-generate 60 node tools/bench/policy-webgpu.mjs --sections generate --gen-engines tfjs-webgpu --gen-batches 1 --decoding greedy --tfjs-repeats 1 --out "$O/tfjs-generate.json"
if [ -f .tmp/f16probe/probe.mjs ]; then
  step f16probe 45 node .tmp/f16probe/probe.mjs; grep -v "^Warning: " "$O/f16probe.log" | tail -n 25
fi
python3 - "$O" <<'PY'
import json, os, sys

out = sys.argv[1]


def load(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


torch, ours, tfjs = load("torch.json"), load("policy-webgpu.json"), load("tfjs-generate.json")
names = {"gpt2": "GPT-2 small", "smollm2": "SmolLM2-135M-sized"}
by_model = lambda report: {r["model"]: r for r in report.get("results", [])}  # noqa: E731
ours_by, tfjs_by = by_model(ours), by_model(tfjs)


def gen_row(report, engine, decoding, batch):
    return next((g for g in report.get("generation", []) if g["engine"] == engine and g["decoding"] == decoding and g["batch"] == batch), None)


def fmt(value, digits=1):
    return "–" if value is None else f"{value:,.{digits}f}"


def ratio(a, b):
    return "–" if a is None or b is None else f"{a / b:.2f}×"


print(f"\nGPU: {torch.get('gpu') or '?'}; adapter: {ours.get('device', '?')}; PyTorch {torch.get('torch', '?')}, transformers "
      f"{torch.get('transformers', '?')}, HF attention {torch.get('generate_settings', {}).get('attn_implementation', '?')}")
print("speed = how many times faster ours is (> 1: ours faster): PyTorch ms ÷ ours ms for the train step, ours tokens/s ÷ PyTorch tokens/s "
      "for generation (8 prompt + 48 new tokens, prefill included)\n")
print("| work | ours (policy-webgpu) | PyTorch fp32 | PyTorch bf16 | speed vs fp32 | speed vs bf16 | first token ms: ours / fp32 / bf16 | tfjs-webgpu | target |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for model in ("gpt2", "smollm2"):
    mine = ours_by.get(model, {})
    step = mine.get("trainStepMs")
    fp32, bf16 = torch.get(f"{model}_train_step_fp32_ms"), torch.get(f"{model}_train_step_bf16_ms")
    print(f"| {names[model]} train step 8×128, ms | {fmt(step)} | {fmt(fp32)} | {fmt(bf16)} | {ratio(fp32, step)} | {ratio(bf16, step)} | – | – | – |")
    for v in mine.get("trainVariants", [])[1:]:
        if v.get("skipped"):
            print(f"| {names[model]} train step 8×128 {v['variant']} | skipped: {v['skipped'].split(';')[0]} | | | | | | | – |")
            continue
        vs = v.get("trainStepMs")
        print(f"| {names[model]} train step 8×128 {v['variant']}, ms (plan buffers {v['memory']['total'] / 2**20:,.0f} MiB vs {mine['memory']['total'] / 2**20:,.0f}) "
              f"| {fmt(vs)} | {fmt(fp32)} | {fmt(bf16)} | {ratio(fp32, vs)} | {ratio(bf16, vs)} | – | – | – |")
    for decoding in ("greedy", "sampled"):
        for batch in (1, 16):
            g = gen_row(mine, "policy-webgpu", decoding, batch)
            key = f"{model}_generate_{decoding}_{{}}_b{batch}"
            t32, t16 = torch.get(key.format("fp32") + "_tokens_per_s"), torch.get(key.format("bf16") + "_tokens_per_s")
            f32, f16 = torch.get(key.format("fp32") + "_ttft_ms"), torch.get(key.format("bf16") + "_ttft_ms")
            tok = g["tokensPerS"] if g else None
            first = g["timeToFirstTokenMs"] if g else None
            tj = gen_row(tfjs_by.get(model, {}), "tfjs-webgpu", decoding, batch)
            target = "–"
            if batch == 1:
                if tok is None or t32 is None:
                    target = "faster than HF eager: not measured"
                else:
                    verdict = lambda ref: "–" if ref is None else ("met" if tok > ref else "missed")  # noqa: E731
                    target = f"faster than HF eager: **{verdict(t32)}** vs fp32, {verdict(t16)} vs bf16"
            print(f"| {names[model]} generate {decoding} b{batch}, tokens/s | {fmt(tok)} | {fmt(t32)} | {fmt(t16)} | {ratio(tok, t32)} | {ratio(tok, t16)} | "
                  f"{fmt(first)} / {fmt(f32)} / {fmt(f16)} | {fmt(tj['tokensPerS']) if tj else '–'} | {target} |")
PY
