#!/usr/bin/env bash
# Packs this machine's redis-server (Debian's, which CI installs) with the shared libraries it
# needs beyond glibc, for the GPU machine, which has no Redis and no package registry: the
# distributed-rollout benchmark (tools/bench/rollout-throughput.mjs) starts `redis-server` from
# PATH. OUT/bin/redis-server is a wrapper that sets LD_LIBRARY_PATH for Redis alone (Node.js and
# the workers keep the machine's libraries).
#
# Usage, from the repository root (redis-server installed: apt-get install redis-server):
#   bash tools/device/bundle-redis.sh [OUT=.device-redis]
# On the GPU machine:  export PATH=$PWD/.device-redis/bin:$PATH
set -euo pipefail
OUT=${1:-.device-redis}
BIN=$(readlink -f "$(command -v redis-server)") || { echo "error: redis-server is not installed (apt-get install redis-server)" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT/bin" "$OUT/lib"
cp "$BIN" "$OUT/bin/redis-server.bin"
# every library ldd resolves, except glibc's own (the GPU machine's glibc is as new or newer)
ldd "$BIN" | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
  case "$(basename "$lib")" in libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*) continue ;; esac
  cp -L "$lib" "$OUT/lib/"
done
cat > "$OUT/bin/redis-server" <<'SH'
#!/bin/sh
d=$(cd "$(dirname "$0")" && pwd)
LD_LIBRARY_PATH="$d/../lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$d/redis-server.bin" "$@"
SH
chmod +x "$OUT/bin/redis-server"
"$OUT/bin/redis-server" --version
echo "$OUT: $(du -sh "$OUT" | cut -f1) ($(ls "$OUT/lib" | wc -l) libraries)"
