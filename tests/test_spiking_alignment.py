"""The spiking engine's delta angle (spikefa.engine.alignment)."""

import numpy as np
import pytest

from spikefa.engine import alignment
from spikefa.engine.network import SpikingNetwork
from spikefa.engine.params import SpikingParams

SIZES = (40, 60, 50, 20)          # two hidden layers, output 2 classes x 10 units


def net_of(rule, seed=0):
    return SpikingNetwork(SpikingParams(sizes=SIZES, n_classes=2), rule, seed=seed)


def random_probe(net, n=64, seed=1):
    """Output errors and Psi drawn at random: e in [-1, 1], Psi in (0, 1/4]."""
    rng = np.random.default_rng(seed)
    e = rng.uniform(-1, 1, (n, SIZES[-1]))
    psi = [None] + [rng.uniform(0.01, 0.25, (n, k)) for k in SIZES[1:]]
    return e, psi


def test_transport_equals_backprop_when_upper_derivatives_are_constant():
    """With B = W^T and Psi constant above layer l, the engine's recursion is backprop's:
    the angle is 0 to rounding. With Psi varying it is not (the engine omits them)."""
    net = net_of("bp")
    e, psi = random_probe(net)
    flat = [None, psi[1], np.full_like(psi[2], 0.2), np.full_like(psi[3], 0.2)]
    rule, bp = alignment.teaching_signals(net, e, flat)
    for l in (1, 2):
        cos = np.einsum("ij,ij->i", rule[l], bp[l]) / np.linalg.norm(rule[l], axis=1) / np.linalg.norm(bp[l], axis=1)
        np.testing.assert_allclose(cos, 1.0, atol=1e-9)
    rule, bp = alignment.teaching_signals(net, e, psi)
    assert np.degrees(np.arccos(np.clip(
        np.sum(rule[1] * bp[1]) / np.linalg.norm(rule[1]) / np.linalg.norm(bp[1]), -1, 1))) > 1.0


@pytest.mark.parametrize("rule", ["fa", "dfa"])
def test_random_feedback_starts_near_orthogonal(rule):
    """Fixed random B independent of W: per-sample cosines have s.d. about 1/sqrt(n_l) (n_l
    = 50..60), so the batch mean of 64 angles lies within 90 +- 10 degrees (seed 0)."""
    net = net_of(rule)
    e, psi = random_probe(net)
    r, bp = alignment.teaching_signals(net, e, psi)
    from spikefa.metrics import batch_delta_angle
    for l in (1, 2):
        assert abs(batch_delta_angle(r[l], bp[l]) - 90.0) < 10.0


def test_no_feedback_is_nan_and_probe_leaves_network_untouched():
    net = net_of("shallow")
    rng = np.random.default_rng(0)
    X, y = rng.random((5, SIZES[0])), rng.integers(0, 2, 5)
    before = [a.copy() for a in (net.V, net.U, net.W, net.spikes)]
    ang = alignment.delta_angles(net, X, y)
    assert len(ang) == 2 and all(np.isnan(a) for a in ang)
    for a, b in zip(before, (net.V, net.U, net.W, net.spikes)):
        np.testing.assert_array_equal(a, b)
    assert np.isfinite(alignment.delta_angles(net_of("fa"), X, y)).all()


def test_probe_measures_saturation():
    """A fresh network (|W| <= 0.05, b = 0, about 20 of 40 inputs active) has |V| below 0.5, so
    Psi = sigma'(V) lies within 0.25 - 0.5**2 / 16 > 0.234 of its maximum and no unit is
    saturated. The same weights scaled by 400 (c = 400) give drives of s.d. about
    400 * 0.029 * sqrt(20) = 52: a unit is unsaturated only while |V| < 4.6, a chance of
    about 0.07 per step for a normal drive, so well over half of the pairs are saturated
    (seed 0, 16 images x 5 steps; the bound leaves a wide margin)."""
    rng = np.random.default_rng(0)
    X, y = rng.random((16, SIZES[0])), rng.integers(0, 2, 16)
    net = net_of("fa")
    p = alignment.probe(net, X, y)
    assert len(p["delta"]) == 2 and len(p["psi"]) == len(p["saturated"]) == 3
    assert all(0.234 < v <= 0.25 for v in p["psi"]) and p["saturated"] == [0.0, 0.0, 0.0]
    net.c[1:] = 400.0
    p = alignment.probe(net, X, y)
    assert all(v < 0.1 for v in p["psi"]) and all(f > 0.5 for f in p["saturated"])
    assert p["delta"] == alignment.delta_angles(net, X, y)
