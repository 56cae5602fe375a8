#!/usr/bin/env bash
# Packs ONNX Runtime's CUDA execution provider for the GPU machine (no network, no Node.js: the
# Node runtime travels in .device, see bundle.sh). onnxruntime-node 1.30 ships no CUDA provider
# (its install step downloads one from NuGet); the only npm copy of a CUDA 13 provider is the Unity
# package com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9, built from ONNX Runtime 1.29.0, so it
# travels with onnxruntime-node 1.29.0 and onnxruntime-common 1.29.0 (the versions must match).
#
# Usage, from the repository root (needs npm's registry unless --tarballs is given):
#   bash tools/device/bundle-cuda-provider.sh [OUT=.device-cuda] [PART_MB=40] [--tarballs DIR]
#     [--provider FILE] [--keep-sm 90] [--part-bytes N]
#   --tarballs DIR   folder holding onnxruntime-node-1.29.0.tgz, onnxruntime-common-1.29.0.tgz and
#                    com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz (default: `npm pack`
#                    into a temporary folder; the Unity package is 179 MB)
#   --provider FILE  this libonnxruntime_providers_cuda.so instead of the Unity package's (its
#                    libonnxruntime_providers_shared.so is taken from the same folder); the tests
#                    give a small fake one
#   --keep-sm LIST   zero the kernels of every other GPU architecture (tools/device/prune-fatbin.mjs):
#                    `--keep-sm 90` (H100) shrinks the compressed provider from 163.8 MB (4 parts of
#                    40 MiB) to 37.4 MB (1 part); the result runs on those GPUs only. Not yet run on
#                    a GPU: if a kernel reports "no kernel image is available", bundle without it
#   --part-bytes N   part size in bytes instead of PART_MB MiB (tests)
# Writes:
#   OUT/core/ort129.tar.xz     (11.2 MB) node_modules/onnxruntime-node (package.json, dist JS, the
#                              Linux x64 binding and libonnxruntime.so.1 only),
#                              node_modules/onnxruntime-common, libonnxruntime_providers_shared.so
#   OUT/part-K/cuda-provider.so.xz.K   the provider (229.8 MB), xz-compressed, cut into parts of at
#                              most PART_MB MiB, one folder per part so that each can be carried by
#                              its own device call. Measured on the 2-core build machine: xz -T2 --x86
#                              --lzma2=preset=9e 163.8 MB in 140 s, without --x86 164.3 MB, zstd -19
#                              --long=27 164.6 MB in 63 s: 166 MB of it are GPU kernels that nvcc
#                              already compressed, which no setting shrinks; the whole run takes ~3 min
#   OUT/core/SHA256SUMS        sha256 of every part (paths relative to OUT); OUT/core/provider.sha256:
#                              sha256 of the joined, decompressed provider; OUT/core/manifest.txt
#   OUT/core/activate-cuda.sh  sourced on the GPU machine (below)
# The device tool copies the working tree plus ≤ 64 MiB of carried ignored folders per call, and
# ignored folders carried earlier stay on a machine while it is held (≈ 30 s idle): carry .device
# with OUT/core, then OUT/part-1, OUT/part-2, … (and .device-extra, .replicas/carry, .whl where they fit)
# in calls back to back; the plan printed last groups them by size for the current tree (14.5 MB
# with the world models moved out: 5 calls, or 2 with --keep-sm 90). Calls that carry a part can
# run other work (e.g. tools/replicas/gpu-real-scale.sh replicas-turbo). Once every part is there:
#   source .device/activate.sh && source .device-cuda/core/activate-cuda.sh
# (tools/bench/cuda-suite.sh does both). activate-cuda.sh checks that every part is there (naming a
# missing one), checks their sha256 sums, joins and unpacks them once into /tmp/ort-cuda (checking
# the provider's sha256), puts onnxruntime-node/-common 1.29 in place of the bundle's 1.30 copies in
# /tmp/devnode/node_modules (as links; 1.30 kept in /tmp/devnode/ort-1.30, and `source
# .device-cuda/core/activate-cuda.sh --restore` puts it back), the provider libraries next to the
# binding, and exports LD_LIBRARY_PATH with the folders of libcublas.so.13, libcublasLt.so.13,
# libcurand.so.10, libcudart.so.13 and libcudnn.so.9 found in python3's site-packages (PyTorch's
# nvidia-* wheels, nvidia/cu13/lib or nvidia/<library>/lib) and of the driver's libcuda.so.1,
# printing each folder and naming any library not found (then it returns 1).
# Env for tests: VLM_GRPO_DEVNODE (default /tmp/devnode), VLM_GRPO_ORT_CUDA_DIR (default /tmp/ort-cuda),
# VLM_GRPO_PYTHON_SITE (folders to search instead of python3's site-packages, colon-separated).
set -euo pipefail
ORT_VERSION=1.29.0
UNITY=com.github.asus4.onnxruntime.linux-x64-gpu
UNITY_VERSION=0.4.9
OUT=.device-cuda; PART_MB=40; TARBALLS=""; PROVIDER=""; KEEP_SM=""; PART_BYTES=""
positional=()
while [ $# -gt 0 ]; do
  case $1 in
    --tarballs) TARBALLS=${2:?--tarballs needs a folder}; shift ;;
    --provider) PROVIDER=${2:?--provider needs a file}; shift ;;
    --keep-sm) KEEP_SM=${2:?--keep-sm needs architectures, e.g. 90}; shift ;;
    --part-bytes) PART_BYTES=${2:?--part-bytes needs a number}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bundle-cuda-provider: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) positional+=("$1") ;;
  esac
  shift
done
[ ${#positional[@]} -ge 1 ] && OUT=${positional[0]}
[ ${#positional[@]} -ge 2 ] && PART_MB=${positional[1]}
[ ${#positional[@]} -le 2 ] || { echo "bundle-cuda-provider: too many arguments: ${positional[*]} (expected [OUT] [PART_MB])" >&2; exit 2; }
[[ $PART_MB =~ ^[1-9][0-9]*$ ]] || { echo "bundle-cuda-provider: PART_MB must be a whole number of MiB, got '$PART_MB'" >&2; exit 2; }
[ -n "$PART_BYTES" ] || PART_BYTES=$((PART_MB * 1024 * 1024))
[[ $PART_BYTES =~ ^[1-9][0-9]*$ ]] || { echo "bundle-cuda-provider: --part-bytes must be a positive number of bytes, got '$PART_BYTES'" >&2; exit 2; }
ROOT=$(pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
die() { echo "bundle-cuda-provider: $*" >&2; exit 1; }

# ---- the npm tarballs
NODE_TGZ=onnxruntime-node-$ORT_VERSION.tgz
COMMON_TGZ=onnxruntime-common-$ORT_VERSION.tgz
UNITY_TGZ=$UNITY-$UNITY_VERSION.tgz
if [ -z "$TARBALLS" ]; then
  TARBALLS=$STAGE/tgz && mkdir -p "$TARBALLS"
  specs=(onnxruntime-node@$ORT_VERSION onnxruntime-common@$ORT_VERSION)
  [ -n "$PROVIDER" ] || specs+=($UNITY@$UNITY_VERSION)
  echo "npm pack ${specs[*]} (the Unity package is 179 MB)…"
  npm pack "${specs[@]}" --pack-destination "$TARBALLS" >/dev/null || die "npm pack ${specs[*]} failed (no registry? give --tarballs DIR)"
fi
needed=("$NODE_TGZ" "$COMMON_TGZ")
[ -n "$PROVIDER" ] || needed+=("$UNITY_TGZ")
for f in "${needed[@]}"; do [ -f "$TARBALLS/$f" ] || die "$TARBALLS/$f is missing (expected the npm tarballs ${needed[*]} there, as \`npm pack\` names them)"; done

# ---- onnxruntime-node and onnxruntime-common 1.29.0: package.json, dist JS, Linux x64 binaries
CORE=$STAGE/core-tree
mkdir -p "$CORE/node_modules" "$STAGE/x/node" "$STAGE/x/common"
tar -xzf "$TARBALLS/$NODE_TGZ" -C "$STAGE/x/node" --wildcards 'package/package.json' 'package/dist/*' 'package/bin/napi-v6/linux/x64/*' \
  || die "$TARBALLS/$NODE_TGZ: expected package/package.json, package/dist/ and package/bin/napi-v6/linux/x64/"
tar -xzf "$TARBALLS/$COMMON_TGZ" -C "$STAGE/x/common" --wildcards 'package/package.json' 'package/dist/*' \
  || die "$TARBALLS/$COMMON_TGZ: expected package/package.json and package/dist/"
version_of() { node -p 'require(process.argv[1]).version' "$1" 2>/dev/null || echo unreadable; }
for p in node common; do
  v=$(version_of "$STAGE/x/$p/package/package.json")
  [ "$v" = "$ORT_VERSION" ] || die "onnxruntime-$p tarball is version '$v', expected $ORT_VERSION (the provider is built from ONNX Runtime $ORT_VERSION)"
done
BIN=bin/napi-v6/linux/x64
for f in onnxruntime_binding.node libonnxruntime.so.1; do
  [ -f "$STAGE/x/node/package/$BIN/$f" ] || die "$TARBALLS/$NODE_TGZ has no package/$BIN/$f"
done
mv "$STAGE/x/node/package" "$CORE/node_modules/onnxruntime-node"
mv "$STAGE/x/common/package" "$CORE/node_modules/onnxruntime-common"
find "$CORE" \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -type f -delete

# ---- the provider
if [ -n "$PROVIDER" ]; then
  [ -f "$PROVIDER" ] || die "--provider $PROVIDER: no such file"
  SHARED=$(dirname "$PROVIDER")/libonnxruntime_providers_shared.so
  [ -f "$SHARED" ] || die "--provider $PROVIDER: expected libonnxruntime_providers_shared.so beside it ($SHARED)"
else
  mkdir -p "$STAGE/x/unity"
  U=package/Plugins/Linux/x64
  tar -xzf "$TARBALLS/$UNITY_TGZ" -C "$STAGE/x/unity" "$U/libonnxruntime_providers_cuda.so" "$U/libonnxruntime_providers_shared.so" \
    || die "$TARBALLS/$UNITY_TGZ: expected $U/libonnxruntime_providers_cuda.so and libonnxruntime_providers_shared.so"
  PROVIDER=$STAGE/x/unity/$U/libonnxruntime_providers_cuda.so
  SHARED=$STAGE/x/unity/$U/libonnxruntime_providers_shared.so
fi
cp "$SHARED" "$CORE/libonnxruntime_providers_shared.so"
if [ -n "$KEEP_SM" ]; then
  echo "pruning the kernels of GPU architectures other than sm_${KEEP_SM//,/, sm_}…"
  node "$HERE/prune-fatbin.mjs" "$PROVIDER" "$STAGE/provider.so" --keep-sm "$KEEP_SM" > "$STAGE/prune.json" || die "could not prune $PROVIDER"
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const mb = (b) => (b / 1e6).toFixed(1);
    for (const [sm, v] of Object.entries(r.byArch)) console.log(`  ${sm}: ${v.kept} kept (${mb(v.keptBytes)} MB), ${v.zeroed} zeroed (${mb(v.zeroedBytes)} MB)`);
    console.log(`  ${r.fatbins} fat binaries; ${r.withoutKept.length} of them have no image for sm_${r.keepSm.join(", sm_")} (they had none before either)`);' "$STAGE/prune.json"
  PROVIDER=$STAGE/provider.so
fi
if command -v readelf >/dev/null && head -c4 "$PROVIDER" | grep -q ELF; then
  echo "provider NEEDED: $(readelf -d "$PROVIDER" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | grep -v '^lib\(c\|m\|dl\|rt\|pthread\|gcc_s\|stdc++\)\.so\|^ld-linux' | tr '\n' ' ')"
fi

# ---- write OUT
rm -rf "$OUT" && mkdir -p "$OUT/core"
XZ=(xz -T2 --x86 --lzma2=preset=9e)  # measured on the 230 MB provider: 163.8 MB in 140 s on 2 cores; without --x86 164.3 MB
tar -C "$CORE" --owner=0 --group=0 -cf - node_modules libonnxruntime_providers_shared.so | "${XZ[@]}" > "$OUT/core/ort129.tar.xz"
PROVIDER_SHA=$(sha256sum "$PROVIDER" | cut -d' ' -f1)
PROVIDER_BYTES=$(stat -c %s "$PROVIDER")
echo "compressing the provider ($((PROVIDER_BYTES / 1000000)) MB; ~2 min on 2 cores at full size)…"
"${XZ[@]}" -c "$PROVIDER" > "$STAGE/provider.so.xz"
XZ_BYTES=$(stat -c %s "$STAGE/provider.so.xz")
split -b "$PART_BYTES" -d -a 4 "$STAGE/provider.so.xz" "$STAGE/piece."
rm "$STAGE/provider.so.xz"
k=0
: > "$OUT/core/SHA256SUMS"
for piece in "$STAGE"/piece.*; do
  k=$((k + 1))
  mkdir -p "$OUT/part-$k"
  mv "$piece" "$OUT/part-$k/cuda-provider.so.xz.$k"
  (cd "$OUT" && sha256sum "part-$k/cuda-provider.so.xz.$k") >> "$OUT/core/SHA256SUMS"
done
PARTS=$k
echo "$PROVIDER_SHA  libonnxruntime_providers_cuda.so" > "$OUT/core/provider.sha256"
cat > "$OUT/core/manifest.txt" <<EOF
onnxruntime-node $ORT_VERSION, onnxruntime-common $ORT_VERSION, CUDA provider from ${UNITY}@${UNITY_VERSION}
provider bytes $PROVIDER_BYTES, compressed $XZ_BYTES, parts $PARTS of at most $PART_BYTES bytes
kept GPU architectures: ${KEEP_SM:-all}
made $(date -u +%Y-%m-%dT%H:%M:%SZ) by tools/device/bundle-cuda-provider.sh
EOF

cat > "$OUT/core/activate-cuda.sh" <<'ACT'
# Sourced on the GPU machine after `source .device/activate.sh`, once every part-K folder of this
# bundle (tools/device/bundle-cuda-provider.sh) is there: puts onnxruntime-node 1.29.0 with its CUDA
# provider in place of the bundle's onnxruntime-node 1.30 and exports LD_LIBRARY_PATH with the CUDA
# 13 and cuDNN 9 libraries of python3's site-packages. Returns 1, saying why, when a part is missing
# or damaged or a library is not found. `source …/activate-cuda.sh --restore` puts 1.30 back.
_vlm_ort_cuda() {
  local core out dev dest bin rel sha missing=() libs folders=() lib found dir site name role sp failed total
  core=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  out=$(dirname "$core")
  dev=${VLM_GRPO_DEVNODE:-/tmp/devnode}
  dest=${VLM_GRPO_ORT_CUDA_DIR:-/tmp/ort-cuda}
  bin=node_modules/onnxruntime-node/bin/napi-v6/linux/x64
  if [ "${1:-}" = --restore ]; then
    for name in onnxruntime-node onnxruntime-common; do
      [ -d "$dev/ort-1.30/$name" ] || { echo "activate-cuda: nothing to restore ($dev/ort-1.30/$name is missing)" >&2; return 1; }
      rm -rf "${dev:?}/node_modules/$name" && mv "$dev/ort-1.30/$name" "$dev/node_modules/$name"
    done
    echo "activate-cuda: onnxruntime-node and onnxruntime-common 1.30 are back in $dev/node_modules"
    return 0
  fi
  [ -d "$dev/node_modules/onnxruntime-node" ] || { echo "activate-cuda: $dev/node_modules/onnxruntime-node is missing: source .device/activate.sh first" >&2; return 1; }
  # 1. every part is there and intact
  [ -f "$core/SHA256SUMS" ] && [ -f "$core/provider.sha256" ] && [ -f "$core/ort129.tar.xz" ] || { echo "activate-cuda: $core is incomplete (expected SHA256SUMS, provider.sha256, ort129.tar.xz)" >&2; return 1; }
  total=$(wc -l < "$core/SHA256SUMS")
  while read -r sha rel; do
    [ -f "$out/$rel" ] || missing+=("${rel%%/*}")
  done < "$core/SHA256SUMS"
  if [ ${#missing[@]} -gt 0 ]; then
    echo "activate-cuda: missing ${missing[*]} of $total parts (expected ${missing[*]/#/$out/}, each holding cuda-provider.so.xz.K): carry $(basename "$out")/${missing[0]} in a call on this machine while it is held, then source this again" >&2
    return 1
  fi
  sha=$(cut -d' ' -f1 "$core/provider.sha256")
  if [ "$(cat "$dest/.complete" 2>/dev/null)" != "$sha" ]; then
    failed=$(cd "$out" && sha256sum -c "$core/SHA256SUMS" 2>/dev/null | sed -n 's/: FAILED.*//p' | tr '\n' ' ')
    if [ -n "$failed" ]; then
      echo "activate-cuda: damaged part(s): ${failed% } (sha256 differs from $core/SHA256SUMS): carry them again" >&2
      return 1
    fi
    rm -rf "$dest" && mkdir -p "$dest"
    tar -C "$dest" -xJf "$core/ort129.tar.xz" || { echo "activate-cuda: cannot unpack $core/ort129.tar.xz into $dest" >&2; return 1; }
    # 2. join the parts in order and decompress
    (cd "$out" && cut -d' ' -f3- "$core/SHA256SUMS" | while read -r rel; do cat "$rel"; done) | xz -dc > "$dest/$bin/libonnxruntime_providers_cuda.so" \
      || { echo "activate-cuda: the joined parts do not decompress (xz); make the bundle again" >&2; rm -rf "$dest"; return 1; }
    if [ "$(sha256sum "$dest/$bin/libonnxruntime_providers_cuda.so" | cut -d' ' -f1)" != "$sha" ]; then
      echo "activate-cuda: the joined provider's sha256 differs from $core/provider.sha256 (parts joined out of order or from different bundles?)" >&2
      rm -rf "$dest"
      return 1
    fi
    cp "$dest/libonnxruntime_providers_shared.so" "$dest/$bin/"
    echo "$sha" > "$dest/.complete"
  fi
  # 3. onnxruntime-node/-common 1.29 in place of the bundle's copies (1.30 kept in $dev/ort-1.30)
  mkdir -p "$dev/ort-1.30"
  for name in onnxruntime-node onnxruntime-common; do
    if [ ! -L "$dev/node_modules/$name" ]; then
      rm -rf "${dev:?}/ort-1.30/$name"
      mv "$dev/node_modules/$name" "$dev/ort-1.30/$name"
    fi
    ln -sfn "$dest/node_modules/$name" "$dev/node_modules/$name"
  done
  # 4. the CUDA libraries: python3's site-packages (PyTorch's nvidia-* wheels), then the loader's cache
  if [ -n "${VLM_GRPO_PYTHON_SITE:-}" ]; then sp=${VLM_GRPO_PYTHON_SITE//:/ }
  else sp=$(python3 -c 'import site; print(" ".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null || true); fi
  libs="libcublas.so.13:cuBLAS libcublasLt.so.13:cuBLASLt libcurand.so.10:cuRAND libcudart.so.13:the_CUDA_runtime libcudnn.so.9:cuDNN_9,_for_Conv"
  local candidates="" existing=()
  for site in $sp; do [ -d "$site" ] && existing+=("$site"); done
  # one walk of site-packages; files under nvidia/ first (nvidia/cu13/lib, nvidia/<library>/lib)
  [ ${#existing[@]} -gt 0 ] && candidates=$(find "${existing[@]}" \( -name 'libcublas*.so.13*' -o -name 'libcurand.so.10*' -o -name 'libcudart.so.13*' -o -name 'libcudnn.so.9*' \) \
    \( -type f -o -type l \) 2>/dev/null | awk '{ print (index($0, "/nvidia/") ? 0 : 1) "\t" $0 }' | sort | cut -f2-)
  missing=()
  mkdir -p "$dest/lib"
  for lib in $libs; do
    name=${lib%%:*}; role=${lib#*:}; role=${role//_/ }
    found=$(printf '%s\n' "$candidates" | grep -m1 "/$name\$" || true)
    if [ -z "$found" ]; then  # only a versioned file (libcublas.so.13.1.0.3): link the soname to it
      found=$(printf '%s\n' "$candidates" | grep -m1 "/$name\.[0-9]" || true)
      if [ -n "$found" ]; then
        ln -sfn "$found" "$dest/lib/$name"
        dir=$(dirname "$found")  # its siblings (cuDNN's sub-libraries) are loaded by soname too
        [[ " ${folders[*]} " == *" $dir "* ]] || folders+=("$dir")
        found=$dest/lib/$name
      fi
    fi
    if [ -n "$found" ]; then
      dir=$(dirname "$found")
      [[ " ${folders[*]} " == *" $dir "* ]] || folders+=("$dir")
      echo "activate-cuda: $name ($role) in $dir"
    elif ldconfig -p 2>/dev/null | grep -q " $name "; then
      echo "activate-cuda: $name ($role) from the loader's cache: $(ldconfig -p | grep " $name " | head -1 | sed 's/.*=> //')"
    else
      missing+=("$name ($role)")
    fi
  done
  # the driver's libcuda.so.1: the loader's cache, LD_LIBRARY_PATH, or the usual container folders
  found=""
  if ldconfig -p 2>/dev/null | grep -q ' libcuda.so.1 '; then found="the loader's cache"
  else
    for dir in ${LD_LIBRARY_PATH//:/ } /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu /usr/lib64; do
      if [ -e "$dir/libcuda.so.1" ]; then
        found=$dir
        [[ ":${LD_LIBRARY_PATH:-}:" == *":$dir:"* ]] || folders+=("$dir")
        break
      fi
    done
  fi
  if [ -n "$found" ]; then echo "activate-cuda: libcuda.so.1 (the NVIDIA driver) in $found"; else missing+=("libcuda.so.1 (the NVIDIA driver)"); fi
  local joined=""
  for dir in "${folders[@]}" ${LD_LIBRARY_PATH:+"$LD_LIBRARY_PATH"}; do joined+=${joined:+:}$dir; done
  export LD_LIBRARY_PATH=$joined
  export VLM_GRPO_ORT_CUDA=$dest
  echo "activate-cuda: onnxruntime-node $(grep -o '"version": *"[^"]*"' "$dest/node_modules/onnxruntime-node/package.json" | head -1 | cut -d'"' -f4) with $dest/$bin/libonnxruntime_providers_cuda.so (1.30 kept in $dev/ort-1.30)"
  echo "activate-cuda: LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  if [ ${#missing[@]} -gt 0 ]; then
    local list=""
    for name in "${missing[@]}"; do list+=${list:+, }$name; done
    echo "activate-cuda: not found (searched ${sp:-no site-packages: python3 missing?} and ldconfig): $list; the CUDA provider will not load without them" >&2
    return 1
  fi
  return 0
}
_vlm_ort_cuda "$@"; _vlm_ort_cuda_rc=$?; unset -f _vlm_ort_cuda
return $_vlm_ort_cuda_rc 2>/dev/null || exit $_vlm_ort_cuda_rc
ACT

# ---- sizes and the device calls they need
CORE_BYTES=$(stat -c %s "$OUT/core/ort129.tar.xz")
PART_MAX=$(stat -c %s "$OUT"/part-*/cuda-provider.so.xz.* | sort -n | tail -1)
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
echo "provider: $(mb "$PROVIDER_BYTES") → xz $(mb "$XZ_BYTES") in $PARTS part(s) of ≤ $(mb "$PART_BYTES") (largest $(mb "$PART_MAX")); core/ort129.tar.xz $(mb "$CORE_BYTES")"
du -sh "$OUT"/* | sed 's/^/  /'
# First-fit decreasing of the carried folders into calls: 64 MiB per call less the tracked tree
LIMIT=$((64 * 1024 * 1024))
# what travels: tracked and untracked-not-ignored files (tracked files moved out of the checkout do not)
TREE=$( (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard 2>/dev/null | xargs -0 -r stat -c %s 2>/dev/null || true) | awk '{ s += $1 } END { print s + 0 }')
items=()
for extra in .device .device-extra .replicas/carry .whl; do [ -d "$ROOT/$extra" ] && items+=("$(du -sb "$ROOT/$extra" | cut -f1) $extra"); done
items+=("$(du -sb "$OUT/core" | cut -f1) ${OUT#"$ROOT"/}/core")
for d in "$OUT"/part-*; do items+=("$(du -sb "$d" | cut -f1) ${d#"$ROOT"/}"); done
# .device first (every later command needs it), then the rest, largest first
printf '%s\n' "${items[@]}" | sort -rn | awk '$2 == ".device" { print; next } { rest[++n] = $0 } END { for (i = 1; i <= n; i++) print rest[i] }' | awk -v cap=$((LIMIT - TREE)) -v tree="$TREE" '
  { size[NR] = $1; name[NR] = $2 }
  END {
    calls = 0
    for (i = 1; i <= NR; i++) {
      if (size[i] > cap) { printf "  %s (%.1f MB) does not fit beside the tree (%.1f MB) in one call: use a smaller PART_MB\n", name[i], size[i] / 1e6, tree / 1e6; continue }
      for (c = 1; c <= calls; c++) if (used[c] + size[i] <= cap) break
      if (c > calls) calls = c
      used[c] += size[i]; list[c] = list[c] (list[c] == "" ? "" : ", ") name[i]
    }
    printf "device calls to carry it all, back to back (tracked tree %.1f MB, 64 MiB per call): %d\n", tree / 1e6, calls
    for (c = 1; c <= calls; c++) printf "  call %d: carry %s (%.1f MB + tree)\n", c, list[c], used[c] / 1e6
  }'
