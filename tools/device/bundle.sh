#!/usr/bin/env bash
# Packs what the GPU benchmarks and the WebGPU training run need on a machine that has no Node.js
# and no network, small enough to travel with the working tree (the device tool's limit is 64 MiB
# for the tree and the bundle together).
#
# Usage, from the repository root after `npm ci` and `npx nx run-many -t build`:
#   bash tools/device/bundle.sh [OUT=.device] [--split-extra]
# --split-extra moves sharp's libvips (6.4 MB compressed) into OUT-extra/ when the tree and the
# bundle together exceed the limit: carry OUT-extra in one call and OUT in the next while the
# machine is held (ignored folders stay there between calls); activate.sh unpacks both.
# Since the world's models are tracked (data/models/world-clip and world-sd, 26.7 MB), the tree is
# ≈ 52 MB and no bundle fits beside it: for a device call that does not need them, move those two
# folders out of the checkout first and put them back after (tracked files that are missing do not
# travel: a call with `.device` and policy-webgpu's dist carried ran so on 2026-12-07).
# On the GPU machine:  source .device/activate.sh   (unpacks into /tmp/devnode once, links
# node_modules into the checkout, exports PATH and VK_DRIVER_FILES).
#
# Departures from ../shared/tools/device-bundle.sh:
# - to save space: the node binary and Dawn's dawn.node are stripped of debug symbols, and xz uses
#   the x86 branch filter at preset 9e; core-js (unused by the Node builds) is dropped;
# - the workspace's own packages are copied as package.json + dist only (no sources, fixtures);
#   activate.sh links them to the checkout's folders, as npm workspaces do, copying the bundle's
#   dist/ where the checkout has none (a dist/ named in the device tool's `carry` wins);
# - libglvnd0, libglx0, libegl1, libgl1 travel with libvulkan1: NVIDIA's Vulkan ICD
#   (libGLX_nvidia.so.0) needs glvnd's libGLdispatch, else no adapter is found;
# - of every @tensorflow package only package.json, the Node bundle (`main`) and the WASM binaries
#   are kept; transformers.js keeps its Node builds only; onnxruntime-web, type declarations,
#   source maps and other platforms' binaries are dropped; @wandb/sdk and its GraphQL client are
#   dropped (tracking is off on the device; the trainer loads it lazily only when enabled).
set -euo pipefail
OUT=.device; SPLIT=0
for arg in "$@"; do case $arg in --split-extra) SPLIT=1 ;; *) OUT=$arg ;; esac; done
rm -rf "$OUT-extra"
ROOT=$(pwd)
rm -rf "$OUT" && mkdir -p "$OUT"
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

NODE_BIN=$(readlink -f "$(command -v node)")
strip -o "$STAGE/node" "$NODE_BIN" 2>/dev/null || cp "$NODE_BIN" "$STAGE/node"
XZ=(xz -T2 --x86 --lzma2=preset=9e)  # the x86 branch filter shrinks machine code by a few per cent
"${XZ[@]}" -c "$STAGE/node" > "$OUT/node.xz"
rm "$STAGE/node"

mapfile -t deps < <(npm ls --omit=dev --all --parseable 2>/dev/null | grep '/node_modules/' | sort -u)
mkdir -p "$STAGE/node_modules"
for d in "${deps[@]}"; do
  rel=${d#"$ROOT"/}
  case "$rel" in
    node_modules/@vlm-grpo/*|node_modules/@wandb/*|node_modules/graphql*|node_modules/onnxruntime-web|node_modules/core-js) continue ;;
  esac
  mkdir -p "$STAGE/$(dirname "$rel")"
  cp -a "$d" "$STAGE/$rel" 2>/dev/null || true
done
# the webgpu npm package (Dawn) is a dev/optional dependency of the packages; the device needs it
for extra in webgpu @tensorflow/tfjs-backend-webgpu @tensorflow/tfjs-backend-wasm; do
  [ -d "node_modules/$extra" ] && [ ! -d "$STAGE/node_modules/$extra" ] && mkdir -p "$STAGE/node_modules/$(dirname "$extra")" && cp -a "node_modules/$extra" "$STAGE/node_modules/$extra"
done
# the workspace's own packages: package.json and dist/ only
npm query .workspace 2>/dev/null | node -e '
  const ws = JSON.parse(require("fs").readFileSync(0, "utf8") || "[]");
  for (const w of ws) console.log(w.name + "\t" + w.path);' | while IFS=$'\t' read -r name path; do
  if [ ! -d "$path/dist" ]; then
    node -e 'process.exit(require(process.argv[1]).scripts?.build ? 0 : 1)' "$path/package.json" && { echo "error: $path/dist is missing; run npx nx run-many -t build first" >&2; exit 1; }
    continue  # a workspace with no build (tools/) runs from the checkout
  fi
  mkdir -p "$STAGE/node_modules/$name"
  echo "$name	${path#"$ROOT"/}" >> "$STAGE/node_modules/.vlm-grpo-workspaces.tsv"
  cp "$path/package.json" "$STAGE/node_modules/$name/"
  cp -a "$path/dist" "$STAGE/node_modules/$name/dist"
done
find "$STAGE/node_modules" -maxdepth 2 -type l -delete
find "$STAGE" \( -name '*.map' -o -name '*.md' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*_test.js' -o -name '*.tsbuildinfo' \) -type f -delete
find "$STAGE" -path '*/onnxruntime-node/bin/napi-v*/*' \( -path '*/win32*' -o -path '*/darwin*' -o -path '*/linux/arm64*' \) -prune -exec rm -rf {} +
find "$STAGE" -path '*/webgpu/dist/*' -type d ! -name 'linux-x64' ! -name dist -prune -exec rm -rf {} + 2>/dev/null || true
find "$STAGE" -name 'dawn.node' -exec strip {} \; 2>/dev/null || true
for pkg in "$STAGE"/node_modules/@tensorflow/*; do
  main=$(node -p "require('$pkg/package.json').main || ''")
  keep=$(mktemp -d)
  [ -n "$main" ] && [ -f "$pkg/$main" ] && cp "$pkg/$main" "$keep/"
  find "$pkg/dist" -maxdepth 1 -name '*.wasm' -exec cp {} "$keep/" \; 2>/dev/null || true
  rm -rf "$pkg/dist" "$pkg/src" "$pkg/scripts" && mkdir -p "$pkg/dist" && cp "$keep"/* "$pkg/dist/" 2>/dev/null || true
  if [ -n "$main" ]; then mkdir -p "$pkg/$(dirname "$main")"; [ -f "$pkg/dist/$(basename "$main")" ] && [ "$(dirname "$main")" != dist ] && mv "$pkg/dist/$(basename "$main")" "$pkg/$main"; fi
  rm -rf "$keep"
done
T="$STAGE/node_modules/@huggingface/transformers"
if [ -d "$T" ]; then rm -rf "$T/src" "$T/types"; find "$T/dist" -type f ! -name 'transformers.node.mjs' -delete; fi
if [ "$SPLIT" = 1 ] && [ -d "$STAGE/node_modules/@img/sharp-libvips-linux-x64" ]; then
  mkdir -p "$OUT-extra"
  tar -C "$STAGE" -cf - node_modules/@img/sharp-libvips-linux-x64 | "${XZ[@]}" > "$OUT-extra/sharp-libvips.tar.xz"
  rm -rf "$STAGE/node_modules/@img/sharp-libvips-linux-x64"
fi
tar -C "$STAGE" -cf - node_modules | "${XZ[@]}" > "$OUT/node_modules.tar.xz"

# Vulkan loader and GL dispatch (the GPU image has the NVIDIA ICD, whose libGLX_nvidia.so.0 needs
# libglvnd's libGLdispatch, but neither the loader nor glvnd)
mkdir -p /tmp/amd64/partial
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
apt-get $o update >/dev/null 2>&1 || true
(cd "$OUT" && apt-get $o download libvulkan1 libglvnd0 libglx0 libegl1 libgl1 >/dev/null 2>&1) || echo "warning: could not download the Vulkan loader / glvnd" >&2

cat > "$OUT/activate.sh" <<'ACT'
# sourced on the GPU machine: unpacks the bundle into /tmp/devnode once and sets the environment
_B=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ ! -x /tmp/devnode/bin/node ]; then
  mkdir -p /tmp/devnode/bin
  xz -dc "$_B/node.xz" > /tmp/devnode/bin/node && chmod +x /tmp/devnode/bin/node
  tar -C /tmp/devnode -xJf "$_B/node_modules.tar.xz"
fi
# the split-off part (bundle.sh --split-extra), carried by an earlier call on this machine
[ -f "$_B-extra/sharp-libvips.tar.xz" ] && [ ! -d /tmp/devnode/node_modules/@img/sharp-libvips-linux-x64 ] && tar -C /tmp/devnode -xJf "$_B-extra/sharp-libvips.tar.xz"
for _f in "$_B"/*.deb; do [ -f "$_f" ] && dpkg -x "$_f" /; done; ldconfig
export PATH=/tmp/devnode/bin:$PATH NODE_PATH=/tmp/devnode/node_modules VLM_GRPO_DEVICE_BUNDLE=1
[ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
# ESM ignores NODE_PATH: the checkout's node_modules must be the bundle's
[ -e node_modules ] || ln -s /tmp/devnode/node_modules node_modules
# The checkout's dist/ folders are ignored by git: a dist/ carried along (`carry`) wins, otherwise
# the bundle's build is copied in. Then each workspace package in node_modules links to its folder
# in the checkout, as npm workspaces do, so code finds files relative to itself (config/, data/).
while IFS=$'\t' read -r _name _path; do
  _b="/tmp/devnode/node_modules/$_name"
  [ -L "$_b" ] || mv "$_b" "$_b.bundled"
  [ -e "$_path/dist" ] || cp -r "$_b.bundled/dist" "$_path/dist"
  ln -sfn "$PWD/$_path" "$_b"
done < /tmp/devnode/node_modules/.vlm-grpo-workspaces.tsv
ACT
du -sh "$OUT"/* | sed 's/^/  /'
echo "bundle size: $(du -sh "$OUT" | cut -f1) (tracked tree: $(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1) bytes; keep both under 64 MiB)"
