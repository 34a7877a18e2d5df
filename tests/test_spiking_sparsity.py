"""Removing a fraction of W and B in the spiking engine (``sparsity``): the removed
elements are zero from the start and stay zero through learning, for every rule; the
kept ones learn. (The Numba engine against its NumPy twin with sparsity: test_engine_twin.)"""

import numpy as np
import pytest

from spikefa.engine.network import SpikingNetwork
from spikefa.engine.params import SpikingParams
from spikefa.engine.simulator import Simulator
from spikefa.errors import ConfigError
from spikefa.rules import rule_names
from spikefa.rules.base import FB_MATRIX

SIZES = (30, 40, 30, 20)


@pytest.mark.parametrize("rule", rule_names())
def test_removed_elements_stay_zero_through_learning(rule):
    p = SpikingParams(sizes=SIZES, n_classes=2, eta=0.05, sparsity=0.5, mirror_every=5, mirror_samples=100)
    net = SpikingNetwork(p, rule, seed=2)
    W0 = net.W.copy()
    # the mask keeps each element with probability 1/2: over the 3000 weights the kept
    # fraction lies within 5 s.d. (5 * sqrt(0.25 / 3000) = 0.046) of 0.5
    assert abs(net.W_mask.mean() - 0.5) < 0.046
    X = np.random.default_rng(0).random((40, SIZES[0])).astype(np.float32)
    Simulator(net).train(X, np.arange(40) % 2)
    net.flush()
    assert (net.W[net.W_mask == 0] == 0).all()
    if (net.fb_kind == FB_MATRIX).any():
        assert (net.B[net.B_mask == 0] == 0).all()
    kept = net.W_mask == 1
    assert np.abs(net.W[kept] - W0[kept]).max() > 1e-3          # the kept ones learned
    for l in range(1, p.n_layers):          # the feedback: its own mask, or W's transposed
        F = net.feedback_matrix(l)
        if net.fb_kind[l] == FB_MATRIX:
            assert (F[net.B_mask_layer(l) == 0] == 0).all()
        elif F is not None:
            assert (F[net.W_mask_layer(l + 1) == 0] == 0).all()


def test_sparsity_out_of_range_is_refused():
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(ConfigError, match="sparsity"):
            SpikingParams(sizes=SIZES, n_classes=2, sparsity=bad)


def test_masks_follow_the_weight_seed_and_leave_the_draws_of_w_and_b_alone():
    p0 = SpikingParams(sizes=SIZES, n_classes=2)
    p5 = SpikingParams(sizes=SIZES, n_classes=2, sparsity=0.5)
    a, b, dense = SpikingNetwork(p5, "fa", seed=4), SpikingNetwork(p5, "fa", seed=4), SpikingNetwork(p0, "fa", seed=4)
    np.testing.assert_array_equal(a.W_mask, b.W_mask)
    kept = a.W_mask == 1
    np.testing.assert_array_equal(a.W[kept], dense.W[kept])    # the same W, elements removed
    assert not np.array_equal(a.W_mask, SpikingNetwork(p5, "fa", seed=5).W_mask)


@pytest.mark.parametrize("rule", ["kp", "wm"])
def test_a_learned_b_loses_the_connections_its_w_lost(rule):
    # B_l learns W_{l+1}^T (stored with W_{l+1}'s layout): both keep the same elements
    net = SpikingNetwork(SpikingParams(sizes=SIZES, n_classes=2, sparsity=0.5), rule, seed=2)
    for l in (1, 2):
        np.testing.assert_array_equal(net.B_mask_layer(l), net.W_mask_layer(l + 1))


def test_a_checkpoint_with_weights_where_the_mask_removes_them_is_refused(tmp_path):
    from spikefa import checkpoint
    from spikefa.errors import SpikefaError

    dense = SpikingNetwork(SpikingParams(sizes=SIZES, n_classes=2, sparsity=0.0), "ss", seed=2)
    checkpoint.save(dense, tmp_path / "c.npz", {})            # ss: K = 1, like a masked network
    sparse = SpikingNetwork(SpikingParams(sizes=SIZES, n_classes=2, sparsity=0.5), "ss", seed=2)
    W = sparse.W.copy()
    with pytest.raises(SpikefaError, match="sparsity mask"):
        checkpoint.load(sparse, tmp_path / "c.npz")
    np.testing.assert_array_equal(sparse.W, W)                 # untouched


@pytest.mark.parametrize("rule", ["kp", "wm"])
def test_rate_networks_keep_removed_feedback_elements_zero(rule):
    from spikefa.rate.network import RateNetwork, RateParams

    p = RateParams(sizes=(30, 20, 10), sparsity=0.5, lr=0.1, fb_lr=0.1, w_init=0.3, b_init=0.3)
    net = RateNetwork(p, rule, seed=1)
    rng = np.random.default_rng(0)
    for _ in range(20):
        net.train_step(rng.random((8, 30)), np.eye(10)[rng.integers(0, 10, 8)])
    m = net.W_mask[2]
    assert (net.rule.B[1][m == 0] == 0).all() and (net.W[2][m == 0] == 0).all()
    assert (net.rule.B[1][m == 1] != 0).mean() > 0.99          # the kept ones are there
