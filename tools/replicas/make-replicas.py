"""Real-layout replicas of the models vlm-grpo is used with, with random weights.

    python3 tools/replicas/make-replicas.py OUT_DIR [--size real|tiny] [--only NAME,...]
        [--tokenizers DIR] [--clip-tokenizers DIR] [--seed 0]

No machine of this project reaches the Hugging Face hub, so the benchmark and the real-scale runs
use replicas: the real architectures at their real sizes, saved in the real repositories' file
layouts, dtypes and input/output names, with transformers'/diffusers' own random initialisation
(seeded). The project loads them exactly as it would load the hub copies (a local folder in the
same layout). `--size tiny` writes the same layouts with tiny dimensions (and golden outputs for
the policies), for the CPU tests that check the layouts; see tools/replicas/README.md.

Written to OUT_DIR (one folder per replicated hub repository):
- `smollm2-135m-instruct/`  HuggingFaceTB/SmolLM2-135M-Instruct: Llama, hidden 576, 30 layers,
  9 heads / 3 KV heads, intermediate 1536, vocab 49,152, tied embeddings, rope θ 100,000, max 8192
  positions, bfloat16 `model.safetensors`, ChatML tokenizer (from --tokenizers DIR/smollm2).
- `dialogpt-medium/`  microsoft/DialoGPT-medium: GPT-2, 24 layers × 1024, 16 heads, vocab 50,257,
  1024 positions, float32 `model.safetensors`, GPT-2 tokenizer (--tokenizers DIR/dialogpt).
- `sd-turbo/`  onnxruntime/sd-turbo: SD 2.1 UNet (865 M, linear projections, head dims
  5/10/20/20, cross-attention 1024), OpenCLIP-H text encoder (23 layers × 1024, GELU), SD VAE;
  ONNX in float16 (weights, activations, inputs and outputs; `unet/model.onnx` ≈ 1.7 GB, one
  file), input_ids int32, timestep int64 [steps], Euler discrete scheduler with trailing spacing,
  the SD-Turbo CLIP tokenizer (--clip-tokenizers DIR/clip-sd-turbo: tokenizer.json). Like the hub
  copy (made by Olive for ONNX Runtime's CUDA EP), each graph goes through ONNX Runtime's
  transformer optimizer with the fusions of its `optimize_pipeline.py` before the float16
  conversion: the UNet and VAE get the CUDA-only NhwcConv, GroupNorm, SkipGroupNorm, packed
  MultiHeadAttention, BiasSplitGelu and BiasAdd, the text encoder Attention and
  SkipLayerNormalization (`--diffusion-export plain` skips the optimizer, for comparison).
- `stable-diffusion-v1-5-onnx/`  runwayml/stable-diffusion-v1-5 in the Optimum/diffusers ONNX
  layout (what `optimum-cli export onnx --task text-to-image` writes): float32, UNet 860 M with
  its weights as external data (`unet/model.onnx` + `unet/model.onnx_data`, > 2 GB), CLIP ViT-L
  text encoder (12 × 768, quick-GELU), PNDM scheduler, tokenizer as vocab.json + merges.txt only
  (--clip-tokenizers DIR/clip-sd15).
  With `--size tiny`, --clip-tokenizers is the output of make-tiny-clip-tokenizers.mjs (the real
  CLIP BPE cut to 700 merges, 1,214 tokens) and the embedding tables have that many rows.
- `clip-vit-base-patch32/`  Xenova/clip-vit-base-patch32 (transformers.js layout): config.json
  with openai's token ids (bos 0, eos 2, pad 1: argmax pooling), preprocessor_config.json,
  tokenizer.json (the real CLIP BPE, with bos/eos added around the text), `onnx/model.onnx` (combined: input_ids, pixel_values,
  attention_mask → logits_per_image, logits_per_text, text_embeds, image_embeds),
  `onnx/text_model.onnx`, `onnx/vision_model.onnx` (split), and `*_fp16.onnx` variants.

Needs torch + transformers; diffusers for the two diffusion layouts (imported from
`--diffusers-src` when it is not installed); `onnx` and `onnxruntime` (its float16 converter). Exports use the
TorchScript exporter (opset 17, dynamic batch/sequence/spatial axes as Optimum declares them).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALL = ("smollm2", "dialogpt", "sd-turbo", "sd15", "clip")


def log(message):
    print(f"[replicas {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def copy_files(src, dst, names):
    os.makedirs(dst, exist_ok=True)
    for name in names:
        shutil.copy(os.path.join(src, name), os.path.join(dst, name))


def clip_vocab_size(tokenizer_dir):
    """Rows of the embedding table a CLIP tokenizer folder needs (tokenizer.json or vocab.json)."""
    path = os.path.join(tokenizer_dir, "tokenizer.json")
    if os.path.exists(path):
        with open(path) as f:
            tok = json.load(f)
        ids = list(tok["model"]["vocab"].values()) + [a["id"] for a in tok.get("added_tokens", [])]
    else:
        with open(os.path.join(tokenizer_dir, "vocab.json")) as f:
            ids = list(json.load(f).values())
    return max(ids) + 1


def ort_fused(path, model_type, fp16):
    """ONNX Runtime's transformer optimizer on the float32 graph at `path`, with the fusions that
    its Stable Diffusion script (`onnxruntime/transformers/models/stable_diffusion/
    optimize_pipeline.py`) applies for `model_type` ('unet', 'vae' or 'clip'), then its float16
    conversion (inputs and outputs too, nothing blocked): the ONNX model of what the
    `onnxruntime/sd-turbo` repository ships."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions(model_type)
    if model_type == "unet":  # optimize_pipeline.py: packed KV with float16, packed QKV and BiasAdd with ORT >= 1.15
        options.enable_packed_kv = fp16
        options.enable_packed_qkv = fp16
        options.enable_bias_add = True
    optimized = optimize_model(path, model_type=model_type, num_heads=0, hidden_size=0, opt_level=0,
                               optimization_options=options, use_gpu=True)
    if fp16:
        optimized.convert_float_to_float16(keep_io_types=False, op_block_list=[])
    ops = {}
    for node in optimized.model.graph.node:
        if node.domain == "com.microsoft":
            ops[node.op_type] = ops.get(node.op_type, 0) + 1
    log(f"  ORT fusions ({model_type}): {', '.join(f'{k} ×{v}' for k, v in sorted(ops.items())) or 'none'}")
    return optimized.model


def export(module, args, path, input_names, output_names, dynamic_axes, external=False, fp16=False, fused=None):
    """TorchScript export (float32), then, with `fp16`, ONNX Runtime's float16 converter on the
    whole graph, inputs and outputs included (`keep_io_types=False`: how the ORT-optimised SD
    exports ship; exporting a `.half()` module directly leaves LayerNormalization nodes with mixed
    float/float16 inputs that ONNX Runtime rejects); with `fused` ('unet', 'vae' or 'clip'),
    ONNX Runtime's SD fusions first (see ort_fused). Graphs over 2 GB (or with `external`) get one
    external-data file `<name>_data`, as Optimum writes them."""
    import onnx

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as tmp:
        tmp_path = os.path.join(tmp, "model.onnx")
        with torch.no_grad():
            torch.onnx.export(module, args, tmp_path, input_names=input_names, output_names=output_names,
                              dynamic_axes=dynamic_axes, opset_version=17, do_constant_folding=True, dynamo=False)
        model = None
        if fused:
            try:
                model = ort_fused(tmp_path, fused, fp16)
            except Exception as error:  # noqa: BLE001 -- a failed fusion must not cost the rest of a GPU lease
                log(f"  WARNING: ONNX Runtime's optimizer failed on {os.path.relpath(path)} ({type(error).__name__}: {error}); "
                    "writing the plain export instead (this replica then lacks the hub's fused ops)")
        if model is None and fp16:
            from onnxruntime.transformers.float16 import convert_float_to_float16

            inferred = os.path.join(tmp, "inferred.onnx")  # shape inference by path: works above 2 GB
            onnx.shape_inference.infer_shapes_path(tmp_path, inferred)
            model = convert_float_to_float16(onnx.load(inferred, load_external_data=True), keep_io_types=False, disable_shape_infer=True)
        elif model is None and os.listdir(tmp) == ["model.onnx"] and not external:
            shutil.move(tmp_path, path)
        elif model is None:
            model = onnx.load(tmp_path, load_external_data=True)
        if model is not None:
            big = sum(t.ByteSize() for t in model.graph.initializer) > 1.9 * 2**30
            if external or big:  # the exporter's one-file-per-tensor output, gathered into one file as Optimum does
                onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                                location=os.path.basename(path) + "_data", size_threshold=1024)
            else:
                onnx.save_model(model, path)
    size = sum(os.path.getsize(os.path.join(os.path.dirname(path), f)) for f in os.listdir(os.path.dirname(path)) if f.startswith(os.path.basename(path)))
    log(f"  {os.path.relpath(path)} ({size / 2**20:.1f} MiB)")


# ---------------------------------------------------------------------------------------------
# Policies (Hugging Face layout, safetensors)


def policy_reference(model_dir, model_cls, tokenizer_dir, out_json, last=16):
    """Golden float32 logits of the saved policy for two templated prompts (tiny size, or any size
    with --references):
    reference.json (texts, input_ids, greedy tokens, shapes) and ref_logits.f32 (little-endian
    float32, the logits of the last `last` positions of each row, rows concatenated)."""
    import numpy as np
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    prompts = ["a cat", "city skyline at night, Café 東京"]
    if tok.chat_template:
        texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True) for p in prompts]
    else:  # no chat template (DialoGPT): the trainer's plain template, @vlm-grpo/vlm DEFAULT_PLAIN_TEMPLATE
        texts = [f"{p} Rephrase:" for p in prompts]
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    try:
        model = model_cls.from_pretrained(model_dir, dtype=torch.float32).eval()
    except TypeError:  # transformers < 4.56 names it torch_dtype
        model = model_cls.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    blocks, shapes, greedy = [], [], []
    with torch.no_grad():
        for row in ids:
            out = model(torch.tensor([row])).logits[0, -last:]
            blocks.append(out.numpy().astype("<f4"))
            shapes.append(list(out.shape))
            gen = model.generate(torch.tensor([row]), max_new_tokens=6, do_sample=False,
                                 pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
            greedy.append(gen[0, len(row):].tolist())
    np.concatenate(blocks).tofile(os.path.join(os.path.dirname(out_json), "ref_logits.f32"))
    write_json(out_json, {"texts": texts, "input_ids": ids, "logits_last_positions": last, "logits_shapes": shapes,
                          "greedy_new_tokens": greedy,
                          "note": "float32 forward of the saved weights by transformers " + __import__("transformers").__version__})


def make_smollm2(out, size, tokenizers, seed, references=False):
    from transformers import LlamaConfig, LlamaForCausalLM

    real = size == "real"
    dims = dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                vocab_size=49152) if real else dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                                                    num_attention_heads=6, num_key_value_heads=2, vocab_size=1024)
    config = LlamaConfig(**dims, max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=100000.0, tie_word_embeddings=True,
                         hidden_act="silu", initializer_range=0.041666666666666664, attention_bias=False, mlp_bias=False,
                         bos_token_id=1, eos_token_id=2, pad_token_id=2, use_cache=True)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.bfloat16).eval()
    dst = os.path.join(out, "smollm2-135m-instruct")
    model.save_pretrained(dst, safe_serialization=True)
    copy_files(os.path.join(tokenizers, "smollm2"), dst, ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"])
    write_json(os.path.join(dst, "generation_config.json"), {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2})
    log(f"smollm2: {sum(p.numel() for p in model.parameters()):,} parameters (tied) → {dst}")
    if not real or references:
        policy_reference(dst, LlamaForCausalLM, dst, os.path.join(dst, "reference.json"))


def make_dialogpt(out, size, tokenizers, seed, references=False):
    from transformers import GPT2Config, GPT2LMHeadModel

    real = size == "real"
    dims = dict(n_embd=1024, n_layer=24, n_head=16, vocab_size=50257) if real else dict(n_embd=32, n_layer=2, n_head=4, vocab_size=1024)
    eos = dims["vocab_size"] - 1
    config = GPT2Config(**dims, n_positions=1024, n_ctx=1024, activation_function="gelu_new", layer_norm_epsilon=1e-5,
                        bos_token_id=eos, eos_token_id=eos, tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config).eval()
    dst = os.path.join(out, "dialogpt-medium")
    model.save_pretrained(dst, safe_serialization=True)
    copy_files(os.path.join(tokenizers, "dialogpt"), dst, ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"])
    write_json(os.path.join(dst, "generation_config.json"), {"bos_token_id": eos, "eos_token_id": eos})
    log(f"dialogpt: {sum(p.numel() for p in model.parameters()):,} parameters (tied) → {dst}")
    if not real or references:
        policy_reference(dst, GPT2LMHeadModel, dst, os.path.join(dst, "reference.json"))


# ---------------------------------------------------------------------------------------------
# Diffusion (Optimum / diffusers ONNX layout)


class TextEncoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        out = self.model(input_ids=input_ids.long())
        return out.last_hidden_state, out.pooler_output


class UNet(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, sample, timestep, encoder_hidden_states):
        return self.model(sample, timestep, encoder_hidden_states, return_dict=False)[0]


class VaeDecoder(torch.nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latent_sample):
        return self.vae.decode(latent_sample, return_dict=False)[0]


class VaeEncoder(torch.nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, sample):
        return self.vae.encode(sample, return_dict=False)[0].mean


def make_diffusion(out, name, size, clip_tokenizers, seed, diffusion_export="hub"):
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    real = size == "real"
    turbo = name == "sd-turbo"
    dst = os.path.join(out, "sd-turbo" if turbo else "stable-diffusion-v1-5-onnx")
    if turbo:
        text = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=23, num_attention_heads=16, hidden_act="gelu", projection_dim=512)
        unet_cfg = dict(attention_head_dim=[5, 10, 20, 20], cross_attention_dim=1024, use_linear_projection=True,
                        block_out_channels=[320, 640, 1280, 1280],
                        down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
                        up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"])
    else:
        text = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, hidden_act="quick_gelu", projection_dim=768)
        unet_cfg = dict(attention_head_dim=8, cross_attention_dim=768, use_linear_projection=False,
                        block_out_channels=[320, 640, 1280, 1280],
                        down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
                        up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"])
    vae_cfg = dict(block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
                   up_block_types=["UpDecoderBlock2D"] * 4)
    layers, groups = 2, 32
    if not real:  # the same kinds of blocks, tiny widths (fixture size: 16 channels, 8 norm groups)
        layers, groups = 1, 8
        text.update(hidden_size=8, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2)
        unet_cfg.update(block_out_channels=[16, 16], cross_attention_dim=8,
                        attention_head_dim=[2, 4] if turbo else 4,
                        down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"], up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"])
        vae_cfg.update(block_out_channels=[16, 16], down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2)
    fp16 = turbo  # float16 by conversion of the float32 export (see export())
    # The hub's SD-Turbo went through ONNX Runtime's optimizer (fused CUDA ops); Optimum's SD 1.5 did not.
    fused = diffusion_export == "ort-fused" or (diffusion_export == "hub" and turbo)
    fuse = (lambda model_type: model_type) if fused else (lambda model_type: None)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.float32

    # Text encoder: CLIPTextModel with the openai/OpenCLIP token ids of the real configs.
    tok_src = os.path.join(clip_tokenizers, "clip-sd-turbo" if turbo else "clip-sd15")
    vocab_size = clip_vocab_size(tok_src)
    torch.manual_seed(seed)
    text_config = CLIPTextConfig(vocab_size=vocab_size, max_position_embeddings=77, bos_token_id=0, eos_token_id=2, pad_token_id=1, **text)
    text_model = CLIPTextModel(text_config).eval().to(device, dtype)
    ids = torch.full((2, 77), vocab_size - 1, dtype=torch.int32, device=device)
    ids[:, 0] = vocab_size - 2
    export(TextEncoder(text_model), (ids,), os.path.join(dst, "text_encoder", "model.onnx"), ["input_ids"],
           ["last_hidden_state", "pooler_output"],
           {"input_ids": {0: "batch_size", 1: "sequence_length"}, "last_hidden_state": {0: "batch_size", 1: "sequence_length"},
            "pooler_output": {0: "batch_size"}}, fp16=fp16, fused=fuse("clip"))
    text_config.save_pretrained(os.path.join(dst, "text_encoder"))
    del text_model

    torch.manual_seed(seed + 1)
    unet = UNet2DConditionModel(sample_size=64, in_channels=4, out_channels=4, layers_per_block=layers, norm_num_groups=groups,
                                flip_sin_to_cos=True, freq_shift=0, act_fn="silu", **unet_cfg).eval().to(device, dtype)
    latent = 64 if real else 8
    sample = torch.randn(2, 4, latent, latent, device=device, dtype=dtype)
    timestep = torch.tensor([999, 999], dtype=torch.int64, device=device)
    hidden = torch.randn(2, 77, unet_cfg["cross_attention_dim"], device=device, dtype=dtype)
    export(UNet(unet), (sample, timestep, hidden), os.path.join(dst, "unet", "model.onnx"),
           ["sample", "timestep", "encoder_hidden_states"], ["out_sample"],
           {"sample": {0: "batch_size", 2: "height", 3: "width"}, "timestep": {0: "steps"},
            "encoder_hidden_states": {0: "batch_size", 1: "sequence_length"}, "out_sample": {0: "batch_size", 2: "height", 3: "width"}},
           external=not turbo, fp16=fp16, fused=fuse("unet"))  # Optimum's SD 1.5 UNet (3.4 GB) comes as model.onnx + model.onnx_data; tiny too, to test it
    unet.save_config(os.path.join(dst, "unet"))
    unet_params = sum(p.numel() for p in unet.parameters())
    del unet

    torch.manual_seed(seed + 2)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=layers, norm_num_groups=groups, act_fn="silu",
                        sample_size=512, scaling_factor=0.18215, **vae_cfg).eval().to(device, dtype)
    export(VaeDecoder(vae), (torch.randn(1, 4, latent, latent, device=device, dtype=dtype),), os.path.join(dst, "vae_decoder", "model.onnx"),
           ["latent_sample"], ["sample"],
           {"latent_sample": {0: "batch_size", 2: "height", 3: "width"}, "sample": {0: "batch_size", 2: "height", 3: "width"}}, fp16=fp16,
           fused=fuse("vae"))
    vae.save_config(os.path.join(dst, "vae_decoder"))
    if real:  # the real layouts ship the encoder too (unused by text-to-image; left out of the fixtures)
        export(VaeEncoder(vae), (torch.randn(1, 3, latent * 8, latent * 8, device=device, dtype=dtype),), os.path.join(dst, "vae_encoder", "model.onnx"),
               ["sample"], ["latent_sample"],
               {"sample": {0: "batch_size", 2: "height", 3: "width"}, "latent_sample": {0: "batch_size", 2: "height", 3: "width"}}, fp16=fp16,
               fused=fuse("vae"))
        vae.save_config(os.path.join(dst, "vae_encoder"))
    del vae

    sched_dir = os.path.join(dst, "scheduler")
    common = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
    if turbo:
        EulerDiscreteScheduler(**common, prediction_type="epsilon", timestep_spacing="trailing", interpolation_type="linear",
                               use_karras_sigmas=False).save_config(sched_dir)
    else:
        PNDMScheduler(**common, skip_prk_steps=True, set_alpha_to_one=False, prediction_type="epsilon").save_config(sched_dir)
    tok_files = ["tokenizer.json", "tokenizer_config.json"] if turbo else ["vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"]
    copy_files(tok_src, os.path.join(dst, "tokenizer"), tok_files)
    onnx_model = ["diffusers", "OnnxRuntimeModel"]
    write_json(os.path.join(dst, "model_index.json"), {
        "_class_name": "OnnxStableDiffusionPipeline", "_diffusers_version": __import__("diffusers").__version__,
        "text_encoder": onnx_model, "unet": onnx_model, "vae_decoder": onnx_model, "vae_encoder": onnx_model if real else [None, None],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "EulerDiscreteScheduler" if turbo else "PNDMScheduler"],
        "safety_checker": [None, None], "feature_extractor": [None, None], "requires_safety_checker": False,
    })
    log(f"{name}: UNet {unet_params:,} parameters, {'float16' if fp16 else 'float32'}{', ORT-fused' if fused else ''} → {dst}")


# ---------------------------------------------------------------------------------------------
# CLIP (transformers.js layout)


def make_clip(out, size, clip_tokenizers, seed):
    from transformers import CLIPConfig, CLIPModel

    real = size == "real"
    text = dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8) if real else \
        dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2)
    tok_src = os.path.join(clip_tokenizers, "clip-sd15")
    vocab_size = clip_vocab_size(tok_src)
    vision = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, image_size=224, patch_size=32) if real else \
        dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=224, patch_size=32)
    config = CLIPConfig(text_config=dict(vocab_size=vocab_size, max_position_embeddings=77, hidden_act="quick_gelu", bos_token_id=0, eos_token_id=2,
                                         pad_token_id=1, **text),
                        vision_config=dict(hidden_act="quick_gelu", **vision), projection_dim=512 if real else 16)
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    dst = os.path.join(out, "clip-vit-base-patch32")
    os.makedirs(os.path.join(dst, "onnx"), exist_ok=True)

    class Text(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            o = self.m.text_model(input_ids=input_ids, attention_mask=attention_mask)
            return self.m.text_projection(o.pooler_output), o.last_hidden_state

    class Vision(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            o = self.m.vision_model(pixel_values=pixel_values)
            return self.m.visual_projection(o.pooler_output), o.last_hidden_state

    class Combined(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, pixel_values, attention_mask):
            o = self.m(input_ids=input_ids, pixel_values=pixel_values, attention_mask=attention_mask)
            return o.logits_per_image, o.logits_per_text, o.text_embeds, o.image_embeds

    ids = torch.full((2, 77), vocab_size - 1, dtype=torch.int64)
    ids[:, 0] = vocab_size - 2
    mask = torch.zeros((2, 77), dtype=torch.int64)
    mask[:, :6] = 1
    pixels = torch.randn(2, 3, 224, 224)
    text_axes = {"input_ids": {0: "batch_size", 1: "sequence_length"}, "attention_mask": {0: "batch_size", 1: "sequence_length"},
                 "text_embeds": {0: "batch_size"}, "last_hidden_state": {0: "batch_size", 1: "sequence_length"}}
    vision_axes = {"pixel_values": {0: "batch_size"}, "image_embeds": {0: "batch_size"}, "last_hidden_state": {0: "batch_size"}}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for suffix, dev in (("", "cpu"), ("_fp16", device)):
        if suffix and (dev == "cpu" or not real):  # fp16 variants at real size only (fixture size)
            break
        mm = model if not suffix else CLIPModel(config).eval()
        if suffix:
            mm.load_state_dict(model.state_dict())
            mm = mm.half().to(dev)
        # fp16 variants keep float32 inputs and outputs (casts at both ends), as Xenova's do
        cast_in = (lambda t: t.half()) if suffix else (lambda t: t)

        class TextIO(Text):
            def forward(self, input_ids, attention_mask):
                a, b = super().forward(input_ids, attention_mask)
                return a.float(), b.float()

        class VisionIO(Vision):
            def forward(self, pixel_values):
                a, b = super().forward(cast_in(pixel_values))
                return a.float(), b.float()

        class CombinedIO(Combined):
            def forward(self, input_ids, pixel_values, attention_mask):
                return tuple(t.float() for t in super().forward(input_ids, cast_in(pixel_values), attention_mask))

        export(TextIO(mm), (ids.to(dev), mask.to(dev)), os.path.join(dst, "onnx", f"text_model{suffix}.onnx"),
               ["input_ids", "attention_mask"], ["text_embeds", "last_hidden_state"], text_axes)
        export(VisionIO(mm), (pixels.to(dev),), os.path.join(dst, "onnx", f"vision_model{suffix}.onnx"),
               ["pixel_values"], ["image_embeds", "last_hidden_state"], vision_axes)
        export(CombinedIO(mm), (ids.to(dev), pixels.to(dev), mask.to(dev)), os.path.join(dst, "onnx", f"model{suffix}.onnx"),
               ["input_ids", "pixel_values", "attention_mask"], ["logits_per_image", "logits_per_text", "text_embeds", "image_embeds"],
               {"input_ids": {0: "text_batch_size", 1: "sequence_length"}, "attention_mask": {0: "text_batch_size", 1: "sequence_length"},
                "pixel_values": {0: "image_batch_size"}, "logits_per_image": {0: "image_batch_size", 1: "text_batch_size"},
                "logits_per_text": {0: "text_batch_size", 1: "image_batch_size"}, "text_embeds": {0: "text_batch_size"},
                "image_embeds": {0: "image_batch_size"}})
    config.save_pretrained(dst)
    write_json(os.path.join(dst, "preprocessor_config.json"), {
        "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_convert_rgb": True, "do_normalize": True,
        "do_rescale": True, "do_resize": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711], "image_processor_type": "CLIPImageProcessor", "resample": 3,
        "rescale_factor": 1 / 255, "size": {"shortest_edge": 224}, "feature_extractor_type": "CLIPFeatureExtractor",
    })
    # Xenova's tokenizer.json adds <|startoftext|>/<|endoftext|> around the text (as SD-Turbo's
    # does; SD 1.5's tokenizer.json does not); the config (pad = <|endoftext|>) is openai's.
    copy_files(os.path.join(clip_tokenizers, "clip-sd-turbo"), dst, ["tokenizer.json"])
    copy_files(tok_src, dst, ["tokenizer_config.json", "special_tokens_map.json"])
    log(f"clip: {sum(p.numel() for p in model.parameters()):,} parameters → {dst}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--size", choices=("real", "tiny"), default="real")
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    parser.add_argument("--tokenizers", default=os.path.join(ROOT, ".replicas", "tokenizers"),
                        help="output of tools/replicas/make-tokenizers.mjs (smollm2/, dialogpt/)")
    parser.add_argument("--clip-tokenizers", default=os.path.join(ROOT, ".replicas", "real-tokenizers"),
                        help="the real CLIP tokenizers (clip-sd15/, clip-sd-turbo/)")
    parser.add_argument("--diffusers-src", default=os.path.join(ROOT, ".replicas", "diffusers-src", "src"),
                        help="diffusers' public source, used when diffusers is not installed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--diffusion-export", choices=("hub", "plain", "ort-fused"), default="hub",
                        help="hub: as each hub repository ships (sd-turbo ORT-fused, sd15 plain); plain / ort-fused: both that way")
    parser.add_argument("--references", action="store_true",
                        help="also write the policies' golden logits at real size (reference.json, ref_logits.f32; tiny size always has them)")
    args = parser.parse_args()
    only = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in only if n not in ALL]
    if unknown:
        parser.error(f"unknown --only {unknown}; expected some of {ALL}")
    try:
        import diffusers  # noqa: F401
    except ImportError:
        if os.path.isdir(args.diffusers_src):
            sys.path.insert(0, args.diffusers_src)
    started = time.time()
    os.makedirs(args.out, exist_ok=True)
    for name in only:
        t0 = time.time()
        if name == "smollm2":
            make_smollm2(args.out, args.size, args.tokenizers, args.seed, args.references)
        elif name == "dialogpt":
            make_dialogpt(args.out, args.size, args.tokenizers, args.seed, args.references)
        elif name in ("sd-turbo", "sd15"):
            make_diffusion(args.out, name, args.size, args.clip_tokenizers, args.seed, args.diffusion_export)
        elif name == "clip":
            make_clip(args.out, args.size, args.clip_tokenizers, args.seed)
        log(f"{name} done in {time.time() - t0:.1f} s")
    log(f"all done in {time.time() - started:.1f} s (torch {torch.__version__})")


if __name__ == "__main__":
    main()
