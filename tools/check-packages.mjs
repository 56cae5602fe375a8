#!/usr/bin/env node
/**
 * Publishability check for every package in packages/*.
 *
 * For each package: `npm pack` it, check the tarball's file list (dist + README + LICENSE +
 * package.json, no tests or fixtures), then install the tarball ALONE into an empty temporary
 * folder the way a user would (`npm install <tarball>`: no skip flags; sibling @vlm-grpo packages
 * come from their own tarballs, everything else from the npm registry), and:
 * - report the install's outcome. Where it fails only because onnxruntime-node's install step
 *   cannot reach NuGet (its CUDA download on Linux x64), the package's README must document the
 *   workaround (`ONNXRUNTIME_NODE_INSTALL=skip`); the check then installs that documented way and
 *   goes on. Any other failure fails the check;
 * - measure the install's size (`node_modules`, bytes on disk) and hold it to the package's budget
 *   (BUDGETS_MB below, set from measurements);
 * - import its entry point;
 * - compile a strict TypeScript consumer against it (`strict`, no `skipLibCheck`, `nodenext`,
 *   only `@types/node`), and list the third-party modules its public `.d.ts` files import: a module
 *   the package does not declare as a dependency or peer is a leak and fails the check;
 * - optional @vlm-grpo peers (@vlm-grpo/models: the embedded default models) are not part of that
 *   install, as npm leaves them out of a user's; there, a no-id `fromPretrained()` (NO_ID_LOADERS)
 *   must fail naming `npm install @vlm-grpo/models`. Then those peers are installed from their
 *   tarballs next to it, as a user who wants the defaults would;
 * - when its README has a block that starts with `// quick-start.mjs`, run that example from the
 *   temporary folder with the repository root as `VLM_GRPO_ROOT` (with the optional peers
 *   installed, so a quick start may call `fromPretrained()` without an id).
 *
 * Usage: node tools/check-packages.mjs [--skip-build] [--no-readme] [package-name ...]
 * Exit status 0 when every package passes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const skipBuild = args.includes('--skip-build');
const runReadme = !args.includes('--no-readme');
const only = args.filter((arg) => !arg.startsWith('--'));

/**
 * Install-size budgets in MB (10^6 bytes of `node_modules`), from measurements on Linux x64
 * (2026-12-07, npm 11.19, `--prefer-offline`): each is the measured size plus ~5 %, so growth is a
 * decision. Measured: data 6.3, device 0.1, eval 27.1, grpo 6.4 (zod only: an algorithm), sd 329.9,
 * clip-reward 492.0, vlm 304.2 (786.1 before its tokenizer left transformers.js), world 0.2, models
 * 31.8 (it ships its weights: the prompt enhancer and the world's diffusion and CLIP models; 14.0 with
 * the random tiny ones), policy-webgpu 304.6 (vlm's). Most of the weight
 * is third-party: onnxruntime-node ships every platform's binaries (≈ 290 MB); transformers.js
 * (clip-reward) brings onnxruntime-web (≈ 140 MB), which it imports at load time even in Node, so
 * no supported install leaves it out; @tensorflow/tfjs (vlm's peer) ≈ 250 MB with its converter,
 * layers and WebGL backend (tfjs-core alone registers neither gradients nor chained ops in Node).
 */
const BUDGETS_MB = {
  '@vlm-grpo/data': 7,
  '@vlm-grpo/device': 1,
  '@vlm-grpo/eval': 29,
  '@vlm-grpo/grpo': 7,
  '@vlm-grpo/sd': 345,
  '@vlm-grpo/clip-reward': 515,
  '@vlm-grpo/vlm': 320,
  '@vlm-grpo/world': 1,
  '@vlm-grpo/models': 34,
  '@vlm-grpo/policy-webgpu': 320,
};

/**
 * The class of each package whose `fromPretrained()` without an id loads the embedded default
 * model of its optional peer @vlm-grpo/models: installed without that peer, the call must fail
 * naming `npm install @vlm-grpo/models`.
 */
const NO_ID_LOADERS = {
  '@vlm-grpo/vlm': 'VLMWrapper',
  '@vlm-grpo/sd': 'DiffusionPipeline',
  '@vlm-grpo/clip-reward': 'CLIPRewardCalculator',
};

const packageDirs = readdirSync(join(root, 'packages'))
  .map((name) => join(root, 'packages', name))
  .filter((dir) => existsSync(join(dir, 'package.json')));
const manifestOf = (dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
const manifests = new Map(packageDirs.map((dir) => [manifestOf(dir).name, dir]));
const selected = only.length > 0 ? only : [...manifests.keys()];
for (const name of selected) if (!manifests.has(name)) throw new Error(`unknown package ${name}; known: ${[...manifests.keys()].join(', ')}`);

// A user's environment: no skip flags (ONNXRUNTIME_NODE_INSTALL and npm's own form removed).
const userEnv = { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' };
for (const key of Object.keys(userEnv)) if (/^(ONNXRUNTIME_NODE_INSTALL|npm_config_onnxruntime_node_install)/iu.test(key)) delete userEnv[key];
const run = (command, commandArgs, cwd, env = userEnv) => execFileSync(command, commandArgs, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

if (!skipBuild) {
  console.log('building every package (nx run-many -t build)…');
  run('npx', ['nx', 'run-many', '-t', 'build', '--output-style=static'], root);
}

const work = mkdtempSync(join(tmpdir(), 'vlm-grpo-packages-'));
const tarballDir = join(work, 'tarballs');
mkdirSync(tarballDir);
const tarballs = new Map();
const failures = [];
const rows = [];

/** The peers a manifest marks optional (`peerDependenciesMeta`), which npm does not install. */
const optionalPeersOf = (manifest) => new Set(Object.keys(manifest.peerDependenciesMeta ?? {}).filter((peer) => manifest.peerDependenciesMeta[peer]?.optional === true));

/** The @vlm-grpo packages `name` needs at runtime, transitively (optional peers left out). */
function internalClosure(name, seen = new Set()) {
  const manifest = manifestOf(manifests.get(name));
  const optional = optionalPeersOf(manifest);
  for (const dependency of Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies })) {
    if (manifests.has(dependency) && !optional.has(dependency) && !seen.has(dependency)) {
      seen.add(dependency);
      internalClosure(dependency, seen);
    }
  }
  return seen;
}

/** The optional @vlm-grpo peers of `name` (e.g. @vlm-grpo/models) and what they need, not already in its closure. */
function optionalInternalPeers(name) {
  const closure = internalClosure(name);
  const peers = new Set();
  for (const peer of optionalPeersOf(manifestOf(manifests.get(name)))) {
    if (!manifests.has(peer)) continue;
    for (const dependency of [peer, ...internalClosure(peer)]) if (dependency !== name && !closure.has(dependency)) peers.add(dependency);
  }
  return [...peers];
}

/** Bytes on disk under `dir` (files only, symlinks not followed). */
function diskBytes(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += diskBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

/** Bare module specifiers imported by the `.d.ts` files reachable from `entry` (relative imports followed). */
function declarationImports(entry) {
  const seen = new Set();
  const modules = new Set();
  const visit = (file) => {
    if (seen.has(file) || !existsSync(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    // import specifiers and `/// <reference types="…" />` directives (global types a .d.ts relies on)
    for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+|<reference\s+types\s*=\s*)['"]([^'"]+)['"]/gu)) {
      const specifier = match[1];
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier.replace(/\.js$/u, '.d.ts')));
      else if (!specifier.startsWith('node:')) modules.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]);
    }
  };
  visit(entry);
  return [...modules].sort();
}

// 1. Pack the selected packages and the siblings they depend on (installed from tarballs).
const toPack = new Set(selected.flatMap((name) => [name, ...internalClosure(name), ...optionalInternalPeers(name)]));
for (const name of toPack) {
  const dir = manifests.get(name);
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', tarballDir], dir))[0];
  tarballs.set(name, join(tarballDir, packed.filename));
  const files = packed.files.map((file) => file.path);
  const stray = files.filter((file) => /\.test\.|__fixtures__|(^|\/)src\/|tsbuildinfo/u.test(file));
  if (!files.includes('dist/index.js') || !files.includes('dist/index.d.ts')) failures.push(`${name}: tarball lacks dist/index.js or dist/index.d.ts`);
  if (!files.includes('README.md')) failures.push(`${name}: tarball lacks README.md`);
  if (!files.some((file) => /^LICEN[CS]E(\.md|\.txt)?$/iu.test(file))) failures.push(`${name}: tarball lacks LICENSE (copy the repository's LICENSE into ${relative(root, dir)}/)`);
  if (stray.length > 0) failures.push(`${name}: tarball ships test or source files: ${stray.slice(0, 5).join(', ')}`);
  rows.push({ name, files: files.length, size: packed.size });
}

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const nuget = /api\.nuget\.org|nuget/iu;

// 2. Install each tarball alone as a user would, measure it, import it, compile against it.
for (const name of selected) {
  const row = rows.find((entry) => entry.name === name);
  const folder = join(work, `install-${name.replace('/', '__')}`);
  mkdirSync(folder);
  writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const readme = readFileSync(join(manifests.get(name), 'README.md'), 'utf8');
  const started = Date.now();
  const toInstall = [tarballs.get(name), ...[...internalClosure(name)].map((dependency) => tarballs.get(dependency))];
  let installEnv = userEnv;
  try {
    const plain = spawnSync('npm', ['install', '--no-save', '--prefer-offline', ...toInstall], { cwd: folder, env: userEnv, encoding: 'utf8' });
    if (plain.status === 0) {
      row.install = 'ok';
    } else {
      const output = `${plain.stderr}\n${plain.stdout}`;
      if (!(/onnxruntime-node/u.test(output) && nuget.test(output))) throw Object.assign(new Error(`npm install failed (status ${plain.status})`), { stderr: output });
      // onnxruntime-node's CUDA download cannot reach NuGet here: the README must say what to do.
      if (!readme.includes('ONNXRUNTIME_NODE_INSTALL=skip')) {
        failures.push(`${name}: a plain install fails where NuGet is unreachable (onnxruntime-node's CUDA download) and README.md does not document ONNXRUNTIME_NODE_INSTALL=skip`);
      }
      row.install = 'no NuGet: README way';
      installEnv = { ...userEnv, ONNXRUNTIME_NODE_INSTALL: 'skip' };
      run('npm', ['install', '--no-save', '--prefer-offline', ...toInstall], folder, installEnv);
    }
    row.installSeconds = ((Date.now() - started) / 1000).toFixed(1);
    row.installMB = diskBytes(join(folder, 'node_modules')) / 1e6;
    const budget = BUDGETS_MB[name];
    row.budgetMB = budget;
    if (budget === undefined) failures.push(`${name}: no install-size budget in tools/check-packages.mjs (measured ${row.installMB.toFixed(1)} MB)`);
    else if (row.installMB > budget) failures.push(`${name}: installs ${row.installMB.toFixed(1)} MB, over its ${budget} MB budget`);

    const probe = `const entry = await import(${JSON.stringify(name)}); const keys = Object.keys(entry); if (keys.length === 0) { console.error('no exports'); process.exit(1); } console.log(keys.length);`;
    row.exports = Number(run('node', ['--input-type=module', '-e', probe], folder).trim());

    // Strict TypeScript consumer: every public declaration must compile without skipLibCheck.
    const installed = join(folder, 'node_modules', ...name.split('/'));
    const manifest = manifestOf(installed);
    const declared = new Set(Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies }));
    const imported = declarationImports(join(installed, 'dist', 'index.d.ts'));
    const undeclared = imported.filter((module) => !declared.has(module) && !module.startsWith('@vlm-grpo/'));
    row.dtsImports = imported.filter((module) => !module.startsWith('@vlm-grpo/')).join(' ') || '-';
    if (undeclared.length > 0) failures.push(`${name}: public .d.ts files import ${undeclared.join(', ')}, which ${name} does not depend on`);
    const consumer = join(folder, 'consumer-ts');
    mkdirSync(consumer);
    writeFileSync(join(consumer, 'index.ts'), `import * as entry from ${JSON.stringify(name)};\nexport const exported: string[] = Object.keys(entry);\n`);
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, skipLibCheck: false, noEmit: true, target: 'ES2022', lib: ['ES2023'], module: 'nodenext', moduleResolution: 'nodenext', types: ['node'], typeRoots: [join(root, 'node_modules', '@types')] },
        files: ['index.ts'],
      }),
    );
    const compiled = spawnSync(process.execPath, [tsc, '-p', consumer], { cwd: consumer, encoding: 'utf8' });
    row.strictTs = compiled.status === 0 ? 'ok' : 'FAILED';
    if (compiled.status !== 0) {
      const errors = compiled.stdout.split('\n').filter((line) => /error TS/u.test(line));
      failures.push(`${name}: a strict TypeScript consumer does not compile (${errors.length} errors):\n  ${errors.slice(0, 8).map((line) => line.replace(folder, '<consumer>')).join('\n  ')}`);
    }

    // Without its optional @vlm-grpo peers: a no-id fromPretrained() says how to get the default model.
    const loader = NO_ID_LOADERS[name];
    if (loader) {
      const noId = `const entry = await import(${JSON.stringify(name)}); try { await entry.${loader}.fromPretrained(); } catch (error) { if (String(error?.message).includes('npm install @vlm-grpo/models')) process.exit(0); console.error(error); process.exit(1); } console.error('loaded a model without @vlm-grpo/models'); process.exit(1);`;
      const probed = spawnSync('node', ['--input-type=module', '-e', noId], { cwd: folder, env: userEnv, encoding: 'utf8', timeout: 120_000 });
      row.noId = probed.status === 0 ? 'ok' : 'FAILED';
      if (probed.status !== 0) failures.push(`${name}: ${loader}.fromPretrained() without an id and without @vlm-grpo/models does not fail naming npm install @vlm-grpo/models:\n${(probed.stderr || probed.stdout).slice(-2000)}`);
    }
    // Then with them, as a user who wants the embedded default models (npm install --no-save keeps only what it is given).
    const peers = optionalInternalPeers(name);
    if (peers.length > 0) {
      run('npm', ['install', '--no-save', '--prefer-offline', ...toInstall, ...peers.map((peer) => tarballs.get(peer))], folder, installEnv);
      row.install += ` (+ ${peers.join(', ')})`;
    }

    const example = /```(?:js|javascript|mjs)\n(\/\/ quick-start\.mjs[^\n]*\n[\s\S]*?)```/u.exec(readme);
    if (runReadme && example) {
      const exampleFile = join(folder, 'quick-start.mjs');
      writeFileSync(exampleFile, example[1]);
      const scratch = join(work, `readme-cwd-${name.replace('/', '__')}`);
      mkdirSync(scratch);
      const result = spawnSync('node', [exampleFile], { cwd: scratch, env: { ...userEnv, VLM_GRPO_ROOT: root }, encoding: 'utf8', timeout: 300_000 });
      if (result.status !== 0) failures.push(`${name}: README quick start failed (status ${result.status}):\n${(result.stderr || result.stdout).slice(-2000)}`);
      row.readme = result.status === 0 ? 'ran' : 'FAILED';
    } else {
      row.readme = example ? 'skipped' : 'none';
    }
  } catch (error) {
    failures.push(`${name}: ${error.message}\n${(error.stderr ?? '').slice(-2000)}`);
    row.exports ??= 'FAILED';
  }
}

const pad = (value, width) => String(value ?? '-').padStart(width);
console.log('\npackage                  files  packed KiB  install MB  budget MB  exports  strict TS  no id  README   install');
for (const row of rows.filter((entry) => selected.includes(entry.name))) {
  console.log(
    `${row.name.padEnd(24)} ${pad(row.files, 5)}  ${pad((row.size / 1024).toFixed(1), 10)}  ${pad(row.installMB?.toFixed(1), 10)}  ${pad(row.budgetMB, 9)}  ${pad(row.exports, 7)}  ${pad(row.strictTs, 9)}  ${pad(row.noId, 5)}  ${(row.readme ?? '-').padEnd(7)}  ${row.install ?? '-'} (${row.installSeconds ?? '-'} s)`,
  );
}
console.log('\nthird-party modules in each public .d.ts:');
for (const row of rows.filter((entry) => selected.includes(entry.name))) console.log(`  ${row.name.padEnd(24)} ${row.dtsImports ?? '-'}`);
rmSync(work, { recursive: true, force: true });
if (failures.length > 0) {
  console.error(`\n${failures.length} problem(s):\n${failures.map((failure) => `- ${failure}`).join('\n')}`);
  process.exit(1);
}
console.log('\nevery package packs with its LICENSE, installs alone within its budget, imports, and compiles in a strict TypeScript consumer.');
