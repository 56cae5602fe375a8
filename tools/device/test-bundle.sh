#!/usr/bin/env bash
# Packs vitest and its dependency closure (from node_modules/.package-lock.json) for running the
# WebGPU tests on the GPU machine. It travels in a second call, after tools/device/bundle.sh's
# bundle was unpacked by the first call on the same (still warm) machine: together they exceed
# the device tool's 64 MiB.
#   bash tools/device/test-bundle.sh [OUT=.devtest]
# On the GPU machine: source .device/activate.sh (or, on a warm machine, the unpacked copy) and
#   tar -C /tmp/devnode -xJf .devtest/vitest.tar.xz
set -euo pipefail
OUT=${1:-.devtest}
rm -rf "$OUT" && mkdir -p "$OUT"
node -e '
const lock = require("./node_modules/.package-lock.json").packages;
const seen = new Set();
const queue = ["node_modules/vitest"];
while (queue.length > 0) {
  const key = queue.pop();
  if (seen.has(key) || !lock[key]) continue;
  seen.add(key);
  const entry = lock[key];
  for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) {
    let base = key;
    for (;;) {
      const candidate = `${base}/node_modules/${dep}`;
      if (lock[candidate]) { queue.push(candidate); break; }
      const cut = base.lastIndexOf("/node_modules/");
      if (cut < 0) { if (lock[`node_modules/${dep}`]) queue.push(`node_modules/${dep}`); break; }
      base = base.slice(0, cut);
    }
  }
}
for (const key of [...seen].sort()) if (!/lightningcss|@types\//.test(key)) console.log(key);
' > "$OUT/files.txt"
tar -cf - -T "$OUT/files.txt" | xz -T2 -6 > "$OUT/vitest.tar.xz"
du -sh "$OUT"/vitest.tar.xz
