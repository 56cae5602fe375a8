"""The PyTorch reference of one GRPO iteration, for `tools/bench/bench.mjs --suite iteration`.

    python3 tools/bench/torch-iteration.py --spec spec.json [--json out.json] [--repeats 2]

The spec (written by the iteration suite from the run's effective configuration and from what
our trainer measured) names the model folders and the shapes; this script does the same work with
the stack a Python user would pick, on the same GPU, and times each stage (CUDA synchronised,
median over `--repeats` after one warm-up):

- generation: Hugging Face `generate` of the policy folder (`AutoModelForCausalLM`, the chat
  template of its tokenizer or the trainer's plain prompt), B prompts × G samples, sampling at the
  configured temperature / top-k / top-p, exactly `completion_length` new tokens (our trainer's
  mean completion length of the same run: random-weight policies rarely stop early, and equal
  lengths make the stages comparable), KV cache, eager attention as shipped;
- rendering: diffusers `StableDiffusionPipeline` built from the diffusion folder's component
  configs (UNet2DConditionModel, AutoencoderKL, CLIPTextModel: the same architectures as the ONNX
  replicas, random weights, in the replica's dtype), its scheduler config, tokenizer, the
  configured steps, guidance, size and images per rewrite, batch B × G in one call;
- scoring: transformers `CLIPModel` of the CLIP folder's config: image embeddings of the B × G
  images (processor resize + crop + normalise on the GPU tensors) and text embeddings of the B
  original prompts, cosine similarity;
- update: one GRPO step as TRL does it for μ = 1: reference-model forward (no grad) and policy
  forward + backward of the B × G prompt+completion sequences, per-token log-probs, the GRPO
  loss with k3 KL (β from the spec), global-norm clipping, AdamW step.
Departures: weights are random (as our replicas); the policy runs fp32 (as ours).
"""
import argparse
import json
import os
import sys

import torch
from torch_bench_utils import make_timer


def log(message):
    print(f"[torch-iteration] {message}", file=sys.stderr, flush=True)


def timed(fn, repeats):
    """Median seconds of `repeats` calls after one warm-up (CUDA-synchronised; torch_bench_utils)."""
    return make_timer("cuda")(fn, 1, repeats) / 1000


def read_json(path):
    with open(path) as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", required=True)
    parser.add_argument("--json")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--diffusers-src", default=os.environ.get("VLM_GRPO_DIFFUSERS_SRC", os.path.join(os.path.dirname(__file__), "..", "..", ".replicas", "diffusers-src", "src")),
                        help="diffusers' source, used when diffusers is not installed (env VLM_GRPO_DIFFUSERS_SRC)")
    args = parser.parse_args()
    spec = read_json(args.spec)
    try:
        import diffusers  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.abspath(args.diffusers_src))
    from diffusers import (AutoencoderKL, DDIMScheduler, EulerDiscreteScheduler, PNDMScheduler, StableDiffusionPipeline,
                           UNet2DConditionModel)
    from transformers import AutoModelForCausalLM, AutoTokenizer, CLIPConfig, CLIPModel, CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    device = "cuda"
    torch.manual_seed(0)
    B, G = spec["batch_size"], spec["num_generations"]
    prompts = spec["prompts"][:B]
    out = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0), "spec": spec, "seconds": {}}

    # ---- generation
    tok = AutoTokenizer.from_pretrained(spec["policy"])
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    policy = AutoModelForCausalLM.from_pretrained(spec["policy"], dtype=torch.float32).to(device)
    if spec.get("prompt_template"):
        texts = [spec["prompt_template"].replace("{prompt}", p) for p in prompts]
    elif tok.chat_template:
        texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True) for p in prompts]
    else:
        texts = prompts
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
    L = max(1, int(round(spec["completion_length"])))
    gen_kwargs = dict(do_sample=spec["temperature"] > 0, temperature=max(spec["temperature"], 1e-5), top_k=spec["top_k"] or None,
                      top_p=spec["top_p"], num_return_sequences=G, max_new_tokens=L, min_new_tokens=L, pad_token_id=tok.pad_token_id)
    sequences = None

    def generate():
        nonlocal sequences
        with torch.no_grad():
            sequences = policy.generate(**enc, **gen_kwargs)

    out["seconds"]["generation"] = timed(generate, args.repeats)
    log(f"generation: {B}×{G} × {L} tokens in {out['seconds']['generation']:.3f} s")

    # ---- rendering
    sd = spec["sd_model"]
    unet_cfg = read_json(os.path.join(sd, "unet", "config.json"))
    dtype = torch.float16 if spec["sd_dtype"] == "float16" else torch.float32
    with torch.device(device):  # random weights initialised on the GPU: the CPU init of an 865M UNet costs tens of seconds
        unet = UNet2DConditionModel.from_config(unet_cfg).to(device, dtype).eval()
        vae = AutoencoderKL.from_config(read_json(os.path.join(sd, "vae_decoder", "config.json"))).to(device, dtype).eval()
        text_encoder = CLIPTextModel(CLIPTextConfig.from_pretrained(os.path.join(sd, "text_encoder"))).to(device, dtype).eval()
    sd_tok = CLIPTokenizer.from_pretrained(os.path.join(sd, "tokenizer"))
    sched_cfg = read_json(os.path.join(sd, "scheduler", "scheduler_config.json"))
    sched_cls = {"EulerDiscreteScheduler": EulerDiscreteScheduler, "PNDMScheduler": PNDMScheduler, "DDIMScheduler": DDIMScheduler}[sched_cfg["_class_name"]]
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=sd_tok, unet=unet, scheduler=sched_cls.from_config(sched_cfg),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    rewrites = tok.batch_decode(sequences[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    images = None

    def render():
        nonlocal images
        with torch.no_grad():
            images = pipe(rewrites, num_inference_steps=spec["steps"], guidance_scale=spec["guidance_scale"], height=spec["height"],
                          width=spec["width"], num_images_per_prompt=spec["images_per_prompt"], output_type="pt").images

    out["seconds"]["rendering"] = timed(render, args.repeats)
    log(f"rendering: {len(rewrites)} × {spec['images_per_prompt']} images {spec['height']}² in {out['seconds']['rendering']:.3f} s")
    del pipe, unet, vae, text_encoder
    torch.cuda.empty_cache()

    # ---- scoring
    with torch.device(device):
        clip = CLIPModel(CLIPConfig.from_pretrained(spec["clip_model"])).to(device).eval()
    clip_tok = AutoTokenizer.from_pretrained(spec["clip_model"])
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711], device=device).view(1, 3, 1, 1)

    def score():
        with torch.no_grad():
            pixels = torch.nn.functional.interpolate(images.float(), size=224, mode="bicubic", align_corners=False)
            pixels = (pixels - mean) / std
            image_embeds = clip.get_image_features(pixel_values=pixels)
            t = clip_tok(prompts, return_tensors="pt", padding=True, truncation=True, max_length=77).to(device)
            text_embeds = clip.get_text_features(**t)
            if not torch.is_tensor(image_embeds):  # transformers ≥ 5 may return model outputs
                image_embeds, text_embeds = image_embeds.pooler_output, text_embeds.pooler_output
            image_embeds = torch.nn.functional.normalize(image_embeds, dim=-1)
            text_embeds = torch.nn.functional.normalize(text_embeds, dim=-1)
            per_prompt = image_embeds.view(B, -1, image_embeds.shape[-1])
            return (per_prompt * text_embeds[:, None, :]).sum(-1)

    out["seconds"]["scoring"] = timed(score, args.repeats)
    del clip
    torch.cuda.empty_cache()

    # ---- update (TRL GRPO step, μ = 1)
    reference = AutoModelForCausalLM.from_pretrained(spec["policy"], dtype=torch.float32).to(device).eval()
    policy.train()
    optimizer = torch.optim.AdamW(policy.parameters(), lr=spec["learning_rate"], weight_decay=spec["weight_decay"])
    prompt_len = enc["input_ids"].shape[1]
    attention = torch.cat([enc["attention_mask"].repeat_interleave(G, 0), torch.ones(sequences.shape[0], L, device=device, dtype=torch.long)], 1)
    advantages = torch.randn(sequences.shape[0], device=device)
    beta = spec["beta"]

    def token_logps(model):
        logits = model(input_ids=sequences, attention_mask=attention).logits[:, prompt_len - 1:-1, :] / max(spec["temperature"], 1e-5)
        return torch.gather(logits.log_softmax(-1), 2, sequences[:, prompt_len:, None]).squeeze(-1)

    def update():
        with torch.no_grad():
            ref = token_logps(reference)
        logps = token_logps(policy)
        ratio = torch.exp(logps - logps.detach())
        per_token = -torch.min(ratio * advantages[:, None], torch.clamp(ratio, 0.8, 1.28) * advantages[:, None])
        if beta:
            per_token = per_token + beta * (torch.exp(ref - logps) - (ref - logps) - 1)
        loss = per_token.mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), spec["max_grad_norm"])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    out["seconds"]["update"] = timed(update, args.repeats)
    out["seconds"]["total"] = sum(out["seconds"][k] for k in ("generation", "rendering", "scoring", "update"))
    out["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    log(" ".join(f"{k} {v:.3f}s" for k, v in out["seconds"].items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    print(json.dumps(out["seconds"]))


if __name__ == "__main__":
    main()
