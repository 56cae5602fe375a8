"""The timer the PyTorch references of tools/bench share (torch-reference.py, torch-diffusion.py).

Imported as `from torch_bench_utils import make_timer`: Python puts a script's own folder first on
`sys.path`, so the scripts find it when run as `python3 tools/bench/<script>.py`.
"""
import statistics
import time

import torch


def make_timer(device):
    """`timed(fn, warmup, repeats)`: the median ms of `repeats` calls of `fn` after `warmup` calls,
    with the device synchronised around each call (CUDA; a no-op elsewhere)."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def timed(fn, warmup, repeats):
        for _ in range(warmup):
            fn()
        sync()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            sync()
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    return timed
