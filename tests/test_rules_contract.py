"""One contract test over every registered feedback rule, rate-based and spiking.

What each rule promises about its feedback matrices: backprop's equal W^T at every step,
FA's and DFA's never change, sign symmetry's equal sign(W^T) times its scale, and
Kolen-Pollack's and weight mirror's angle to W^T falls during training.
"""

import numpy as np
import pytest

from spikefa.engine.network import SpikingNetwork
from spikefa.engine.params import SpikingParams
from spikefa.engine.simulator import Simulator
from spikefa.errors import ConfigError
from spikefa.metrics import angle
from spikefa.rate.network import RateNetwork, RateParams
from spikefa.rules import get_rule, rule_names

# rule -> what its feedback matrices do while the forward weights learn
CONTRACT = {
    "bp": "transpose", "fa": "fixed", "dfa": "fixed", "ss": "sign",
    "kp": "aligns", "wm": "aligns", "shallow": "none", "np": "none",
}


def test_every_registered_rule_has_a_contract():
    assert set(rule_names()) == set(CONTRACT)


def _linear_task(seed=0, n=600):
    # Fig. 2 of [L16]: a linear 30-20-10 network learning y = x T, T ~ U[-1, 1]
    rng = np.random.default_rng(seed)
    T = rng.uniform(-1, 1, (30, 10))
    X = rng.normal(size=(n, 30))
    return X, X @ T


@pytest.mark.parametrize("rule", sorted(CONTRACT))
def test_rate_rule_contract(rule):
    p = RateParams(sizes=(30, 20, 20, 10), hidden="tanh", output="linear", loss="mse", lr=0.01,
                   w_init=0.1, b_init=0.5, fb_lr=0.05, fb_decay=0.1, noise=0.05)
    net = RateNetwork(p, rule, seed=3)
    X, Y = _linear_task()
    kind = CONTRACT[rule]
    B0 = [None if B is None else B.copy() for B in (net.rule.rate_feedback(net, l) for l in range(1, net.L))]
    first = {}
    for i in range(0, len(X), 10):
        net.train_step(X[i:i + 10], Y[i:i + 10])
        for l in range(1, net.L):
            B = net.rule.rate_feedback(net, l)
            if kind == "transpose":
                assert B is net.W[l + 1]
            elif kind == "fixed":
                np.testing.assert_array_equal(B, B0[l - 1])
            elif kind == "sign":
                W = net.W[l + 1]
                np.testing.assert_array_equal(B, np.sign(W) * np.abs(W).mean())
            elif kind == "none":
                assert B is None
            elif kind == "aligns":
                first.setdefault(l, angle(B, net.W[l + 1]))
    if kind == "aligns":
        for l in range(1, net.L):
            last = angle(net.rule.rate_feedback(net, l), net.W[l + 1])
            # starts near 90 degrees (independent random matrices), ends well aligned
            assert first[l] > 60 and last < first[l] / 2, (l, first[l], last)


def test_unknown_rule_lists_known_ones():
    with pytest.raises(ConfigError, match="known rules: bp, dfa, fa"):
        get_rule("backprop-ish")


def _spiking_rules():
    out = []
    for name in sorted(CONTRACT):
        try:
            get_rule(name).spiking_feedback(SpikingParams(sizes=(8, 6, 6, 4), n_classes=2), np.random.default_rng(0))
            out.append(name)
        except ConfigError:
            pass
    return out


def test_spiking_forms_exist_for_the_core_rules():
    assert set(_spiking_rules()) == set(CONTRACT)  # every rule runs in the spiking engine


@pytest.mark.parametrize("rule", _spiking_rules())
def test_spiking_rule_contract(rule):
    # weight mirror: a mirror phase every 2 images with enough noise samples to see the
    # estimate converge within 40 images (the paper network's defaults are slower)
    mirror = {"mirror_every": 2, "mirror_samples": 2000, "mirror_lr": 0.2} if rule == "wm" else {}
    p = SpikingParams(sizes=(30, 40, 30, 20), n_classes=2, eta=0.05, gamma=1e-3, **mirror)
    net = SpikingNetwork(p, rule, seed=1)
    kind = CONTRACT[rule]
    F0 = {l: None if net.feedback_matrix(l) is None else net.feedback_matrix(l).copy() for l in (1, 2)}
    first = {l: angle(net.feedback_matrix(l), net.effective_W(l + 1)) for l in (1, 2)} if kind == "aligns" else {}
    X = np.random.default_rng(0).random((40, 30)).astype(np.float32)
    y = np.arange(40) % 2
    sim = Simulator(net)
    for k in range(4):  # check between chunks of 10 images
        sim.train(X[10 * k:10 * k + 10], y[10 * k:10 * k + 10])
        for l in (1, 2):
            F = net.feedback_matrix(l)
            if kind == "transpose":
                np.testing.assert_array_equal(F, net.effective_W(l + 1))
            elif kind == "fixed":
                np.testing.assert_array_equal(F, F0[l])
            elif kind == "sign":
                np.testing.assert_array_equal(F, p.b_init / 2 * np.sign(net.effective_W(l + 1)))
            elif kind == "none":
                assert F is None
    if kind == "aligns":
        for l in (1, 2):
            last = angle(net.feedback_matrix(l), net.effective_W(l + 1))
            # KP: B - W decays by (1 - gamma) per step and both get the same increments;
            # WM: B moves towards its estimate of W, which lags W's learning at eta 0.05
            # (measured: 90 -> 11 and 20 degrees; the spike-based estimator stopped at 45)
            assert last < (35.0 if rule == "wm" else first[l] - 1.0), (l, first[l], last)
