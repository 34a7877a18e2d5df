"""How fast one step's int8 feedback pass can read its 5.5 MB, against the bound's yardstick.

`spikefa bench` divides a step's bytes by a streaming-read bandwidth measured over 256 MiB.
A step reads its int8 B (5.5 MB on the paper network) in one short burst instead. This
times, on the same cores: the engine's feedback dot (``kernels._dot``) over a B-sized
int8 matrix; a plain 64-bit integer sum over the same bytes (no conversion, no multiply);
the same dot with fused multiply-adds; and the dot over a float32 matrix of the same shape.
Eight copies of each matrix are read in turn, so that no call finds its matrix in the cache.

    python benchmarks/feedback_burst.py [THREADS]
"""

import sys
import time

import numpy as np
from numba import njit, prange, set_num_threads

from spikefa.bench import _bandwidth
from spikefa.engine.kernels import _dot

ROWS, NS = 3668, 1500     # 5.5 M entries, as the paper network's three B matrices together


# the engine's dot, compiled again with contraction into fused multiply-adds allowed
_dot_fma = njit(fastmath={"reassoc", "nsz", "arcp", "contract"})(_dot.py_func)


@njit(parallel=True)
def feedback(B, v, out):
    for j in prange(out.size):
        out[j] = _dot(B, j * v.size, v.size, v)


@njit(parallel=True)
def feedback_fma(B, v, out):
    for j in prange(out.size):
        out[j] = _dot_fma(B, j * v.size, v.size, v)


@njit(parallel=True)
def byte_sum(B, v, out):
    Q = B.view(np.int64)
    m = Q.size // out.size
    for j in prange(out.size):
        s = np.int64(0)
        for k in range(j * m, (j + 1) * m):
            s += Q[k]
        out[j] = s


def fastest(fn, mats, v, out, calls=200):
    fn(mats[0], v, out)
    times = []
    for c in range(calls):
        t = time.perf_counter()
        fn(mats[c % len(mats)], v, out)
        times.append(time.perf_counter() - t)
    return min(times), float(np.median(times))


def main(threads: int) -> None:
    set_num_threads(threads)
    rng = np.random.default_rng(0)
    B = rng.integers(-127, 128, ROWS * NS).astype(np.int8)
    v = rng.random(NS).astype(np.float32)
    out = np.empty(ROWS, np.float32)
    bw = _bandwidth(threads)
    print(f"{threads} thread(s); streaming read over 256 MiB (the bound's yardstick): {bw / 1e9:.1f} GB/s")
    int8 = [B.copy() for _ in range(8)]
    f32 = [B.astype(np.float32) for _ in range(8)]
    for name, fn, mats in (("feedback dot, int8 (the engine's)", feedback, int8),
                           ("64-bit sum of the same bytes", byte_sum, int8),
                           ("feedback dot, int8, fused mul-add", feedback_fma, int8),
                           ("feedback dot, float32", feedback, f32)):
        mn, md = fastest(fn, mats, v, out)
        nbytes = mats[0].nbytes
        print(f"{name:34s}: {md * 1e3:6.3f} ms median ({mn * 1e3:.3f} min) = {nbytes / md / 1e9:5.1f} GB/s; "
              f"{md / (nbytes / bw):4.2f}x its bytes at the yardstick")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
