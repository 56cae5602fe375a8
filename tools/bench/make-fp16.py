"""Copy an ONNX model folder with every graph converted to float16, for fp16-vs-fp32 benchmarks.

    python3 tools/bench/make-fp16.py SRC_DIR OUT_DIR

Uses ONNX Runtime's own converter (`onnxruntime.transformers.float16.convert_float_to_float16`,
shipped with the `onnxruntime` Python package; the GPU machine has it) with float16 inputs and
outputs too (`keep_io_types=False`), so the copy also exercises @vlm-grpo/sd's float16 input and
output handling. Non-ONNX files (configs, tokenizers) are copied unchanged, file names are kept.
"""
import os
import shutil
import sys

import onnx
from onnxruntime.transformers.float16 import convert_float_to_float16


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(src, out)
    for folder, _, files in os.walk(out):
        for name in files:
            if name.endswith(".onnx"):
                path = os.path.join(folder, name)
                model = convert_float_to_float16(onnx.load(path), keep_io_types=False)
                onnx.save(model, path)
                print(f"float16: {os.path.relpath(path, out)}", file=sys.stderr)


if __name__ == "__main__":
    main()
