/**
 * Object placement. Radius r = SIZE_RADIUS[size] · look.scale · f(n), f = 1, 0.85, 0.75, 0.7, 0.65,
 * 0.6 for n = 1…6 objects in the scene. Centres: with `placement: 'center'` the objects form a
 * grid around (0.5, 0.5); with `'thirds'` around (1/3, 1/3); otherwise a position other than
 * `anywhere` puts the grid at the centre of that position's region (jittered), and `anywhere`
 * scatters the objects without overlap (rejection sampling, seeded). Centres are clamped so every
 * object stays inside the picture. Coordinates are fractions of the side.
 */
import type { Look } from './modifiers.js';
import { Random } from './random.js';
import type { ObjectGroup, Scene } from './scene.js';
import { POSITION_REGION, SIZE_RADIUS, type ColorName, type ShapeName } from './vocabulary.js';

/** One placed object. */
export interface PlacedObject {
  /** Shape. */
  shape: ShapeName;
  /** Main colour. */
  color: ColorName;
  /** Centre x, fraction of the width. */
  x: number;
  /** Centre y, fraction of the height (downwards). */
  y: number;
  /** Radius, fraction of the side. */
  r: number;
  /** Index of the group it belongs to. */
  group: number;
}

const COUNT_FACTOR = [1, 1, 0.85, 0.75, 0.7, 0.65, 0.6];

function gridOffsets(n: number, spacing: number): [number, number][] {
  const cols = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / cols);
    const inRow = row === rows - 1 ? n - row * cols : cols;
    const col = i % cols;
    out.push([(col - (inRow - 1) / 2) * spacing, (row - (rows - 1) / 2) * spacing]);
  }
  return out;
}

/** Place every object of a scene under a look (deterministic in `scene.seed`). */
export function layoutScene(scene: Scene, look: Pick<Look, 'scale' | 'placement'>): PlacedObject[] {
  const rng = new Random(scene.seed ^ 0x51ed);
  const items: { g: ObjectGroup; group: number }[] = [];
  scene.groups.forEach((g, group) => {
    for (let k = 0; k < g.count; k++) items.push({ g, group });
  });
  const n = items.length;
  const factor = COUNT_FACTOR[Math.min(n, COUNT_FACTOR.length - 1)]!;
  const radii = items.map(({ g }) => SIZE_RADIUS[g.size] * look.scale * factor);
  const rMax = Math.max(...radii);
  const clamp = (c: number, r: number): number => Math.min(Math.max(c, Math.min(r, 0.5)), Math.max(1 - r, 0.5));
  const place = (cx: number, cy: number): PlacedObject[] => {
    const offsets = gridOffsets(n, 2.4 * rMax);
    const spanX = Math.max(...offsets.map(([dx]) => Math.abs(dx))) + rMax;
    const spanY = Math.max(...offsets.map(([, dy]) => Math.abs(dy))) + rMax;
    const gx = Math.min(Math.max(cx, spanX), 1 - spanX);
    const gy = Math.min(Math.max(cy, spanY), 1 - spanY);
    return items.map(({ g, group }, i) => ({
      shape: g.shape,
      color: g.color,
      x: clamp((spanX * 2 > 1 ? 0.5 : gx) + offsets[i]![0], radii[i]!),
      y: clamp((spanY * 2 > 1 ? 0.5 : gy) + offsets[i]![1], radii[i]!),
      r: radii[i]!,
      group,
    }));
  };
  if (look.placement === 'center') return place(0.5, 0.5);
  if (look.placement === 'thirds') return place(1 / 3, 1 / 3);
  if (scene.position !== 'anywhere') {
    const [x0, y0, x1, y1] = POSITION_REGION[scene.position];
    return place((x0 + x1) / 2 + rng.uniform(-0.03, 0.03), (y0 + y1) / 2 + rng.uniform(-0.03, 0.03));
  }
  const placed: PlacedObject[] = [];
  for (const [i, { g, group }] of items.entries()) {
    const r = radii[i]!;
    let best: [number, number] = [0.5, 0.5];
    let bestGap = -Infinity;
    for (let tries = 0; tries < 60; tries++) {
      const x = clamp(rng.uniform(0.2, 0.8), r);
      const y = clamp(rng.uniform(0.2, 0.8), r);
      const gap = Math.min(Infinity, ...placed.map((p) => Math.hypot(p.x - x, p.y - y) - (p.r + r) * 1.2));
      if (gap > bestGap) {
        best = [x, y];
        bestGap = gap;
      }
      if (gap >= 0) break;
    }
    placed.push({ shape: g.shape, color: g.color, x: best[0], y: best[1], r, group });
  }
  return placed;
}
