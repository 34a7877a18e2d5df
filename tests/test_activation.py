"""The rational tanh and sigmoid of the spiking engine: accuracy against libm, and the
Numba scalar twin against the NumPy specification."""

import numpy as np
from numba import njit

from spikefa.engine.activation import phi_nb, phi_np, sigmoid_nb, sigmoid_np, tanh_nb, tanh_np


@njit
def _apply(x, out_t, out_s, out_p):
    for i in range(x.size):
        out_t[i] = tanh_nb(x[i])
        out_s[i] = sigmoid_nb(x[i])
        out_p[i] = phi_nb(x[i], 1)


def test_accuracy_against_libm():
    # dense grid over the clamp and far beyond it; the bound is the approximation's own
    # (largest at the clamp, where tanh_r = 1 - 2.6e-7)
    x = np.concatenate([np.linspace(-40, 40, 400_001), np.geomspace(1e-12, 1e-2, 1001)])
    assert np.abs(tanh_np(x) - np.tanh(x)).max() < 2.7e-7
    assert np.abs(sigmoid_np(x) - 1 / (1 + np.exp(-x))).max() < 1.4e-7
    assert np.abs(phi_np(x, "sigmoid") - (1 / (1 + np.exp(-x)) - 0.5)).max() < 1.4e-7
    small = x[(np.abs(x) < 1e-2) & (x != 0)]
    assert (np.abs(tanh_np(small) / np.tanh(small) - 1) < 2e-7).all()   # relative, near 0
    assert np.array_equal(tanh_np(-x), -tanh_np(x))                      # odd
    assert (np.abs(tanh_np(x)) < 1).all()


def test_numba_twin_matches_numpy():
    x = np.random.default_rng(3).normal(0, 6, 10_000)
    t, s, p = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    _apply(x, t, s, p)
    np.testing.assert_allclose(t, tanh_np(x), rtol=0, atol=1e-15)
    np.testing.assert_allclose(s, sigmoid_np(x), rtol=0, atol=1e-15)
    np.testing.assert_allclose(p, phi_np(x, "sigmoid"), rtol=0, atol=1e-15)
