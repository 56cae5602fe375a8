/**
 * GPU-resident copies of host tensors for ONNX Runtime's WebGPU execution provider.
 *
 * onnxruntime-node has no API that allocates a GPU buffer from JavaScript, but a session whose
 * `preferredOutputLocation` is `'gpu-buffer'` returns its outputs as GPU tensors, and any session
 * on the same device accepts such tensors as inputs (IO binding). `uploadToGpu` therefore runs a
 * one-node ONNX graph, `y = Identity(x)`, built here byte by byte (rank and element type fixed,
 * every dimension symbolic), once per upload. The diffusion loop uses it to upload the text
 * conditioning once per call instead of once per denoising step; the latents still cross to the
 * host each step because the schedulers run in JavaScript.
 *
 * Sessions are cached per (ONNX Runtime module, element type, rank) for the life of the process;
 * each is a few hundred bytes of graph.
 */
import type * as OrtNamespace from 'onnxruntime-node';
import type { InferenceSession, Tensor } from 'onnxruntime-node';

type OrtModule = typeof OrtNamespace;

/** ONNX TensorProto element types this module uploads. */
const ELEMENT_TYPES = { float32: 1, float16: 10, int64: 7, int32: 6 } as const;

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

const encoder = new TextEncoder();
/** A length-delimited protobuf field (wire type 2). */
const bytesField = (field: number, bytes: readonly number[] | Uint8Array): number[] => [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
/** A string protobuf field. */
const stringField = (field: number, text: string): number[] => bytesField(field, encoder.encode(text));
/** A varint protobuf field (wire type 0). */
const intField = (field: number, value: number): number[] => [...varint(field << 3), ...varint(value)];

/**
 * The bytes of an ONNX model (IR 8, opset 17) computing `y = Identity(x)` for a tensor of
 * `rank` symbolic dimensions and ONNX element type `elemType` (1 float32, 10 float16, 7 int64).
 */
export function identityModelBytes(elemType: number, rank: number): Uint8Array {
  // TensorShapeProto { dim: [Dimension { dim_param }] }
  const shape = Array.from({ length: rank }, (_, i) => bytesField(1, stringField(2, `d${i}`))).flat();
  // TypeProto { tensor_type: TypeProto.Tensor { elem_type, shape } }
  const type = bytesField(1, [...intField(1, elemType), ...bytesField(2, shape)]);
  // ValueInfoProto { name, type }
  const valueInfo = (name: string): number[] => [...stringField(1, name), ...bytesField(2, type)];
  // NodeProto { input, output, name, op_type }
  const node = [...stringField(1, 'x'), ...stringField(2, 'y'), ...stringField(3, 'upload'), ...stringField(4, 'Identity')];
  // GraphProto { node, name, input, output }
  const graph = [...bytesField(1, node), ...stringField(2, 'upload'), ...bytesField(11, valueInfo('x')), ...bytesField(12, valueInfo('y'))];
  // ModelProto { ir_version, producer_name, graph, opset_import { domain "", version } }
  return Uint8Array.from([...intField(1, 8), ...stringField(2, 'vlm-grpo'), ...bytesField(7, graph), ...bytesField(8, [...stringField(1, ''), ...intField(2, 17)])]);
}

const sessions = new WeakMap<object, Map<string, Promise<InferenceSession>>>();

function uploader(ort: OrtModule, type: keyof typeof ELEMENT_TYPES, rank: number, executionProvider: string): Promise<InferenceSession> {
  let perModule = sessions.get(ort);
  if (!perModule) {
    perModule = new Map();
    sessions.set(ort, perModule);
  }
  const key = `${executionProvider}/${type}/${rank}`;
  let session = perModule.get(key);
  if (!session) {
    session = ort.InferenceSession.create(identityModelBytes(ELEMENT_TYPES[type], rank), {
      executionProviders: [executionProvider],
      preferredOutputLocation: executionProvider === 'cpu' ? 'cpu' : 'gpu-buffer',
    });
    session.catch(() => perModule!.delete(key));
    perModule.set(key, session);
  }
  return session;
}

/**
 * A GPU-resident copy of the host tensor `tensor` on ONNX Runtime's WebGPU device (its
 * `location` is `'gpu-buffer'`; call `dispose()` when done). Rejects where the WebGPU EP cannot
 * initialise or the element type is not float32, float16, int32 or int64. `executionProvider`
 * `'cpu'` runs the same graph on the CPU with a host output (tests check the graph with it).
 */
export async function uploadToGpu(ort: OrtModule, tensor: Tensor, executionProvider: 'webgpu' | 'cpu' = 'webgpu'): Promise<Tensor> {
  const type = tensor.type as keyof typeof ELEMENT_TYPES;
  if (!(type in ELEMENT_TYPES)) throw new TypeError(`uploadToGpu: unsupported element type ${tensor.type}`);
  const session = await uploader(ort, type, tensor.dims.length, executionProvider);
  const out = await session.run({ x: tensor });
  return out['y']!;
}
