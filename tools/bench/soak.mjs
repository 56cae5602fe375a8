/**
 * Soak benchmark: the default configuration (config/default_config.json) trained for many
 * iterations in this process, with the resident set size (RSS) sampled after every iteration.
 * Reports the RSS slope after warm-up (least squares, MiB per 1,000 iterations): flat means no
 * leak. The slope is also given for `external` (tfjs's WASM memory, which grows to the largest
 * update seen) and for native memory (RSS − external: V8, ONNX Runtime, libvips, the allocator's
 * fragmentation), with the allocator the process was launched on. Validation, checkpoints, the
 * best model and the report run as configured (every 12 and 6 iterations), so their memory is part
 * of the measure.
 *
 *   node tools/bench/soak.mjs [--iterations 1000] [--warmup 100] [--tracking flaky]
 *     [--max-minutes 0] [--samples soak-samples.jsonl] [--json soak.json] [--keep]
 *
 * - `--iterations N`: iterations to train (default 1000).
 * - `--warmup W`: iterations left out of the slope (default 100, or a tenth of the run if less).
 * - `--tracking flaky`: W&B tracking on, against a local stand-in server (a child process) that
 *   creates the run normally, then answers every second request with HTTP 500; the report adds
 *   its request counts and whether tracking was still on at the end.
 * - `--max-minutes M`: stop cleanly after M minutes (the trainer's stop request: it finishes the
 *   iteration and writes a checkpoint) and report on what ran; 0 = no limit (default 0).
 * - `--samples file`: one JSON line per sample (iteration, seconds, RSS and heap in MiB), written as
 *   the run goes, so an interrupted soak keeps its data.
 * - `--json file`: the summary as JSON. `--keep`: keep the run folder (default: removed).
 * Runs the built trainer (apps/trainer/dist) when present, else its TypeScript sources (it restarts
 * itself through the trainer's test loader). Extra flags after `--` go to the trainer's config, as
 * on its command line (`-- --device cpu`).
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = join(ROOT, 'apps', 'trainer', 'dist', 'index.js');
const REGISTER = join(ROOT, 'apps', 'trainer', 'src', '__fixtures__', 'ts-register.mjs');

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    iterations: { type: 'string', default: '1000' },
    warmup: { type: 'string' },
    tracking: { type: 'string', default: 'off' },
    'max-minutes': { type: 'string', default: '0' },
    samples: { type: 'string' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  const source = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  console.log(source.slice(source.indexOf('/**') + 3, source.indexOf('*/')).replace(/^ \* ?/gmu, '').trim());
  process.exit(0);
}

// Without a build, run the trainer's sources: restart under the TypeScript loader.
if (!existsSync(DIST) && !process.execArgv.some((flag) => flag.includes('ts-register'))) {
  const child = spawn(process.execPath, ['--conditions=@vlm-grpo/source', '--import', pathToFileURL(REGISTER).href, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
} else {
  await main();
}

/**
 * The native allocator this process runs on, as set at launch: `jemalloc` when LD_PRELOAD names it,
 * else glibc's malloc with its MALLOC_ARENA_MAX / MALLOC_TRIM_THRESHOLD_ settings when set.
 */
export function allocatorInUse(env = process.env) {
  if (/jemalloc/u.test(env.LD_PRELOAD ?? '')) return 'jemalloc (LD_PRELOAD)';
  const tunings = ['MALLOC_ARENA_MAX', 'MALLOC_TRIM_THRESHOLD_', 'GLIBC_TUNABLES'].filter((key) => env[key] !== undefined).map((key) => `${key}=${env[key]}`);
  return process.platform === 'linux' ? `system malloc${tunings.length ? ` (${tunings.join(', ')})` : ''}` : 'system malloc';
}

/** Least-squares slope of y over x. */
export function slope(xs, ys) {
  const n = xs.length;
  if (n < 2) return Number.NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

/** A W&B stand-in (child process) that fails every second request with HTTP 500. */
function startFlakyServer() {
  const source = String.raw`
const http = require('node:http');
let count = 0, failed = 0;
const byPath = {};
const server = http.createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    if (request.url === '/__stats') { response.end(JSON.stringify({ requests: count, failed, byPath })); return; }
    count += 1;
    const key = request.url.split('?')[0].replace(/\/upload\/.*/, '/upload/*');
    byPath[key] = (byPath[key] || 0) + 1;
    response.setHeader('Content-Type', 'application/json');
    const body = Buffer.concat(chunks).toString('utf8');
    // The run is created normally (viewer, upsertBucket); every second request after that fails.
    const handshake = request.url === '/graphql' && (body.includes('viewer') || body.includes('upsertBucket'));
    if (!handshake && count % 2 === 0) { failed += 1; response.statusCode = 500; response.end('{"error":"flaky"}'); return; }
    if (request.url === '/graphql') {
      const { query, variables } = JSON.parse(body || '{}');
      if (query.includes('viewer')) return response.end(JSON.stringify({ data: { viewer: { id: '1', entity: 'soak', flags: '{}', teams: { edges: [] } } } }));
      if (query.includes('upsertBucket')) return response.end(JSON.stringify({ data: { upsertBucket: { bucket: { id: 'b', name: variables.name, displayName: 'soak', project: { id: 'p', name: variables.project, entity: { id: 'e', name: 'soak' } } }, inserted: true } } }));
      if (query.includes('RunUploadUrls')) return response.end(JSON.stringify({ data: { model: { bucket: { id: 'b', files: { uploadHeaders: [], edges: variables.files.map((name) => ({ node: { name, url: base + '/upload/' + name } })) } } } } }));
      response.statusCode = 400;
      return response.end('{}');
    }
    response.end('{}');
  });
});
let base = '';
server.listen(0, '127.0.0.1', () => { base = 'http://127.0.0.1:' + server.address().port; process.stdout.write(base + '\n'); });
`;
  const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolvePromise, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (chunk) => resolvePromise({ child, base: chunk.toString('utf8').trim() }));
  });
}

async function main() {
  const iterations = Number(values.iterations);
  const warmup = values.warmup === undefined ? Math.min(100, Math.floor(iterations / 10)) : Number(values.warmup);
  const maxMinutes = Number(values['max-minutes']);
  if (!Number.isInteger(iterations) || iterations < 2) throw new Error(`--iterations must be an integer ≥ 2, got ${values.iterations}`);
  if (!['off', 'flaky'].includes(values.tracking)) throw new Error(`--tracking must be off or flaky, got ${values.tracking}`);

  const trainer = await import(existsSync(DIST) && !process.execArgv.some((flag) => flag.includes('ts-register')) ? pathToFileURL(DIST).href : '@vlm-grpo/trainer');
  const output = mkdtempSync(join(tmpdir(), 'vlm-grpo-soak-'));
  const overrides = {
    ...trainer.parseCliArguments(positionals).overrides,
    'output_settings.output_dir': join(output, 'run'),
    'training_settings.num_iterations': iterations,
    'logging_settings.progress_bar': 'never',
  };
  let server;
  if (values.tracking === 'flaky') {
    server = await startFlakyServer();
    process.env.WANDB_API_KEY ??= 'k'.repeat(40);
    Object.assign(overrides, { 'tracking.wandb.enabled': true, 'tracking.wandb.base_url': server.base, 'tracking.wandb.project': 'soak' });
  }

  const samples = [];
  const mib = (bytes) => bytes / 2 ** 20;
  const started = performance.now();
  const sample = (iteration) => {
    const usage = process.memoryUsage();
    const entry = { iteration, seconds: (performance.now() - started) / 1000, rssMiB: mib(usage.rss), heapUsedMiB: mib(usage.heapUsed), externalMiB: mib(usage.external), nativeMiB: mib(usage.rss - usage.external), arrayBuffersMiB: mib(usage.arrayBuffers) };
    samples.push(entry);
    if (values.samples) appendFileSync(values.samples, `${JSON.stringify(entry)}\n`);
    return entry;
  };
  if (values.samples) writeFileSync(values.samples, '');

  const stop = new trainer.StopSignal();
  stop.install();
  const deadline = maxMinutes > 0 ? Date.now() + maxMinutes * 60_000 : Infinity;
  const logger = new trainer.Logger({ level: 'WARNING' });
  const system = new trainer.VLMGRPOSystem(undefined, {
    baseDirectory: ROOT,
    overrides,
    logger,
    stopSignal: stop,
    onIteration: (iteration) => {
      const entry = sample(iteration);
      if (iteration % 50 === 0) process.stderr.write(`soak: iteration ${iteration}/${iterations}, RSS ${entry.rssMiB.toFixed(1)} MiB, ${entry.seconds.toFixed(0)} s\n`);
      if (Date.now() > deadline) stop.request('request');
    },
  });
  let results;
  let error;
  try {
    results = await system.runTraining();
  } catch (caught) {
    error = caught;
  } finally {
    stop.uninstall();
    await system.dispose().catch(() => undefined);
  }
  let serverStats = null;
  if (server) {
    serverStats = await fetch(`${server.base}/__stats`).then((response) => response.json(), () => null);
    server.child.kill();
  }
  const after = samples.filter((entry) => entry.iteration > warmup);
  const perKiloIteration = (key) => slope(after.map((entry) => entry.iteration), after.map((entry) => entry[key])) * 1000;
  const summary = {
    environment: { date: new Date().toISOString(), host: hostname(), cpus: cpus().length, cpuModel: cpus()[0]?.model ?? null, memoryGiB: totalmem() / 2 ** 30, node: process.version, command: `node tools/bench/soak.mjs ${process.argv.slice(2).join(' ')}`.trim(), allocator: allocatorInUse() },
    status: results?.status ?? 'error',
    error: error ? String(error.message ?? error) : null,
    iterations: { planned: iterations, completed: samples.at(-1)?.iteration ?? 0, warmup },
    secondsPerIteration: samples.length > 1 ? (samples.at(-1).seconds - samples[0].seconds) / (samples.at(-1).iteration - samples[0].iteration) : null,
    rssMiB: { afterWarmup: after[0]?.rssMiB ?? null, last: samples.at(-1)?.rssMiB ?? null, max: samples.length ? Math.max(...samples.map((entry) => entry.rssMiB)) : null },
    slopeMiBPer1000Iterations: { rss: perKiloIteration('rssMiB'), heapUsed: perKiloIteration('heapUsedMiB'), external: perKiloIteration('externalMiB'), native: perKiloIteration('nativeMiB'), arrayBuffers: perKiloIteration('arrayBuffersMiB') },
    tracking: values.tracking === 'flaky' ? { server: serverStats } : null,
  };
  if (values.json) writeFileSync(values.json, `${JSON.stringify(summary, null, 2)}\n`);
  if (!values.keep) rmSync(output, { recursive: true, force: true });
  else summary.runFolder = join(output, 'run');
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  process.exitCode = error ? 1 : 0;
  setTimeout(() => process.exit(process.exitCode), 500).unref();
}
