#!/usr/bin/env bash
# On the GPU machine: the tiny real-layout replicas (CPU test fixtures) and an inventory of the
# Python stack, into $OUT. Carry .replicas/carry (tools/replicas/README.md).
set -u
R=/tmp/rep; mkdir -p $R
for a in .replicas/carry/*.txz; do tar -xJf "$a" -C $R; done
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
python3 -c "import diffusers; print('diffusers', diffusers.__version__)" 2>&1 | tail -1
python3 -c "import onnx; print('onnx', onnx.__version__)" 2>&1 | tail -1
python3 -c "import onnxruntime; print('onnxruntime', onnxruntime.__version__)" 2>&1 | tail -1
pip list 2>/dev/null > "$OUT/pip-list.txt"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
time python3 tools/replicas/make-replicas.py $R/tiny --size tiny --tokenizers $R/tokenizers-tiny --clip-tokenizers $R/clip-tokenizers-tiny \
  --diffusers-src $R/src 2>&1 | grep -v -i "warn" | tail -40
tar -czf "$OUT/tiny-replicas.tgz" -C $R tiny && ls -la "$OUT"
