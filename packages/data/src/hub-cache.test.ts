import { createServer, type Server } from 'node:http';
import { mkdtemp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { HubRepository, hubCacheDir, isHubOffline, isHubRepoId, resolveLocalModelDir } from './hub-cache.js';

const COMMIT = 'a'.repeat(40);
let root: string;
let server: Server;
let endpoint: string;
let requests: string[];
const files: Record<string, string> = { 'config.json': '{"a":1}', 'unet/model.onnx': 'onnx' };

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'hub-cache-'));
  requests = [];
  server = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    const match = /^\/org\/model\/resolve\/main\/(.+)$/u.exec(request.url ?? '');
    const body = match ? files[decodeURIComponent(match[1]!)] : undefined;
    response.setHeader('x-repo-commit', COMMIT);
    if (body === undefined) {
      response.statusCode = 404;
      response.end('not found');
      return;
    }
    response.end(body);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterEach(async () => {
  await new Promise((done) => server.close(done));
  await rm(root, { recursive: true, force: true });
});

describe('hub cache layout', () => {
  it('resolves the cache root as huggingface_hub does', () => {
    expect(hubCacheDir({ env: { HF_HUB_CACHE: '/x/hub-cache', HF_HOME: '/y' } })).toBe('/x/hub-cache');
    expect(hubCacheDir({ env: { HF_HOME: '/y' } })).toBe('/y/hub');
    expect(hubCacheDir({ cacheDir: '/z', env: { HF_HUB_CACHE: '/x' } })).toBe('/z');
    expect(hubCacheDir({ env: {} })).toMatch(/\.cache\/huggingface\/hub$/u);
    expect(isHubOffline({ HF_HUB_OFFLINE: '1' })).toBe(true);
    expect(isHubOffline({ HF_HUB_OFFLINE: '0' })).toBe(false);
    expect(isHubRepoId('openai/clip-vit-base-patch32')).toBe(true);
    expect(isHubRepoId('gpt2')).toBe(true);
    for (const bad of ['../x', 'a/b/c', 'a--b/c', '/abs', 'a/..']) expect(isHubRepoId(bad), bad).toBe(false);
  });

  it('downloads into models--org--name/snapshots/<commit>/ with refs/main, once', async () => {
    const repo = HubRepository.open('org/model', { cacheDir: root, endpoint, env: {} });
    const config = await repo.file('config.json');
    expect(relative(root, config!)).toBe(join('models--org--model', 'snapshots', COMMIT, 'config.json'));
    expect(await readFile(join(root, 'models--org--model', 'refs', 'main'), 'utf8')).toBe(COMMIT);
    expect(await repo.file('unet/model.onnx')).toBe(join(repo.snapshotDir!, 'unet', 'model.onnx'));
    // 404s are recorded in .no_exist/<commit>/ and not asked again.
    expect(await repo.file('missing.json')).toBeUndefined();
    expect(await repo.file('missing.json')).toBeUndefined();
    expect(requests.filter((r) => r.endsWith('missing.json'))).toHaveLength(1);
    // A second process finds everything in the cache without network.
    const again = HubRepository.open('org/model', { cacheDir: root, endpoint, env: { HF_HUB_OFFLINE: '1' } });
    expect(await again.file('config.json')).toBe(config);
    expect(requests.filter((r) => r.endsWith('config.json'))).toHaveLength(1);
  });

  it('honours HF_HUB_OFFLINE and names what is missing', async () => {
    const repo = HubRepository.open('org/model', { cacheDir: root, endpoint, env: { HF_HUB_OFFLINE: '1' } });
    expect(await repo.file('config.json')).toBeUndefined();
    await expect(repo.requireFile('config.json', 'the model config')).rejects.toThrow(/org\/model: the model config \(config\.json\) is missing: not in the cache .*HF_HUB_OFFLINE/u);
    expect(requests).toEqual([]);
  });

  it('reads a cache written by huggingface_hub (snapshot symlinks into blobs/)', async () => {
    const repoDir = join(root, 'models--org--model');
    await mkdir(join(repoDir, 'blobs'), { recursive: true });
    await mkdir(join(repoDir, 'refs'), { recursive: true });
    await mkdir(join(repoDir, 'snapshots', COMMIT), { recursive: true });
    await writeFile(join(repoDir, 'blobs', 'f00'), '{"hf":true}');
    await writeFile(join(repoDir, 'refs', 'main'), COMMIT);
    await symlink('../../blobs/f00', join(repoDir, 'snapshots', COMMIT, 'config.json'));
    const repo = HubRepository.open('org/model', { cacheDir: root, localFilesOnly: true, env: {} });
    expect(await readFile((await repo.file('config.json'))!, 'utf8')).toBe('{"hf":true}');
    // A symlink that leaves the repository folder is refused.
    await writeFile(join(root, 'outside'), 'x');
    await symlink(join(root, 'outside'), join(repoDir, 'snapshots', COMMIT, 'evil.json'));
    await expect(repo.file('evil.json')).rejects.toThrow(/outside the model folder/u);
  });

  it('never writes outside the repository folder for an escaping name', async () => {
    const repo = HubRepository.open('org/model', { cacheDir: root, endpoint, env: {} });
    await expect(repo.file('../../x')).rejects.toThrow(/escapes the model folder/u);
    expect(requests).toEqual([]);
  });

  it('a local folder wins over a hub id, relative to the working directory', async () => {
    await mkdir(join(root, 'org', 'model'), { recursive: true });
    expect(await resolveLocalModelDir('org/model', root)).toBe(join(root, 'org', 'model'));
    expect(await resolveLocalModelDir('org/other', root)).toBeUndefined();
  });
});
