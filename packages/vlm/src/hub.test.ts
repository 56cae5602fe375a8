import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VlmError } from './errors.js';
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
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    expect(requests.some((line) => line === '/org/tiny/resolve/main/config.json Bearer secret')).toBe(true);
    const count = requests.length;
    await resolveModelDir('org/tiny', { endpoint, cacheDir: scratch });
    expect(requests.length).toBe(count + 2); // only the two absent optional files are asked again
  });

  it('fails clearly for unknown repositories and non-ids', async () => {
    const missing = await resolveModelDir('org/absent', { endpoint, cacheDir: scratch }).catch((e: unknown) => e);
    expect(VlmError.isInstance(missing) && missing.code).toBe('VLM_DOWNLOAD_FAILED');
    expect((missing as Error).message).toMatch(/404/u);
    const local = await resolveModelDir('./no/such/dir', { endpoint }).catch((e: unknown) => e);
    expect(VlmError.isInstance(local) && local.code).toBe('VLM_FILE_NOT_FOUND');
    const offline = await resolveModelDir('org/tiny', { localFilesOnly: true }).catch((e: unknown) => e);
    expect((offline as Error).message).toMatch(/localFilesOnly/u);
  });
});
