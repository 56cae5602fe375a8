"""PyTorch reference timings on the GPU machine, for the same work tools/bench times from Node.js.

    python3 tools/bench/torch-reference.py [--json out.json] [--sections clip,train,generate]
        [--models gpt2,smollm2] [--batch 8] [--tokens 128] [--batches 1,16] [--prompt-tokens 8]
        [--new-tokens 48] [--decoding greedy,sampled] [--dtypes fp32,bf16] [--repeats 3]
        [--device cuda|cpu] [--tiny]

Models (random weights, the configs tools/bench/policy-webgpu.mjs builds): GPT-2 small
(`GPT2Config()`, 124M) and a SmolLM2-135M-sized Llama (576 wide, 30 layers, 9 heads / 3 KV heads,
MLP 1536, vocabulary 49,152, tied). `--tiny` (CPU smoke runs): 2 layers and vocabulary 4,096 (as
policy-webgpu.mjs --tiny), a 2-layer CLIP tower at batch 2.

- clip: CLIP ViT-B/32 image tower (transformers `CLIPVisionModelWithProjection`), batch 64 at
  224 px, fp32 and fp16 (fp16 on CUDA only), median ms of 20 calls after 5 warm-ups.
- train: training step of each model: forward + backward + AdamW on `--batch` × `--tokens`
  tokens (8 × 128), fp32 and bf16 autocast, median of 10 steps after 3 warm-ups.
- generate: Hugging Face `generate` of each model, eager PyTorch (no torch.compile; attention as
  transformers ships it, recorded as `attn_implementation`), KV cache, `--prompt-tokens` random
  prompt tokens, exactly `--new-tokens` new tokens (EOS disabled in the model's generation
  config; the output length is checked), at each batch of `--batches`; greedy, and sampled with
  temperature 1 and top-k 50; fp32 and bf16 autocast. Median of `--repeats` calls after one
  warm-up: tokens/s = batch · new tokens / seconds per call (prefill included), and the time to
  the first token (a call with one new token, timed the same way).

Every timing synchronises CUDA around the timed calls. Without CUDA, `--device cuda` (the default)
exits with status 2 and says so; `--device cpu` runs the same work on the CPU (smoke runs).

JSON (`--json`, also printed): `torch`, `transformers`, `device`, `gpu` (CUDA device name or
null), `tiny`, then per measurement one flat key:
  clip_tower_b{B}_fp32_ms, clip_tower_b{B}_fp16_ms;
  {model}_train_step_{fp32|bf16}_ms;
  {model}_generate_{greedy|sampled}_{fp32|bf16}_b{batch}_{tokens_per_s|ms|ttft_ms};
and `generate_settings` (prompt tokens, new tokens, sampling settings, attn_implementation).
"""
import argparse
import json
import sys

import torch
import transformers
from torch_bench_utils import make_timer
from transformers import CLIPConfig, CLIPVisionModelWithProjection, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

SAMPLING = {"greedy": {"do_sample": False}, "sampled": {"do_sample": True, "temperature": 1.0, "top_k": 50, "top_p": 1.0}}


def model_config(name, tiny):
    """The transformers config of a bench model (see the module docstring)."""
    if name == "gpt2":
        return GPT2Config(**({"n_layer": 2, "vocab_size": 4096, "bos_token_id": 4095, "eos_token_id": 4095} if tiny else {}))
    if name == "smollm2":
        return LlamaConfig(hidden_size=576, num_hidden_layers=2 if tiny else 30, num_attention_heads=9, num_key_value_heads=3,
                           intermediate_size=1536, vocab_size=4096 if tiny else 49152, max_position_embeddings=2048,
                           rms_norm_eps=1e-5, rope_theta=100000.0, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2)
    raise SystemExit(f"torch-reference.py: --models: unknown model {name!r} (gpt2, smollm2)")


def build(name, tiny, device):
    config = model_config(name, tiny)
    model = (GPT2LMHeadModel if name == "gpt2" else LlamaForCausalLM)(config)
    return model.to(device), config.vocab_size


def split(text):
    return [part for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json")
    parser.add_argument("--sections", default="clip,train,generate")
    parser.add_argument("--models", default="gpt2,smollm2")
    parser.add_argument("--batch", type=int, default=8, help="train step rows")
    parser.add_argument("--tokens", type=int, default=128, help="train step tokens per row")
    parser.add_argument("--batches", default="1,16", help="generation batches")
    parser.add_argument("--prompt-tokens", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--decoding", default="greedy,sampled")
    parser.add_argument("--dtypes", default="fp32,bf16", help="train and generate: fp32 and/or bf16 autocast")
    parser.add_argument("--repeats", type=int, default=3, help="timed generate calls per row")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        print("torch-reference.py: CUDA is not available (this is the GPU machine's reference; --device cpu runs it on the CPU)", file=sys.stderr)
        sys.exit(2)
    sections, models, dtypes = split(args.sections), split(args.models), split(args.dtypes)
    for value, allowed, what in ((sections, ("clip", "train", "generate"), "--sections"), (dtypes, ("fp32", "bf16"), "--dtypes"),
                                 (split(args.decoding), tuple(SAMPLING), "--decoding")):
        unknown = [v for v in value if v not in allowed]
        if unknown:
            raise SystemExit(f"torch-reference.py: {what}: unknown {unknown} (expected some of {', '.join(allowed)})")
    timed = make_timer(device)
    autocast = lambda dtype: torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == "bf16")  # noqa: E731
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "transformers": transformers.__version__, "device": device,
           "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None, "tiny": args.tiny}

    if "clip" in sections:
        vision_config = CLIPConfig().vision_config
        if args.tiny:
            vision_config.num_hidden_layers = 2
        batch = 2 if args.tiny else 64
        vision = CLIPVisionModelWithProjection(vision_config).to(device).eval()
        pixels = torch.randn(batch, 3, 224, 224, device=device)
        with torch.no_grad():
            out[f"clip_tower_b{batch}_fp32_ms"] = timed(lambda: vision(pixel_values=pixels).image_embeds, 5, 20)
            if device == "cuda":
                half = vision.half()
                out[f"clip_tower_b{batch}_fp16_ms"] = timed(lambda: half(pixel_values=pixels.half()).image_embeds, 5, 20)
        del vision

    if "train" in sections:
        for name in models:
            model, vocab = build(name, args.tiny, device)
            model.train()
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
            ids = torch.randint(0, vocab, (args.batch, args.tokens), device=device)

            def step(dtype):
                with autocast(dtype):
                    loss = model(input_ids=ids, labels=ids).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)

            for dtype in dtypes:
                out[f"{name}_train_step_{dtype}_ms"] = timed(lambda: step(dtype), 3, 10)
            del model, optimizer

    if "generate" in sections:
        settings = {"prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens, "eos": "disabled", "sampling": SAMPLING}
        for name in models:
            model, vocab = build(name, args.tiny, device)
            model.eval()
            # No EOS: every row generates exactly new_tokens (checked below), as the Node side does with eosTokenIds: [].
            model.generation_config.eos_token_id = None
            model.generation_config.pad_token_id = 0
            settings["attn_implementation"] = getattr(model.config, "_attn_implementation", None)
            for batch in (int(b) for b in split(args.batches)):
                prompt = torch.randint(0, vocab, (batch, args.prompt_tokens), device=device)
                mask = torch.ones_like(prompt)
                for decoding in split(args.decoding):
                    for dtype in dtypes:
                        def generate(new_tokens):
                            with torch.no_grad(), autocast(dtype):
                                result = model.generate(prompt, attention_mask=mask, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                                        pad_token_id=0, **SAMPLING[decoding])
                            if tuple(result.shape) != (batch, args.prompt_tokens + new_tokens):
                                raise RuntimeError(f"torch-reference.py: {name} generate returned {tuple(result.shape)}, expected "
                                                   f"({batch}, {args.prompt_tokens + new_tokens})")

                        key = f"{name}_generate_{decoding}_{dtype}_b{batch}"
                        ms = timed(lambda: generate(args.new_tokens), 1, args.repeats)
                        out[f"{key}_tokens_per_s"] = batch * args.new_tokens * 1000 / ms
                        out[f"{key}_ms"] = ms
                        out[f"{key}_ttft_ms"] = timed(lambda: generate(1), 1, args.repeats)
            del model
        out["generate_settings"] = settings

    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
