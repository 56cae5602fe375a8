import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CheckpointManager, checkpointFolderName } from './checkpoints.js';
import { FailureTracker } from './failures.js';
import { Logger, consoleStamp, type LogLevel } from './logger.js';
import { Progress, formatDuration } from './progress.js';
import { StopSignal } from './stop-signal.js';

let folder: string;
beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-grpo-runtime-'));
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

const fixedClock = () => new Date('2026-01-02T03:04:05.000Z');

describe('Logger', () => {
  it('filters by level, prefixes time and level, and writes earlier lines once the file opens', async () => {
    const lines: [LogLevel, string][] = [];
    const logger = new Logger({ level: 'INFO', console: { write: (line, level) => lines.push([level, line]) }, now: fixedClock });
    logger.debug('hidden');
    logger.info('before the file');
    logger.attachFile(join(folder, 'run', 'vlm_grpo_training.log'));
    logger.warning('two\nlines');
    logger.level = 'DEBUG';
    logger.debug('now shown');
    logger.error('bad');
    expect(lines.map(([level]) => level)).toEqual(['INFO', 'WARNING', 'DEBUG', 'ERROR']);
    // the console's short stamp: local time, the level only when it is not INFO
    const t = consoleStamp(fixedClock(), 'INFO');
    expect(t).toMatch(/^\d\d:\d\d:05$/u);
    expect(lines.map(([, line]) => line)).toEqual([`${t} before the file\n`, `${t} WARNING two\n${t} WARNING lines\n`, `${t} DEBUG now shown\n`, `${t} ERROR bad\n`]);
    const file = await readFile(join(folder, 'run', 'vlm_grpo_training.log'), 'utf8');
    expect(file).toBe(
      [
        '2026-01-02T03:04:05.000Z INFO before the file',
        '2026-01-02T03:04:05.000Z WARNING two',
        '2026-01-02T03:04:05.000Z WARNING lines',
        '2026-01-02T03:04:05.000Z DEBUG now shown',
        '2026-01-02T03:04:05.000Z ERROR bad',
        '',
      ].join('\n'),
    );
  });
});

describe('Progress', () => {
  it('draws a bar with ETA, reward and KL on a TTY, clearing it around log lines', () => {
    let now = 0;
    const written: string[] = [];
    const logger = new Logger({ console: { write: (line) => written.push(`LOG:${line}`) }, now: fixedClock });
    const progress = new Progress({ total: 4, mode: 'auto', stream: { isTTY: true, columns: 100, write: (text: string) => written.push(text) }, logger, now: () => now });
    now = 10_000;
    progress.tick(1, { reward: 0.4123, kl: 0.00311 });
    expect(progress.line()).toBe('iter 1/4 [=======>                      ] 25% ETA 30s reward 0.412 kl 0.0031');
    logger.info('hello');
    expect(written.slice(-3)).toEqual(['\r\u001b[2K', `LOG:${consoleStamp(fixedClock(), 'INFO')} hello\n`, `\r\u001b[2K${progress.line()}`]);
    progress.finish();
  });

  it('prints plain log lines when not on a TTY, and accounts for resumed iterations in the ETA', () => {
    let now = 0;
    const logged: string[] = [];
    const logger = new Logger({ console: { write: (line) => logged.push(line) }, now: fixedClock });
    const progress = new Progress({ total: 10, start: 6, stream: { isTTY: false, write: () => true }, logger, now: () => now });
    expect(progress.bar).toBe(false);
    now = 4_000;
    progress.tick(8, { reward: 1, kl: undefined });
    expect(logged).toEqual([`${consoleStamp(fixedClock(), 'INFO')} iter 8/10 [=======================>      ] 80% ETA 4s reward 1.000 kl -\n`]);
    expect(formatDuration(3725)).toBe('1h02m');
    expect(formatDuration(185)).toBe('3m05s');
    expect(formatDuration(Number.NaN)).toBe('?');
  });
});

describe('CheckpointManager', () => {
  it('writes folders atomically, keeps the last M, and finds the latest', async () => {
    const manager = new CheckpointManager(folder, { keep: 2 });
    for (const iteration of [2, 4, 6]) {
      await manager.save(iteration, 'scheduled', async (target) => {
        await mkdir(join(target, 'policy'));
        await writeFile(join(target, 'policy', 'weights.bin'), `w${iteration}`);
        await writeFile(join(target, 'state.json'), '{}');
      });
    }
    expect((await readdir(folder)).sort()).toEqual([checkpointFolderName(4), checkpointFolderName(6)]);
    const latest = await manager.latest();
    expect(latest?.iteration).toBe(6);
    expect(latest?.manifest.files).toEqual(['policy/weights.bin', 'state.json']);
    expect(await readFile(join(latest!.path, 'policy', 'weights.bin'), 'utf8')).toBe('w6');
  });

  it('leaves earlier checkpoints intact when a write fails, ignores folders without a manifest, and cleans leftovers', async () => {
    const manager = new CheckpointManager(folder, { keep: 3 });
    await manager.save(1, 'scheduled', async (target) => writeFile(join(target, 'a'), 'one'));
    await expect(manager.save(2, 'signal', async (target) => {
      await writeFile(join(target, 'a'), 'partial');
      throw new Error('disk full');
    })).rejects.toMatchObject({ code: 'TRAINER_CHECKPOINT_FAILED' });
    await mkdir(join(folder, checkpointFolderName(9)));
    await mkdir(join(folder, '.checkpoint_iter_3.tmp-1-abcd'));
    expect((await manager.list()).map((entry) => entry.iteration)).toEqual([1]);
    await manager.cleanTemporary();
    expect((await readdir(folder)).sort()).toEqual([checkpointFolderName(1), checkpointFolderName(9)]);
    // Re-saving an iteration replaces it.
    await manager.save(1, 'final', async (target) => writeFile(join(target, 'a'), 'again'));
    expect(await readFile(join(folder, checkpointFolderName(1), 'a'), 'utf8')).toBe('again');
    expect((await manager.latest())?.manifest.reason).toBe('final');
  });
});

describe('FailureTracker', () => {
  it('stops only after consecutive iterations above the fraction, and names the causes', () => {
    const tracker = new FailureTracker({ maxFailureFraction: 0.5, maxFailedIterations: 2 });
    const fail = (sample: number) => ({ stage: 'rendering', sample, message: 'NaN image' });
    expect(tracker.record(4, [fail(0), fail(1)])).toMatchObject({ failed: 2, fraction: 0.5, aboveThreshold: false, stop: false });
    expect(tracker.record(4, [fail(0), fail(1), fail(2)])).toMatchObject({ aboveThreshold: true, stop: false });
    expect(tracker.record(4, [])).toMatchObject({ aboveThreshold: false, stop: false });
    expect(tracker.record(4, [fail(0), fail(1), fail(1), fail(3)])).toMatchObject({ failed: 3, stop: false });
    const state = tracker.getState();
    const restored = new FailureTracker({ maxFailureFraction: 0.5, maxFailedIterations: 2 });
    restored.setState(state);
    expect(restored.record(4, [{ stage: 'generation', sample: -1, message: 'policy threw' }])).toMatchObject({ failed: 4, stop: true });
    expect(restored.stopMessage()).toContain('generation: policy threw');
    expect(restored.overallFraction).toBeCloseTo((2 + 3 + 0 + 3 + 4) / 20, 10);
  });
});

describe('StopSignal', () => {
  it('turns the first SIGTERM into a stop request and a second one into an immediate exit', () => {
    const exits: number[] = [];
    const stop = new StopSignal({ exit: (code) => exits.push(code) }).install(['SIGTERM']);
    try {
      process.emit('SIGTERM', 'SIGTERM');
      expect(stop.requested).toBe(true);
      expect(stop.reason).toBe('SIGTERM');
      expect(stop.signal.aborted).toBe(true);
      expect(exits).toEqual([]);
      process.emit('SIGTERM', 'SIGTERM');
      expect(exits).toEqual([130]);
    } finally {
      stop.uninstall();
    }
  });
});
