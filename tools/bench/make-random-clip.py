"""Make a random-weight CLIP ViT-B/32 in the transformers.js layout, for benchmarks.

    python3 tools/bench/make-random-clip.py OUT_DIR [--tokenizer data/models/tiny-clip] [--seed 0]

Needs PyTorch and Hugging Face transformers (the GPU machine has both; this machine has neither).
The architecture is `transformers.CLIPConfig()`'s defaults, which are openai/clip-vit-base-patch32's
sizes: text 12 layers × 512 wide (8 heads, 77 positions, vocabulary 49,408), vision 12 layers × 768
wide (12 heads, 224 px, patch 32), projection 512, quick-GELU. Weights are transformers' own random
initialisation (seeded), so outputs are meaningless but every matrix has the real shape and the
graphs do the real amount of work.

Written to OUT_DIR (what `CLIPRewardCalculator.fromPretrained(OUT_DIR)` reads):
- `onnx/text_model.onnx`: input_ids, attention_mask [batch, seq] int64 → text_embeds [batch, 512],
  last_hidden_state [batch, seq, 512] (like Optimum's `CLIPTextModelWithProjection` export);
- `onnx/vision_model.onnx`: pixel_values [batch, 3, 224, 224] → image_embeds [batch, 512],
  last_hidden_state [batch, 50, 768];
- `config.json`, `preprocessor_config.json` (CLIP's 224-px bicubic resize + centre crop), and the
  tokenizer files of `--tokenizer` (the tiny CLIP's 764-token BPE: its ids are valid for the
  49,408-row embedding, and the text length, which is what costs time, is the same).
- `onnx/vision_model_fp16.onnx` / `onnx/text_model_fp16.onnx` (`dtype: 'fp16'`): the same weights
  in float16 with float32 inputs and outputs (casts at both ends), for the fp16-vs-fp32 comparison.
Exported with the TorchScript exporter (opset 17, dynamic batch and sequence axes).
"""
import argparse
import json
import os
import shutil
import sys

import torch
from transformers import CLIPConfig, CLIPTextModelWithProjection, CLIPVisionModelWithProjection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--tokenizer", default="data/models/tiny-clip")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with open(os.path.join(args.tokenizer, "config.json")) as f:
        tiny = json.load(f)["text_config"]
    config = CLIPConfig(
        text_config={"bos_token_id": tiny["bos_token_id"], "eos_token_id": tiny["eos_token_id"], "pad_token_id": tiny["pad_token_id"]},
    )
    os.makedirs(os.path.join(args.out, "onnx"), exist_ok=True)
    torch.manual_seed(args.seed)
    text = CLIPTextModelWithProjection(config.text_config).eval()
    torch.manual_seed(args.seed + 1)
    vision = CLIPVisionModelWithProjection(config.vision_config).eval()

    class Text(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask)
            return out.text_embeds.float(), out.last_hidden_state.float()

    class Vision(torch.nn.Module):
        def __init__(self, model, dtype=torch.float32):
            super().__init__()
            self.model = model
            self.dtype = dtype

        def forward(self, pixel_values):
            out = self.model(pixel_values=pixel_values.to(self.dtype))
            return out.image_embeds.float(), out.last_hidden_state.float()

    ids = torch.full((2, 77), tiny["pad_token_id"], dtype=torch.int64)
    ids[:, 0] = tiny["bos_token_id"]
    ids[:, 5] = tiny["eos_token_id"]
    mask = torch.zeros((2, 77), dtype=torch.int64)
    mask[:, :6] = 1
    pixels = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.onnx.export(
            Text(text), (ids, mask), os.path.join(args.out, "onnx", "text_model.onnx"),
            input_names=["input_ids", "attention_mask"], output_names=["text_embeds", "last_hidden_state"],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                          "text_embeds": {0: "batch"}, "last_hidden_state": {0: "batch", 1: "sequence"}},
            opset_version=17, dynamo=False,
        )
        torch.onnx.export(
            Vision(vision), (pixels,), os.path.join(args.out, "onnx", "vision_model.onnx"),
            input_names=["pixel_values"], output_names=["image_embeds", "last_hidden_state"],
            dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}, "last_hidden_state": {0: "batch"}},
            opset_version=17, dynamo=False,
        )
        # float16 variants (export on the GPU: some CPU kernels lack half precision)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        torch.onnx.export(
            Text(text.half().to(device)), (ids.to(device), mask.to(device)), os.path.join(args.out, "onnx", "text_model_fp16.onnx"),
            input_names=["input_ids", "attention_mask"], output_names=["text_embeds", "last_hidden_state"],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                          "text_embeds": {0: "batch"}, "last_hidden_state": {0: "batch", 1: "sequence"}},
            opset_version=17, dynamo=False,
        )
        torch.onnx.export(
            Vision(vision.half().to(device), torch.float16), (pixels.to(device),), os.path.join(args.out, "onnx", "vision_model_fp16.onnx"),
            input_names=["pixel_values"], output_names=["image_embeds", "last_hidden_state"],
            dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}, "last_hidden_state": {0: "batch"}},
            opset_version=17, dynamo=False,
        )
    config.save_pretrained(args.out)
    with open(os.path.join(args.out, "preprocessor_config.json"), "w") as f:
        json.dump({
            "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_convert_rgb": True,
            "do_normalize": True, "do_rescale": True, "do_resize": True,
            "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
            "image_processor_type": "CLIPImageProcessor", "resample": 3, "rescale_factor": 1 / 255,
            "size": {"shortest_edge": 224},
        }, f, indent=2)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(args.tokenizer, name), os.path.join(args.out, name))
    params = sum(p.numel() for p in text.parameters()) + sum(p.numel() for p in vision.parameters())
    print(json.dumps({"out": args.out, "parameters": params, "torch": torch.__version__}), file=sys.stderr)


if __name__ == "__main__":
    main()
