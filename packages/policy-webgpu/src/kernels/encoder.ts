/**
 * Token embedding (+ GPT-2's learned positions), forward and its scatter-add backward.
 *   forward:  out[t, :] = wte[ids[t], :] (+ wpe[pos[t], :])
 *   backward: dwte[v, :] += Σ_{t : ids[t] = v} dout[t, :]   (and dwpe by positions)
 * Local derivative: ∂out[t, c]/∂wte[v, c] = [ids[t] = v], so the gradient of a table row is the
 * sum of the output gradients of the tokens that read it.
 * Determinism without float atomics: the host (which uploads the ids anyway) builds a CSR of
 * the distinct table rows read and, per row, the token indices in increasing order
 * ({@link buildScatterPlan}, fixed size per token count); one thread per (distinct row, column) owns its output element
 * and sums its tokens in that fixed order.
 */
import { grid, WG, type Command, type GpuContext, type Slice } from '../gpu.js';

const FORWARD_WGSL = /* wgsl */ `
struct P { n: u32, C: u32, nx: u32, hasPos: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> pos: array<u32>;
@group(0) @binding(3) var<storage, read> wte: array<f32>;
@group(0) @binding(4) var<storage, read> wpe: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let i = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (i >= p.n) { return; }
  let t = i / p.C;
  let c = i % p.C;
  var v = wte[ids[t] * p.C + c];
  if (p.hasPos == 1u) { v += wpe[pos[t] * p.C + c]; }
  out[i] = v;
}
`;

const BACKWARD_WGSL = /* wgsl */ `
struct P { n: u32, C: u32, nx: u32, T: u32 }
@group(0) @binding(0) var<uniform> p: P;
// plan: [1: U][T: distinct rows][T + 1: starts][T: token indices] (see buildScatterPlan)
@group(0) @binding(1) var<storage, read> plan: array<u32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read_write> dtable: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let i = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (i >= p.n) { return; }
  let u = i / p.C;
  let c = i % p.C;
  if (u >= plan[0]) { return; }
  let start = plan[1u + p.T + u];
  let end = plan[2u + p.T + u];
  var s = 0.0;
  for (var k = start; k < end; k++) { s += dout[plan[2u + 2u * p.T + k] * p.C + c]; }
  dtable[plan[1u + u] * p.C + c] += s;
}
`;

/**
 * The CSR a scatter-add backward reads, as one u32 array of fixed size 3T + 2 for T tokens (so a
 * recorded dispatch can be replayed with new ids): [U = distinct rows][T slots: the distinct rows,
 * ascending][T + 1 slots: start of each row's tokens][T: token indices grouped by row, ascending].
 */
export function buildScatterPlan(index: ArrayLike<number>): Uint32Array {
  const t = index.length;
  const byRow = new Map<number, number[]>();
  for (let i = 0; i < t; i += 1) {
    const row = index[i]!;
    let list = byRow.get(row);
    if (!list) byRow.set(row, (list = []));
    list.push(i);
  }
  const rows = [...byRow.keys()].sort((a, b) => a - b);
  const plan = new Uint32Array(3 * t + 2);
  plan[0] = rows.length;
  let offset = 0;
  rows.forEach((row, k) => {
    plan[1 + k] = row;
    plan[1 + t + k] = offset;
    for (const token of byRow.get(row)!) plan[2 + 2 * t + offset++] = token;
  });
  plan[1 + t + rows.length] = offset;
  return plan;
}

/** Arguments of {@link encoderForward}. */
export interface EncoderForwardArgs {
  /** Tokens. */
  tokens: number;
  /** Width. */
  c: number;
  /** Token ids [tokens] (u32). */
  ids: Slice;
  /** Token table [V, C]. */
  wte: Slice;
  /** Learned positions: ids [tokens] (u32) and table [P, C] (GPT-2), or none (RoPE models). */
  positions?: { ids: Slice; wpe: Slice };
  /** out [tokens, C]. */
  out: Slice;
}

/** out = wte[ids] (+ wpe[pos]): one dispatch. */
export function encoderForward(ctx: GpuContext, label: string, a: EncoderForwardArgs): Command {
  const n = a.tokens * a.c;
  const groups = grid(n);
  const uniform = ctx.uniform(`${label}.p`, [['u32', n], ['u32', a.c], ['u32', groups[0]], ['u32', a.positions ? 1 : 0]]);
  const pos = a.positions ?? { ids: a.ids, wpe: a.wte };
  return ctx.dispatch(label, ctx.pipeline('encoder_forward', FORWARD_WGSL), [uniform, a.ids, pos.ids, a.wte, pos.wpe, a.out], groups);
}

/** Arguments of {@link encoderBackward}. */
export interface EncoderBackwardArgs {
  /** Tokens T (the plan's capacity). */
  tokens: number;
  /** Width. */
  c: number;
  /** The {@link buildScatterPlan} array [3T + 2], uploaded (u32). */
  plan: Slice;
  /** dout [tokens, C]. */
  dout: Slice;
  /** dtable [V, C] (accumulated). */
  dtable: Slice;
}

/** dtable[row] += Σ dout[tokens of row], deterministic: one dispatch over T·C threads. */
export function encoderBackward(ctx: GpuContext, label: string, a: EncoderBackwardArgs): Command {
  const n = a.tokens * a.c;
  const groups = grid(n);
  const uniform = ctx.uniform(`${label}.p`, [['u32', n], ['u32', a.c], ['u32', groups[0]], ['u32', a.tokens]]);
  return ctx.dispatch(label, ctx.pipeline('encoder_backward', BACKWARD_WGSL), [uniform, a.plan, a.dout, a.dtable], groups);
}
