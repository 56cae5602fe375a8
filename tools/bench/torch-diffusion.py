"""PyTorch reference for the diffusion work tools/bench/unet-webgpu.mjs times from Node.js.

    python3 tools/bench/torch-diffusion.py --sd-model DIR [--sd-model DIR2] [--clip-model DIR]
        [--batches 2,8] [--dtypes fp16,fp32] [--vae-batches 1,8] [--vae-latent 64] [--clip-batch 64]
        [--repeats 10] [--warmup 3] [--device cuda|cpu] [--json out.json]

Each `--sd-model` is an Optimum/diffusers ONNX folder (our replicas: tools/replicas/make-replicas.py);
the PyTorch models are built from its diffusers configs (`unet/config.json` → UNet2DConditionModel,
`vae_decoder/config.json` → AutoencoderKL) with random weights, on the device directly, as
tools/bench/torch-iteration.py builds them; diffusers is imported from its source when it is not
installed (`--diffusers-src`, env VLM_GRPO_DIFFUSERS_SRC, as torch-iteration.py).

- unet: one UNet call (sample [B, in_channels, S, S] with S the config's sample_size, timestep 500,
  encoder_hidden_states [B, 77, cross_attention_dim]) at each `--batches` size (CFG batch: 2 = one
  image with guidance), in each `--dtypes` (fp32 first, then the same weights in fp16);
- vae: `AutoencoderKL.decode` of latents [B, latent_channels, L, L] (`--vae-latent`, default 64 →
  512² images) at each `--vae-batches` size, in each dtype;
- clip (with `--clip-model`): the CLIP image tower of that folder's config.json
  (CLIPVisionModelWithProjection, random weights) at `--clip-batch` (64), fp32 and fp16, timed as
  tools/bench/torch-reference.py's clip section (its timer: 5 warm-ups, 20 calls).
Timing: `--warmup` calls, then the median of `--repeats` calls, each between torch.cuda.synchronize()
and time.perf_counter() (wall time per call, as the Node side measures; inference_mode, eager, the
attention processor diffusers picks, recorded). fp16 runs on CUDA only (on the CPU it is skipped and
says so). Without CUDA, `--device cuda` (the default) exits with status 2 and says so; `--device cpu`
runs the same work on the CPU (smoke runs with tiny models, e.g. data/models/tiny-sd).

JSON (`--json`, also printed): `torch`, `diffusers`, `device`, `gpu`, `settings`, `skipped` (what did
not run and why), then one flat key per measurement:
  {model}_unet_b{B}_{dtype}_ms, {model}_vae_b{B}_l{L}_{dtype}_ms, clip_tower_b{B}_{dtype}_ms
with {model} the folder's name (sd-turbo, stable-diffusion-v1-5-onnx, tiny-sd).
"""
import argparse
import gc
import json
import os
import sys

import torch
from torch_bench_utils import make_timer


def log(message):
    print(f"[torch-diffusion] {message}", file=sys.stderr, flush=True)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def split(text):
    return [part for part in text.split(",") if part]


def import_diffusers(source):
    """diffusers, installed or from its source folder (the GPU machine has no diffusers package)."""
    try:
        import diffusers
    except ImportError:
        if not os.path.isdir(os.path.join(source, "diffusers")):
            raise SystemExit(f"torch-diffusion.py: diffusers is not installed and {source} has no diffusers/ source "
                             "(give --diffusers-src or VLM_GRPO_DIFFUSERS_SRC: the src/ folder of a diffusers checkout)")
        sys.path.insert(0, os.path.abspath(source))
        import diffusers
    return diffusers


def free(device):
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def bench_model(folder, args, dtypes, timed, out, diffusers):
    """UNet steps and VAE decodes of one ONNX model folder's architecture (see the module docstring)."""
    name = os.path.basename(os.path.normpath(folder))
    device = args.device
    for part in ("unet", "vae_decoder"):
        if not os.path.isfile(os.path.join(folder, part, "config.json")):
            raise SystemExit(f"torch-diffusion.py: {folder}/{part}/config.json is missing (expected a diffusers ONNX folder with component configs)")
    unet_cfg = read_json(os.path.join(folder, "unet", "config.json"))
    size = unet_cfg.get("sample_size") or 64
    channels = unet_cfg.get("in_channels") or 4
    width = unet_cfg["cross_attention_dim"]
    with torch.device(device):
        unet = diffusers.UNet2DConditionModel.from_config(unet_cfg).eval()
    out["models"][name] = {"unet_params": sum(p.numel() for p in unet.parameters()), "sample_size": size,
                           "attn_processor": type(next(iter(unet.attn_processors.values()))).__name__ if unet.attn_processors else None}
    log(f"{name}: UNet {out['models'][name]['unet_params']:,} parameters, latents {size}², text width {width}")
    unet.requires_grad_(False)
    for dtype in dtypes:
        unet.to(torch.float16 if dtype == "fp16" else torch.float32)  # outside inference_mode: parameters stay ordinary tensors
        with torch.inference_mode():
            for batch in args.batches:
                torch.manual_seed(0)
                sample = torch.randn(batch, channels, size, size, device=device, dtype=unet.dtype)
                hidden = torch.randn(batch, 77, width, device=device, dtype=unet.dtype)
                timestep = torch.full((batch,), 500, device=device, dtype=torch.int64)
                key = f"{name}_unet_b{batch}_{dtype}_ms"
                out[key] = timed(lambda: unet(sample, timestep, encoder_hidden_states=hidden).sample)
                log(f"{key}: {out[key]:.2f}")
    del unet
    free(device)

    vae_cfg = read_json(os.path.join(folder, "vae_decoder", "config.json"))
    with torch.device(device):
        vae = diffusers.AutoencoderKL.from_config(vae_cfg).eval()
    latent_channels = vae_cfg.get("latent_channels") or 4
    vae.requires_grad_(False)
    for dtype in dtypes:
        vae.to(torch.float16 if dtype == "fp16" else torch.float32)
        with torch.inference_mode():
            for batch in args.vae_batches:
                torch.manual_seed(0)
                latents = torch.randn(batch, latent_channels, args.vae_latent, args.vae_latent, device=device, dtype=vae.dtype)
                key = f"{name}_vae_b{batch}_l{args.vae_latent}_{dtype}_ms"
                out[key] = timed(lambda: vae.decode(latents).sample)
                log(f"{key}: {out[key]:.2f}")
    del vae
    free(device)


def bench_clip(folder, args, dtypes, out):
    """The CLIP image tower of `folder`'s config at --clip-batch, timed like torch-reference.py's (5 warm-ups, 20 calls)."""
    from transformers import CLIPConfig, CLIPVisionModelWithProjection

    timed = make_timer(args.device)
    vision_config = CLIPConfig.from_pretrained(folder).vision_config
    size = vision_config.image_size
    with torch.device(args.device):
        vision = CLIPVisionModelWithProjection(vision_config).eval()
    pixels = torch.randn(args.clip_batch, 3, size, size, device=args.device)
    vision.requires_grad_(False)
    for dtype in dtypes:
        vision.to(torch.float16 if dtype == "fp16" else torch.float32)
        with torch.inference_mode():
            x = pixels.to(vision.dtype)
            key = f"clip_tower_b{args.clip_batch}_{dtype}_ms"
            out[key] = timed(lambda: vision(pixel_values=x).image_embeds, 5, 20)
            log(f"{key}: {out[key]:.2f} ({size} px)")
    del vision
    free(args.device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sd-model", action="append", default=[], help="ONNX diffusion folder (repeatable)")
    parser.add_argument("--clip-model", help="CLIP folder (config.json) for the image tower")
    parser.add_argument("--batches", default="2,8", help="UNet batches")
    parser.add_argument("--dtypes", default="fp16,fp32")
    parser.add_argument("--vae-batches", default="1,8")
    parser.add_argument("--vae-latent", type=int, default=64, help="latent side (64 → 512² images)")
    parser.add_argument("--clip-batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--json")
    parser.add_argument("--diffusers-src", default=os.environ.get("VLM_GRPO_DIFFUSERS_SRC", os.path.join(os.path.dirname(__file__), "..", "..", ".replicas", "diffusers-src", "src")),
                        help="diffusers' source, used when diffusers is not installed (env VLM_GRPO_DIFFUSERS_SRC)")
    args = parser.parse_args()
    if not args.sd_model and not args.clip_model:
        raise SystemExit("torch-diffusion.py: nothing to time: give --sd-model DIR and/or --clip-model DIR")
    if args.device == "cuda" and not torch.cuda.is_available():
        print("torch-diffusion.py: CUDA is not available (this is the GPU machine's reference; --device cpu runs it on the CPU)", file=sys.stderr)
        sys.exit(2)
    args.batches = [int(b) for b in split(args.batches)]
    args.vae_batches = [int(b) for b in split(args.vae_batches)]
    requested = split(args.dtypes)
    unknown = [d for d in requested if d not in ("fp16", "fp32")]
    if unknown:
        raise SystemExit(f"torch-diffusion.py: --dtypes: unknown {unknown} (expected fp16 and/or fp32)")
    # fp32 first: the fp16 run converts the same weights in place
    dtypes = [d for d in ("fp32", "fp16") if d in requested and (d == "fp32" or args.device == "cuda")]
    skipped = {}
    if "fp16" in requested and args.device != "cuda":
        skipped["fp16"] = "fp16 runs on CUDA only"
    out = {"torch": torch.__version__, "diffusers": None, "device": args.device,
           "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None,
           "settings": {"batches": args.batches, "dtypes": dtypes, "vae_batches": args.vae_batches, "vae_latent": args.vae_latent,
                        "clip_batch": args.clip_batch if args.clip_model else None, "repeats": args.repeats, "warmup": args.warmup,
                        "timing": "synchronize + perf_counter per call, median"},
           "skipped": skipped, "models": {}}
    timer = make_timer(args.device)
    timed = lambda fn: timer(fn, args.warmup, args.repeats)  # noqa: E731
    if args.sd_model:
        diffusers = import_diffusers(args.diffusers_src)
        out["diffusers"] = diffusers.__version__
        for folder in args.sd_model:
            bench_model(folder, args, dtypes, timed, out, diffusers)
    if args.clip_model:
        bench_clip(args.clip_model, args, dtypes, out)

    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    print("| PyTorch (" + (out["gpu"] or "cpu") + ") | ms / call |")
    print("| --- | ---: |")
    for key, value in out.items():
        if key.endswith("_ms"):
            print(f"| {key[:-3]} | {value:.2f} |")


if __name__ == "__main__":
    main()
