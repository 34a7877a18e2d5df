"""The Numba engine against its NumPy twin (spikefa.engine.reference) on the same draws.

Both backends draw every spike from the counter-based generator in spikefa.rng, so given
the same network and images they must produce the same spikes. Continuous state may differ
only by rounding: the kernel sums feedback in float32 in another order and keeps up to
LAZY_K plasticity steps pending (network.py; see kernels.py), hence the small tolerances below.
"""

import numba
import numpy as np
import pytest

import spikefa.engine.network as network
from spikefa.engine import reference
from spikefa.engine.network import SpikingNetwork
from spikefa.engine.params import SpikingParams
from spikefa.engine.simulator import Simulator
from twins import N_IMG, SIZES, STEPS, make_data, make_net

V_TOL, W_TOL, U_TOL = 1e-6, 1e-6, 1e-5


CASES = [
    ("fa", {}),
    ("bp", {}),
    ("dfa", {}),
    ("fa", {"delay": True}),
    ("bp", {"delay": True}),
    ("dfa", {"delay": True}),
    ("fa", {"phi": "sigmoid"}),
    ("bp", {"phi": "sigmoid"}),
    ("fa", {"feedback_dtype": "int8"}),
    ("dfa", {"feedback_dtype": "int8", "delay": True}),
    # gamma = 0.01: c falls below RENORM_BELOW = 0.5 after 69 steps, so the
    # renormalisation path (decay folded back into W and b) runs in both engines
    ("fa", {"gamma": 0.01}),
    ("bp", {"gamma": 0.01}),
    ("kp", {}),            # B receives W's increments (lazily, like W)
    ("kp", {"gamma": 0.01}),
    ("ss", {}),            # sign(W) feedback: plasticity written every step
    ("shallow", {}),
    ("np", {"eta": 0.01}),  # node perturbation (its larger steps amplify rounding: smaller eta)
    ("wm", {"mirror_every": 7, "mirror_samples": 50}),  # mirror phases between calls
    # w_init = 1: units fire near 0 or 1, fewer change per step than are active, so the
    # incremental forward drive (adds and removes the rows of the changed units) runs
    ("fa", {"w_init": 1.0}),
    ("kp", {"w_init": 1.0}),
    ("fa", {"w_init": 1.0, "gamma": 0.01}),
    # half of every W and B removed: masked plasticity, written every step
    ("fa", {"sparsity": 0.5}),
    ("kp", {"sparsity": 0.5, "w_init": 1.0}),
    ("bp", {"sparsity": 0.5}),
    ("wm", {"sparsity": 0.5, "mirror_every": 7, "mirror_samples": 50}),
    # the feedback gate: every feedback primitive sends phi(U) Psi(V) of its source
    ("fa", {"feedback_gate": "psi"}),
    ("bp", {"feedback_gate": "psi"}),
    ("dfa", {"feedback_gate": "psi", "feedback_dtype": "int8"}),
    ("kp", {"feedback_gate": "psi"}),
    ("ss", {"feedback_gate": "psi"}),
    ("bp", {"feedback_gate": "psi", "w_init": 1.0}),
    # homeostasis: hidden biases drift towards the target rate (a large rate, so it shows)
    ("fa", {"homeostasis": "rate", "homeostasis_eta": 0.05, "homeostasis_rate": 0.2}),
    ("bp", {"homeostasis": "rate", "homeostasis_eta": 0.05, "feedback_gate": "psi", "gamma": 0.01}),
    ("np", {"eta": 0.01, "homeostasis": "rate", "homeostasis_eta": 0.05}),
]


@pytest.mark.parametrize("rule,kw", CASES, ids=[f"{r}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}"
                                                for r, kw in CASES])
def test_numba_matches_numpy_twin(rule, kw):
    net_a = make_net(rule, **kw)
    net_b = net_a.copy()
    W0, b0 = net_a.W.copy(), net_a.b.copy()
    X, y = make_data()
    ca, la = Simulator(net_a, "numba").train(X, y)
    cb, lb = Simulator(net_b, "numpy").train(X, y)
    # the Numba engine may hold up to LAZY_K plasticity steps pending: compare the
    # weights it has committed to, written out by the NumPy flush
    # (sign symmetry keeps none: K = 1, written every step)
    K = net_a.pend_kg.shape[0]
    assert (0 < net_a.npend < K if K > 1 else net_a.npend == 0) and net_b.npend == 0
    net_a = net_a.settled()

    assert net_a.t == net_b.t == N_IMG * STEPS
    np.testing.assert_array_equal(ca, cb)
    np.testing.assert_array_equal(la, lb)
    np.testing.assert_array_equal(net_a.spikes, net_b.spikes)
    # every layer is active: the comparison is not between silent networks
    assert (la[1:] > 0).all() and ca.sum() > 0
    # the pending increments enter the drive unrounded, the spec's weights rounded to
    # float32: a difference proportional to the weights' size (w_init, default 0.05)
    big = kw.get("w_init", 0.05) / 0.05
    np.testing.assert_allclose(net_a.V, net_b.V, rtol=0, atol=V_TOL * big)
    np.testing.assert_allclose(net_a.sig, net_b.sig, rtol=0, atol=V_TOL * big)
    np.testing.assert_allclose(net_a.W, net_b.W, rtol=0, atol=W_TOL * big)
    np.testing.assert_allclose(net_a.b, net_b.b, rtol=0, atol=W_TOL * big)
    np.testing.assert_allclose(net_a.U, net_b.U, rtol=0, atol=U_TOL)
    np.testing.assert_allclose(net_a.phi, net_b.phi, rtol=0, atol=U_TOL)
    np.testing.assert_array_equal(net_a.c, net_b.c)
    if net_a.fb_plastic.any() or net_a.rule.changes_feedback:  # KP, WM: B learns from W, so compare like W
        np.testing.assert_allclose(net_a.B, net_b.B, rtol=0, atol=W_TOL)
        np.testing.assert_array_equal(net_a.B_c, net_b.B_c)
        assert np.abs(net_a.B - make_net(rule, **kw).B).max() > 1000 * W_TOL
    else:
        np.testing.assert_array_equal(net_a.B, net_b.B)
    assert net_a.B.dtype == (np.int8 if kw.get("feedback_dtype") == "int8" else np.float32)
    # plasticity mattered: weights moved by far more than the tolerance
    assert np.abs(net_a.W - W0).max() > 1000 * W_TOL
    assert np.abs(net_a.b - b0).max() > 1000 * W_TOL
    # and every layer's weights moved (feedback reached every hidden layer), except the
    # hidden layers of the shallow rule, which must not move at all
    for l in range(1, net_a.params.n_layers + 1):
        moved = np.abs(net_a.W_layer(l) - W0[net_a.w_off[l]:net_a.w_off[l + 1]].reshape(net_a.W_layer(l).shape)).max()
        if rule == "shallow" and l < net_a.params.n_layers:  # (np: every layer learns)
            assert moved == 0.0, l
        else:
            assert moved > 100 * W_TOL, l
    if kw.get("gamma"):
        assert (net_a.c[1:] < 1.0).all() and (net_a.c[1:] > 0.5).all()
        if rule == "kp":   # B's decay scale is folded back into B like W's
            B_c = net_a.B_c[1:net_a.params.n_layers]
            assert (B_c < 1.0).all() and (B_c > 0.5).all()


def _state(net):
    keys = ("V", "U", "sig", "phi", "spikes", "W", "b", "c", "B", "B_c", "pend_spk", "pend_kg", "pend_kgb")
    return {k: getattr(net, k).copy() for k in keys} | {"t": net.t, "npend": net.npend}


def _assert_same_state(s1, s2):
    for k in s1:
        np.testing.assert_array_equal(s1[k], s2[k], err_msg=k)


@pytest.mark.parametrize("rule", ["fa", "bp"])
@pytest.mark.parametrize("delay", [False, True])
def test_test_leaves_state_untouched_and_is_repeatable(rule, delay):
    net = make_net(rule, delay=delay)
    X, y = make_data()
    Simulator(net).train(X[:20], y[:20])      # a non-trivial state (V, U, spikes, t != 0)
    before = _state(net)
    Xt, _ = make_data(n=30, seed=7)
    sim = Simulator(net)
    c1, l1 = sim.test(Xt)
    _assert_same_state(before, _state(net))
    c2, l2 = sim.test(Xt)
    _assert_same_state(before, _state(net))
    np.testing.assert_array_equal(c1, c2)
    np.testing.assert_array_equal(l1, l2)
    assert c1.shape == (30, 2) and c1.sum() > 0
    assert l1[0] > 0 and (l1[1:] > 0).all()

    twin = net.settled()  # the NumPy step starts by writing pending plasticity
    before_twin = _state(twin)
    c3, l3 = Simulator(twin, "numpy").test(Xt)
    _assert_same_state(before_twin, _state(twin))
    np.testing.assert_array_equal(c1, c3)
    np.testing.assert_array_equal(l1, l3)

    # the test stream differs from the train stream: same images, other draws
    c_train, _ = Simulator(net.copy()).train(Xt, np.zeros(30, dtype=np.int64))
    assert not np.array_equal(c_train, c1)


@pytest.mark.parametrize("lazy_k", [1, 16])
@pytest.mark.parametrize("rule", ["fa", "bp", "dfa"])
def test_chunking_does_not_change_results(rule, lazy_k, monkeypatch):
    # run(n) equals n single runs: 10 images in one call == 5 + 5 == 10 calls of one image,
    # bit for bit, with plasticity written every step (K = 1) or kept pending (K = 16,
    # the pending steps carry over between calls).
    monkeypatch.setattr(network, "LAZY_K", lazy_k)
    net1 = make_net(rule)
    assert net1.pend_kg.shape[0] == lazy_k
    net2, net3 = net1.copy(), net1.copy()
    X, y = make_data(n=10)
    c_one, l_one = Simulator(net1).train(X, y)
    sim2 = Simulator(net2)
    parts = [sim2.train(X[:5], y[:5]), sim2.train(X[5:], y[5:])]
    sim3 = Simulator(net3)
    c_single = [sim3.train(X[i:i + 1], y[i:i + 1])[0] for i in range(10)]
    np.testing.assert_array_equal(c_one, np.vstack([c for c, _ in parts]))
    np.testing.assert_array_equal(l_one, parts[0][1] + parts[1][1])
    np.testing.assert_array_equal(c_one, np.vstack(c_single))
    for other in (net2, net3):
        assert other.t == net1.t == 10 * STEPS and other.npend == net1.npend
        for k in ("W", "V", "U", "b", "c", "spikes", "phi", "pend_kg", "pend_spk"):
            np.testing.assert_array_equal(getattr(net1, k), getattr(other, k), err_msg=k)


@pytest.mark.parametrize("rule", ["fa", "kp"])
def test_incremental_drive_equals_full_gather(rule):
    """The incremental forward drive gives bit-identical runs to gathering every active
    row, on a network where it is taken: with w_init = 1 the NumPy twin shows fewer units
    changing than active in most (layer, step) pairs (seed 3, 80 images = 400 steps)."""
    net1 = make_net(rule, w_init=1.0, eta=0.02)
    net2, ref = net1.copy(), net1.copy()
    X, y = make_data(n=80)
    sims = [Simulator(net1), Simulator(net2)]
    sims[1].incremental = False
    out = [(s.train(X[:40], y[:40]), s.train(X[40:], y[40:]), s.test(X[:20])) for s in sims]
    for a, b in zip(*out):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    for k in ("W", "V", "U", "b", "c", "B", "spikes", "phi", "pend_kg"):
        np.testing.assert_array_equal(getattr(net1, k), getattr(net2, k), err_msg=k)
    # how often the incremental branch runs, from the spec's spikes (the same spikes)
    x = np.minimum(X[:20], np.float32(ref.params.input_max))
    fewer, prev = 0, None
    for k in range(20 * STEPS):
        reference.step(ref, x[k // STEPS], int(y[k // STEPS]))
        cur = ref.spikes[(ref.t - 1) & 1].copy()
        if prev is not None:
            for l in range(len(SIZES) - 1):
                a, b = ref.unit_view(cur, l), ref.unit_view(prev, l)
                fewer += int((a != b).sum() < a.sum())
        prev = cur
    assert fewer > 0.6 * (20 * STEPS - 1) * (len(SIZES) - 1)


@pytest.mark.parametrize("rule", ["fa", "bp"])   # a fixed matrix and transposed W
def test_threads_do_not_change_results(rule):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has fewer than 2 threads on this machine")
    # 12 images = 60 steps (> 3 lazy flushes). Kept short: with one of the machine's two
    # cores busy, every parallel region waits for the second thread to be scheduled.
    net1 = make_net(rule)
    net2 = net1.copy()
    X, y = make_data(n=12)
    try:
        c1, l1 = Simulator(net1, threads=1).train(X, y)
        t1 = Simulator(net1, threads=1).test(X[:10])
        c2, l2 = Simulator(net2, threads=2).train(X, y)
        t2 = Simulator(net2, threads=2).test(X[:10])
    finally:
        numba.set_num_threads(1)
    np.testing.assert_array_equal(c1, c2)
    np.testing.assert_array_equal(l1, l2)
    np.testing.assert_array_equal(t1[0], t2[0])
    for k in ("W", "V", "U", "b", "c", "spikes", "phi", "B"):
        np.testing.assert_array_equal(getattr(net1, k), getattr(net2, k), err_msg=k)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_step_counter(backend):
    p = SpikingParams(sizes=(10, 12, 6), n_classes=2, steps_per_image=3, test_steps=4)
    net = SpikingNetwork(p, "fa", seed=0)
    X, y = make_data(n=7, n_in=10)
    sim = Simulator(net, backend)
    assert net.t == 0
    sim.train(X, y)
    assert net.t == 7 * 3
    sim.train(X[:2], y[:2])
    assert net.t == 9 * 3
    counts, layer_spikes = sim.test(X)
    assert net.t == 9 * 3                        # testing does not advance the train clock
    # counts are the output spikes per class over test_steps steps
    assert counts.sum() == layer_spikes[-1]
    assert counts.max() <= 4 * p.group


@pytest.mark.statistical
def test_physics_without_input_or_learning():
    # eta = gamma = 0, all-zero images (input units spike with probability 0: never) and
    # w_init = 0: every potential follows V(t) = (1 - tau) V(t-1) + c * b exactly.
    # Units with b = 0 stay at V = 0, sigma(0) = 1/2, so each fires with probability 1/2.
    # Layer 1 keeps random forward weights (its input is silent, so they cannot matter);
    # in layers 2.. half the units get a bias of 0.3 to exercise the c * b term.
    sizes = (16, 100, 100, 40)
    p = SpikingParams(sizes=sizes, n_classes=2, eta=0.0, gamma=0.0, w_init=0.0, steps_per_image=1, tau=0.7)
    net = SpikingNetwork(p, "fa", seed=11)
    net.W[net.w_off[1]:net.w_off[2]] = np.random.default_rng(0).uniform(-1, 1, sizes[0] * sizes[1])
    biased = np.zeros(net.b.size, dtype=bool)
    for l in (2, 3):
        biased[net.u_off[l]:net.u_off[l] + sizes[l] // 2] = True
    net.b[biased] = np.float32(0.3)
    V = np.zeros_like(net.V)
    sim = Simulator(net)
    T = 400
    X = np.zeros((1, sizes[0]), dtype=np.float32)
    for t in range(T):
        _, ls = sim.train(X, np.array([t % 2]))
        assert ls[0] == 0                         # no input spikes, ever
        V = (1.0 - p.tau) * V + 1.0 * (0.0 + net.b.astype(np.float64))
        np.testing.assert_allclose(net.V, V, rtol=0, atol=1e-12)
    assert (net.V[~biased] == 0.0).all()
    np.testing.assert_allclose(net.V[biased], float(np.float32(0.3)) / p.tau, rtol=1e-12)  # fixed point c b / tau

    # Rates: seed 11, N = T * units of the layer with b = 0. Binomial sd sqrt(0.25 / N);
    # tolerance 4 sd. Biased units fire with sigma(0.3 / 0.7) after a transient of a few steps.
    net2 = SpikingNetwork(p, "fa", seed=11)
    net2.b[biased] = np.float32(0.3)
    sim2 = Simulator(net2)
    spikes = np.zeros(net2.V.size)
    for t in range(T):
        sim2.train(X, np.array([0]))
        spikes += net2.spikes[net2.t - 1 & 1]
    for l in (1, 2, 3):
        sl = slice(net2.u_off[l], net2.u_off[l + 1])
        free = ~biased[sl]
        N = T * free.sum()
        rate = spikes[sl][free].sum() / N
        assert abs(rate - 0.5) < 4 * np.sqrt(0.25 / N), (l, rate)
        if (~free).any():
            q = 1 / (1 + np.exp(-0.3 / 0.7))
            Nb = T * (~free).sum()
            rate_b = spikes[sl][~free].sum() / Nb
            # transient: V reaches 0.3/0.7 within 1e-3 after 6 steps; allow 10/T for it
            assert abs(rate_b - q) < 4 * np.sqrt(q * (1 - q) / Nb) + 10 / T, (l, rate_b, q)
