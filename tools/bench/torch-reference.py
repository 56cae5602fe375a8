"""PyTorch reference timings on the GPU machine, for the same work tools/bench times from Node.js.

    python3 tools/bench/torch-reference.py [--json out.json]

- CLIP ViT-B/32 image tower (transformers `CLIPVisionModelWithProjection`, random weights), batch
  64 at 224 px, fp32 and fp16, median ms of 20 calls after 5 warm-ups (CUDA synchronised).
- GPT-2 small (124M, random weights) training step: forward + backward + AdamW on 8 × 128 tokens,
  fp32 and bf16 autocast, median of 10 steps after 3 warm-ups.
- GPT-2 small generation: `generate` with sampling and the KV cache, 48 new tokens after 8 prompt
  tokens, batch 1 and 16, fp32: tokens/s (median of 3 after a warm-up), as tools/bench measures.
"""
import argparse
import json
import statistics
import time

import torch
from transformers import CLIPConfig, CLIPVisionModelWithProjection, GPT2Config, GPT2LMHeadModel


def timed(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0)}

    vision = CLIPVisionModelWithProjection(CLIPConfig().vision_config).cuda().eval()
    pixels = torch.randn(64, 3, 224, 224, device="cuda")
    with torch.no_grad():
        out["clip_tower_b64_fp32_ms"] = timed(lambda: vision(pixel_values=pixels).image_embeds, 5, 20)
        half = vision.half()
        out["clip_tower_b64_fp16_ms"] = timed(lambda: half(pixel_values=pixels.half()).image_embeds, 5, 20)
    del vision, half

    model = GPT2LMHeadModel(GPT2Config()).cuda().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, 50257, (8, 128), device="cuda")

    def step(autocast):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    out["gpt2_train_step_fp32_ms"] = timed(lambda: step(False), 3, 10)
    out["gpt2_train_step_bf16_ms"] = timed(lambda: step(True), 3, 10)

    model.eval()
    for batch in (1, 16):
        prompt = torch.randint(0, 50257, (batch, 8), device="cuda")
        with torch.no_grad():
            ms = timed(lambda: model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=True, max_new_tokens=48, min_new_tokens=48, pad_token_id=50256), 1, 3)
        out[f"gpt2_generate_b{batch}_tokens_per_s"] = batch * 48 * 1000 / ms
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
