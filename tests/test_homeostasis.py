"""Homeostasis ``network.homeostasis = "rate"``: every hidden bias moves by
``eta_h (rho - s_j)`` per training step (Foldiak 1990), so hidden units fire at rho on
average; the output layer is left to the error units.

With eta = 0 and gamma = 0 (no other learning, decay scale c = 1) the rule is an exact
integral controller: over any window of T steps a unit's spikes satisfy
``sum (rho - s_t) = (b_end - b_start) / eta_h``. Its bias has a stationary s.d. of about
``sqrt(eta_h rho (1 - rho) / (2 Psi))`` = 0.07 for eta_h = 0.01, rho = 0.2, Psi ~ 0.16,
so over T = 2,000 steps a unit's rate is within about 0.1 / (eta_h T) = 0.005 of rho,
and a layer's mean (40-60 units) much closer: 0.02 is a wide margin.
"""

import numpy as np
import pytest

from spikefa.engine.network import SpikingNetwork
from spikefa.engine.params import SpikingParams
from spikefa.engine.simulator import Simulator

SIZES = (30, 60, 50, 40, 20)
RHO, ETA_H = 0.2, 0.01


def run(homeostasis: str, backend="numba", n_burn=1000, n_window=400):
    """Rates of each layer over the last ``n_window`` images (5 steps each) after
    ``n_burn`` images, and the bias before and after the window."""
    p = SpikingParams(sizes=SIZES, n_classes=2, eta=0.0, gamma=0.0, homeostasis=homeostasis,
                      homeostasis_rate=RHO, homeostasis_eta=ETA_H)
    net = SpikingNetwork(p, "fa", seed=1)
    sim = Simulator(net, backend, threads=1)
    rng = np.random.default_rng(4)
    x = rng.random((n_burn + n_window, SIZES[0])).astype(np.float32)
    y = rng.integers(0, 2, n_burn + n_window)
    sim.train(x[:n_burn], y[:n_burn])
    b0 = net.b.astype(np.float64).copy()
    _, spikes = sim.train(x[n_burn:], y[n_burn:])
    return spikes / (n_window * 5) / net.sizes, b0, net.b.astype(np.float64), net


def test_hidden_layers_fire_at_the_target_rate():
    """Seed 1, 1,000 images to settle, rates over the next 400 (2,000 steps): every hidden
    layer within 0.02 of rho = 0.2; without homeostasis they stay near 0.5."""
    rates, *_ = run("rate")
    off, *_ = run("off")
    print(f"\nhidden rates with homeostasis {np.round(rates[1:-1], 4)}, without {np.round(off[1:-1], 3)}")
    assert np.all(np.abs(rates[1:-1] - RHO) < 0.02), rates
    assert np.all(np.abs(off[1:-1] - 0.5) < 0.1), off


def test_the_bias_integrates_the_rate_error_exactly():
    """Over 250 steps, sum (rho - s) equals (b_end - b_start) / eta_h for every hidden unit
    (and output biases do not move), to the float32 rounding of the stored bias: half an
    ulp of |b| < 1 per step, 250 x 3e-8 / eta_h = 7.5e-4 at worst."""
    p = SpikingParams(sizes=SIZES, n_classes=2, eta=0.0, gamma=0.0, homeostasis="rate", steps_per_image=1,
                      homeostasis_rate=RHO, homeostasis_eta=ETA_H)
    net = SpikingNetwork(p, "fa", seed=1)
    sim = Simulator(net, "numba", threads=1)
    rng = np.random.default_rng(4)
    x, y = rng.random((250, SIZES[0])).astype(np.float32), rng.integers(0, 2, 250)
    total = np.zeros(net.b.size)
    b0 = net.b.astype(np.float64).copy()
    for i in range(250):      # one step per call, counting every unit's spikes
        sim.train(x[i:i + 1], y[i:i + 1])
        total += net.spikes[(net.t - 1) & 1]
    L = p.n_layers
    for l in range(1, L + 1):
        got = (net.unit_view(net.b, l).astype(np.float64) - net.unit_view(b0, l)) / ETA_H
        want = 250 * RHO - net.unit_view(total, l) if l < L else 0.0
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-3)


@pytest.mark.parametrize("backend", ["numpy"])
def test_numpy_twin_fires_the_same(backend):
    """The NumPy specification draws the same spikes: the same rates and biases."""
    ra, _, ba, _ = run("rate", "numba", n_burn=40, n_window=20)
    rb, _, bb, _ = run("rate", backend, n_burn=40, n_window=20)
    np.testing.assert_array_equal(ra, rb)
    np.testing.assert_allclose(ba, bb, rtol=0, atol=1e-6)
