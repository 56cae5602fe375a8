/**
 * The identity of what a rollout worker computes: a canonical description of every setting and
 * model that changes a group's rewards, and its SHA-256 (the `config_hash` every job carries).
 * A worker whose own description hashes differently refuses the run's jobs, naming the keys
 * that differ.
 *
 * Included: `model_settings` device and dtype, a fingerprint of the diffusion and CLIP models
 * (and the aesthetic head), all of `diffusion_settings`, and the image components of
 * `reward_settings` (weight > 0, with their modes). Not included: text rewards, weights and
 * normalisation (the trainer applies them), paths as written (two hosts may keep the same model
 * in different folders).
 * Model fingerprint: for a local folder, SHA-256 over its files in path order (path, size and
 * content; files over 8 MiB by their first and last MiB), so copies compare equal wherever they
 * live; for a Hugging Face id that is not a local folder, `hub:<id>`.
 */
import { createHash } from 'node:crypto';
import { open, readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

import type { TrainerConfig } from '../config/config-schema.js';
import { ROLLOUT_FORMAT } from './job-schema.js';
import { imageComponentsOf } from './rollout-backend.js';

const WHOLE_FILE_LIMIT = 8 * 1024 * 1024;
const EDGE = 1024 * 1024;

async function filesUnder(root: string, folder = root): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  const out: string[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (entry.name.startsWith('.')) continue;
    const path = join(folder, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(root, path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** Fingerprint of a model folder or file, or `hub:<id>` when `pathOrId` is not on disk (see the file header). */
export async function modelFingerprint(pathOrId: string): Promise<string> {
  const info = await stat(pathOrId).catch(() => undefined);
  if (!info) return `hub:${pathOrId}`;
  const root = info.isDirectory() ? pathOrId : undefined;
  const files = root ? await filesUnder(root) : [pathOrId];
  const hash = createHash('sha256');
  for (const file of files) {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      hash.update(`${root ? relative(root, file) : ''}\0${size}\0`);
      const read = async (position: number, length: number) => {
        const buffer = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buffer, 0, length, position);
        hash.update(buffer.subarray(0, bytesRead));
      };
      if (size <= WHOLE_FILE_LIMIT) await read(0, size);
      else {
        await read(0, EDGE);
        await read(size - EDGE, EDGE);
      }
    } finally {
      await handle.close();
    }
  }
  return `sha256:${hash.digest('hex')}`;
}

/** The canonical description of what a worker computes (see the file header). */
export type RolloutIdentity = Record<string, unknown>;

/**
 * Describe `config` for hashing. Model paths must be absolute or relative to the working
 * directory (as the trainer and worker resolve them).
 */
export async function rolloutIdentity(config: TrainerConfig): Promise<RolloutIdentity> {
  const m = config.model_settings;
  const r = config.reward_settings;
  const components = imageComponentsOf(config);
  return {
    format: ROLLOUT_FORMAT,
    'model_settings.sd_model': await modelFingerprint(m.sd_model),
    'model_settings.clip_model': await modelFingerprint(m.clip_model),
    'model_settings.device': m.device,
    'model_settings.dtype': m.dtype,
    diffusion_settings: config.diffusion_settings,
    'reward_settings.components': components,
    'reward_settings.similarity.mode': r.similarity.mode,
    'reward_settings.relevance_to_original.promptist_gate': r.relevance_to_original.promptist_gate,
    'reward_settings.aesthetic.head_path': components.includes('aesthetic') && r.aesthetic.head_path !== null ? await modelFingerprint(r.aesthetic.head_path) : null,
  };
}

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** SHA-256 (hex) of the canonical JSON of an identity. */
export function rolloutConfigHash(identity: RolloutIdentity): string {
  return createHash('sha256').update(canonicalJson(identity)).digest('hex');
}

/** The keys whose values differ between two identities, as `key: ours vs theirs` lines. */
export function identityDifferences(ours: RolloutIdentity, theirs: RolloutIdentity): string[] {
  const keys = [...new Set([...Object.keys(ours), ...Object.keys(theirs)])].sort();
  return keys
    .filter((key) => canonicalJson(ours[key]) !== canonicalJson(theirs[key]))
    .map((key) => `${key}: ${canonicalJson(ours[key]) ?? 'missing'} vs ${canonicalJson(theirs[key]) ?? 'missing'}`);
}
