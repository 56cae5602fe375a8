import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CheckpointManager, checkpointFolderName, readLargeFile } from './checkpoints.js';
import { FailureTracker } from './failures.js';
import { Logger, consoleStamp, type LogLevel } from './logger.js';
import { Progress, formatDuration } from './progress.js';
import { RUN_LOCK_FILE, RunLock, ownerIsAlive, processStartTime, type RunLockOwner } from './run-lock.js';
import { StopSignal } from './stop-signal.js';

const fixtures = fileURLToPath(new URL('../__fixtures__/', import.meta.url));

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
    expect(latest?.manifest.files.map((file) => file.path)).toEqual(['policy/weights.bin', 'state.json']);
    expect(latest?.manifest.files[0]).toEqual({ path: 'policy/weights.bin', size: 2, sha256: createHash('sha256').update('w6').digest('hex') });
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

describe('CheckpointManager integrity', () => {
  it('never shows a checkpoint under its final name before it is complete', async () => {
    const manager = new CheckpointManager(folder, { keep: 3 });
    await manager.save(1, 'scheduled', async (target) => writeFile(join(target, 'a'), 'one'));
    let seenDuringWrite: string[] = [];
    await expect(
      manager.save(2, 'scheduled', async (target) => {
        await writeFile(join(target, 'a'), 'partial');
        seenDuringWrite = await readdir(folder);
        throw new Error('killed mid-write');
      }),
    ).rejects.toMatchObject({ code: 'TRAINER_CHECKPOINT_FAILED' });
    // Written into a hidden temporary folder, never into checkpoint_iter_2 itself.
    expect(seenDuringWrite).not.toContain(checkpointFolderName(2));
    expect(seenDuringWrite.some((name) => name.startsWith('.checkpoint_iter_2.tmp-'))).toBe(true);
    expect(await readdir(folder)).toEqual([checkpointFolderName(1)]);
  });

  it('verifies sizes and checksums, and falls back to the newest good checkpoint with a warning naming the bad file', async () => {
    const warnings: string[] = [];
    const logger = new Logger({ console: { write: (line, level) => level === 'WARNING' && warnings.push(line) } });
    const manager = new CheckpointManager(folder, { keep: 3, logger });
    for (const iteration of [1, 2, 3]) {
      await manager.save(iteration, 'scheduled', async (target) => {
        await writeFile(join(target, 'state.json'), JSON.stringify({ iteration }));
        await mkdir(join(target, 'policy'));
        await writeFile(join(target, 'policy', 'weights.bin'), Buffer.alloc(64, iteration));
      });
    }
    const [first, second, third] = await manager.list();
    expect(await manager.verify(third!)).toEqual({ ok: true });
    // Same size, one byte flipped: only the checksum can tell.
    const weights = join(third!.path, 'policy', 'weights.bin');
    const bytes = await readFile(weights);
    bytes[10] ^= 0xff;
    await writeFile(weights, bytes);
    expect(await manager.verify(third!)).toMatchObject({ ok: false, file: weights, problem: expect.stringContaining('SHA-256') });
    // Truncated state in the one before.
    await writeFile(join(second!.path, 'state.json'), '{"itera');
    expect(await manager.verify(second!)).toMatchObject({ ok: false, problem: expect.stringContaining('bytes, the manifest says') });
    const chosen = await manager.latestVerified();
    expect(chosen?.path).toBe(first!.path);
    expect(warnings[0]).toContain(`checkpoint ${third!.path} is damaged (${weights}: SHA-256`);
    expect(warnings[0]).toContain(`falling back to the previous one, ${second!.path}`);
    expect(warnings[1]).toContain(join(second!.path, 'state.json'));
    await rm(join(first!.path, 'state.json'));
    expect(await manager.latestVerified()).toBeUndefined();
    expect(warnings.at(-1)).toContain('state.json: missing); no earlier checkpoint is left');
  });
});

describe('readLargeFile (GRPO states over 2 GiB)', () => {
  it('reads a file in chunks into one array, exactly', async () => {
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7 + 3) % 256);
    const file = join(folder, 'state.bin');
    await writeFile(file, bytes);
    for (const chunkBytes of [7, 64, 999, 1000, 4096]) expect(await readLargeFile(file, { chunkBytes })).toEqual(bytes);
    expect(await readLargeFile(join(folder, 'state.bin'))).toEqual(bytes);
    await writeFile(join(folder, 'empty.bin'), new Uint8Array(0));
    expect((await readLargeFile(join(folder, 'empty.bin'))).length).toBe(0);
  });

  it('names the file, its size and the limit when one array cannot hold it', async () => {
    const file = join(folder, 'big.bin');
    await writeFile(file, new Uint8Array(100));
    await expect(readLargeFile(file, { maxBytes: 99 })).rejects.toThrow(`${file}: 100 bytes, more than one array holds in this Node.js (99 bytes)`);
  });
});

describe('RunLock', () => {
  const holder = (directory: string) => {
    const child = spawn(process.execPath, ['--conditions=@vlm-grpo/source', '--import', join(fixtures, 'ts-register.mjs'), join(fixtures, 'lock-holder.mjs'), directory], { stdio: ['ignore', 'pipe', 'inherit'] });
    const firstLine = new Promise<string>((resolve) => {
      let text = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        if (text.includes('\n')) resolve(text.trim());
      });
      child.once('exit', () => resolve(text.trim()));
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return { child, firstLine, exited };
  };

  it('refuses a second live process naming the pid that holds the folder, and takes over the lock of a killed one with a warning', async () => {
    const first = holder(folder);
    expect(await first.firstLine).toBe(`locked ${first.child.pid}`);
    const onDisk = JSON.parse(await readFile(join(folder, RUN_LOCK_FILE), 'utf8')) as RunLockOwner;
    expect(onDisk).toMatchObject({ pid: first.child.pid, hostname: hostname(), purpose: 'test' });

    // A second process is refused while the first one lives.
    const second = holder(folder);
    const refused = await second.firstLine;
    expect(refused).toMatch(new RegExp(`^refused .* is in use by a running training process: pid ${first.child.pid} on ${hostname()}`, 'u'));
    await second.exited;
    // So is this process.
    await expect(RunLock.acquire(folder)).rejects.toThrow(`pid ${first.child.pid}`);

    // The holder dies without releasing (SIGKILL): its lock is stale and is taken over.
    first.child.kill('SIGKILL');
    await first.exited;
    const warnings: string[] = [];
    const logger = new Logger({ console: { write: (line, level) => level === 'WARNING' && warnings.push(line) } });
    const lock = await RunLock.acquire(folder, { logger });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`its owner pid ${first.child.pid} on ${hostname()} (test, since ${onDisk.startedAt}) is not running`);
    expect(JSON.parse(await readFile(join(folder, RUN_LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, token: lock.owner.token });
    // A new process is refused by this live one, then gets it once released.
    const third = holder(folder);
    expect(await third.firstLine).toContain(`pid ${process.pid}`);
    await lock.release();
    expect(await readdir(folder)).toEqual([]);
    const fourth = holder(folder);
    expect(await fourth.firstLine).toBe(`locked ${fourth.child.pid}`);
    fourth.child.kill('SIGKILL');
    await fourth.exited;
  }, 60_000);

  it('treats a lock whose pid now runs another process (pid reuse) as stale', async () => {
    const reused: RunLockOwner = { pid: process.pid, hostname: hostname(), startedAt: '2020-01-01T00:00:00.000Z', processStart: '1', token: 'old', purpose: 'train' };
    await writeFile(join(folder, RUN_LOCK_FILE), JSON.stringify(reused));
    expect(ownerIsAlive(reused)).toBe(processStartTime(process.pid) === null);
    if (processStartTime(process.pid) !== null) {
      const lock = await RunLock.acquire(folder);
      await lock.release();
    }
    const elsewhere: RunLockOwner = { ...reused, hostname: `${hostname()}-other` };
    await writeFile(join(folder, RUN_LOCK_FILE), JSON.stringify(elsewhere));
    await expect(RunLock.acquire(folder)).rejects.toThrow(`another machine: its liveness cannot be checked from ${hostname()}. If that process is gone, delete ${join(folder, RUN_LOCK_FILE)}`);
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

describe('StopSignal behind a wrapper (npx nx run)', () => {
  it("takes the terminal's SIGINT and the wrapper's SIGTERM as one stop, and survives a closed console", () => {
    const exits: number[] = [];
    const lines: string[] = [];
    const logger = new Logger({ level: 'DEBUG', console: { write: (line) => lines.push(line) } });
    logger.attachFile(join(folder, 'run.log'));
    const stop = new StopSignal({ logger, exit: (code) => exits.push(code) }).install(['SIGINT', 'SIGTERM']);
    try {
      process.emit('SIGINT', 'SIGINT');
      process.emit('SIGTERM', 'SIGTERM');
      expect(exits).toEqual([]);
      expect(stop.reason).toBe('SIGINT');
      expect(lines[0]).toContain(`every message is also in ${join(folder, 'run.log')}`);
      // Nx closes the pipes: a write error on the console must not end the run.
      expect(() => process.stdout.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))).not.toThrow();
      expect(() => process.stderr.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))).not.toThrow();
      process.emit('SIGINT', 'SIGINT');
      expect(exits).toEqual([130]);
    } finally {
      stop.uninstall();
    }
    expect(process.stdout.listenerCount('error')).toBe(0);
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
