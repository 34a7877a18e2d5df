"""Layer 1's lazy weight decay (spikefa.rate.lazy_input) against its NumPy twin and
against the dense online update it replaces."""

import numpy as np
import pytest

from spikefa.rate import lazy_input as li
from spikefa.rate.network import RateNetwork, RateParams


def sparse_inputs(rng, n, n_in, density=0.2):
    """Inputs like MNIST's: most entries exactly zero, the rest in (0, 1]."""
    return rng.random((n, n_in)) * (rng.random((n, n_in)) < density)


@pytest.mark.parametrize("masked", [False, True])
def test_kernels_match_numpy_twin(masked):
    # seed 0, 200 steps on a 60 x 40 matrix; the twins differ only in keep ** k rounding
    rng = np.random.default_rng(0)
    W = rng.uniform(-0.05, 0.05, (60, 40))
    mask = (rng.random(W.shape) > 0.5).astype(float) if masked else None
    if masked:
        W *= mask
    Wn, vn, vk = W.copy(), np.zeros(60, np.int64), np.zeros(60, np.int64)
    keep, lr = 1 - 1e-3, 0.1
    for t, x in enumerate(sparse_inputs(rng, 200, 60)):
        nz = np.flatnonzero(x)
        a_np = li.lazy_forward_np(Wn, vn, t, keep, x, nz)
        a_nb = li.lazy_forward(W, vk, t, keep, x, nz)
        np.testing.assert_allclose(a_nb, a_np, rtol=1e-12, atol=1e-15)
        d = rng.normal(size=40)
        li.lazy_update_np(Wn, vn, t, keep, x, nz, d, lr, mask)
        li.lazy_update(W, vk, t, keep, x, nz, d, lr, mask if masked else np.empty((1, 1)), masked)
        np.testing.assert_array_equal(vk, vn)
    li.sync_np(W, vk, 200, keep)
    li.sync_np(Wn, vn, 200, keep)
    np.testing.assert_allclose(W, Wn, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("rule,sparsity", [("fa", 0.0), ("bp", 0.0), ("fa", 0.5)])
def test_online_network_equals_dense_update(rule, sparsity):
    """300 online steps of a 50-30-10 network with weight decay: W_1 after sync equals a
    plain dense loop (decay every weight, subtract the outer product, mask) to 1e-10."""
    p = RateParams(sizes=(50, 30, 10), lr=0.05, weight_decay=1e-2, sparsity=sparsity)
    net = RateNetwork(p, rule, seed=3)
    W1, W2, b1, b2 = net.W[1].copy(), net.W[2].copy(), net.b[1].copy(), net.b[2].copy()
    B = W2 if rule == "bp" else net.rule.rate_feedback(net, 1)
    m1, m2 = net.W_mask[1], net.W_mask[2]
    rng = np.random.default_rng(1)
    X = sparse_inputs(rng, 300, 50)
    Y = np.eye(10)[rng.integers(0, 10, 300)]
    keep = 1 - p.lr * p.weight_decay
    for x, y in zip(X, Y):
        net.train_step(x[None], y[None])
        h1 = 1 / (1 + np.exp(-(x @ W1 + b1)))
        h2 = 1 / (1 + np.exp(-(h1 @ W2 + b2)))
        d2 = h2 - y
        d1 = ((d2 @ (W2 if rule == "bp" else B).T)) * h1 * (1 - h1)
        W2 = W2 * keep - p.lr * np.outer(h1, d2)
        W1 = W1 * keep - p.lr * np.outer(x, d1)
        if m1 is not None:
            W1 *= m1
            W2 *= m2
        b1, b2 = b1 - p.lr * d1, b2 - p.lr * d2
    assert (net.lazy.version < net.lazy.t).any(), "some rows must still be deferred"
    net.sync()
    np.testing.assert_allclose(net.W[1], W1, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(net.W[2], W2, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(net.b[1], b1, rtol=1e-10, atol=1e-13)


def test_batch_forward_sees_deferred_decay():
    """A batch forward (test error) after online steps uses the decayed weights."""
    p = RateParams(sizes=(20, 8, 3), lr=0.1, weight_decay=0.5)
    net = RateNetwork(p, "fa", seed=0)
    x = np.zeros((1, 20))
    x[0, 0] = 1.0
    W_before = net.W[1].copy()
    for _ in range(10):
        net.train_step(x, np.eye(3)[:1])
    probe = np.zeros((2, 20))
    probe[:, 5] = 1.0                       # row 5 never had input: only decay reached it
    net.forward(probe)
    np.testing.assert_allclose(net.W[1][5], W_before[5] * (1 - 0.05) ** 10, rtol=1e-12)
