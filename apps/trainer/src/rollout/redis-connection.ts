/**
 * Connection options of the rollout queue's Redis (ioredis options, which BullMQ's `Queue`,
 * `Worker` and `QueueEvents` turn into their connections).
 *
 * URL: `rollout_settings.redis_url`, else env `VLM_GRPO_REDIS_URL`, else `redis://127.0.0.1:6379`.
 * `redis://[[user]:password@]host[:port][/db]` authenticates with AUTH; `rediss://` connects over
 * TLS (certificates checked against the system CAs, or `rollout_settings.redis_tls_ca_file`).
 * Connections retry forever with a capped back-off (`maxRetriesPerRequest: null`, which BullMQ
 * workers require), so commands wait while Redis restarts; the callers bound the wait.
 * Passwords never reach logs: {@link redactRedisUrl}.
 */
import { readFileSync } from 'node:fs';

import type { RedisOptions } from 'bullmq';

import type { TrainerConfig } from '../config/config-schema.js';
import { TrainerError } from '../errors.js';

/** Environment variable read when `rollout_settings.redis_url` is null. */
export const REDIS_URL_ENV = 'VLM_GRPO_REDIS_URL';

/** Default Redis URL. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** The Redis URL of a configuration (see the file header). */
export function redisUrlOf(config: TrainerConfig, env: NodeJS.ProcessEnv = process.env): string {
  const url = config.rollout_settings.redis_url ?? env[REDIS_URL_ENV] ?? DEFAULT_REDIS_URL;
  if (!/^rediss?:\/\/[^/]/u.test(url)) {
    const source = config.rollout_settings.redis_url !== null ? 'rollout_settings.redis_url' : REDIS_URL_ENV;
    throw new TrainerError('TRAINER_CONFIG_INVALID', `${source}: expected redis://host:port or rediss://host:port, received "${redactRedisUrl(url)}"`);
  }
  return url;
}

/** The URL with its password replaced by `***`. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/)([^@/]*)@/u, (_, scheme: string, auth: string) => `${scheme}${auth.includes(':') ? `${auth.slice(0, auth.indexOf(':'))}:***` : '***'}@`);
}

/** ioredis options of the rollout connections (`name` shows in `CLIENT LIST`). */
export function redisOptions(config: TrainerConfig, name: string): RedisOptions {
  const caFile = config.rollout_settings.redis_tls_ca_file;
  const url = new URL(redisUrlOf(config));
  let tls: { ca?: Buffer } | undefined;
  if (url.protocol === 'rediss:') {
    if (caFile === null) tls = {};
    else {
      try {
        tls = { ca: readFileSync(caFile) };
      } catch (error) {
        throw new TrainerError('TRAINER_CONFIG_INVALID', `rollout_settings.redis_tls_ca_file: cannot read ${caFile} (${(error as Error).message})`);
      }
    }
  }
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new TrainerError('TRAINER_CONFIG_INVALID', `Redis URL ${redactRedisUrl(url.href)}: the path must be a database number, e.g. /0`);
  const options: RedisOptions = {
    host: url.hostname.replace(/^\[(.*)\]$/u, '$1'),
    port: url.port === '' ? 6379 : Number(url.port),
    db,
    connectionName: name,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
  };
  if (url.username !== '') options.username = decodeURIComponent(url.username);
  if (url.password !== '') options.password = decodeURIComponent(url.password);
  if (tls) options.tls = tls;
  return options;
}

/**
 * Resolve `promise`, or reject with `TRAINER_ROLLOUT_UNAVAILABLE` after `seconds` (what Redis was
 * asked for is named in the message).
 */
export async function withDeadline<T>(promise: Promise<T>, seconds: number, what: string, url: string, lastError?: () => string | undefined): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => {
            const last = lastError?.();
            reject(new TrainerError('TRAINER_ROLLOUT_UNAVAILABLE', `Redis at ${redactRedisUrl(url)} did not answer within ${seconds} s (${what}${last ? `; last error: ${last}` : ''}); rollout_settings.redis_timeout_s bounds the wait`));
          },
          seconds * 1000,
        );
        timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** `promise`'s value, or undefined after `seconds`. */
async function within<T>(promise: Promise<T>, seconds: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise.catch(() => undefined), new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), seconds * 1000)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A BullMQ queue, worker or listener, as far as closing goes. */
export interface Closable {
  close(): Promise<void>;
  disconnect(): Promise<void>;
  /** The ioredis client (BullMQ's `QueueBase#client`). */
  readonly client?: Promise<unknown>;
}

/**
 * Close BullMQ queues, workers or listeners. Those that do not close within `seconds` (Redis
 * gone: a graceful QUIT waits behind commands queued for a reconnect) have their ioredis client
 * disconnected at once, which also stops its reconnecting.
 */
export async function closeWithin(items: ReadonlyArray<Closable>, seconds = 5): Promise<void> {
  const closed = await within(Promise.allSettled(items.map((item) => item.close())).then(() => true), seconds);
  if (closed) return;
  await Promise.allSettled(
    items.map(async (item) => {
      const client = item.client ? await within(item.client, 1) : undefined;
      if (typeof client === 'object' && client !== null && typeof (client as { disconnect?: unknown }).disconnect === 'function') (client as { disconnect(): void }).disconnect();
      await within(item.disconnect(), 1);
    }),
  );
}
