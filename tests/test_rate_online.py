"""The fused online loop (spikefa.rate.online) against its specification, the NumPy
online step, for every rule that allows it; and train() taking the fused path."""

import numpy as np
import pytest

from spikefa.rate import online
from spikefa.rate.network import RateNetwork, RateParams
from spikefa.rate.train import train
from spikefa.rules.base import get_rule, rule_names

FUSABLE = [r for r in rule_names() if get_rule(r).rate_fusable]


def data(seed, n, n_in, n_out):
    """Sparse non-negative inputs (like MNIST's) and one-hot targets."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_in)) * (rng.random((n, n_in)) < 0.25)
    return X, np.eye(n_out)[rng.integers(0, n_out, n)]


def state(net):
    net.sync()
    return [w.copy() for w in net.W[1:]] + [b.copy() for b in net.b[1:]]


def test_fusable_rules_are_the_fixed_feedback_ones():
    assert set(FUSABLE) == {"bp", "fa", "dfa", "shallow"}


@pytest.mark.parametrize("rule", FUSABLE)
@pytest.mark.parametrize("kw", [
    dict(sizes=(30, 20, 10), hidden="logistic", output="logistic", loss="ce", weight_decay=1e-3),
    dict(sizes=(30, 20, 15, 10), hidden="tanh", output="linear", loss="mse", weight_decay=0.0),
    dict(sizes=(30, 20, 15, 10), hidden="relu", output="logistic", loss="mse", weight_decay=1e-2, sparsity=0.5),
])
def test_fused_online_steps_equal_numpy_steps(rule, kw):
    # seed 1, 300 online steps; the twins differ only in summation order (BLAS vs loops)
    X, Y = data(1, 300, kw["sizes"][0], kw["sizes"][-1])
    p = RateParams(**kw, lr=0.05, w_init=0.3, b_init=0.3)
    ref, fused = RateNetwork(p, rule, seed=4), RateNetwork(p, rule, seed=4)
    order = np.random.default_rng(2).permutation(300)
    for i in order:
        ref.train_step(X[i:i + 1], Y[i:i + 1])
    online.train_online(fused, X, Y, order[:120])    # two calls: state carries over
    online.train_online(fused, X, Y, order[120:])
    assert fused.lazy.t == ref.lazy.t
    moved = False
    for a, b, w0 in zip(state(fused), state(ref), state(RateNetwork(p, rule, seed=4))):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
        moved |= not np.allclose(b, w0)
    assert moved
    if rule == "bp":
        assert fused.rule.rate_feedback(fused, 1) is fused.W[2]


@pytest.mark.parametrize("rule", ["fa", "kp"])
def test_train_takes_fused_path_only_where_allowed(rule, monkeypatch):
    calls = []
    monkeypatch.setattr("spikefa.rate.train.train_online",
                        lambda *a: (calls.append(len(a[3])), online.train_online(*a))[1])
    X, Y = data(3, 100, 30, 10)
    net = RateNetwork(RateParams(sizes=(30, 20, 10), lr=0.05), rule, seed=0)
    rec = train(net, X, Y, 250, batch=1, record_every=60, evaluate=lambda n: {"w": float(n.W[2].sum())})
    assert list(rec["examples"]) == [0, 60, 120, 180, 240]
    # chunks end at records (every 60) and at the end of each pass over the 100 examples
    assert calls == ([60, 40, 20, 60, 20, 40, 10] if rule == "fa" else [])


def test_every_activation_has_its_numba_twin():
    # the fused loop's scalar f and f' against rate.activations, over a grid through 0
    # (relu's kink included) and into logistic saturation; the same formulas, so they
    # differ by a few ulp at most (Numba's exp and tanh and NumPy's are different builds)
    from spikefa.rate.activations import ACTIVATIONS

    assert set(online.ACT_CODES) == set(ACTIVATIONS)
    a = np.linspace(-30.0, 30.0, 6001)
    for name, (f, df) in ACTIVATIONS.items():
        k = online.ACT_CODES[name]
        h = np.array([online._f(v, k) for v in a])
        np.testing.assert_allclose(h, f(a), rtol=1e-14, atol=1e-15, err_msg=name)
        dh = np.array([online._df(v, hv, k) for v, hv in zip(a, h)])
        np.testing.assert_allclose(dh, df(a, f(a)), rtol=1e-14, atol=1e-15, err_msg=name)


def test_one_pass_step_equals_the_numpy_update():
    # spikefa.rate.network.step (BLAS gemm with beta) against decay, gradient and
    # subtraction written out, on a C-ordered matrix (in place) and a strided view (copied back)
    from spikefa.rate.network import step

    rng = np.random.default_rng(4)
    h, d = rng.random((20, 78)) * (rng.random((20, 78)) < 0.2), rng.standard_normal((20, 50))
    for W in (rng.standard_normal((78, 50)), rng.standard_normal((78, 100))[:, ::2]):
        want = W * (1 - 1e-4) - 0.01 * (h.T @ d)
        step(W, h, d, 0.01, 1 - 1e-4)
        np.testing.assert_allclose(W, want, rtol=0, atol=1e-14)
    # the networks' matrices (C-ordered float64) take the one-pass path: BLAS writes W^T in place
    from scipy.linalg.blas import dgemm

    W = rng.standard_normal((78, 50))
    assert np.shares_memory(dgemm(alpha=1.0, a=d, b=h, trans_a=1, beta=1.0, c=W.T, overwrite_c=1), W)
    W.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        step(W, h, d, 0.01, 1.0)
