/**
 * Weights & Biases tracking through @wandb/sdk, isolated so that it can never break a run.
 *
 * The SDK runs in a worker thread: it throws from event listeners when the service answers with
 * an error, installs SIGINT/SIGTERM handlers that call `process.exit`, prints to the console and
 * retries for minutes. Inside a worker, a throw ends the worker only (reported here as a
 * warning), signals stay with the trainer, its console output is captured into the log at DEBUG,
 * and every request to the worker has a time limit. Whatever happens, the trainer's local files
 * are complete.
 *
 * Tracking never blocks training: `log` and `uploadTable` queue their work and return at once
 * (the table reference is computed locally); a background queue of at most `maxQueue` items sends
 * them in order, dropping the oldest rows when the service falls behind. The first failure is one
 * WARNING line (later ones are DEBUG); after `maxConsecutiveFailures` failures in a row W&B is
 * turned off for the rest of the run (one INFO line). `finish` waits at most
 * `finishTimeoutSeconds` in all.
 *
 * What is logged: the resolved configuration (at init), every metric (`log`), and validation
 * tables (prompt, rewrite, rewards, original and enhanced images). The JS SDK streams history
 * only, so tables and images are uploaded the way the Python SDK does it: files under `media/`
 * through the `RunUploadUrls` GraphQL query and an HTTP PUT each, referenced from the history
 * row as `table-file` / `image-file` values.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Worker as WorkerType } from 'node:worker_threads';

import type { Logger } from '../runtime/logger.js';

/** Options of {@link WandbTracker.start}. */
export interface WandbOptions {
  /** Project name. */
  project: string;
  /** Entity (team or user); null uses the account's default. */
  entity: string | null;
  /** Display name of the run; null lets W&B choose. */
  runName: string | null;
  /** Run id (stable across resumes of the same run). */
  runId: string;
  /** Server URL; null uses `WANDB_BASE_URL` or https://api.wandb.ai. */
  baseUrl: string | null;
  /** Configuration logged with the run. */
  config: unknown;
  /** API key (default: `WANDB_API_KEY`). */
  apiKey?: string;
  /** Seconds to wait for the service to accept the run (default: 30). */
  initTimeoutSeconds?: number;
  /** Seconds `finish` waits in all for the queue and the final upload (default: 30). */
  finishTimeoutSeconds?: number;
  /** Seconds one file upload may take (default: 30). */
  uploadTimeoutSeconds?: number;
  /** Most queued items (history rows, table uploads); the oldest rows are dropped beyond it (default: 64). */
  maxQueue?: number;
  /** Failures in a row after which W&B is turned off for the run (default: 3). */
  maxConsecutiveFailures?: number;
}

/** One row of a validation table. */
export interface WandbTableRow {
  /** Cell values: strings and numbers, or `{ png }` for an image cell. */
  cells: Array<string | number | null | { png: Uint8Array; width: number; height: number; caption?: string }>;
}

const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
let run;
let settings;
const post = (message) => parentPort.postMessage(message);
const auth = () => 'Basic ' + Buffer.from('api:' + settings.apiKey).toString('base64');
async function uploadFiles(files) {
  const query = 'query RunUploadUrls($name: String!, $files: [String]!, $entity: String, $run: String!) { model(name: $name, entityName: $entity) { bucket(name: $run) { id files(names: $files) { uploadHeaders edges { node { name url(upload: true) } } } } } }';
  const response = await fetch(settings.baseUrl + '/graphql', {
    signal: AbortSignal.timeout(settings.uploadTimeoutMs),
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: auth() },
    body: JSON.stringify({ query, variables: { name: run.project, entity: run.entity, run: run.id, files: files.map((file) => file.name) } }),
  });
  if (!response.ok) throw new Error('RunUploadUrls: HTTP ' + response.status);
  const body = await response.json();
  const edges = body && body.data && body.data.model && body.data.model.bucket && body.data.model.bucket.files && body.data.model.bucket.files.edges;
  if (!Array.isArray(edges)) throw new Error('RunUploadUrls: unexpected answer ' + JSON.stringify(body).slice(0, 200));
  const headers = {};
  for (const header of (body.data.model.bucket.files.uploadHeaders || [])) {
    const at = header.indexOf(':');
    if (at > 0) headers[header.slice(0, at).trim()] = header.slice(at + 1).trim();
  }
  for (const file of files) {
    const edge = edges.find((candidate) => candidate.node && candidate.node.name === file.name);
    if (!edge) throw new Error('RunUploadUrls: no upload URL for ' + file.name);
    const put = await fetch(edge.node.url, { method: 'PUT', headers, body: file.data, signal: AbortSignal.timeout(settings.uploadTimeoutMs) });
    if (!put.ok) throw new Error('upload of ' + file.name + ': HTTP ' + put.status);
  }
}
parentPort.on('message', async (message) => {
  try {
    if (message.type === 'init') {
      const wandb = (await import(workerData.sdkUrl)).default;
      settings = message.settings;
      const { uploadTimeoutMs, ...sdkSettings } = settings;
      run = await wandb.init({ project: message.project, entity: message.entity || undefined, id: message.runId, name: message.runName || undefined, config: message.config, settings: sdkSettings });
      post({ type: 'ready', id: message.id, url: run.url(), entity: run.entity, project: run.project });
    } else if (message.type === 'log') {
      run.log(message.data, message.step);
      post({ type: 'done', id: message.id });
    } else if (message.type === 'files') {
      await uploadFiles(message.files);
      post({ type: 'done', id: message.id });
    } else if (message.type === 'finish') {
      await run.finish(message.code);
      post({ type: 'done', id: message.id });
    }
  } catch (error) {
    post({ type: 'error', id: message.id, message: error && error.message ? error.message : String(error) });
  }
});
`;

interface Pending {
  resolve: (value: Record<string, unknown>) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Resolve the ESM entry of @wandb/sdk (next to the CommonJS one that `require.resolve` finds). */
function sdkUrl(): string {
  const require = createRequire(import.meta.url);
  return pathToFileURL(join(dirname(require.resolve('@wandb/sdk')), 'index.js')).href;
}

/** W&B tracking for one run; every method is safe to call whatever the service does. */
export class WandbTracker {
  private worker: WorkerType | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private active = false;
  private runUrl: string | undefined;
  private readonly logger: Logger;
  private finishTimeout = 30;
  private maxQueue = 64;
  private maxConsecutiveFailures = 3;
  private queue: Promise<unknown> = Promise.resolve();
  /** Queued items not yet sent, oldest first (each can be cancelled while waiting). */
  private readonly waiting: { kind: 'log' | 'files'; cancelled: boolean }[] = [];
  private consecutiveFailures = 0;
  private warned = false;
  private droppedRows = 0;

  constructor(logger: Logger) {
    this.logger = logger;
  }

  /** True while the run is being tracked. */
  get enabled(): boolean {
    return this.active;
  }

  /** URL of the run on W&B (once started). */
  get url(): string | undefined {
    return this.runUrl;
  }

  /** Start the run. Returns false (with a logged warning) when W&B is unavailable. */
  async start(options: WandbOptions): Promise<boolean> {
    const apiKey = options.apiKey ?? process.env['WANDB_API_KEY'] ?? '';
    if (apiKey === '') {
      this.logger.warning('W&B: tracking.wandb.enabled is true but WANDB_API_KEY is not set; W&B logging is off for this run (local files are complete)');
      return false;
    }
    const baseUrl = (options.baseUrl ?? process.env['WANDB_BASE_URL'] ?? 'https://api.wandb.ai').replace(/\/+$/u, '');
    this.finishTimeout = options.finishTimeoutSeconds ?? 30;
    this.maxQueue = Math.max(1, options.maxQueue ?? 64);
    this.maxConsecutiveFailures = Math.max(1, options.maxConsecutiveFailures ?? 3);
    try {
      const { Worker } = await import('node:worker_threads');
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { sdkUrl: sdkUrl() }, stdout: true, stderr: true });
      this.worker = worker;
      const forward = (chunk: Buffer) => {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') this.logger.debug(`W&B: ${line.trim()}`);
      };
      worker.stdout.on('data', forward);
      worker.stderr.on('data', forward);
      worker.on('message', (message: Record<string, unknown>) => this.onMessage(message));
      worker.on('error', (error) => this.fail(`the W&B worker stopped: ${error.message}`));
      worker.on('exit', (code) => {
        if (this.active) this.fail(`the W&B worker exited with code ${code}`);
      });
      worker.unref();
      const ready = await this.request(
        { type: 'init', project: options.project, entity: options.entity, runId: options.runId, runName: options.runName, config: JSON.parse(JSON.stringify(options.config ?? {})), settings: { apiKey, baseUrl, silent: true, uploadTimeoutMs: (options.uploadTimeoutSeconds ?? 30) * 1000 } },
        options.initTimeoutSeconds ?? 30,
      );
      this.active = true;
      this.runUrl = typeof ready['url'] === 'string' ? ready['url'] : undefined;
      this.logger.info(`W&B: tracking run ${options.runId}${this.runUrl ? ` at ${this.runUrl}` : ''}`);
      return true;
    } catch (error) {
      this.fail(`could not start the run (${(error as Error).message})`);
      return false;
    }
  }

  /**
   * Log the values of `step` (metrics, and tables from {@link uploadTable}); one history row per
   * step. Returns at once: the row is sent in the background.
   */
  log(data: Record<string, unknown>, step: number): void {
    if (!this.active) return;
    this.enqueue('log', () => this.request({ type: 'log', data, step }, 10), `logging step ${step}`);
  }

  /** History rows dropped because the queue was full (the service fell behind). */
  get dropped(): number {
    return this.droppedRows;
  }

  /**
   * Upload a table (with its images) as W&B media files and return the history value that
   * references it (`{ _type: 'table-file', … }`), to be logged with the step's other values.
   * Returns undefined (with a warning) when tracking is off or the upload fails.
   */
  async uploadTable(key: string, columns: readonly string[], rows: readonly WandbTableRow[], step: number, uploadImages = true): Promise<Record<string, unknown> | undefined> {
    if (!this.active) return undefined;
    const files: { name: string; data: Uint8Array }[] = [];
    const safeKey = key.replace(/[^\w-]+/gu, '_');
    const data = rows.map((row, rowIndex) =>
      row.cells.map((cell, columnIndex) => {
        if (cell === null || typeof cell !== 'object') return cell;
        if (!uploadImages) return cell.caption ?? null;
        const digest = sha256(cell.png);
        const path = `media/images/${safeKey}_${step}_${rowIndex}_${columnIndex}_${digest.slice(0, 20)}.png`;
        files.push({ name: path, data: cell.png });
        return { _type: 'image-file', path, sha256: digest, size: cell.png.byteLength, width: cell.width, height: cell.height, format: 'png', ...(cell.caption ? { caption: cell.caption } : {}) };
      }),
    );
    const tableJson = new TextEncoder().encode(JSON.stringify({ columns, data }));
    const digest = sha256(tableJson);
    const tablePath = `media/table/${safeKey}_${step}_${digest.slice(0, 20)}.table.json`;
    files.push({ name: tablePath, data: tableJson });
    // Sent in the background; the reference is known now (W&B shows the table once it arrives).
    if (!this.enqueue('files', () => this.request({ type: 'files', files }, 120), `upload of table ${key}`)) return undefined;
    return { _type: 'table-file', path: tablePath, sha256: digest, size: tableJson.byteLength, ncols: columns.length, nrows: rows.length };
  }

  /** Finish the run: send what is queued and close it, waiting at most the finish timeout in all. */
  async finish(exitCode = 0): Promise<void> {
    if (!this.worker) return;
    const deadline = Date.now() + this.finishTimeout * 1000;
    try {
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), this.finishTimeout * 1000);
        timer.unref();
      });
      const drained = await Promise.race([this.queue.then(() => 'drained' as const), expired]);
      clearTimeout(timer);
      if (drained === 'timeout') throw new Error(`the queue was not sent within ${this.finishTimeout} s`);
      const left = Math.max(1, (deadline - Date.now()) / 1000);
      if (this.active) await this.request({ type: 'finish', code: exitCode }, left);
    } catch (error) {
      if (this.active) this.failure('finishing the run', error);
    }
    this.active = false;
    await this.stopWorker();
  }

  /**
   * Queue `task` behind the others; returns false when tracking is off. When the queue is full,
   * the oldest waiting history row is dropped (table uploads are kept), or this item if none is.
   */
  private enqueue(kind: 'log' | 'files', task: () => Promise<unknown>, what: string): boolean {
    if (!this.active) return false;
    if (this.waiting.filter((item) => !item.cancelled).length >= this.maxQueue) {
      const oldest = this.waiting.find((item) => !item.cancelled && item.kind === 'log');
      if (oldest) oldest.cancelled = true;
      this.droppedRows += 1;
      if (this.droppedRows === 1) this.logger.debug('W&B: the service is behind; dropping the oldest queued history rows (local files are complete)');
      if (!oldest) return false;
    }
    const item = { kind, cancelled: false };
    this.waiting.push(item);
    this.queue = this.queue.then(async () => {
      this.waiting.splice(this.waiting.indexOf(item), 1);
      if (item.cancelled || !this.active) return;
      try {
        await task();
        // Only a network round trip proves the service answers (the SDK queues rows locally).
        if (kind === 'files') this.consecutiveFailures = 0;
      } catch (error) {
        if (this.active) this.failure(what, error);
      }
    });
    return true;
  }

  /** Count a failure: one WARNING for the first, DEBUG after; off after too many in a row. */
  private failure(what: string, error: unknown): void {
    this.consecutiveFailures += 1;
    const reason = `${what} failed (${(error as Error).message})`;
    if (!this.warned) {
      this.warned = true;
      this.logger.warning(`W&B: ${reason}; training goes on, local files are complete (W&B turns itself off after ${this.maxConsecutiveFailures} failures in a row; details at DEBUG)`);
    } else {
      this.logger.debug(`W&B: ${reason}`);
    }
    if (this.consecutiveFailures >= this.maxConsecutiveFailures) {
      this.turnOff(`${this.consecutiveFailures} W&B requests failed in a row`);
    }
  }

  /** Stop tracking for the rest of the run (one INFO line). */
  private turnOff(reason: string): void {
    if (!this.active) return;
    this.active = false;
    this.logger.info(`W&B: ${reason}; W&B logging is off for the rest of this run (local files are complete)`);
    for (const item of this.waiting) item.cancelled = true;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new Error(reason));
      this.pending.delete(id);
    }
    void this.stopWorker();
  }

  private request(message: Record<string, unknown>, timeoutSeconds: number): Promise<Record<string, unknown>> {
    const worker = this.worker;
    if (!worker) return Promise.reject(new Error('no W&B worker'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer within ${timeoutSeconds} s`));
      }, timeoutSeconds * 1000);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      worker.postMessage({ ...message, id });
    });
  }

  private onMessage(message: Record<string, unknown>): void {
    const pending = this.pending.get(message['id'] as number);
    if (!pending) return;
    this.pending.delete(message['id'] as number);
    clearTimeout(pending.timer);
    if (message['type'] === 'error') pending.reject(new Error(String(message['message'])));
    else pending.resolve(message);
  }

  private fail(reason: string): void {
    const wasActive = this.active || this.worker !== undefined;
    this.active = false;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new Error(reason));
      this.pending.delete(id);
    }
    for (const item of this.waiting) item.cancelled = true;
    if (wasActive) {
      const line = `W&B: ${reason}; W&B logging is off for the rest of this run (local files are complete)`;
      if (this.warned) this.logger.info(line);
      else this.logger.warning(line);
      this.warned = true;
    }
    void this.stopWorker();
  }

  private async stopWorker(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate().catch(() => undefined);
  }
}
