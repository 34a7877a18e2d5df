"""Online training (one example per update) of rate networks, many steps per Numba call.

An online step of the 784-1000-10 network of Fig. 3a is about 20 NumPy calls on small
arrays; their overhead, not arithmetic, set its cost (about 0.2 ms a step, 25 minutes for
one condition of the paper's 120 epochs). Here a whole stretch of steps (up to the next
record) runs in one call.

The specification is the NumPy path, :meth:`RateNetwork.train_step` on a batch of one,
and ``tests/test_rate_online.py`` runs both on the same examples for every rule that
allows it. A rule allows it (``rate_fusable = True``) when its teaching signals are the
default ``delta_l = (delta_src @ F_l^T) * f'(a_l)`` through matrices ``F_l`` that stay
valid for a whole run of steps: fixed ones of its own (FA, DFA), the forward weights
themselves, updated in place (BP), or none (shallow). Rules that change their feedback
after each update (Kolen-Pollack, weight mirror, sign symmetry) or compute it another
way (node perturbation) keep the NumPy path.
"""

import numpy as np
from numba import njit

from .lazy_input import lazy_forward, lazy_update

ACT_CODES = {"logistic": 0, "tanh": 1, "linear": 2, "relu": 3}


@njit(cache=True, inline="always")
def _f(a, k):
    if k == 0:
        return 1.0 / (1.0 + np.exp(-a))
    if k == 1:
        return np.tanh(a)
    if k == 2:
        return a
    return max(a, 0.0)


@njit(cache=True, inline="always")
def _df(a, h, k):
    if k == 0:
        return h * (1.0 - h)
    if k == 1:
        return 1.0 - h * h
    if k == 2:
        return 1.0
    return 1.0 if a > 0 else 0.0


@njit(cache=True, error_model="numpy")
def run_online(X, Y, order, W, b, F, fsrc, fuse, M, masked, acts, ce, lr, keep, decay, version, t):
    """Train on the examples ``X[order]``, one update each; return the lazy step counter.

    ``W``, ``b``, ``M`` (masks), ``F`` (feedback matrices): tuples indexed by layer
    (index 0 unused; ``F[l]`` unused unless ``fuse[l]``). Layer 1 keeps its deferred
    decay (:mod:`.lazy_input`, counter ``t``, row ``version``); deeper layers decay by
    ``keep`` every step when ``decay``.
    """
    L = len(W) - 1
    nmax = 0
    for l in range(L + 1):
        nmax = max(nmax, W[l].shape[1])
    A = np.zeros((L + 1, nmax))
    H = np.zeros((L + 1, nmax))
    D = np.zeros((L + 1, nmax))
    acc = np.empty(nmax)                  # forward drive of a deeper layer, reused every step
    for s in range(order.size):
        x = X[order[s]]
        y = Y[order[s]]
        nz = np.nonzero(x)[0]
        for l in range(1, L + 1):
            nout = W[l].shape[1]
            if l == 1:
                a1 = lazy_forward(W[1], version, t, keep, x, nz)
                for j in range(nout):
                    A[1, j] = a1[j] + b[1][j]
            else:
                acc[:nout] = 0.0
                Wl, hp = W[l], H[l - 1]
                for i in range(Wl.shape[0]):
                    hi = hp[i]
                    for j in range(nout):
                        acc[j] += hi * Wl[i, j]
                for j in range(nout):
                    A[l, j] = acc[j] + b[l][j]
            for j in range(nout):
                H[l, j] = _f(A[l, j], acts[l])
        nL = W[L].shape[1]
        for j in range(nL):
            e = H[L, j] - y[j]
            D[L, j] = e if ce else e * _df(A[L, j], H[L, j], acts[L])
        for l in range(L - 1, 0, -1):
            if fuse[l]:
                Fl, src = F[l], fsrc[l]
                for j in range(Fl.shape[0]):
                    acc_ = 0.0
                    for k in range(Fl.shape[1]):
                        acc_ += D[src, k] * Fl[j, k]
                    D[l, j] = acc_ * _df(A[l, j], H[l, j], acts[l])
        for l in range(1, L + 1):
            if l < L and not fuse[l]:
                continue
            nout = W[l].shape[1]
            d = D[l, :nout]
            if l == 1:
                lazy_update(W[1], version, t, keep, x, nz, d, lr, M[1], masked[1])
                t += 1
            else:
                Wl, Ml, hp = W[l], M[l], H[l - 1]
                for i in range(Wl.shape[0]):
                    hi = hp[i]
                    for j in range(nout):
                        w = Wl[i, j] * keep if decay else Wl[i, j]
                        w -= (hi * d[j]) * lr
                        Wl[i, j] = w * Ml[i, j] if masked[l] else w
            bl = b[l]
            for j in range(nout):
                bl[j] -= lr * d[j]
    return t


def fusable(net, layers=None) -> bool:
    """Whether online steps of ``net`` may run in :func:`run_online`."""
    return layers is None and getattr(net.rule, "rate_fusable", False)


def train_online(net, X, Y, order) -> None:
    """Online steps on ``X[order], Y[order]`` in one call (``fusable(net)`` must hold)."""
    p, L = net.params, net.L
    dummy = np.ones((1, 1))
    F, fsrc, fuse = [dummy], np.zeros(L + 1, np.int64), np.zeros(L + 1, np.bool_)
    for l in range(1, L + 1):
        B = net.rule.rate_feedback(net, l) if l < L else None
        fuse[l] = B is not None
        F.append(np.ascontiguousarray(B) if B is not None else dummy)
        fsrc[l] = net.rule.rate_source(net, l) if l < L else 0
        if B is not None and not (B is net.W[l + 1] or B is net.rule.B[l]):
            raise RuntimeError(f"rule {net.rule_name}: rate_fusable needs feedback that is W or the rule's B")
    acts = np.array([0] + [ACT_CODES[p.output if l == L else p.hidden] for l in range(1, L + 1)], np.int64)
    masked = np.array([False] + [m is not None for m in net.W_mask[1:]])
    M = tuple([dummy] + [m if m is not None else dummy for m in net.W_mask[1:]])
    keep = 1.0 - p.lr * p.weight_decay
    if net.lazy.keep != keep:
        raise RuntimeError("lazy input layer built for another learning rate")
    net.lazy.t = run_online(X, Y, np.ascontiguousarray(order, dtype=np.int64), tuple([dummy] + net.W[1:]),
                            tuple([np.zeros(1)] + net.b[1:]), tuple(F), fsrc, fuse, M, masked, acts,
                            p.loss == "ce", p.lr, keep, p.weight_decay != 0.0, net.lazy.version, net.lazy.t)
