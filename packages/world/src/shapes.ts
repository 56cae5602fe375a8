/**
 * Shape membership tests in an object's local frame: u to the right, v downwards, the object's
 * radius is 1 (it fits the square [−1, 1]²). `partAt` returns 0 outside, 1 on the main colour,
 * 2 on a fixed second colour (a tree's trunk, a flower's heart, a house's door).
 */
import type { ShapeName } from './vocabulary.js';

const SQRT3 = Math.sqrt(3);

/** Vertices of a regular 5-point star (outer radius 1, inner 0.45), one point up. */
const STAR: readonly (readonly [number, number])[] = Array.from({ length: 10 }, (_, i) => {
  const r = i % 2 === 0 ? 1 : 0.45;
  const a = (Math.PI * i) / 5;
  return [r * Math.sin(a), -r * Math.cos(a)] as const;
});

/** Petal centres of a flower (five, radius 0.52). */
const PETALS: readonly (readonly [number, number])[] = Array.from({ length: 5 }, (_, k) => [0.52 * Math.sin((2 * Math.PI * k) / 5), -0.52 * Math.cos((2 * Math.PI * k) / 5)] as const);

/** Discs (u, v, r) whose union is a cloud. */
const CLOUD: readonly (readonly [number, number, number])[] = [[-0.45, 0.15, 0.42], [0.05, -0.15, 0.55], [0.5, 0.15, 0.4], [0, 0.3, 0.35]];

/** Even–odd point-in-polygon test. */
function inPolygon(poly: readonly (readonly [number, number])[], u: number, v: number): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i]!;
    const [xj, yj] = poly[j]!;
    if (yi > v !== yj > v && u < ((xj - xi) * (v - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function inHeart(u: number, v: number): boolean {
  const x = u * 1.15;
  const y = -v * 1.15 + 0.25;
  const a = x * x + y * y - 1;
  return a * a * a - x * x * y * y * y <= 0;
}

/** Which part of `shape` covers local point (u, v): 0 none, 1 main colour, 2 second colour. */
export function partAt(shape: ShapeName, u: number, v: number): 0 | 1 | 2 {
  switch (shape) {
    case 'circle':
      return u * u + v * v <= 1 ? 1 : 0;
    case 'square':
      return Math.abs(u) <= 0.85 && Math.abs(v) <= 0.85 ? 1 : 0;
    case 'triangle':
      return v <= 0.75 && v >= -1 && Math.abs(u) <= (v + 1) / SQRT3 ? 1 : 0;
    case 'star':
      return u * u + v * v <= 1 && inPolygon(STAR, u, v) ? 1 : 0;
    case 'heart':
      return inHeart(u, v) ? 1 : 0;
    case 'ring': {
      const r2 = u * u + v * v;
      return r2 <= 1 && r2 >= 0.36 ? 1 : 0;
    }
    case 'cross':
      return (Math.abs(u) <= 0.3 && Math.abs(v) <= 0.95) || (Math.abs(v) <= 0.3 && Math.abs(u) <= 0.95) ? 1 : 0;
    case 'diamond':
      return Math.abs(u) * 0.8 + Math.abs(v) <= 1 ? 1 : 0;
    case 'moon':
      return u * u + v * v <= 1 && (u - 0.45) * (u - 0.45) + (v + 0.2) * (v + 0.2) > 0.72 ? 1 : 0;
    case 'house': {
      if (Math.abs(u) <= 0.18 && v >= 0.4 && v <= 0.9) return 2;
      if (Math.abs(u) <= 0.7 && v >= 0 && v <= 0.9) return 1;
      return v < 0 && v >= -0.95 && Math.abs(u) <= ((v + 0.95) / 0.95) * 0.9 ? 1 : 0;
    }
    case 'tree': {
      if (u * u + (v + 0.3) * (v + 0.3) <= 0.49) return 1;
      return Math.abs(u) <= 0.14 && v >= 0.2 && v <= 1 ? 2 : 0;
    }
    case 'flower': {
      if (u * u + v * v <= 0.09) return 2;
      for (const [cu, cv] of PETALS) if ((u - cu) * (u - cu) + (v - cv) * (v - cv) <= 0.16) return 1;
      return 0;
    }
    case 'cloud': {
      for (const [cu, cv, r] of CLOUD) if ((u - cu) * (u - cu) + (v - cv) * (v - cv) <= r * r) return 1;
      return 0;
    }
  }
}
