"""Online learning of the input layer with lazy weight decay (Numba, with a NumPy twin).

An online step of a rate network multiplies every weight of ``W_1`` by ``keep = 1 - lr
weight_decay`` and subtracts ``lr x delta^T``. An MNIST image has about 19 % non-zero
pixels, so only those rows of ``W_1`` take part in the forward drive and receive a
gradient; the decay is the only thing that touches the other 81 %. Here the decay of a
row is deferred until the row next learns: ``version[i]`` says through which step row i
is up to date; the forward drive multiplies its input by the decay it owes, ``keep ** (t -
version[i])``, and the update applies that decay with the step's own. The stored values
equal the dense update's to rounding (a power instead of a product). Each step thus
streams the rows of the non-zero inputs twice: read for the drive, read and written for
the update.

:func:`lazy_forward_np` and :func:`lazy_update_np` are the specification; the Numba
kernels compute the same and are compared with them in ``tests/test_rate_lazy.py``.
"""

import numpy as np
from numba import njit


def lazy_forward_np(W, version, t, keep, x, nz):
    """The drive ``x[nz] @ W[nz]`` of rows ``nz`` as of step t; reads W only (the decay
    owed by a row is folded into its input, ``x_i keep ** (t - version_i)``)."""
    return (x[nz] * keep ** (t - version[nz]).astype(np.float64)) @ W[nz]


def lazy_update_np(W, version, t, keep, x, nz, d, lr, mask):
    """Step t -> t+1 on rows ``nz``: bring them to step t, then decay, gradient, mask."""
    W[nz] *= (keep ** (t - version[nz]).astype(np.float64))[:, None]
    g = lr * np.outer(x[nz], d)
    if mask is not None:
        g *= mask[nz]
    W[nz] = W[nz] * keep - g
    version[nz] = t + 1


def sync_np(W, version, t, keep):
    """Bring every row up to step t (the dense matrix a reader expects)."""
    W *= (keep ** (t - version).astype(np.float64))[:, None]
    version[:] = t


@njit(cache=True, error_model="numpy")
def lazy_forward(W, version, t, keep, x, nz):
    n1 = W.shape[1]
    a = np.zeros(n1)
    for i in nz:
        xi = x[i] * keep ** (t - version[i])
        for j in range(n1):
            a[j] += xi * W[i, j]
    return a


@njit(cache=True, error_model="numpy")
def lazy_update(W, version, t, keep, x, nz, d, lr, mask, masked):
    n1 = W.shape[1]
    for i in nz:
        k = t - version[i]
        s = keep ** (k + 1)
        g = lr * x[i]
        if masked:
            for j in range(n1):
                W[i, j] = W[i, j] * s - (g * d[j]) * mask[i, j]
        else:
            for j in range(n1):
                W[i, j] = W[i, j] * s - g * d[j]
        version[i] = t + 1


class LazyInputLayer:
    """The bookkeeping of layer 1's deferred decay: a step counter and a row version."""

    def __init__(self, n_in: int, keep: float):
        self.keep = float(keep)
        self.t = 0
        self.version = np.zeros(n_in, dtype=np.int64)

    def forward(self, W, x):
        nz = np.flatnonzero(x)
        return lazy_forward(W, self.version, self.t, self.keep, x, nz)

    def update(self, W, x, d, lr, mask):
        nz = np.flatnonzero(x)
        lazy_update(W, self.version, self.t, self.keep, x, nz, d, lr,
                    mask if mask is not None else np.empty((1, 1)), mask is not None)
        self.t += 1

    def sync(self, W):
        if (self.version != self.t).any():
            sync_np(W, self.version, self.t, self.keep)
