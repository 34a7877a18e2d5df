"""Tests of spikefa.rng: the counter-based random numbers shared by the kernel and its twin."""

import numpy as np
import pytest
from numba import njit

from spikefa import rng as crng
from spikefa.rng import step_key_nb, uniform_nb

KEYS = [0, 1, 0xDEADBEEF, 2**32 - 1, crng.layer_key(12345, 0, 3), crng.layer_key(7, 1, 0)]
STEPS = [0, 1, 2, 17, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**33 + 12345, 2**40 + 7, 2**63 - 1]


@njit(cache=False)
def _draws_nb(key, t, n):
    sk = step_key_nb(key, t)
    out = np.empty(n)
    for i in range(n):
        out[i] = uniform_nb(sk, i)
    return out


@njit(cache=False)
def _step_key_nb(key, t):
    return step_key_nb(key, t)


@njit(cache=False)
def _lowbias_nb(x):
    return crng.lowbias32_nb(x)


def test_lowbias32_known_values():
    # lowbias32(0) = 0 (every stage maps 0 to 0); the mixer is a bijection on 32 bits so
    # distinct small inputs give distinct outputs, and Python and Numba agree.
    assert crng.lowbias32(0) == 0
    xs = [1, 2, 3, 0x12345678, 2**32 - 1, 2**32 + 5]
    for x in xs:
        assert crng.lowbias32(x) == int(_lowbias_nb(np.uint32(x & crng.MASK)))
    assert crng.lowbias32(2**32 + 5) == crng.lowbias32(5)  # taken modulo 2**32
    outs = {crng.lowbias32(x) for x in range(5000)}
    assert len(outs) == 5000


@pytest.mark.parametrize("key", KEYS)
def test_numpy_equals_numba_bit_for_bit(key):
    n = 257
    for t in STEPS:
        assert crng.step_key(key, t) == int(_step_key_nb(np.uint32(key), np.uint64(t))), (key, t)
        a = crng.uniforms(key, t, n)
        b = _draws_nb(np.uint32(key), np.uint64(t), n)
        assert a.dtype == np.float64 and a.shape == (n,)
        np.testing.assert_array_equal(a, b)


def test_steps_beyond_2_32_differ_from_their_low_word():
    # t and t + 2**32 must not give the same draws (the high word enters the key).
    key = KEYS[2]
    for t in (0, 5, 123456):
        assert not np.array_equal(crng.uniforms(key, t, 64), crng.uniforms(key, t + 2**32, 64))
        assert crng.step_key(key, t) != crng.step_key(key, t + 2**32)


def test_draws_in_unit_interval_on_24_bit_grid():
    u = crng.uniforms(KEYS[3], 99, 100_000)
    assert u.min() >= 0.0 and u.max() < 1.0
    np.testing.assert_array_equal(u * 2**24, np.floor(u * 2**24))


@pytest.mark.statistical
def test_uniformity_chi_square_and_mean():
    # seed/key: layer_key(2024, 0, 1); sample: 1000 steps x 1000 units = 1e6 draws.
    # Mean of N iid U[0,1): sd = sqrt(1/12/N) = 2.9e-4; tolerance 4 sd (false alarm ~6e-5).
    # Chi-square over 100 equal bins, 99 dof: mean 99, sd sqrt(198) = 14.1; threshold
    # 99 + 5 * 14.1 = 169.4 (far tail, false alarm < 1e-5 by the Wilson-Hilferty bound).
    key = crng.layer_key(2024, 0, 1)
    u = np.concatenate([crng.uniforms(key, t, 1000) for t in range(1000)])
    N = u.size
    assert abs(u.mean() - 0.5) < 4 * np.sqrt(1 / 12 / N)
    counts = np.bincount((u * 100).astype(np.int64), minlength=100)
    e = N / 100
    chi2 = float(((counts - e) ** 2 / e).sum())
    assert chi2 < 99 + 5 * np.sqrt(2 * 99), chi2
    # and not suspiciously perfect either (lower tail: 99 - 5 sd = 28.6)
    assert chi2 > 99 - 5 * np.sqrt(2 * 99), chi2
    # successive units and successive steps are uncorrelated: |r| < 4 / sqrt(N)
    m = u.reshape(1000, 1000)
    r_units = np.corrcoef(m[:, :-1].ravel(), m[:, 1:].ravel())[0, 1]
    r_steps = np.corrcoef(m[:-1].ravel(), m[1:].ravel())[0, 1]
    assert abs(r_units) < 4 / np.sqrt(N) and abs(r_steps) < 4 / np.sqrt(N)


def test_distinct_coordinates_give_distinct_keys():
    keys = {}
    for seed in (0, 1, 2, 255, 256, 2**32 - 1):
        for stream in (crng.STREAM_TRAIN, crng.STREAM_TEST):
            for layer in range(6):
                k = crng.layer_key(seed, stream, layer)
                assert 0 <= k < 2**32
                assert k not in keys, (seed, stream, layer, keys.get(k))
                keys[k] = (seed, stream, layer)
    ks = crng.layer_keys(7, crng.STREAM_TEST, 5)
    assert ks.dtype == np.uint32 and ks.tolist() == [crng.layer_key(7, 1, l) for l in range(5)]
    # distinct keys give different draws, and distinct steps too
    a, b = crng.uniforms(int(ks[0]), 0, 100), crng.uniforms(int(ks[1]), 0, 100)
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, crng.uniforms(int(ks[0]), 1, 100))


@pytest.mark.statistical
@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.95])
def test_spike_probability(p):
    # seed: layer_key(99, 0, 2); sample N = 200 steps x 1000 units = 2e5 Bernoulli(p) trials.
    # Binomial sd of the rate: sqrt(p(1-p)/N); tolerance 4 sd (two-sided false alarm ~6e-5).
    key = crng.layer_key(99, 0, 2)
    s = np.concatenate([crng.uniforms(key, t, 1000) < p for t in range(200)])
    N = s.size
    assert abs(s.mean() - p) < 4 * np.sqrt(p * (1 - p) / N), s.mean()


def test_spike_probability_edges():
    key = crng.layer_key(5, 0, 1)
    for t in (0, 3, 2**32 + 3):
        u = crng.uniforms(key, t, 50_000)
        assert not (u < 0.0).any()        # p = 0: never
        assert (u < 1.0).all()            # p = 1: always


@pytest.mark.parametrize("seed", [-1, 2**32, 2**40, -(2**31)])
def test_layer_key_rejects_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        crng.layer_key(seed, 0, 0)


def test_layer_key_accepts_extreme_seeds():
    assert crng.layer_key(0, 0, 0) != crng.layer_key(2**32 - 1, 0, 0)
