#!/usr/bin/env node
/**
 * Publishability check for every package in packages/*.
 *
 * For each package: `npm pack` it, check the tarball's file list (dist + README + package.json, no
 * tests or fixtures), install the tarball ALONE into an empty temporary folder with only its
 * declared dependencies (sibling @vlm-grpo packages come from their own tarballs, everything
 * else from the npm registry), import its entry point from there, and, when its README has a
 * block that starts with `// quick-start.mjs`, run that example from the temporary folder with
 * the repository root as working directory (so examples may use the repository's model folders).
 *
 * Usage: node tools/check-packages.mjs [--skip-build] [--no-readme] [package-name ...]
 * Exit status 0 when every package passes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const skipBuild = args.includes('--skip-build');
const runReadme = !args.includes('--no-readme');
const only = args.filter((arg) => !arg.startsWith('--'));

const packageDirs = readdirSync(join(root, 'packages'))
  .map((name) => join(root, 'packages', name))
  .filter((dir) => existsSync(join(dir, 'package.json')));
const manifests = new Map(packageDirs.map((dir) => [JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name, dir]));
const selected = only.length > 0 ? only : [...manifests.keys()];
for (const name of selected) if (!manifests.has(name)) throw new Error(`unknown package ${name}; known: ${[...manifests.keys()].join(', ')}`);

const npmEnv = { ...process.env, npm_config_onnxruntime_node_install: 'skip', npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' };
const run = (command, commandArgs, cwd) => execFileSync(command, commandArgs, { cwd, env: npmEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

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

/** The @vlm-grpo packages `name` needs at runtime, transitively. */
function internalClosure(name, seen = new Set()) {
  const manifest = JSON.parse(readFileSync(join(manifests.get(name), 'package.json'), 'utf8'));
  for (const dependency of Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies })) {
    if (manifests.has(dependency) && !seen.has(dependency)) {
      seen.add(dependency);
      internalClosure(dependency, seen);
    }
  }
  return seen;
}

// 1. Pack the selected packages and the siblings they depend on (installed from tarballs).
const toPack = new Set(selected.flatMap((name) => [name, ...internalClosure(name)]));
for (const name of toPack) {
  const dir = manifests.get(name);
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', tarballDir], dir))[0];
  tarballs.set(name, join(tarballDir, packed.filename));
  const files = packed.files.map((file) => file.path);
  const stray = files.filter((file) => /\.test\.|__fixtures__|(^|\/)src\/|tsbuildinfo/u.test(file));
  if (!files.includes('dist/index.js') || !files.includes('dist/index.d.ts')) failures.push(`${name}: tarball lacks dist/index.js or dist/index.d.ts`);
  if (!files.includes('README.md')) failures.push(`${name}: tarball lacks README.md`);
  if (stray.length > 0) failures.push(`${name}: tarball ships test or source files: ${stray.slice(0, 5).join(', ')}`);
  rows.push({ name, files: files.length, size: packed.size });
}

// 2. Install each tarball alone and import it.
for (const name of selected) {
  const row = rows.find((entry) => entry.name === name);
  const folder = join(work, `install-${name.replace('/', '__')}`);
  mkdirSync(folder);
  writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const started = Date.now();
  try {
    const toInstall = [tarballs.get(name), ...[...internalClosure(name)].map((dependency) => tarballs.get(dependency))];
    run('npm', ['install', '--no-save', '--prefer-offline', ...toInstall], folder);
    const probe = `const entry = await import(${JSON.stringify(name)}); const keys = Object.keys(entry); if (keys.length === 0) { console.error('no exports'); process.exit(1); } console.log(keys.length);`;
    const exportCount = run('node', ['--input-type=module', '-e', probe], folder).trim();
    row.exports = Number(exportCount);
    row.installSeconds = ((Date.now() - started) / 1000).toFixed(1);
    const readme = readFileSync(join(manifests.get(name), 'README.md'), 'utf8');
    const example = /```(?:js|javascript|mjs)\n(\/\/ quick-start\.mjs[^\n]*\n[\s\S]*?)```/u.exec(readme);
    if (runReadme && example) {
      const exampleFile = join(folder, 'quick-start.mjs');
      writeFileSync(exampleFile, example[1]);
      const scratch = join(work, `readme-cwd-${name.replace('/', '__')}`);
      mkdirSync(scratch);
      const result = spawnSync('node', [exampleFile], { cwd: scratch, env: { ...npmEnv, VLM_GRPO_ROOT: root }, encoding: 'utf8', timeout: 300_000 });
      if (result.status !== 0) failures.push(`${name}: README quick start failed (status ${result.status}):\n${(result.stderr || result.stdout).slice(-2000)}`);
      row.readme = result.status === 0 ? 'ran' : 'FAILED';
    } else {
      row.readme = example ? 'skipped' : 'none';
    }
  } catch (error) {
    failures.push(`${name}: ${error.message}\n${(error.stderr ?? '').slice(-2000)}`);
    row.exports = 'FAILED';
  }
}

console.log('\npackage                  files  packed KiB  exports  install s  README');
for (const row of rows.filter((entry) => selected.includes(entry.name))) {
  console.log(`${row.name.padEnd(24)} ${String(row.files).padStart(5)}  ${(row.size / 1024).toFixed(1).padStart(10)}  ${String(row.exports ?? '-').padStart(7)}  ${String(row.installSeconds ?? '-').padStart(9)}  ${row.readme ?? '-'}`);
}
rmSync(work, { recursive: true, force: true });
if (failures.length > 0) {
  console.error(`\n${failures.length} problem(s):\n${failures.map((failure) => `- ${failure}`).join('\n')}`);
  process.exit(1);
}
console.log('\nevery package packs, installs alone and imports.');
