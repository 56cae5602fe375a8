/**
 * Workgroup reductions shared by the row kernels (WGSL snippets, no kernel of their own):
 * `rowSum`/`rowMax` over 64 threads ({@link ROW_REDUCE}) or 256 threads ({@link ROW_REDUCE_256}),
 * tree-shaped in workgroup memory, so every row reduces in the same order on every run.
 */

function reduceSnippet(threads: number): string {
  return /* wgsl */ `
var<workgroup> red: array<f32, ${threads}>;
fn rowSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${threads / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let out = red[0];
  workgroupBarrier();
  return out;
}
fn rowMax(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${threads / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let out = red[0];
  workgroupBarrier();
  return out;
}
`;
}

/** Reductions for 64-thread workgroups. */
export const ROW_REDUCE = reduceSnippet(64);

/** Reductions for 256-thread workgroups. */
export const ROW_REDUCE_256 = reduceSnippet(256);
