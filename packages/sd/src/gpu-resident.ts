/**
 * GPU-resident copies of host tensors for ONNX Runtime's WebGPU execution provider.
 *
 * onnxruntime-node has no API that allocates a GPU buffer from JavaScript, but a session whose
 * `preferredOutputLocation` is `'gpu-buffer'` returns its outputs as GPU tensors, and any session
 * on the same device accepts such tensors as inputs (IO binding). `uploadToGpu` therefore runs a
 * one-node ONNX graph, `y = Identity(x)`, built here byte by byte (rank and element type fixed,
 * every dimension symbolic), once per upload; `downloadFromGpu` runs the same graph with a host
 * output (the only read-back that works in onnxruntime-node 1.30). The diffusion loop uploads the
 * text conditioning once per call; with `gpuResidentLatents` the latents stay on the GPU too
 * (`gpu-denoise-loop.ts`).
 *
 * Sessions are cached per (ONNX Runtime module, provider, element type, rank, output location) for
 * the life of the process;
 * each is a few hundred bytes of graph.
 */
import type * as OrtNamespace from 'onnxruntime-node';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { ONNX_ELEMENT_TYPES, onnxModelBytes } from './onnx-proto.js';

type OrtModule = typeof OrtNamespace;

/** ONNX TensorProto element types this module uploads. */
const ELEMENT_TYPES = ONNX_ELEMENT_TYPES;

/**
 * The bytes of an ONNX model (IR 8, opset 17) computing `y = Identity(x)` for a tensor of
 * `rank` symbolic dimensions and ONNX element type `elemType` (1 float32, 10 float16, 7 int64).
 */
export function identityModelBytes(elemType: number, rank: number): Uint8Array {
  const dims = Array.from({ length: rank }, (_, i) => `d${i}`);
  return onnxModelBytes({
    name: 'upload',
    nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
    inputs: [{ name: 'x', elemType, dims }],
    outputs: [{ name: 'y', elemType, dims }],
  });
}

const sessions = new WeakMap<object, Map<string, Promise<InferenceSession>>>();

function identitySession(ort: OrtModule, type: keyof typeof ELEMENT_TYPES, rank: number, executionProvider: string, output: 'gpu-buffer' | 'cpu'): Promise<InferenceSession> {
  let perModule = sessions.get(ort);
  if (!perModule) {
    perModule = new Map();
    sessions.set(ort, perModule);
  }
  const location = executionProvider === 'cpu' ? 'cpu' : output;
  const key = `${executionProvider}/${type}/${rank}/${location}`;
  let session = perModule.get(key);
  if (!session) {
    session = ort.InferenceSession.create(identityModelBytes(ELEMENT_TYPES[type], rank), {
      executionProviders: [executionProvider],
      preferredOutputLocation: location,
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
  const session = await identitySession(ort, type, tensor.dims.length, executionProvider, 'gpu-buffer');
  const out = await session.run({ x: tensor });
  return out['y']!;
}

/**
 * A host copy of `tensor` (a GPU-resident tensor of the WebGPU EP, or a host tensor): the same
 * Identity graph with a host output. onnxruntime-node 1.30 aborts the process on
 * `Tensor.getData()` of a `gpu-buffer` tensor, so every read-back goes through here.
 * `tensor` stays valid (the caller disposes it).
 */
export async function downloadFromGpu(ort: OrtModule, tensor: Tensor, executionProvider: 'webgpu' | 'cpu' = 'webgpu'): Promise<Tensor> {
  const type = tensor.type as keyof typeof ELEMENT_TYPES;
  if (!(type in ELEMENT_TYPES)) throw new TypeError(`downloadFromGpu: unsupported element type ${tensor.type}`);
  const session = await identitySession(ort, type, tensor.dims.length, executionProvider, 'cpu');
  const out = await session.run({ x: tensor });
  return out['y']!;
}
