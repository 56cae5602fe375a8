/**
 * Minimal inline-SVG line charts for the HTML report: linear axes with "nice" ticks (steps of
 * 1, 2 or 5 × 10^k), one polyline per series, a marker with a `<title>` tooltip per point, an
 * optional shaded band per series (e.g. mean ± std), and a legend. Lines that coincide stay
 * distinguishable: each series of a chart gets its own dash pattern and marker shape (circle,
 * square, triangle, diamond, …) besides its colour, and the legend shows both. Text is escaped; no
 * scripts, fonts or other assets are referenced.
 */
import { escapeHtml } from './text.js';

/** One line of a chart. */
export interface ChartSeries {
  /** Legend text. */
  name: string;
  /** `[x, y]` points; non-finite points are skipped. */
  points: ReadonlyArray<readonly [number, number]>;
  /** Stroke colour (default: from a fixed palette). */
  color?: string;
  /** Dashed stroke (default: false; without it, the series' position in the chart picks a pattern). */
  dashed?: boolean;
  /** Shaded band `[x, low, high]` drawn under the line (default: none), e.g. mean ± std. */
  band?: ReadonlyArray<readonly [number, number, number]>;
}

/** Dash patterns by series position (solid first), so coinciding lines stay apart. */
export const DASH_PATTERNS = ['', '7 4', '2 3', '10 3 2 3', '4 2', '1 5', '12 6', '6 2 2 2'] as const;

/** Marker shapes by series position. */
export const MARKERS = ['circle', 'square', 'triangle', 'diamond', 'cross', 'triangle-down'] as const;

function marker(shape: (typeof MARKERS)[number], x: number, y: number, color: string, title: string): string {
  const f = (value: number) => value.toFixed(1);
  const tip = `<title>${escapeHtml(title)}</title>`;
  switch (shape) {
    case 'circle':
      return `<circle cx="${f(x)}" cy="${f(y)}" r="3" fill="${color}">${tip}</circle>`;
    case 'square':
      return `<rect class="marker" x="${f(x - 3)}" y="${f(y - 3)}" width="6" height="6" fill="${color}">${tip}</rect>`;
    case 'triangle':
      return `<polygon class="marker" points="${f(x)},${f(y - 4)} ${f(x + 4)},${f(y + 3)} ${f(x - 4)},${f(y + 3)}" fill="${color}">${tip}</polygon>`;
    case 'triangle-down':
      return `<polygon class="marker" points="${f(x)},${f(y + 4)} ${f(x + 4)},${f(y - 3)} ${f(x - 4)},${f(y - 3)}" fill="${color}">${tip}</polygon>`;
    case 'diamond':
      return `<polygon class="marker" points="${f(x)},${f(y - 4)} ${f(x + 4)},${f(y)} ${f(x)},${f(y + 4)} ${f(x - 4)},${f(y)}" fill="${color}">${tip}</polygon>`;
    case 'cross':
      return `<path class="marker" d="M${f(x - 3)},${f(y - 3)}L${f(x + 3)},${f(y + 3)}M${f(x - 3)},${f(y + 3)}L${f(x + 3)},${f(y - 3)}" stroke="${color}" stroke-width="2">${tip}</path>`;
  }
}

/** Options of {@link lineChart}. */
export interface LineChartOptions {
  /** Chart title (drawn inside the SVG). */
  title: string;
  /** Identifier written to `data-chart` (default: none). */
  id?: string;
  /** Width in pixels (default: 640). */
  width?: number;
  /** Height in pixels (default: 280). */
  height?: number;
  /** x-axis label (default: `iteration`). */
  xLabel?: string;
  /** Fixed y range, e.g. `[0, 1]` for rates (default: from the data). */
  yDomain?: readonly [number, number];
}

/** Colour palette (Okabe–Ito, colour-blind safe), used in series order. */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'] as const;

/** "Nice" tick values covering [min, max] with about `count` intervals. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) return [min];
  const raw = (max - min) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const normalized = raw / magnitude;
  const step = (normalized <= 1 ? 1 : normalized <= 2 ? 2 : normalized <= 5 ? 5 : 10) * magnitude;
  const ticks: number[] = [];
  const first = Math.ceil(min / step - 1e-9) * step;
  for (let value = first; value <= max + step * 1e-9; value += step) ticks.push(Math.abs(value) < step * 1e-9 ? 0 : value);
  return ticks;
}

function tickLabel(value: number, step: number): string {
  const decimals = step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step) - 1e-9));
  return value.toFixed(decimals);
}

function padDomain(min: number, max: number): [number, number] {
  if (min === max) {
    const delta = min === 0 ? 1 : Math.abs(min) * 0.1;
    return [min - delta, max + delta];
  }
  const margin = (max - min) * 0.05;
  return [min - margin, max + margin];
}

/** An `<svg>` line chart of `series` (a `<p>` saying so when there is no finite point). */
export function lineChart(series: readonly ChartSeries[], options: LineChartOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 280;
  const idAttribute = options.id ? ` data-chart="${escapeHtml(options.id)}"` : '';
  const clean = series.map((entry, index) => ({
    ...entry,
    color: entry.color ?? PALETTE[index % PALETTE.length]!,
    dash: entry.dashed ? DASH_PATTERNS[1] : DASH_PATTERNS[index % DASH_PATTERNS.length]!,
    shape: MARKERS[index % MARKERS.length]!,
    points: entry.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y]) => [x, y] as const).sort((a, b) => a[0] - b[0]),
    band: (entry.band ?? []).filter(([x, low, high]) => Number.isFinite(x) && Number.isFinite(low) && Number.isFinite(high)).map(([x, low, high]) => [x, low, high] as const).sort((a, b) => a[0] - b[0]),
  }));
  const all = [...clean.flatMap((entry) => entry.points), ...clean.flatMap((entry) => entry.band.flatMap(([x, low, high]) => [[x, low] as const, [x, high] as const]))];
  if (all.length === 0) return `<p class="empty"${idAttribute}>${escapeHtml(options.title)}: no data yet.</p>`;

  const margin = { left: 64, right: 16, top: 40, bottom: 40 };
  const legendRows = Math.ceil(clean.length / 3);
  margin.top += (legendRows - 1) * 16;
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [xMin, xMax] = Math.min(...xs) === Math.max(...xs) ? padDomain(Math.min(...xs), Math.max(...xs)) : [Math.min(...xs), Math.max(...xs)];
  const [yMin, yMax] = options.yDomain ? [options.yDomain[0], options.yDomain[1]] : padDomain(Math.min(...ys), Math.max(...ys));
  const sx = (x: number) => margin.left + ((x - xMin) / (xMax - xMin)) * plotWidth;
  const sy = (y: number) => margin.top + (1 - (y - yMin) / (yMax - yMin)) * plotHeight;
  const f = (value: number) => value.toFixed(1);

  const parts: string[] = [
    `<svg class="chart"${idAttribute} xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(options.title)}">`,
    `<title>${escapeHtml(options.title)}</title>`,
    `<text x="${margin.left}" y="14" class="chart-title">${escapeHtml(options.title)}</text>`,
    `<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" class="plot"/>`,
  ];
  const yTicks = niceTicks(yMin, yMax, 5);
  const yStep = yTicks.length > 1 ? yTicks[1]! - yTicks[0]! : Math.abs(yMax - yMin) || 1;
  for (const tick of yTicks) {
    const y = f(sy(tick));
    parts.push(`<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${y}" y2="${y}" class="grid"/>`);
    parts.push(`<text x="${margin.left - 6}" y="${y}" class="tick" text-anchor="end" dominant-baseline="middle">${tickLabel(tick, yStep)}</text>`);
  }
  const xTicks = niceTicks(xMin, xMax, Math.min(8, Math.max(1, Math.round(xMax - xMin))));
  const xStep = xTicks.length > 1 ? xTicks[1]! - xTicks[0]! : 1;
  for (const tick of xTicks) {
    parts.push(`<text x="${f(sx(tick))}" y="${margin.top + plotHeight + 16}" class="tick" text-anchor="middle">${tickLabel(tick, xStep)}</text>`);
  }
  parts.push(`<text x="${margin.left + plotWidth / 2}" y="${height - 6}" class="axis-label" text-anchor="middle">${escapeHtml(options.xLabel ?? 'iteration')}</text>`);
  for (const entry of clean) {
    if (entry.band.length > 1) {
      const upper = entry.band.map(([x, , high]) => `${f(sx(x))},${f(sy(high))}`);
      const lower = [...entry.band].reverse().map(([x, low]) => `${f(sx(x))},${f(sy(low))}`);
      parts.push(`<polygon class="band" fill="${entry.color}" fill-opacity="0.15" stroke="none" points="${[...upper, ...lower].join(' ')}"/>`);
    }
  }
  for (const entry of clean) {
    if (entry.points.length === 0) continue;
    const dash = entry.dash ? ` stroke-dasharray="${entry.dash}"` : '';
    if (entry.points.length > 1) {
      const points = entry.points.map(([x, y]) => `${f(sx(x))},${f(sy(y))}`).join(' ');
      parts.push(`<polyline class="series" fill="none" stroke="${entry.color}" stroke-width="2"${dash} points="${points}"/>`);
    }
    for (const [x, y] of entry.points) parts.push(marker(entry.shape, sx(x), sy(y), entry.color, `${entry.name} @ ${x}: ${Number(y.toPrecision(6))}`));
  }
  clean.forEach((entry, index) => {
    const x = margin.left + (index % 3) * Math.floor(plotWidth / 3);
    const y = 30 + Math.floor(index / 3) * 16;
    const dash = entry.dash ? ` stroke-dasharray="${entry.dash}"` : '';
    parts.push(`<line x1="${x}" x2="${x + 22}" y1="${y - 4}" y2="${y - 4}" stroke="${entry.color}" stroke-width="2"${dash}/>`);
    parts.push(marker(entry.shape, x + 11, y - 4, entry.color, entry.name));
    parts.push(`<text x="${x + 26}" y="${y}" class="legend">${escapeHtml(entry.name)}${entry.band.length > 0 ? ' (± band)' : ''}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
