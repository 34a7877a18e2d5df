"""The Brian2 backend (issue #5) against the Numba engine.

Run with ``python -m pytest -m brian2`` in an environment with the ``brian2`` extra
(``pip install -e '.[brian2]'``); without Brian2 those tests skip, and the unmarked tests
at the end check that asking for the backend says in one line how to install it.

Two kinds of comparison:

1. **Draw for draw** (``draws="spikefa"``): Brian2 reads spikefa's counter-based uniform
   draws instead of its own ``rand()``, so its spikes must equal the Numba engine's
   exactly, and continuous state must agree to rounding, with the tolerances of
   ``test_engine_twin.py`` (Brian2 sums in another order and in float64). This checks
   every equation and the order of the work within a step, rule by rule. Most cases use
   Brian2's ``numpy`` target (nothing to compile); one repeats it with ``cython``.
2. **Statistical** (``draws="brian2"``, cython: the backend as users get it). Brian2's
   random stream differs from spikefa's, so only distributions can agree. Tolerances come
   from R independent Numba runs (spike seeds 0..R-1, same weights and images): a
   statistic of Brian2's run must lie within ``4 * sqrt(1 + 1/R) * s`` of the Numba mean,
   where ``s`` is the Numba runs' standard deviation, floored by theory where one exists
   (a firing rate: ``sqrt(p (1 - p) / N)``, N = units x steps). For a normal statistic
   that fails with probability below 1e-4; both sides are seeded, so each test is
   deterministic on a given machine.
"""

import os

import numpy as np
import pytest

from spikefa.engine.network import SpikingNetwork
from spikefa.engine.params import SpikingParams
from spikefa.engine.simulator import Simulator
from spikefa.errors import ConfigError
from spikefa.rules.base import FB_MATRIX
from spikefa.recording import Capture
from twins import N_IMG, STEPS, make_data, make_net, mnist_or_skip

# brian2 2.9 parses with pyparsing's deprecated camelCase API: hundreds of warnings per test
pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated.*:DeprecationWarning")

V_TOL, W_TOL, U_TOL = 1e-6, 1e-6, 1e-5   # as tests/test_engine_twin.py


def brian2_available() -> bool:
    from spikefa.brian2_backend import available

    return available()


# ----------------------------------------------------------------------------- draw for draw
CASES = [
    ("fa", {}),
    ("bp", {}),                     # weight transport: a summed variable on W's own synapses
    ("dfa", {}),
    ("kp", {}),                     # B learns through an on_post pathway
    ("ss", {}),
    ("shallow", {}),
    ("wm", {"mirror_every": 7}),    # mirror phases (NumPy) change B between Brian2 runs
    ("fa", {"phi": "sigmoid"}),
    ("fa", {"feedback_dtype": "int8"}),
    ("fa", {"gamma": 0.01}),        # the decay scale c falls below 0.5: renormalised after the call
    ("kp", {"gamma": 0.01}),        # and Kolen-Pollack's B_c too
    ("np", {"eta": 0.01}),          # node perturbation: a reward unit sends R - Rbar to every layer
    ("fa", {"feedback_gate": "psi"}),   # the feedback gate: phi*sig*(1 - sig) on every pathway
    ("bp", {"feedback_gate": "psi"}),
    ("kp", {"feedback_gate": "psi"}),
    ("ss", {"feedback_gate": "psi"}),
    ("fa", {"homeostasis": "rate", "homeostasis_eta": 0.05, "homeostasis_rate": 0.2}),
]


def _effective(net):
    """Forward weights and biases as c * stored (the Numba engine folds c back into W
    inside a call when it falls below 0.5, the Brian2 backend after the call)."""
    L = net.params.n_layers
    return (np.concatenate([net.c[l] * net.W_layer(l).astype(np.float64).ravel() for l in range(1, L + 1)]),
            np.concatenate([net.c[l] * net.unit_view(net.b, l).astype(np.float64) for l in range(1, L + 1)]))


def _effective_B(net):
    """Feedback matrices as B_c * stored (renormalised like W for Kolen-Pollack)."""
    return np.concatenate([net.B_c[l] * net.B_layer(l).astype(np.float64).ravel()
                           for l in range(1, net.params.n_layers) if net.fb_kind[l] == FB_MATRIX] + [np.zeros(0)])


def _compare(net_a, net_b, ca, cb, la, lb):
    """Numba (a) and Brian2 (b) after the same steps from the same state."""
    net_a = net_a.settled()
    assert net_a.t == net_b.t
    np.testing.assert_array_equal(ca, cb)
    np.testing.assert_array_equal(la, lb)
    last = (net_a.t - 1) & 1   # the slot of the other parity is never read without delay
    np.testing.assert_array_equal(net_a.spikes[last], net_b.spikes[last])
    assert (la[1:] > 0).all() and ca.sum() > 0
    for name, tol in (("V", V_TOL), ("sig", V_TOL), ("U", U_TOL)):
        np.testing.assert_allclose(getattr(net_b, name), getattr(net_a, name), rtol=0, atol=tol, err_msg=name)
    np.testing.assert_allclose(net_b.phi[last], net_a.phi[last], rtol=0, atol=U_TOL)
    for name, a, b in zip("Wb", _effective(net_a), _effective(net_b)):
        np.testing.assert_allclose(b, a, rtol=0, atol=W_TOL, err_msg=name)
    np.testing.assert_allclose(_effective_B(net_b), _effective_B(net_a), rtol=0, atol=W_TOL)
    np.testing.assert_allclose(net_b.R_bar, net_a.R_bar, rtol=0, atol=1e-12)


@pytest.mark.brian2
@pytest.mark.parametrize("rule,kw", CASES, ids=[f"{r}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}"
                                                for r, kw in CASES])
def test_draw_for_draw_equals_numba(rule, kw):
    net_a = make_net(rule, **kw)
    net_b = net_a.copy()
    W0, B0 = net_a.W.copy(), net_a.B.copy()
    X, y = make_data()
    sim_a = Simulator(net_a, "numba")
    ca, la = sim_a.train(X, y)
    pytest.importorskip("brian2")
    # two calls: the state written back after the first and read again for the second
    # must continue the run as one call would; the weight mirror's phases run in NumPy
    # between calls, as with the other backends
    sim_b = Simulator(net_b, "brian2", options={"target": "numpy", "draws": "spikefa"})
    c1, l1 = sim_b.train(X[:25], y[:25])
    c2, l2 = sim_b.train(X[25:], y[25:])
    _compare(net_a, net_b, ca, np.concatenate([c1, c2]), la, l1 + l2)
    assert np.abs(net_b.W - W0).max() > 1000 * W_TOL           # learning happened
    if rule in ("kp", "wm"):
        assert np.abs(net_b.B.astype(float) - B0).max() > 1000 * W_TOL
    if kw.get("gamma"):     # c = 0.99^175 = 0.17 at the end of the second call: folded into W and b
        assert (net_b.c[1:] == 1.0).all()
        if rule == "kp":    # and B_c into B
            assert (net_b.B_c[1:net_b.params.n_layers] == 1.0).all()
    # test mode: same answers, state untouched
    before = {k: getattr(net_b, k).copy() for k in ("W", "b", "V", "U", "sig", "phi", "spikes", "B")}
    ta, tla = sim_a.test(X[:20])
    tb, tlb = sim_b.test(X[:20])
    np.testing.assert_array_equal(ta, tb)
    np.testing.assert_array_equal(tla, tlb)
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(net_b, k), v, err_msg=k)


def _twin_nets(rule="fa", **kw):
    """Two copies of one small network (Numba side, Brian2 side) and the twin tests' data."""
    net_a = make_net(rule, **kw)
    return (net_a, net_a.copy(), *make_data())


@pytest.mark.brian2
def test_set_eta_between_calls_equals_numba():
    """A learning-rate schedule: eta changed between two calls reaches Brian2's shared eta."""
    pytest.importorskip("brian2")
    net_a, net_b, X, y = _twin_nets()
    sims = Simulator(net_a, "numba"), Simulator(net_b, "brian2", options={"target": "numpy", "draws": "spikefa"})
    out = []
    for sim in sims:
        c1, l1 = sim.train(X[:25], y[:25])
        sim.set_eta(0.5 * sim.net.params.eta)
        c2, l2 = sim.train(X[25:], y[25:])
        out.append((np.concatenate([c1, c2]), l1 + l2))
    _compare(net_a, net_b, out[0][0], out[1][0], out[0][1], out[1][1])


@pytest.mark.brian2
def test_draw_for_draw_cython_target():
    """The compiled target computes the same as the numpy target (and the Numba engine)."""
    pytest.importorskip("brian2")
    net_a, net_b, X, y = _twin_nets()
    ca, la = Simulator(net_a, "numba").train(X, y)
    cb, lb = Simulator(net_b, "brian2", options={"target": "cython", "draws": "spikefa"}).train(X, y)
    _compare(net_a, net_b, ca, cb, la, lb)


@pytest.mark.brian2
def test_recording_fills_the_same_capture():
    """Recorded spikes, V and phi of a Capture equal the Numba engine's (same HDF5 rows)."""
    net_a = make_net("fa")
    net_b = net_a.copy()
    X, y = make_data()
    units = np.array([0, 5, 29, 30, 31, 69, 70, 99, 100, 119])        # every layer, edges included
    traces = np.array([30, 69, 70, 119])
    recorded = np.zeros(N_IMG, dtype=bool)
    recorded[[0, 1, 17, N_IMG - 1]] = True                           # first and last step included
    cap_a = Capture(units, traces, recorded, STEPS, net_a.t)
    cap_b = Capture(units, traces, recorded, STEPS, net_b.t)
    Simulator(net_a, "numba").train(X, y, capture=cap_a)
    pytest.importorskip("brian2")
    Simulator(net_b, "brian2", options={"target": "numpy", "draws": "spikefa"}).train(X, y, capture=cap_b)
    np.testing.assert_array_equal(cap_a.spikes, cap_b.spikes)
    assert cap_b.spikes.sum() > 0
    np.testing.assert_allclose(cap_b.V, cap_a.V, rtol=0, atol=1e-6)
    np.testing.assert_allclose(cap_b.phi, cap_a.phi, rtol=0, atol=1e-5)
    assert np.abs(cap_b.phi).max() > 0.01


@pytest.mark.brian2
def test_test_calls_repeat_and_leave_the_network_alone():
    pytest.importorskip("brian2")
    net = make_net("fa")
    X, y = make_data()
    sim = Simulator(net, "brian2")
    sim.train(X[:10], y[:10])
    before = {k: getattr(net, k).copy() for k in ("W", "b", "c", "V", "U", "sig", "phi", "spikes")}
    t = net.t
    c1, _ = sim.test(X)
    c2, _ = sim.test(X)
    np.testing.assert_array_equal(c1, c2)       # the test stream restarts at step 0
    assert net.t == t
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(net, k), v, err_msg=k)
    # a training call continues from the stored state, and its random stream depends on
    # the step it starts at: two runs cut into the same calls agree exactly
    net2 = make_net("fa")
    sim2 = Simulator(net2, "brian2")
    sim2.train(X[:10], y[:10])
    sim2.test(X[:3])
    a, _ = sim.train(X[10:], y[10:])
    b, _ = sim2.train(X[10:], y[10:])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(net.W, net2.W)


@pytest.mark.brian2
@pytest.mark.parametrize("kw,word", [({"delay": True}, "delay"), ({"sparsity": 0.5}, "sparsity")])
def test_unsupported_options_are_a_one_line_error(kw, word):
    pytest.importorskip("brian2")
    with pytest.raises(ConfigError, match=word) as e:
        Simulator(make_net("fa", **kw), "brian2")
    assert "\n" not in str(e.value)


# ----------------------------------------------------------------------------- statistical
STAT_SIZES = (784, 100, 100, 100)      # 10 output units per class
STAT_ETA = 0.03                        # learns within 2,000 images (see test_learning_curve)
R = 10                                 # Numba replicates (spike seeds 0..R-1)


@pytest.fixture(scope="module")
def mnist():
    return mnist_or_skip(2000, 1000)


def _stat_net(rule, spike_seed):
    return SpikingNetwork(SpikingParams(sizes=STAT_SIZES, n_classes=10, eta=STAT_ETA), rule, seed=0,
                          spike_seed=spike_seed)


def _short_run(backend, rule, spike_seed, X, y):
    """Rates and weight changes of each layer after 40 images (200 steps) from seed-0 weights."""
    net = _stat_net(rule, spike_seed)
    W0 = [net.W_layer(l).astype(np.float64) for l in range(1, net.params.n_layers + 1)]
    _, ls = Simulator(net, backend).train(X, y)
    net = net.settled()
    rates = ls / (len(X) * net.params.steps_per_image) / net.sizes
    dW = [net.W_layer(l) - W0[l - 1] for l in range(1, net.params.n_layers + 1)]
    return rates, dW


def _within(value, samples, floor=0.0, k=4.0):
    """|value - mean(samples)| <= k sqrt(1 + 1/R) max(sd(samples), floor); returns (ok, z)."""
    m, s = np.mean(samples), max(np.std(samples, ddof=1), floor)
    z = (value - m) / (s * np.sqrt(1 + 1 / len(samples)))
    return abs(z) <= k, z


def _matched(dW, rng):
    """One weight change per pre-synaptic unit, post-synaptic units spread evenly.

    Changes of one row share the pre-synaptic spike train and those of one column the
    teaching signal, so the n_pre x n_post changes are far from independent: a KS test
    on all of them rejects even two Numba runs with different spike seeds (measured
    p = 3e-6 in layer 2). One synapse per row, with columns used as evenly as possible,
    leaves samples close enough to independent for the test's p-value to mean something.
    """
    n_in, n_out = dW.shape
    return dW[rng.permutation(n_in), np.arange(n_in) % n_out]


@pytest.mark.brian2
@pytest.mark.statistical
@pytest.mark.parametrize("rule", ["fa", "bp"])
def test_rates_and_weight_changes_agree(rule, mnist):
    stats = pytest.importorskip("scipy.stats")
    pytest.importorskip("brian2")
    X, y = mnist[0][:40], mnist[1][:40]
    nb = [_short_run("numba", rule, s, X, y) for s in range(R)]
    b2_rates, b2_dW = _short_run("brian2", rule, 0, X, y)
    steps = len(X) * 5
    report = []
    for l in range(len(STAT_SIZES)):
        samples = [r[l] for r, _ in nb]
        p = np.mean(samples)
        ok, z = _within(b2_rates[l], samples, floor=np.sqrt(p * (1 - p) / (STAT_SIZES[l] * steps)))
        report.append(f"rate layer {l}: brian2 {b2_rates[l]:.4f}, numba {p:.4f} +- {np.std(samples, ddof=1):.4f} "
                      f"(z {z:+.2f})")
        assert ok, report
    rng = np.random.default_rng(0)
    for l in range(len(STAT_SIZES) - 1):
        means, sds = [d[l].mean() for _, d in nb], [d[l].std() for _, d in nb]
        ok_m, zm = _within(b2_dW[l].mean(), means)
        ok_s, zs = _within(b2_dW[l].std(), sds)
        sub = _matched(nb[0][1][l], np.random.default_rng(l))
        p_b2 = stats.ks_2samp(_matched(b2_dW[l], np.random.default_rng(l)), sub).pvalue
        p_nb = stats.ks_2samp(_matched(nb[1][1][l], np.random.default_rng(l)), sub).pvalue   # the control
        report.append(f"dW layer {l + 1}: mean z {zm:+.2f}, sd z {zs:+.2f} (sd {b2_dW[l].std():.3e} vs "
                      f"{np.mean(sds):.3e}), KS p brian2 {p_b2:.3g}, numba-vs-numba {p_nb:.3g}")
        assert ok_m and ok_s and p_b2 > 1e-3, report
        assert np.mean(sds) > 1e-3, report            # the weights did move
    del rng
    print("\n".join(report))


@pytest.mark.brian2
@pytest.mark.statistical
@pytest.mark.parametrize("rule", ["fa", "bp"])
def test_learning_curve_agrees(rule, mnist):
    """Test error on 1,000 test images after 500, 1,000, 1,500 and 2,000 training images.

    Numba, spike seeds 0..4 (fa, measured): 0.58 / 0.43 / 0.30 / 0.26, run-to-run s.d.
    about 0.01 at every point. Margin: 4 sqrt(1 + 1/5) max(s.d., 0.01) = 0.044 or more.
    """
    pytest.importorskip("brian2")
    X, y, Xt, yt = mnist

    def curve(backend, spike_seed):
        sim = Simulator(_stat_net(rule, spike_seed), backend)
        errs = []
        for k in range(0, 2000, 500):
            sim.train(X[k:k + 500], y[k:k + 500])
            errs.append(float(np.mean(sim.test(Xt)[0].argmax(1) != yt)))
        return np.array(errs)

    nb = np.array([curve("numba", s) for s in range(5)])
    b2 = curve("brian2", 0)
    z = [_within(b2[i], nb[:, i], floor=0.01)[1] for i in range(4)]
    msg = f"brian2 {b2.round(3)}, numba mean {nb.mean(0).round(3)} sd {nb.std(0, ddof=1).round(3)}, z {np.round(z, 2)}"
    assert all(abs(v) <= 4 for v in z), msg
    assert b2[-1] < b2[0] - 0.15 and b2[-1] < 0.6, msg          # and it did learn (chance: 0.9)
    print(msg)


# ----------------------------------------------------------------------------- end to end
@pytest.mark.brian2
def test_spikefa_run_with_brian2_records_and_resumes(tmp_path, mnist, capsys):
    """`spikefa run --backend brian2 --record`: results, a readable raster file, a resume."""
    pytest.importorskip("brian2")
    from spikefa import cli
    from spikefa.recording import RasterFile
    from spikefa.results import read_results

    root = os.environ.get("SPIKEFA_DATA") or "/work/shared/data"
    args = ["run", "lillicrap2016-spiking", "--backend", "brian2", "--quiet", "--data-dir", root,
            "--train-images", "60", "--test-images", "50", "--set", "network.sizes=[784,40,30]",
            "--set", "run.chunk=20", "--set", "run.checkpoint_every=20", "--set", "run.eval_every=0",
            "--out", str(tmp_path / "o")]
    record = ["--record", "--set", "record.window_images=4"]
    assert cli.main(args + record + ["--epochs", "1"]) == 0, capsys.readouterr().err
    assert cli.main(args + ["--epochs", "2", "--resume"]) == 0, capsys.readouterr().err
    res = read_results(tmp_path / "o" / "results.h5")
    assert len(res["epoch"]) == 2
    with RasterFile(tmp_path / "o" / "rasters.h5") as f:
        steps, spikes = f.raster("output")
        assert len(steps) == 3 * 4 * 5 and spikes.any()      # three windows of 4 images
        assert np.abs(f.traces()["phi"]).max() > 0


# ----------------------------------------------------------------------------- without Brian2
def _assert_install_hint(line):
    assert "\n" not in line.strip()
    assert "pip install -e '.[brian2]'" in line and "numpy<2.4" in line


def test_without_brian2_the_backend_says_how_to_install():
    if brian2_available():
        pytest.skip("brian2 is installed")
    with pytest.raises(ConfigError) as e:
        Simulator(make_net("fa"), "brian2")
    _assert_install_hint(str(e.value))


@pytest.mark.parametrize("argv", [
    ["run", "lillicrap2016-spiking", "--backend", "brian2", "--quiet"],
    ["bench", "--backend", "brian2"],
])
def test_without_brian2_the_cli_says_how_to_install(argv, capsys, tmp_path):
    if brian2_available():
        pytest.skip("brian2 is installed")
    from spikefa import cli

    rc = cli.main(argv + (["--out", str(tmp_path / "o")] if argv[0] == "run" else []))
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("spikefa: error: backend brian2:")
    _assert_install_hint(err)
    assert not (tmp_path / "o").exists()
