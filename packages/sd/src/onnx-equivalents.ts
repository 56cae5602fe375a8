/**
 * Hub repositories that hold only PyTorch weights (the diffusers layout:
 * `unet/diffusion_pytorch_model.safetensors`) and the ONNX exports of the same weights in the
 * Optimum/diffusers ONNX layout this package runs (`text_encoder/model.onnx`, `unet/model.onnx`
 * (+ external data), `vae_decoder/model.onnx`, `scheduler/`, `tokenizer/`, and
 * `safety_checker/model.onnx` + `feature_extractor/` where the original ships a safety checker).
 * For any other PyTorch-only repository, {@link onnxConversionCommand} is the one command that
 * writes that layout (Optimum's exporter).
 */

/** Known ONNX exports of PyTorch-only repositories: original id → ONNX repository id. */
export const ONNX_EQUIVALENTS: Readonly<Record<string, string>> = {
  // The original design's default (runwayml's repository, now mirrored under stable-diffusion-v1-5/).
  'runwayml/stable-diffusion-v1-5': 'onnx-community/stable-diffusion-v1-5-ONNX',
  'stable-diffusion-v1-5/stable-diffusion-v1-5': 'onnx-community/stable-diffusion-v1-5-ONNX',
  'stabilityai/sd-turbo': 'onnxruntime/sd-turbo',
  'stabilityai/sdxl-turbo': 'onnxruntime/sdxl-turbo',
};

/** The ONNX-layout repository for `repoId` (undefined when none is known). */
export function onnxEquivalent(repoId: string): string | undefined {
  return Object.hasOwn(ONNX_EQUIVALENTS, repoId) ? ONNX_EQUIVALENTS[repoId] : undefined;
}

/** The command that exports a diffusers repository or folder to the ONNX layout this package loads. */
export function onnxConversionCommand(repoId: string): string {
  return `optimum-cli export onnx --model ${repoId} --task text-to-image models/${repoId.split('/').at(-1)}-onnx`;
}
