"""The conformance suite every registered backend passes (``spikefa.engine.backends``):
shapes, firing rates, determinism, bad input, checkpoints (exact within a backend) and
agreement with the Numba engine. A new backend is one module, one registration and this
suite. Brian2 runs here where it is installed (its venv; ``-m brian2``), with its numpy
target (no compiler) and its own random draws. The cuda cases skip without a GPU;
``tests/test_cuda_backend.py`` runs them on numba-cuda's simulator in a subprocess.

Network: the twin tests' 30-40-30-20 network, 2 classes, 40 random images of 5 steps.
"""

import numpy as np
import pytest

from spikefa import checkpoint
from spikefa.engine import backends
from spikefa.engine.simulator import Simulator
from spikefa.errors import ConfigError

from twins import make_data, make_net

OPTIONS = {"brian2": {"target": "numpy"}}


def backend_params():
    for name in backends.names():
        marks = [pytest.mark.brian2] if backends.info(name).requires == "brian2" else []
        yield pytest.param(name, marks=marks, id=name)


def sim_for(name, net):
    reason = backends.unavailable(name)    # optional package missing, or its hardware (cuda: a GPU)
    if reason:
        pytest.skip(reason)
    return Simulator(net, name, threads=1, options=OPTIONS.get(name))


@pytest.fixture(params=list(backend_params()))
def backend(request):
    return request.param


def test_shapes_and_rates(backend):
    net = make_net("fa")
    sim = sim_for(backend, net)
    x, y = make_data(40)
    counts, layer = sim.train(x, y)
    assert counts.shape == (40, 2) and counts.dtype == np.int64 and layer.shape == (4,)
    assert net.t == 40 * 5
    # every output unit belongs to one class group: counts sum to the output layer's spikes
    assert counts.sum() == layer[-1]
    rates = layer / (40 * 5) / net.sizes
    # inputs fire at the mean pixel value (0.5 here: uniform images), hidden units near 0.5
    # at the start (potentials near 0); binomial s.d. of a rate over 40 x 5 x 30 draws ~ 0.007
    assert abs(rates[0] - x.mean()) < 0.03
    assert all(0.3 < r < 0.7 for r in rates[1:3]), rates
    tc, tl = sim.test(x[:10])
    assert tc.shape == (10, 2) and tl.shape == (4,) and net.t == 200     # testing leaves the step count


def test_deterministic_and_test_leaves_state(backend):
    a, b = make_net("fa"), make_net("fa")
    sa, sb = sim_for(backend, a), sim_for(backend, b)
    x, y = make_data(20)
    ca, _ = sa.train(x, y)
    before = a.V.copy(), a.W.copy()
    t1, _ = sa.test(x[:8])
    t2, _ = sa.test(x[:8])
    np.testing.assert_array_equal(t1, t2)                 # the test stream starts at step 0 each call
    np.testing.assert_array_equal(a.V, before[0])
    np.testing.assert_array_equal(a.W, before[1])
    cb, _ = sb.train(x, y)
    np.testing.assert_array_equal(ca, cb)                 # same seeds, same images: same run
    np.testing.assert_array_equal(a.W, b.W)


@pytest.mark.parametrize("images, labels, words", [
    (np.zeros((3, 29), np.float32), [0, 1, 0], "images: expected an array (n, 30)"),
    (np.zeros(30, np.float32), [0], "images: expected an array (n, 30)"),
    (np.full((2, 30), np.nan, np.float32), [0, 1], "images: expected finite numbers"),
    (np.zeros((2, 30), np.float32), [0], "labels: expected 2 integers"),
    (np.zeros((2, 30), np.float32), [0.0, 1.0], "labels: expected 2 integers"),
    (np.zeros((2, 30), np.float32), [0, 2], "labels: expected classes 0..1, got 0..2"),
])
def test_bad_input_is_a_clear_error_and_changes_nothing(backend, images, labels, words):
    net = make_net("fa")
    sim = sim_for(backend, net)
    W = net.W.copy()
    with pytest.raises(ConfigError, match="^" + words.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        sim.train(images, labels)
    assert net.t == 0 and np.array_equal(net.W, W)


def test_checkpoint_round_trip_is_exact(backend, tmp_path):
    x, y = make_data(40)
    a = make_net("fa")
    sa = sim_for(backend, a)
    sa.train(x[:15], y[:15])                  # 75 steps: pending plasticity is part of the state
    checkpoint.save(a, tmp_path / "c.npz", {"where": 15})
    b = make_net("fa")
    assert checkpoint.load(b, tmp_path / "c.npz") == {"where": 15}
    sb = sim_for(backend, b)
    ca, _ = sa.train(x[15:], y[15:])
    cb, _ = sb.train(x[15:], y[15:])
    np.testing.assert_array_equal(ca, cb)
    for k in checkpoint.STATE:
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)


def test_agrees_with_the_numba_engine(backend):
    """Firing rates of 60 images (300 steps) agree with the Numba engine's within 4
    binomial standard errors of a rate over the layer's unit-steps: exactly, for a backend
    that uses spikefa's counter-based draws (numpy), statistically for one with its own."""
    x, y = make_data(60)
    ref = Simulator(make_net("fa"), "numba", threads=1)
    net = make_net("fa")
    sim = sim_for(backend, net)
    _, lr = ref.train(x, y)
    _, lb = sim.train(x, y)
    n = 60 * 5 * net.sizes
    ra, rb = lr / n, lb / n
    se = np.sqrt(np.maximum(ra * (1 - ra), 1e-4) / n) * np.sqrt(2)
    assert (np.abs(ra - rb) < 4 * se).all(), (ra, rb)


@pytest.mark.parametrize("field", [f.name for f in __import__("spikefa.engine.state", fromlist=["STATE"]).STATE])
def test_every_state_field_round_trips_through_a_checkpoint(field, tmp_path):
    """Each array of spikefa.engine.state.STATE is saved and restored bit for bit, with
    the step count and pending steps; nothing else of the state exists."""
    net = make_net("kp")                      # plastic B: every field in use
    rng = np.random.default_rng(7)
    arr = getattr(net, field)
    new = (rng.integers(0, 2, arr.shape) if arr.dtype.kind in "ui" else rng.standard_normal(arr.shape)).astype(arr.dtype)
    arr[...] = new
    net.t, net.npend = 1234, 3
    checkpoint.save(net, tmp_path / "c.npz", {})
    back = make_net("kp")
    checkpoint.load(back, tmp_path / "c.npz")
    np.testing.assert_array_equal(getattr(back, field), new)
    assert (back.t, back.npend) == (1234, 3)
    assert net.nbytes == sum(getattr(net, f).nbytes for f in checkpoint.STATE) + net.W_mask.nbytes + net.B_mask.nbytes


def test_kernel_unpacks_the_state_in_its_declared_order():
    """The Numba kernel receives the state as one tuple in the order of STATE: its
    unpacking line names exactly those fields, in that order."""
    import inspect
    import re

    from spikefa.engine import kernels, state

    src = inspect.getsource(kernels.run_images.py_func)
    line = re.search(r"^\s*([\w, ]+) = state$", src, re.M).group(1)
    assert tuple(x.strip() for x in line.split(",")) == state.names()


def test_brian2_backend_places_every_state_field():
    """Adding a state field forces a decision in the Brian2 backend (no brian2 needed)."""
    from spikefa.brian2_backend.runner import STATE_TRANSFER
    from spikefa.engine import state

    assert set(STATE_TRANSFER) == set(state.names())


def test_k_networks_at_once_equal_k_runs(backend):
    """Three networks (seeds 3, 4, 5) advanced together give exactly what each gives alone."""
    x, y = make_data(20)
    alone = []
    for seed in (3, 4, 5):
        net = make_net("fa", seed=seed)
        c, ls = sim_for(backend, net).train(x, y)
        alone.append((c, ls, net.W.copy()))
    nets = [make_net("fa", seed=seed) for seed in (3, 4, 5)]
    sims = [sim_for(backend, n) for n in nets]
    together = Simulator.train_many(sims, [x] * 3, [y] * 3)
    for (c, ls, W), (ct, lst), net in zip(alone, together, nets):
        np.testing.assert_array_equal(c, ct)
        np.testing.assert_array_equal(ls, lst)
        np.testing.assert_array_equal(W, net.W)


def test_k_networks_one_diverging_stops_alone():
    """A network that blows up is reported with the usual error; the others go on."""
    from spikefa.errors import NumericalError

    x, y = make_data(10)
    nets = [make_net("fa", seed=s) for s in (3, 4)]
    nets[1].W[:5] = np.nan
    out = Simulator.train_many([Simulator(n, "numba") for n in nets], [x, x], [y, y])
    assert isinstance(out[1], NumericalError) and "non-finite" in str(out[1])
    assert isinstance(out[0], tuple) and np.isfinite(nets[0].W).all() and nets[0].t == 50
