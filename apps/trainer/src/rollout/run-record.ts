/**
 * The run's record in Redis, beside its BullMQ queue: which run owns the queue now (run id,
 * session, config hash and the identity behind it), refreshed by the trainer's heartbeat and
 * expiring when the trainer is gone; and the list of refusals workers leave for the trainer.
 * Keys: `<queue_prefix>:rollouts:vlm-grpo-run` (JSON string with a TTL) and
 * `<queue_prefix>:rollouts:vlm-grpo-refusals` (hash: one field per refusal, taken by the trainer).
 */
import type { Queue } from 'bullmq';
import { z } from 'zod';

/** Seconds a run record lives without a heartbeat. */
export const RUN_RECORD_TTL_S = 30;

/** The run's record. */
export const runRecordSchema = z.object({
  run_id: z.string(),
  session: z.string(),
  config_hash: z.string(),
  identity: z.record(z.string(), z.unknown()),
  started_at: z.string(),
  heartbeat: z.string(),
});

/** The run's record. */
export type RunRecord = z.infer<typeof runRecordSchema>;

/** A worker's refusal of a run. */
export interface Refusal {
  worker: string;
  run_id: string;
  message: string;
  time: string;
}

/** Key of the run record. */
export const runRecordKey = (queue: Queue): string => queue.toKey('vlm-grpo-run');

/** Key of the refusal list. */
export const refusalsKey = (queue: Queue): string => queue.toKey('vlm-grpo-refusals');

/** The current run record, or undefined when no trainer holds the queue (or the record is unreadable). */
export async function readRunRecord(queue: Queue): Promise<RunRecord | undefined> {
  const client = await queue.client;
  const text = await client.get(runRecordKey(queue));
  if (text === null) return undefined;
  try {
    const parsed = runRecordSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Write the run record with a fresh heartbeat and TTL. */
export async function writeRunRecord(queue: Queue, record: RunRecord): Promise<void> {
  const client = await queue.client;
  await client.set(runRecordKey(queue), JSON.stringify({ ...record, heartbeat: new Date().toISOString() }), { EX: RUN_RECORD_TTL_S });
}

/** Record a worker's refusal for the trainer to log. */
export async function recordRefusal(queue: Queue, refusal: Refusal): Promise<void> {
  const client = await queue.client;
  await client.hset(refusalsKey(queue), { [`${refusal.worker}.${Date.now()}`]: JSON.stringify(refusal) });
}

/** Take (read and delete) the refusals recorded so far, oldest first. */
export async function takeRefusals(queue: Queue): Promise<Refusal[]> {
  const client = await queue.client;
  const results = await client.multi().hgetall(refusalsKey(queue)).del(refusalsKey(queue)).exec();
  const fields = (results?.[0]?.[1] as Record<string, string> | null | undefined) ?? {};
  return Object.values(fields)
    .map((text) => {
      try {
        return JSON.parse(text) as Refusal;
      } catch {
        return undefined;
      }
    })
    .filter((item): item is Refusal => item !== undefined)
    .sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
}
