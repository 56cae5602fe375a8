#!/usr/bin/env bash
# Packs vitest and its runtime dependencies (production files only) so that the packages' own test
# files run on the GPU machine, which has no Node.js and no network: the WebGPU tests then run on
# the real adapter instead of lavapipe (e.g. the f16 subgroup-matrix kernel, which no CPU adapter
# offers). The archive is ~11 MB, too much beside the main bundle in one call: carry OUT in a later
# call on the same warm machine, after one that carried .device (ignored folders stay there).
#
# Usage, from the repository root after `npm ci`:
#   bash tools/device/bundle-tests.sh [OUT=.device-tests]
# On the GPU machine, after `source .device/activate.sh`:
#   tar -C /tmp/devnode -xJf .device-tests/vitest.tar.xz
#   cd packages/policy-webgpu && node ../../node_modules/vitest/vitest.mjs run src/kernels/matmul-f16.test.ts
# (VLM_GRPO_TEST_DAWN_TOGGLES=vulkan_enable_f16_on_nvidia gives the test devices shader-f16 on NVIDIA.)
set -euo pipefail
OUT=${1:-.device-tests}
rm -rf "$OUT" && mkdir -p "$OUT"
# vitest's dependency closure (dependencies and optional dependencies present in node_modules)
mapfile -t deps < <(node -e '
  const fs = require("fs"), path = require("path");
  const seen = new Set();
  const find = (name, from) => { for (let d = from; ; d = path.dirname(d)) { const p = path.join(d, "node_modules", name); if (fs.existsSync(p)) return fs.realpathSync(p); if (path.dirname(d) === d) return null; } };
  const walk = (dir) => {
    if (seen.has(dir)) return; seen.add(dir);
    const pj = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    for (const n of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) { const r = find(n, dir); if (r) walk(r); }
  };
  walk(fs.realpathSync("node_modules/vitest"));
  for (const d of seen) console.log(path.relative(process.cwd(), d));')
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
for rel in "${deps[@]}"; do
  case "$rel" in node_modules/*) ;; *) echo "error: $rel is outside node_modules" >&2; exit 1 ;; esac
  mkdir -p "$STAGE/$(dirname "$rel")" && cp -a "$rel" "$STAGE/$rel"
done
find "$STAGE" \( -name '*.map' -o -name '*.md' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -type f -delete
tar -C "$STAGE" -cf - node_modules | xz -T2 --x86 --lzma2=preset=9e > "$OUT/vitest.tar.xz"
echo "$OUT/vitest.tar.xz: $(du -h "$OUT/vitest.tar.xz" | cut -f1), ${#deps[@]} packages"
