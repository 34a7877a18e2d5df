"""Counter-based random numbers: one uniform draw per (seed, stream, layer, step, unit).

A draw is a pure function of its coordinates, so a run is reproducible from its recorded
seeds whatever the thread count or chunking, and the NumPy twin of the engine can make
exactly the same draws as the Numba kernel.

The mixer is ``lowbias32`` (C. Wellons, "Prospecting for hash functions", 2018)::

    x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16

    layer_key = lowbias32(lowbias32(seed) + 256 * stream + layer + 1)        (seed < 2**32)
    step_key  = lowbias32(lowbias32(layer_key ^ (t mod 2**32)) ^ (t >> 32))
    u         = (lowbias32(step_key + unit * 0x9E3779B9) >> 8) / 2**24   in [0, 1)

A unit with firing probability p spikes when ``u < p``.
"""

import numpy as np
from numba import njit

M1 = 0x7FEB352D
M2 = 0x846CA68B
GOLDEN = 0x9E3779B9
MASK = 0xFFFFFFFF
INV24 = 1.0 / (1 << 24)

STREAM_TRAIN = 0
STREAM_TEST = 1


def lowbias32(x: int) -> int:
    """The mixer on a Python int (any value, taken modulo 2**32)."""
    x &= MASK
    x ^= x >> 16
    x = (x * M1) & MASK
    x ^= x >> 15
    x = (x * M2) & MASK
    x ^= x >> 16
    return x


def layer_key(seed: int, stream: int, layer: int) -> int:
    """Key of one layer's draws in one stream (train or test)."""
    if not 0 <= seed <= MASK:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed}")
    return lowbias32(lowbias32(seed) + 256 * stream + layer + 1)


def layer_keys(seed: int, stream: int, n_layers: int) -> np.ndarray:
    """``layer_key`` for layers 0..n_layers-1 as a uint32 array (input layer is 0)."""
    return np.array([layer_key(seed, stream, l) for l in range(n_layers)], dtype=np.uint32)


def step_key(key: int, t: int) -> int:
    """Key of one layer's draws at global step ``t`` (0 <= t < 2**64)."""
    return lowbias32(lowbias32(key ^ (t & MASK)) ^ ((t >> 32) & MASK))


def uniforms(key: int, t: int, n: int) -> np.ndarray:
    """The draws of units 0..n-1 at step ``t``: float64 array (n,) in [0, 1).

    This is the NumPy specification of :func:`uniform_nb`.
    """
    k = np.uint32(step_key(key, t))
    x = k + np.arange(n, dtype=np.uint32) * np.uint32(GOLDEN)
    x ^= x >> np.uint32(16)
    x *= np.uint32(M1)
    x ^= x >> np.uint32(15)
    x *= np.uint32(M2)
    x ^= x >> np.uint32(16)
    return (x >> np.uint32(8)).astype(np.float64) * INV24


@njit(inline="always")
def lowbias32_nb(x):
    x = np.uint32(x)
    x = np.uint32(x ^ (x >> np.uint32(16)))
    x = np.uint32(np.uint64(x) * np.uint64(M1))
    x = np.uint32(x ^ (x >> np.uint32(15)))
    x = np.uint32(np.uint64(x) * np.uint64(M2))
    x = np.uint32(x ^ (x >> np.uint32(16)))
    return x


@njit(inline="always")
def step_key_nb(key, t):
    lo = np.uint32(np.uint64(t) & np.uint64(MASK))
    hi = np.uint32(np.uint64(t) >> np.uint64(32))
    return lowbias32_nb(np.uint32(lowbias32_nb(np.uint32(key) ^ lo)) ^ hi)


@njit(inline="always")
def uniform_nb(skey, unit):
    """Draw of ``unit`` under a step key, identical to ``uniforms(...)[unit]``."""
    x = np.uint32(np.uint64(skey) + np.uint64(unit) * np.uint64(GOLDEN))
    return np.float64(lowbias32_nb(x) >> np.uint32(8)) * INV24
