#!/usr/bin/env node
/**
 * Distributed rollouts: throughput (prompt groups per second) of N `vlm-grpo-worker` processes
 * against one Redis, next to the same groups rendered and scored in-process (the local backend),
 * and what Redis costs per job: payload bytes, JSON serialisation, Redis commands and the round
 * trip of a job through BullMQ with a worker that does no work (enqueue → worker → result read by
 * the trainer's collector), against the job's own work (render + score seconds the workers report).
 *
 * Usage (after `npx nx run trainer:build`, which builds the packages it needs):
 *   node tools/bench/rollout-throughput.mjs [--workers 1,2,4] [--groups 24] [--device cpu]
 *        [--group-size 4] [--config file.json] [--json out.json] [--trainer-iterations 0] [--overhead-only]
 * --source runs everything from the TypeScript sources instead (no build: start it with
 * `node --conditions=@vlm-grpo/source --import ./apps/trainer/src/__fixtures__/ts-register.mjs`).
 * With --trainer-iterations K > 0 it also trains K iterations with the Redis backend beside the
 * workers (the policy on --device, same GPU) and reports seconds per iteration for each worker
 * count: the "workers sharing the GPU beside the trainer" measurement.
 * It starts its own redis-server (127.0.0.1, a free port, no persistence, a random password) and
 * stops everything it started.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const index = args.indexOf(`--${name}`);
  return index === -1 ? fallback : args[index + 1];
};
if (args.includes('--help')) {
  process.stdout.write((await import('node:fs')).readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]);
  process.exit(0);
}
const workerCounts = option('workers', '1,2,4').split(',').map(Number);
const groups = Number(option('groups', '24'));
const device = option('device', 'cpu');
const groupSize = Number(option('group-size', '4'));
const trainerIterations = Number(option('trainer-iterations', '0'));
const jsonOut = option('json', undefined);
const configFile = option('config', undefined);

const trainer = await import('@vlm-grpo/trainer');
const { Queue, Worker } = await import('bullmq');

const freePort = () =>
  new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });

const folder = await mkdtemp(join(tmpdir(), 'vlm-grpo-rollout-bench-'));
const password = randomBytes(12).toString('hex');
const port = await freePort();
const redisProcess = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', folder, '--requirepass', password], { stdio: ['ignore', 'pipe', 'pipe'] });
await new Promise((done, fail) => {
  let out = '';
  redisProcess.once('error', (error) => fail(error.code === 'ENOENT' ? new Error('redis-server is not installed (apt-get install redis-server)') : error));
  redisProcess.stdout.on('data', (chunk) => {
    out += chunk;
    if (out.includes('Ready to accept connections')) done();
  });
});
const url = `redis://:${password}@127.0.0.1:${port}`;
const children = new Set();
const cleanup = async () => {
  for (const child of children) child.kill('SIGKILL');
  redisProcess.kill('SIGKILL');
  await rm(folder, { recursive: true, force: true });
};
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

const base = {
  ...(configFile ? JSON.parse((await import('node:fs')).readFileSync(configFile, 'utf8')) : {}),
};
const overrides = {
  'model_settings.device': device,
  'training_settings.num_generations': groupSize,
  'rollout_settings.backend': 'redis',
  'rollout_settings.redis_url': url,
  'logging_settings.progress_bar': 'never',
};
const config = await trainer.resolveTrainerConfig({ config: base, overrides });
const absolute = { ...config, model_settings: { ...config.model_settings, sd_model: resolve(root, config.model_settings.sd_model), clip_model: resolve(root, config.model_settings.clip_model) } };
const configPath = join(folder, 'config.json');
await writeFile(configPath, JSON.stringify(trainer.mergeConfigLayers(base, trainer.expandDottedKeys(overrides))));
const quiet = new trainer.Logger({ console: null });

/** The benchmark's groups: real prompts of the training file, G rewrites each, one seed per group. */
const prompts = (await import('node:fs')).readFileSync(join(root, config.data_settings.train_file), 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line).user_prompt);
const styles = ['soft natural light, detailed', 'cinematic lighting, wide angle', 'golden hour, sharp focus', 'vivid colors, studio photo', 'watercolor, pastel tones', 'dramatic shadows, close-up'];
const requests = (iteration, count) =>
  Array.from({ length: count }, (_, group) => {
    const original = prompts[(iteration * count + group) % prompts.length];
    const rewrites = Array.from({ length: groupSize }, (_, k) => `${original}, ${styles[(group + k) % styles.length]}`);
    return { key: { iteration, round: 0, group }, group: { original, rewrites, seeds: rewrites.map(() => [1000 + group]) } };
  });

const startWorkers = async (count, tag) => {
  const started = [];
  for (let k = 0; k < count; k++) {
    const entry = args.includes('--source')
      ? ['--conditions=@vlm-grpo/source', '--import', join(root, 'apps/trainer/src/__fixtures__/ts-register.mjs'), join(root, 'apps/trainer/src/rollout/worker-cli.ts')]
      : [join(root, 'apps/trainer/dist/rollout/worker-cli.js')];
    const child = spawn(process.execPath, [...entry, '--config', configPath, '--worker-id', `${tag}-${k + 1}`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (out += chunk));
    started.push(
      new Promise((done, fail) => {
        const timer = setInterval(() => {
          if (out.includes('waiting for jobs')) {
            clearInterval(timer);
            done(child);
          } else if (child.exitCode !== null) {
            clearInterval(timer);
            fail(new Error(`worker exited:\n${out}`));
          }
        }, 50);
      }),
    );
  }
  return Promise.all(started);
};
const stopWorkers = async (list) => {
  await Promise.all(
    list.map(
      (child) =>
        new Promise((done) => {
          child.once('exit', done);
          child.kill('SIGTERM');
        }),
    ),
  );
  for (const child of list) children.delete(child);
};

const results = { machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadAverage: loadavg()[0] }, date: new Date().toISOString(), device, groups, groupSize, command: `node tools/bench/rollout-throughput.mjs ${args.join(' ')}`.trim(), local: null, redis: [], overhead: null, trainer: [] };

const skipThroughput = args.includes('--overhead-only');
// Local backend: the same groups in this process (one process, the trainer's path).
if (!skipThroughput) {
  const models = await trainer.loadRewardModels(absolute, quiet);
  const local = new trainer.LocalRolloutBackend(models, trainer.imageComponentsOf(absolute));
  await local.run(requests(99, 2), { render: 0, score: 0 });
  const timings = { render: 0, score: 0 };
  const started = performance.now();
  await local.run(requests(0, groups), timings);
  const seconds = (performance.now() - started) / 1000;
  results.local = { seconds, groupsPerSecond: groups / seconds, renderSeconds: timings.render, scoreSeconds: timings.score };
  await models.dispose();
}

// Redis backend with N workers.
for (const count of skipThroughput ? [] : workerCounts) {
  const workers = await startWorkers(count, `w${count}`);
  const backend = await trainer.RedisRolloutBackend.open({ config: absolute, logger: quiet, runId: `bench-${count}` });
  const queue = new Queue(trainer.ROLLOUT_QUEUE, { connection: trainer.redisOptions(absolute, 'bench'), prefix: absolute.rollout_settings.queue_prefix });
  const client = await queue.client;
  const commands = async () => Number(/total_commands_processed:(\d+)/u.exec(await client.info('stats'))[1]);
  await backend.run(requests(98, count * 2), { render: 0, score: 0 });
  backend.takeMetrics();
  const before = await commands();
  const timings = { render: 0, score: 0 };
  const started = performance.now();
  await backend.run(requests(0, groups), timings);
  const seconds = (performance.now() - started) / 1000;
  const after = await commands();
  const metrics = backend.takeMetrics().metrics;
  results.redis.push({ workers: count, seconds, groupsPerSecond: groups / seconds, workerBusySeconds: timings.render + timings.score, redisCommandsPerGroup: (after - before) / groups, queueDepthMax: metrics['rollout/queue_depth_max'] });
  await queue.close();
  await backend.close();
  await stopWorkers(workers);
}

// Redis cost of one job without its work: a worker that returns a result of the real size at once.
{
  const sample = requests(0, 1)[0];
  const job = { format: trainer.ROLLOUT_FORMAT, run_id: 'bench-overhead', session: 'x', config_hash: '0'.repeat(64), kind: 'group', iteration: 0, round: 0, group: 0, ...sample.group, return_images: false };
  const result = { format: trainer.ROLLOUT_FORMAT, kind: 'group', worker: 'noop', rows: sample.group.rewrites.map(() => ({ components: { relevance_to_original: 0.2913, similarity: 28.37, quality: 0.8125 } })), timings: { render: 0.1, score: 0.05, total: 0.15 } };
  const jobBytes = Buffer.byteLength(JSON.stringify(job));
  const resultBytes = Buffer.byteLength(JSON.stringify(result));
  const imageBytes = absolute.diffusion_settings.height * absolute.diffusion_settings.width * 3;
  const t0 = performance.now();
  for (let i = 0; i < 10_000; i++) trainer.groupJobSchema.parse(JSON.parse(JSON.stringify(job)));
  const serialiseJobUs = ((performance.now() - t0) / 10_000) * 1000;
  const t1 = performance.now();
  for (let i = 0; i < 10_000; i++) trainer.groupResultSchema.parse(JSON.parse(JSON.stringify(result)));
  const serialiseResultUs = ((performance.now() - t1) / 10_000) * 1000;
  // The trainer's real path (RedisRolloutBackend: add, QueueEvents wake-up, result read, job
  // removed) against a BullMQ worker that returns at once: one group at a time, then 16 at once.
  const noop = new Worker(trainer.ROLLOUT_QUEUE, async () => result, { connection: trainer.redisOptions(absolute, 'bench-noop'), prefix: absolute.rollout_settings.queue_prefix, concurrency: 1 });
  const backend = await trainer.RedisRolloutBackend.open({ config: absolute, logger: quiet, runId: 'bench-noop' });
  const queue = new Queue(trainer.ROLLOUT_QUEUE, { connection: trainer.redisOptions(absolute, 'bench'), prefix: absolute.rollout_settings.queue_prefix });
  const client = await queue.client;
  const commands = async () => Number(/total_commands_processed:(\d+)/u.exec(await client.info('stats'))[1]);
  await backend.run(requests(97, 2), { render: 0, score: 0 });
  const jobs = 100;
  const before = await commands();
  const started = performance.now();
  for (let i = 0; i < jobs; i++) await backend.run(requests(i, 1), { render: 0, score: 0 });
  const roundTripMs = (performance.now() - started) / jobs;
  const commandsPerJob = ((await commands()) - before) / jobs;
  const batchStarted = performance.now();
  for (let i = 0; i < 10; i++) await backend.run(requests(200 + i, 16), { render: 0, score: 0 });
  const batchGroupsPerSecond = 160 / ((performance.now() - batchStarted) / 1000);
  await noop.close();
  await queue.close();
  await backend.close();
  const workMs = results.redis[0] ? (results.redis[0].workerBusySeconds / groups) * 1000 : null;
  results.overhead = { jobBytes, resultBytes, imageBytes, serialiseJobUs, serialiseResultUs, roundTripMs, commandsPerJob, batchGroupsPerSecond, workMsPerGroup: workMs };
}

// Training beside the workers (the GPU-machine measurement).
if (trainerIterations > 0) {
  for (const count of workerCounts) {
    const workers = await startWorkers(count, `t${count}`);
    const output = join(folder, `train-${count}`);
    const system = new trainer.VLMGRPOSystem(configFile ?? undefined, { baseDirectory: root, overrides: { ...overrides, 'training_settings.num_iterations': trainerIterations, 'training_settings.validation_every': 0, 'training_settings.checkpoint_every': trainerIterations, 'output_settings.output_dir': output, 'output_settings.overwrite': true }, logger: quiet });
    const started = performance.now();
    const final = await system.runTraining();
    await system.dispose();
    results.trainer.push({ workers: count, seconds: (performance.now() - started) / 1000, perIteration: final.timings_s.per_iteration });
    await stopWorkers(workers);
  }
}

await cleanup();
const f = (value, digits = 2) => (value === null || value === undefined ? 'n/a' : value.toFixed(digits));
const lines = [
  `machine: ${results.machine.cpus} CPUs (${results.machine.model}), load average ${f(results.machine.loadAverage, 1)} at the start, Node ${results.machine.node}; device ${device}; ${groups} groups of ${groupSize} rewrites; ${results.date}`,
  `command: ${results.command}`,
  '',
  '| backend | workers | seconds | groups/s | speed-up vs 1 worker | Redis commands / group | queue depth max |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...(results.local ? [`| local (in-process) | – | ${f(results.local.seconds)} | ${f(results.local.groupsPerSecond)} | – | – | – |`] : []),
  ...results.redis.map((row) => `| redis | ${row.workers} | ${f(row.seconds)} | ${f(row.groupsPerSecond)} | ${f(row.groupsPerSecond / results.redis[0].groupsPerSecond)}× | ${f(row.redisCommandsPerGroup, 1)} | ${row.queueDepthMax} |`),
  '',
  `per job: ${results.overhead.jobBytes} B job, ${results.overhead.resultBytes} B result (+${results.overhead.imageBytes} B per image when validation asks); ` +
    `JSON + schema ${f(results.overhead.serialiseJobUs, 1)} µs (job) / ${f(results.overhead.serialiseResultUs, 1)} µs (result); ` +
    `round trip without work ${f(results.overhead.roundTripMs)} ms and ${f(results.overhead.commandsPerJob, 1)} Redis commands per group, ${f(results.overhead.batchGroupsPerSecond, 0)} groups/s in batches of 16 (one no-op worker); work ${f(results.overhead.workMsPerGroup, 0)} ms per group`,
  ...results.trainer.map((row) => `training beside ${row.workers} worker(s): ${f(row.seconds)} s for ${trainerIterations} iterations (${f(row.perIteration?.total)} s per iteration)`),
];
process.stdout.write(`${lines.join('\n')}\n`);
if (jsonOut) await writeFile(jsonOut, `${JSON.stringify(results, null, 2)}\n`);
process.exit(0);
