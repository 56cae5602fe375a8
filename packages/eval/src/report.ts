/**
 * The HTML report (`report.html`): one self-contained page a person opens in a browser.
 *
 * - Validation curves over iterations (inline SVG; the trainer validates at iteration 0, before the
 *   first update, so the curves start from the untrained policy): original vs enhanced mean
 *   reward, win / success / improvement / fallback rates, image reward components and 0–1 text
 *   rewards on separate axes (enhanced solid, original dashed), rewrite length.
 * - Training metrics from `metrics.jsonl` (the trainer nests them under `metrics`, TRL's names):
 *   reward mean ± std, KL, loss, clip ratios, completion length, learning rate, grad norm, image
 *   reward components and text rewards (separate axes), then any other numeric metric.
 * - Coinciding lines stay distinguishable (dash pattern and marker shape per series).
 * - The latest validation: summary, per-category and per-difficulty tables, sample rewrites (the
 *   largest gains and the largest losses), failures, and the contact sheet when one was written.
 * - Every piece of text is HTML-escaped; the page has no scripts and references no network asset
 *   (a Content-Security-Policy meta tag forbids them; the only image is the local contact sheet).
 *
 * `renderReport` is pure: same input, same string (the time shown comes from `options.generatedAt`).
 */
import type { GroupRow, ValidationItem, ValidationResult } from './validation-result.js';
import { lineChart, type ChartSeries } from './svg-chart.js';
import { escapeHtml, formatNumber, formatPercent, formatSigned } from './text.js';

/** One training-metrics record, e.g. a parsed line of `metrics.jsonl`. Non-numeric fields are ignored. */
export type TrainingMetricsRecord = Readonly<Record<string, unknown>>;

/** Options of {@link renderReport}. */
export interface ReportOptions {
  /** Page title (default: `vlm-grpo validation report`). */
  title?: string;
  /** Training metrics to chart (default: none). */
  trainingMetrics?: readonly TrainingMetricsRecord[];
  /** x key of the training metrics (default: the first of `iteration`, `step`, `global_step` present). */
  trainingStepKey?: string;
  /** Training metric keys to chart, one chart each, instead of the standard set (default: the standard set, then every other numeric key). */
  trainingKeys?: readonly string[];
  /** Most charts of training metrics outside the standard set (reward, KL, loss, clip ratios, completion length, learning rate, grad norm, reward components) (default: 12). */
  maxTrainingCharts?: number;
  /** Reward functions charted on the 0–1 text-reward axis; other `rewards/<name>/mean` are image components (default: {@link TEXT_REWARD_NAMES}). */
  textRewardNames?: readonly string[];
  /** Rewrites shown for the latest validation: half largest gains, half largest losses (default: 12). */
  sampleCount?: number;
  /** Show the latest contact sheet with an `<img>` (relative path from the result) (default: true). */
  showContactSheet?: boolean;
  /** Text shown as the generation time (default: the latest result's `created_at`). */
  generatedAt?: string;
}

const STEP_KEYS = ['iteration', 'step', 'global_step'] as const;

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px;color:#1f2328;background:#fff;max-width:1400px}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.25em;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.meta{color:#57606a;margin:0 0 12px}
table{border-collapse:collapse;margin:8px 0;font-size:0.92em}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{border:1px solid #d0d7de;border-radius:6px;background:#fff}
.chart .plot{fill:#fbfbfc;stroke:#d0d7de}.chart .grid{stroke:#eaeef2}.chart .tick,.chart .legend,.chart .axis-label{font-size:11px;fill:#57606a}
.chart .chart-title{font-size:13px;font-weight:600;fill:#1f2328}
.win{color:#1a7f37}.loss{color:#cf222e}.tie{color:#57606a}.rewrite{max-width:620px}.prompt{max-width:320px}
.empty{color:#57606a;font-style:italic}img.sheet{max-width:100%;border:1px solid #d0d7de}
`;

/** Sort by iteration; for a repeated iteration keep the last one given. */
function orderHistory(history: readonly ValidationResult[]): ValidationResult[] {
  const byIteration = new Map<number, ValidationResult>();
  for (const result of history) byIteration.set(result.iteration, result);
  return [...byIteration.values()].sort((a, b) => a.iteration - b.iteration);
}

function td(value: string, numeric = false, className = ''): string {
  const classes = [numeric ? 'num' : '', className].filter(Boolean).join(' ');
  return `<td${classes ? ` class="${classes}"` : ''}>${value}</td>`;
}

function table(headers: readonly string[], rows: readonly string[][]): string {
  const head = `<tr>${headers.map((header) => `<th>${escapeHtml(header)}</th>`).join('')}</tr>`;
  return `<table>\n<thead>${head}</thead>\n<tbody>\n${rows.map((cells) => `<tr>${cells.join('')}</tr>`).join('\n')}\n</tbody>\n</table>`;
}

function groupTable(title: string, rows: readonly GroupRow[]): string {
  if (rows.length === 0) return '';
  return `<h3>${escapeHtml(title)}</h3>\n${table(
    [title.split(' ')[1] ?? 'group', 'evaluated', 'failed', 'original mean', 'enhanced mean', 'mean Δ', 'win rate', 'success rate', 'improvement rate'],
    rows.map((row) => [
      td(escapeHtml(row.key)),
      td(String(row.count), true),
      td(String(row.failed), true),
      td(formatNumber(row.original_mean), true),
      td(formatNumber(row.enhanced_mean), true),
      td(formatSigned(row.mean_improvement), true),
      td(formatPercent(row.win_rate), true),
      td(formatPercent(row.success_rate), true),
      td(formatPercent(row.improvement_rate), true),
    ]),
  )}`;
}

function isLocalPath(path: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:/iu.test(path) && !path.startsWith('//') && !path.startsWith('\\\\');
}

function validationCharts(history: readonly ValidationResult[], textRewardNames: readonly string[]): string {
  const points = (pick: (result: ValidationResult) => number | null) =>
    history.flatMap((result) => {
      const value = pick(result);
      return value === null ? [] : [[result.iteration, value] as const];
    });
  const charts = [
    lineChart(
      [
        { name: 'enhanced mean reward', points: points((result) => result.metrics.enhanced.reward.mean) },
        { name: 'original mean reward', points: points((result) => result.metrics.original.reward.mean), dashed: true },
      ],
      { title: 'Validation reward (mean over prompts)', id: 'validation-reward' },
    ),
    lineChart(
      [
        { name: 'win rate', points: points((result) => result.metrics.win_rate) },
        { name: 'success rate', points: points((result) => result.metrics.success_rate) },
        { name: 'improvement rate', points: points((result) => result.metrics.improvement_rate) },
        { name: 'fallback rate', points: points((result) => result.metrics.fallback_rate), dashed: true },
      ],
      { title: 'Rates (enhanced vs original)', id: 'validation-rates', yDomain: [0, 1] },
    ),
  ];
  const componentNames = [...new Set(history.flatMap((result) => [...Object.keys(result.metrics.enhanced.components), ...Object.keys(result.metrics.original.components)]))].sort();
  const textNames = new Set<string>(textRewardNames);
  const componentChart = (names: string[], title: string, id: string, yDomain?: readonly [number, number]) => {
    if (names.length === 0) return;
    const series: ChartSeries[] = [];
    names.forEach((name, index) => {
      const color = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'][index % 6]!;
      series.push({ name: `${name} (enhanced)`, color, points: points((result) => result.metrics.enhanced.components[name]?.mean ?? null) });
      series.push({ name: `${name} (original)`, color, dashed: true, points: points((result) => result.metrics.original.components[name]?.mean ?? null) });
    });
    charts.push(lineChart(series, { title, id, ...(yDomain ? { yDomain } : {}) }));
  };
  componentChart(componentNames.filter((name) => !textNames.has(name)), 'Image reward components (mean)', 'validation-components');
  componentChart(componentNames.filter((name) => textNames.has(name)), 'Text rewards (0–1, mean)', 'validation-text-components', [0, 1]);
  charts.push(
    lineChart(
      [
        { name: 'rewrite words (mean)', points: points((result) => result.metrics.rewrite_words.mean) },
        { name: 'rewrite words (median)', points: points((result) => result.metrics.rewrite_words.median), dashed: true },
        { name: 'original words (mean)', points: points((result) => result.metrics.original_words.mean) },
      ],
      { title: 'Rewrite length (words)', id: 'validation-length' },
    ),
  );
  return `<div class="charts">\n${charts.join('\n')}\n</div>`;
}

const numeric = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/**
 * One metrics record as flat numbers: top-level numbers, the trainer's nested `metrics.*` (TRL
 * names: `reward`, `kl`, `loss`, `clip_ratio/low_mean`, `rewards/<name>/mean`, …),
 * `timings_s.*` as `time/<stage>` and `samples.failed` as `samples/failed`.
 */
export function flattenMetricsRecord(record: TrainingMetricsRecord): Record<string, number> {
  const flat: Record<string, number> = {};
  for (const [key, value] of Object.entries(record)) {
    if (numeric(value)) flat[key] = value;
    else if (key === 'metrics' && typeof value === 'object' && value !== null) {
      for (const [name, inner] of Object.entries(value)) if (numeric(inner)) flat[name] = inner;
    } else if (key === 'timings_s' && typeof value === 'object' && value !== null) {
      for (const [name, inner] of Object.entries(value)) if (numeric(inner)) flat[`time/${name}`] = inner;
    } else if (key === 'samples' && typeof value === 'object' && value !== null && numeric((value as Record<string, unknown>)['failed'])) {
      flat['samples/failed'] = (value as Record<string, number>)['failed']!;
    }
  }
  return flat;
}

/** Text reward functions of the trainer, in [0, 1] (charted on their own 0–1 axis). */
export const TEXT_REWARD_NAMES = ['length_in_range', 'subject_kept'] as const;

function trainingCharts(records: readonly TrainingMetricsRecord[], options: ReportOptions): string {
  if (records.length === 0) return '';
  const flat = records.map(flattenMetricsRecord);
  const stepKey = options.trainingStepKey ?? STEP_KEYS.find((key) => flat.some((record) => numeric(record[key])));
  const series = (key: string) =>
    flat.flatMap((record, position) => {
      const x = stepKey === undefined ? position : record[stepKey];
      const y = record[key];
      return numeric(x) && numeric(y) ? [[x, y] as const] : [];
    });
  const has = (key: string) => flat.some((record) => numeric(record[key]));
  const size = { width: 420, height: 240, xLabel: stepKey ?? 'record' };
  const charts: string[] = [];
  const used = new Set<string>(stepKey === undefined ? [] : [stepKey]);
  const chart = (id: string, title: string, keys: readonly (string | ChartSeries)[], extra: { yDomain?: readonly [number, number] } = {}) => {
    const lines = keys.flatMap((entry) => {
      if (typeof entry !== 'string') return [entry];
      if (!has(entry)) return [];
      used.add(entry);
      return [{ name: entry, points: series(entry) }];
    });
    if (lines.length > 0) charts.push(lineChart(lines, { title, id: `training-${id}`, ...size, ...extra }));
  };

  if (options.trainingKeys) {
    for (const key of options.trainingKeys) chart(key, key, [key]);
  } else {
    // Reward: mean with a ± std band (TRL's `reward` and `reward_std`).
    if (has('reward')) {
      used.add('reward').add('reward_std');
      const band = flat.flatMap((record, position) => {
        const x = stepKey === undefined ? position : record[stepKey];
        const mean = record['reward'];
        const std = record['reward_std'] ?? 0;
        return numeric(x) && numeric(mean) && numeric(std) ? [[x, mean - std, mean + std] as const] : [];
      });
      chart('reward', 'Reward (mean ± std over the batch)', [{ name: 'reward', points: series('reward'), band }]);
    }
    chart('kl', 'KL to the reference policy', ['kl']);
    chart('loss', 'Loss', has('loss') ? ['loss'] : ['policy_loss']);
    chart('clip-ratio', 'Clip ratios (fraction of tokens clipped)', ['clip_ratio/low_mean', 'clip_ratio/high_mean', 'clip_ratio/region_mean', 'clip_ratio/low_min', 'clip_ratio/high_max'], { yDomain: [0, 1] });
    chart('completion-length', 'Completion length (tokens)', ['completions/mean_length', 'completions/min_length', 'completions/max_length', 'completions/mean_terminated_length']);
    chart('learning-rate', 'Learning rate', ['learning_rate']);
    chart('grad-norm', 'Gradient norm (before clipping)', ['grad_norm']);
    const textNames = new Set<string>(options.textRewardNames ?? TEXT_REWARD_NAMES);
    const components = [...new Set(flat.flatMap((record) => Object.keys(record)))].flatMap((key) => {
      const match = /^rewards\/(.+)\/mean$/u.exec(key);
      return match ? [match[1]!] : [];
    });
    const image = components.filter((name) => !textNames.has(name));
    const text = components.filter((name) => textNames.has(name));
    chart('image-rewards', 'Image reward components (unweighted mean)', image.map((name) => `rewards/${name}/mean`));
    chart('text-rewards', 'Text rewards (0–1, unweighted mean)', text.map((name) => `rewards/${name}/mean`), { yDomain: [0, 1] });
    for (const name of components) for (const suffix of ['std', 'null_count', 'invalid_count']) used.add(`rewards/${name}/${suffix}`);
    // Everything else, one chart per metric, up to the limit.
    const rest = [...new Set(flat.flatMap((record) => Object.keys(record)))].filter((key) => !used.has(key) && key !== 'step');
    const limit = options.maxTrainingCharts ?? 12;
    for (const key of rest.slice(0, limit)) chart(key.replace(/[^\w-]+/gu, '-'), key, [key]);
    if (rest.length > limit) charts.push(`<p class="meta">${rest.length - limit} more training metric(s) not drawn (maxTrainingCharts ${limit}).</p>`);
  }
  return `<h2>Training metrics</h2>\n<div class="charts">\n${charts.filter((c) => !c.startsWith('<p class="meta">')).join('\n')}\n</div>\n${charts.filter((c) => c.startsWith('<p class="meta">')).join('\n')}`;
}

function summaryTable(result: ValidationResult): string {
  const m = result.metrics;
  const row = (name: string, original: string, enhanced: string) => [td(escapeHtml(name)), td(original, true), td(enhanced, true)];
  const components = Object.keys({ ...m.original.components, ...m.enhanced.components })
    .sort()
    .map((name) => row(`component: ${name}`, formatNumber(m.original.components[name]?.mean), formatNumber(m.enhanced.components[name]?.mean)));
  const words = (summary: typeof m.rewrite_words) =>
    summary.count === 0 ? '—' : `${formatNumber(summary.mean, 1)} (median ${formatNumber(summary.median, 1)}, ${summary.min}–${summary.max})`;
  return table(['metric', 'original', 'enhanced'], [
    row('mean reward', formatNumber(m.original.reward.mean), formatNumber(m.enhanced.reward.mean)),
    row('reward std', formatNumber(m.original.reward.std), formatNumber(m.enhanced.reward.std)),
    ...components,
    row(`success rate (reward > ${result.settings.success_threshold})`, formatPercent(m.original.success_rate), formatPercent(m.enhanced.success_rate)),
    row('words', words(m.original_words), words(m.rewrite_words)),
  ]) + table(['comparison', 'value'], [
    [td('mean improvement (enhanced − original)'), td(formatSigned(m.mean_improvement), true)],
    [td('win rate ((wins + ½ ties) / n)'), td(`${formatPercent(m.win_rate)} (${m.wins} W / ${m.ties} T / ${m.losses} L)`, true)],
    [td(escapeHtml(`improvement rate (Δ > ${result.settings.improvement_margin})`)), td(formatPercent(m.improvement_rate), true)],
    [td('fallback rate'), td(`${formatPercent(m.fallback_rate)} (${m.fallback_count})`, true)],
    [td('prompts evaluated / failed'), td(`${result.counts.evaluated} / ${result.counts.failed}`, true)],
  ]);
}

function sampleRewrites(items: readonly ValidationItem[], count: number): string {
  const evaluated = items.filter((item) => item.status === 'ok');
  if (evaluated.length === 0 || count <= 0) return '<p class="empty">No evaluated prompt.</p>';
  const sorted = [...evaluated].sort((a, b) => b.improvement - a.improvement || a.index - b.index);
  const chosen = sorted.length <= count ? sorted : [...sorted.slice(0, Math.ceil(count / 2)), ...sorted.slice(sorted.length - Math.floor(count / 2))];
  return table(
    ['#', 'category', 'difficulty', 'original prompt', 'rewrite', 'original', 'enhanced', 'Δ', 'outcome'],
    chosen.map((item) => [
      td(String(item.index), true),
      td(escapeHtml(item.category)),
      td(escapeHtml(item.difficulty)),
      td(escapeHtml(item.user_prompt), false, 'prompt'),
      td(escapeHtml(item.enhanced_prompt) + (item.fallback.used ? ` <em>(fallback${item.fallback.reason ? `: ${escapeHtml(item.fallback.reason)}` : ''})</em>` : ''), false, 'rewrite'),
      td(formatNumber(item.original.total), true),
      td(formatNumber(item.enhanced.total), true),
      td(formatSigned(item.improvement), true),
      td(item.outcome, false, item.outcome),
    ]),
  );
}

function failuresTable(items: readonly ValidationItem[]): string {
  const failed = items.filter((item) => item.status === 'failed');
  if (failed.length === 0) return '';
  return `<h3>Failures (${failed.length}, excluded from the metrics)</h3>\n${table(
    ['#', 'prompt', 'stage', 'error'],
    failed.map((item) => [td(String(item.index), true), td(escapeHtml(item.user_prompt), false, 'prompt'), td(escapeHtml(item.side ? `${item.stage} (${item.side})` : item.stage)), td(escapeHtml(item.error))]),
  )}`;
}

function historyTable(history: readonly ValidationResult[]): string {
  return table(
    ['iteration', 'evaluated', 'failed', 'original mean', 'enhanced mean', 'mean Δ', 'win rate', 'success rate', 'improvement rate', 'fallback rate', 'rewrite words'],
    [...history].reverse().map((result) => [
      td(String(result.iteration), true),
      td(String(result.counts.evaluated), true),
      td(String(result.counts.failed), true),
      td(formatNumber(result.metrics.original.reward.mean), true),
      td(formatNumber(result.metrics.enhanced.reward.mean), true),
      td(formatSigned(result.metrics.mean_improvement), true),
      td(formatPercent(result.metrics.win_rate), true),
      td(formatPercent(result.metrics.success_rate), true),
      td(formatPercent(result.metrics.improvement_rate), true),
      td(formatPercent(result.metrics.fallback_rate), true),
      td(formatNumber(result.metrics.rewrite_words.mean, 1), true),
    ]),
  );
}

/**
 * Render the HTML report of a run from its validation results (any order; one per iteration, the
 * last given wins) and optional training metrics. Pure function.
 */
export function renderReport(history: readonly ValidationResult[], options: ReportOptions = {}): string {
  const title = options.title ?? 'vlm-grpo validation report';
  const ordered = orderHistory(history);
  const latest = ordered.at(-1);
  const generated = options.generatedAt ?? latest?.created_at;
  const sections: string[] = [];
  sections.push(`<h1>${escapeHtml(title)}</h1>`);
  sections.push(
    `<p class="meta">${ordered.length} validation${ordered.length === 1 ? '' : 's'}${latest ? `, latest at iteration ${latest.iteration}` : ''}${generated ? ` · ${escapeHtml(generated)}` : ''}</p>`,
  );
  sections.push('<h2>Validation curves</h2>');
  sections.push(ordered.length > 0 ? validationCharts(ordered, options.textRewardNames ?? TEXT_REWARD_NAMES) : '<p class="empty">No validation yet.</p>');
  sections.push(trainingCharts(options.trainingMetrics ?? [], options));
  if (latest) {
    sections.push(`<h2>Latest validation (iteration ${latest.iteration})</h2>`);
    sections.push(
      `<p class="meta">seed ${latest.seed} · ${latest.settings.images_per_prompt} image(s) per prompt · ties within ${latest.settings.tie_tolerance} · success threshold ${latest.settings.success_threshold} · improvement margin ${latest.settings.improvement_margin}</p>`,
    );
    sections.push(summaryTable(latest));
    sections.push(groupTable('Per category', latest.metrics.by_category));
    sections.push(groupTable('Per difficulty', latest.metrics.by_difficulty));
    sections.push(`<h3>Sample rewrites (largest gains, then largest losses)</h3>\n${sampleRewrites(latest.items, options.sampleCount ?? 12)}`);
    sections.push(failuresTable(latest.items));
    const sheet = latest.files.contact_sheet;
    if ((options.showContactSheet ?? true) && sheet && isLocalPath(sheet)) {
      sections.push(`<h3>Contact sheet</h3>\n<p><img class="sheet" src="${escapeHtml(sheet.split('\\').join('/'))}" alt="${escapeHtml(`contact sheet of iteration ${latest.iteration}`)}"></p>`);
    }
    sections.push('<h2>All validations</h2>');
    sections.push(historyTable(ordered));
  }
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${sections.filter((section) => section !== '').join('\n')}
</body>
</html>
`;
}

/** Parsed lines of a `metrics.jsonl` text. */
export interface ParsedMetrics {
  /** The JSON objects, in file order. */
  records: TrainingMetricsRecord[];
  /** 1-based numbers of non-blank lines that are not JSON objects (e.g. a torn last line). */
  invalidLines: number[];
}

/** Parse `metrics.jsonl` text: one JSON object per line; blank lines skipped, bad lines listed. */
export function parseMetricsJsonl(text: string): ParsedMetrics {
  const records: TrainingMetricsRecord[] = [];
  const invalidLines: number[] = [];
  text.split(/\r?\n/u).forEach((line, index) => {
    if (line.trim() === '') return;
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) records.push(value as TrainingMetricsRecord);
      else invalidLines.push(index + 1);
    } catch {
      invalidLines.push(index + 1);
    }
  });
  return { records, invalidLines };
}
