// Writes tiny-safety/safety_checker/model.onnx: the input/output contract of diffusers' ONNX
// safety checker (clip_input [B,3,224,224] f32, images [B,H,W,3] f32 → out_images, has_nsfw_concepts
// [B] bool) with a stand-in decision: flagged when the mean normalised CLIP pixel is > 0 (bright
// images), so tests know the answer. Hand-written protobuf (onnx.proto, IR 8, opset 17).
// Run: node packages/sd/src/__fixtures__/make-safety-checker.mjs
import { writeFileSync } from 'node:fs';

const varint = (value) => {
  const out = [];
  while (value >= 0x80) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
};
const bytes = (field, b) => [...varint(field * 8 + 2), ...varint(b.length), ...b];
const str = (field, text) => bytes(field, [...Buffer.from(text, 'utf8')]);
const int = (field, value) => [...varint(field * 8), ...varint(value)];
const FLOAT = 1;
const BOOL = 9;
const valueInfo = (name, type, dims) => [
  ...str(1, name),
  ...bytes(2, bytes(1, [...int(1, type), ...bytes(2, dims.flatMap((d) => bytes(1, typeof d === 'number' ? int(1, d) : str(2, d))))])),
];
const node = (op, inputs, outputs, name, attributes = []) => [
  ...inputs.flatMap((i) => str(1, i)),
  ...outputs.flatMap((o) => str(2, o)),
  ...str(3, name),
  ...str(4, op),
  ...attributes.flatMap((a) => bytes(5, a)),
];
const ints = (name, values) => [...str(1, name), ...values.flatMap((v) => int(8, v)), ...int(20, 7)];
const intAttr = (name, value) => [...str(1, name), ...int(3, value), ...int(20, 2)];
const threshold = [...int(2, FLOAT), ...str(8, 'threshold'), ...bytes(9, [...new Uint8Array(Float32Array.of(0).buffer)])];
const graph = [
  ...bytes(1, node('ReduceMean', ['clip_input'], ['mean'], 'mean', [ints('axes', [1, 2, 3]), intAttr('keepdims', 0)])),
  ...bytes(1, node('Greater', ['mean', 'threshold'], ['has_nsfw_concepts'], 'flag')),
  ...bytes(1, node('Identity', ['images'], ['out_images'], 'images')),
  ...str(2, 'tiny_safety_checker'),
  ...bytes(5, threshold),
  ...bytes(11, valueInfo('clip_input', FLOAT, ['batch', 3, 224, 224])),
  ...bytes(11, valueInfo('images', FLOAT, ['batch', 'height', 'width', 3])),
  ...bytes(12, valueInfo('out_images', FLOAT, ['batch', 'height', 'width', 3])),
  ...bytes(12, valueInfo('has_nsfw_concepts', BOOL, ['batch'])),
];
const model = [...int(1, 8), ...str(2, 'vlm-grpo-fixture'), ...bytes(7, graph), ...bytes(8, [...str(1, ''), ...int(2, 17)])];
const here = new URL('./tiny-safety/', import.meta.url);
writeFileSync(new URL('safety_checker/model.onnx', here), Uint8Array.from(model));
writeFileSync(
  new URL('feature_extractor/preprocessor_config.json', here),
  `${JSON.stringify({ crop_size: { height: 224, width: 224 }, do_center_crop: true, do_normalize: true, do_resize: true, image_mean: [0.48145466, 0.4578275, 0.40821073], image_processor_type: 'CLIPImageProcessor', image_std: [0.26862954, 0.26130258, 0.27577711], resample: 3, rescale_factor: 0.00392156862745098, size: { shortest_edge: 224 } }, null, 2)}\n`,
);
