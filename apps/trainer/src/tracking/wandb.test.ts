import type { Server } from 'node:http';

import { afterEach, describe, expect, it } from 'vitest';

import { fakeWandb, historyRows } from '../__fixtures__/fake-wandb-server.js';
import { Logger, type LogLevel } from '../runtime/logger.js';
import { WandbTracker } from './wandb.js';

function captureLogger(): { logger: Logger; lines: { level: LogLevel; line: string }[] } {
  const lines: { level: LogLevel; line: string }[] = [];
  const logger = new Logger({ level: 'DEBUG', console: { write: (line, level) => lines.push({ level, line }) } });
  return { logger, lines };
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

describe('WandbTracker', () => {
  it('sends the config, every metric, and validation tables with their images to the server', async () => {
    const fake = await fakeWandb();
    server = fake.server;
    const { logger, lines } = captureLogger();
    const tracker = new WandbTracker(logger);
    const started = await tracker.start({ project: 'vlm-grpo-test', entity: null, runName: 'unit', runId: 'run123', baseUrl: fake.base, apiKey: 'k'.repeat(40), config: { training_settings: { learning_rate: 2e-6 } } });
    expect(started).toBe(true);
    tracker.log({ reward: 0.5, kl: 0.01 }, 1);
    tracker.log({ reward: 0.75, kl: 0.02 }, 2);
    const png = new Uint8Array([137, 80, 78, 71, 1, 2, 3]);
    const table = await tracker.uploadTable('validation', ['prompt', 'rewrite', 'reward', 'enhanced_image'], [{ cells: ['a cat', 'a fluffy cat, soft light', 0.61, { png, width: 8, height: 8, caption: 'a cat' }] }], 3);
    tracker.log({ reward: 0.8, validation: table }, 3);
    await tracker.finish();

    const upsert = fake.requests.find((request) => request.url === '/graphql' && request.body.includes('upsertBucket'));
    expect(upsert).toBeDefined();
    expect(upsert!.authorization).toBe(`Basic ${Buffer.from(`api:${'k'.repeat(40)}`).toString('base64')}`);
    const variables = (JSON.parse(upsert!.body) as { variables: Record<string, string> }).variables;
    expect(variables['project']).toBe('vlm-grpo-test');
    expect(variables['name']).toBe('run123');
    expect(JSON.parse(variables['config']!)).toEqual({ training_settings: { learning_rate: 2e-6 } });

    const stream = fake.requests.filter((request) => request.url === '/files/tester/vlm-grpo-test/run123/file_stream');
    const history = historyRows(stream);
    expect(history.map((row) => row['reward']).filter((value) => value !== undefined)).toEqual([0.5, 0.75, 0.8]);
    const tableRow = history.find((row) => row['validation'] !== undefined);
    expect(tableRow?.['validation']).toMatchObject({ _type: 'table-file', ncols: 4, nrows: 1 });
    expect(stream.some((request) => request.body.includes('"complete":true'))).toBe(true);

    const uploads = fake.requests.filter((request) => request.method === 'PUT');
    const tableUpload = uploads.find((request) => request.url.endsWith('.table.json'));
    expect(JSON.parse(tableUpload!.body)).toMatchObject({ columns: ['prompt', 'rewrite', 'reward', 'enhanced_image'], data: [['a cat', 'a fluffy cat, soft light', 0.61, { _type: 'image-file', width: 8, height: 8, format: 'png' }]] });
    expect(uploads.some((request) => request.url.includes('/upload/media/images/') && request.url.endsWith('.png'))).toBe(true);
    expect(lines.filter((line) => line.level === 'WARNING')).toEqual([]);
  });

  it('never throws when the service is unreachable: a warning, and logging goes on as a no-op', async () => {
    const fake = await fakeWandb();
    const base = fake.base;
    await new Promise<void>((resolve) => fake.server.close(() => resolve()));
    const { logger, lines } = captureLogger();
    const tracker = new WandbTracker(logger);
    const started = await tracker.start({ project: 'p', entity: null, runName: null, runId: 'r1', baseUrl: base, apiKey: 'k'.repeat(40), config: {}, initTimeoutSeconds: 10 });
    expect(started).toBe(false);
    tracker.log({ reward: 1 }, 1);
    expect(await tracker.uploadTable('validation', ['prompt'], [{ cells: ['a cat'] }], 1)).toBeUndefined();
    await tracker.finish();
    expect(tracker.enabled).toBe(false);
    expect(lines.some((line) => line.level === 'WARNING' && line.line.includes('W&B: could not start the run'))).toBe(true);
  });

  it('never blocks when the service stops answering: log and uploadTable return at once, one warning, then off; finish is bounded', async () => {
    let stalled = false;
    const fake = await fakeWandb({ answer: (request) => (stalled && (request.method === 'PUT' || request.body.includes('RunUploadUrls')) ? 'stall' : 'ok') });
    server = fake.server;
    const { logger, lines } = captureLogger();
    const tracker = new WandbTracker(logger);
    expect(await tracker.start({ project: 'p', entity: null, runName: null, runId: 'stall1', baseUrl: fake.base, apiKey: 'k'.repeat(40), config: {}, uploadTimeoutSeconds: 0.5, maxConsecutiveFailures: 2, finishTimeoutSeconds: 3 })).toBe(true);
    stalled = true;
    const blocked = <T,>(promise: Promise<T>) => Promise.race([promise.then(() => 'returned' as const), new Promise<'blocked'>((resolve) => setTimeout(() => resolve('blocked'), 400))]);
    for (let step = 1; step <= 3; step++) {
      // Each upload would wait for the stalled server (0.5 s) if it blocked the caller.
      expect(await blocked(tracker.uploadTable('validation', ['prompt'], [{ cells: ['a cat'] }], step))).toBe('returned');
      tracker.log({ reward: step }, step);
    }
    // Two uploads time out in a row: W&B turns itself off.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(tracker.enabled).toBe(false);
    expect(await tracker.uploadTable('validation', ['prompt'], [{ cells: ['a cat'] }], 9)).toBeUndefined();
    expect(await blocked(tracker.finish())).toBe('returned');
    const warnings = lines.filter((line) => line.level === 'WARNING');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.line).toContain('W&B: upload of table validation failed');
    expect(lines.some((line) => line.level === 'INFO' && line.line.includes('W&B logging is off for the rest of this run'))).toBe(true);
  });

  it('keeps at most maxQueue items queued, dropping the oldest history rows', async () => {
    const fake = await fakeWandb();
    server = fake.server;
    const { logger } = captureLogger();
    const tracker = new WandbTracker(logger);
    expect(await tracker.start({ project: 'p', entity: null, runName: null, runId: 'queue1', baseUrl: fake.base, apiKey: 'k'.repeat(40), config: {}, maxQueue: 4 })).toBe(true);
    for (let step = 1; step <= 20; step++) tracker.log({ reward: step }, step);
    expect(tracker.dropped).toBeGreaterThanOrEqual(15);
    await tracker.finish();
    const rewards = historyRows(fake.requests).map((row) => row['reward']);
    expect(rewards.length).toBeLessThanOrEqual(5);
    expect(rewards.at(-1)).toBe(20);
  });

  it('stays off with a warning when no API key is available', async () => {
    const { logger, lines } = captureLogger();
    const saved = process.env['WANDB_API_KEY'];
    delete process.env['WANDB_API_KEY'];
    try {
      const tracker = new WandbTracker(logger);
      expect(await tracker.start({ project: 'p', entity: null, runName: null, runId: 'r', baseUrl: 'http://127.0.0.1:9', config: {} })).toBe(false);
    } finally {
      if (saved !== undefined) process.env['WANDB_API_KEY'] = saved;
    }
    expect(lines.some((line) => line.level === 'WARNING' && line.line.includes('WANDB_API_KEY is not set'))).toBe(true);
  });
});
