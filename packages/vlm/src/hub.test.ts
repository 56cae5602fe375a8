import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VlmError } from './errors.js';
import { readCheckpoint } from './causal-lm.js';
import { resolveModelDir } from './hub.js';
import { FIXTURES } from './__fixtures__/test-utils.js';

let server: Server;
let endpoint: string;
let scratch: string;
const requests: string[] = [];

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'vlm-hub-'));
  server = createServer((request, response) => {
    requests.push(`${request.url} ${request.headers.authorization ?? ''}`);
    if (request.url === '/org/pytorch/resolve/main/config.json' || request.url === '/org/evil/resolve/main/config.json') return void response.end('{}');
    if (request.url === '/org/pytorch/resolve/main/pytorch_model.bin') return void response.end();
    if (request.url === '/org/evil/resolve/main/model.safetensors.index.json') return void response.end(JSON.stringify({ weight_map: { 'wte.weight': '../../../outside.safetensors' } }));
    const match = /^\/org\/tiny\/resolve\/main\/(.+)$/u.exec(request.url ?? '');
    readFile(join(FIXTURES, 'tiny-qwen2', match?.[1] ?? '__none__')).then(
      (body) => response.end(body),
      () => {
        response.statusCode = 404;
        response.end('not found');
      },
    );
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address() as { port: number };
  endpoint = `http://127.0.0.1:${address.port}`;
});
afterAll(async () => {
  server.close();
  await rm(scratch, { recursive: true, force: true });
});

describe('resolveModelDir', () => {
  it('uses a local folder as is', async () => {
    expect(await resolveModelDir(join(FIXTURES, 'tiny-gpt2'))).toBe(join(FIXTURES, 'tiny-gpt2'));
  });

  it('downloads a repository once into the cache, with the token', async () => {
    const dir = await resolveModelDir('org/tiny', { endpoint, cacheDir: scratch, token: 'secret' });
    // The Hugging Face cache layout, shared with huggingface_hub (this server sends no commit header,
    // so the revision names the snapshot).
    expect(dir).toBe(join(scratch, 'models--org--tiny', 'snapshots', 'main'));
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    expect(requests.some((line) => line === '/org/tiny/resolve/main/config.json Bearer secret')).toBe(true);
    const count = requests.length;
    await resolveModelDir('org/tiny', { endpoint, cacheDir: scratch });
    expect(requests.length).toBe(count); // cached, and the absent optional files are remembered (.no_exist/)
    // Offline, the cache serves it as well.
    expect(await resolveModelDir('org/tiny', { endpoint, cacheDir: scratch, localFilesOnly: true })).toBe(dir);
    expect(requests.length).toBe(count);
  });

  it('fails clearly for unknown repositories and non-ids', async () => {
    const missing = await resolveModelDir('org/absent', { endpoint, cacheDir: scratch }).catch((e: unknown) => e);
    expect(VlmError.isInstance(missing) && missing.code).toBe('VLM_DOWNLOAD_FAILED');
    expect((missing as Error).message).toMatch(/404/u);
    const local = await resolveModelDir('./no/such/dir', { endpoint }).catch((e: unknown) => e);
    expect(VlmError.isInstance(local) && local.code).toBe('VLM_FILE_NOT_FOUND');
    const offline = await resolveModelDir('org/tiny', { localFilesOnly: true, cacheDir: join(scratch, 'empty') }).catch((e: unknown) => e);
    expect((offline as Error).message).toMatch(/not in the hub cache .*localFilesOnly or HF_HUB_OFFLINE/u);
  });

  it('a relative local folder wins over a hub id and comes back absolute', async () => {
    const cwd = process.cwd();
    process.chdir(FIXTURES);
    try {
      expect(await resolveModelDir('tiny-gpt2', { endpoint })).toBe(join(FIXTURES, 'tiny-gpt2'));
    } finally {
      process.chdir(cwd);
    }
  });

  it('says when a repository has PyTorch weights only, with the command that converts them', async () => {
    const error = await resolveModelDir('org/pytorch', { endpoint, cacheDir: scratch }).catch((e: unknown) => e);
    expect(VlmError.isInstance(error) && error.code).toBe('VLM_DOWNLOAD_FAILED');
    expect((error as Error).message).toMatch(/org\/pytorch@main has no safetensors weights .*only PyTorch pickles \(pytorch_model\.bin\).*save_pretrained\('models\/pytorch'\)/su);
  });

  it('refuses shard names that escape the model folder, on download and on local load', async () => {
    const error = await resolveModelDir('org/evil', { endpoint, cacheDir: scratch }).catch((e: unknown) => e);
    expect(VlmError.isInstance(error) && error.code).toBe('VLM_UNSAFE_PATH');
    expect(requests.some((line) => line.includes('..') || line.includes('%2E%2E'))).toBe(false);
    const local = join(scratch, 'local-evil');
    await mkdir(local, { recursive: true });
    await writeFile(join(local, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'wte.weight': '../../outside.safetensors' } }));
    const loaded = await readCheckpoint(local).catch((e: unknown) => e);
    expect(VlmError.isInstance(loaded) && loaded.code).toBe('VLM_UNSAFE_PATH');
    expect((loaded as Error).message).toMatch(/model\.safetensors\.index\.json.*escapes the model folder/u);
  });
});
