/**
 * report.html as a person sees it: rendered by headless Chromium (playwright-core), one screenshot
 * per chart, and every chart must have drawn lines inside its plot (coloured pixels counted in its
 * bounding box). Skipped only where Chromium is absent and this is not CI; CI (`.ci/run`) installs
 * it, so there the test runs or fails.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { describe, expect, it } from 'vitest';

import { trainerMetricsJsonl, validationHistory } from './__fixtures__/report-data.js';
import { parseMetricsJsonl, renderReport } from './report.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
const inCi = Boolean(process.env['CI']);

/** Pixels of a saturated colour (the series palette), not the greys of background, grid and text. */
function colouredPixels(data: Uint8Array, width: number, height: number, channels: number): number {
  let count = 0;
  for (let i = 0; i < width * height; i++) {
    const r = data[i * channels]!;
    const g = data[i * channels + 1]!;
    const b = data[i * channels + 2]!;
    if (Math.max(r, g, b) - Math.min(r, g, b) > 60) count++;
  }
  return count;
}

describe('report.html in headless Chromium', () => {
  it.skipIf(!available && !inCi)('draws every chart: validation from iteration 0 and the trainer\'s nested metrics', { timeout: 120_000 }, async () => {
    expect(available, `Chromium not found at ${CHROMIUM} (CI installs it: .ci/run)`).toBe(true);
    const { chromium } = await import('playwright-core');
    const sharp = (await import('sharp')).default;
    const folder = await mkdtemp(join(tmpdir(), 'report-browser-'));
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const history = await validationHistory();
      const html = renderReport(history, { trainingMetrics: parseMetricsJsonl(trainerMetricsJsonl(6)).records, showContactSheet: false });
      const file = join(folder, 'report.html');
      await writeFile(file, html);
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await page.goto(pathToFileURL(file).href);
      const ids = await page.$$eval('svg.chart[data-chart]', (nodes) => nodes.map((node) => node.getAttribute('data-chart')!));
      for (const id of ['validation-reward', 'validation-rates', 'validation-components', 'validation-text-components', 'validation-length', 'training-reward', 'training-kl', 'training-loss', 'training-clip-ratio', 'training-completion-length', 'training-learning-rate', 'training-grad-norm', 'training-image-rewards', 'training-text-rewards']) {
        expect(ids, id).toContain(id);
      }
      // The validation curves start at iteration 0 (the untrained policy).
      expect(await page.$eval('svg[data-chart="validation-reward"]', (node) => node.innerHTML)).toContain('enhanced mean reward @ 0:');
      await page.screenshot({ path: join(folder, 'report.png'), fullPage: true });
      for (const id of ids) {
        const plot = await page.$(`svg[data-chart="${id}"] rect.plot`);
        expect(plot, id).not.toBeNull();
        const shot = await plot!.screenshot();
        const { data, info } = await sharp(shot).raw().toBuffer({ resolveWithObject: true });
        const coloured = colouredPixels(data, info.width, info.height, info.channels);
        // A line across the plot is a few hundred coloured pixels; markers alone are a few dozen.
        expect(coloured, `${id}: coloured pixels inside the plot`).toBeGreaterThan(150);
      }
    } finally {
      await browser.close();
      await rm(folder, { recursive: true, force: true });
    }
  });
});
