"""The CUDA backend (spikefa.engine.cuda_backend) against the NumPy specification.

Without a GPU these tests run on numba-cuda's simulator: ``test_suite_on_the_simulator``
runs this file and the conformance suite's cuda cases in a subprocess with
``NUMBA_ENABLE_CUDASIM=1`` (it must be set before numba is imported). In-process, the
kernel tests skip with the reason unless a GPU is present; the PTX test compiles every
kernel for sm_90 without a GPU.

On the simulator every operation is a Python float64/float32 operation, so the spikes
equal the specification's for the whole of these runs (40 steps); continuous state
differs only by the order of float sums (the twin tests' tolerances).
"""

import subprocess

import numpy as np
import pytest

from spikefa import checkpoint
from spikefa import rng as crng
from spikefa.engine import backends
from spikefa.engine.simulator import Simulator
from spikefa.errors import ConfigError, NumericalError
from test_engine_twin import CASES, U_TOL, V_TOL, W_TOL
from twins import make_data, make_net

REASON = backends.unavailable("cuda")
needs_cuda = pytest.mark.skipif(bool(REASON), reason=REASON)
N_IMG = 8                  # 40 steps: the simulator runs a step in about 40 ms


def cuda_sim(net, **options):
    return Simulator(net, "cuda", options=options)


def test_every_state_field_is_placed():
    """Adding a state field forces a decision in the CUDA backend (no numba-cuda needed)."""
    from spikefa.engine import state
    from spikefa.engine.cuda_backend import DEVICE_FIELDS, STATE_TRANSFER

    assert set(STATE_TRANSFER) == set(state.names())
    assert set(DEVICE_FIELDS) == {k for k, v in STATE_TRANSFER.items() if not v.startswith("none")}


def test_without_numba_cuda_choosing_it_is_a_one_line_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "numba_cuda" else real(name, *a))
    with pytest.raises(ConfigError, match=r"^backend cuda: numba-cuda is not installed; install it with pip install"):
        Simulator(make_net("fa"), "cuda")
    assert "numba_cuda is not installed" in backends.unavailable("cuda")


def test_memory_check_says_how_many_fit():
    from spikefa.engine.cuda_backend import check_memory

    check_memory(2, 2**30, free=3 * 2**30)
    with pytest.raises(ConfigError, match=r"^backend cuda: 4 networks need 4\.00 GiB .* 3\.00 GiB is free: 2 fit; run at most 2"):
        check_memory(4, 2**30, free=3 * 2**30)


def test_a_packed_sweep_splits_what_does_not_fit(monkeypatch):
    """A pack of K networks is split into launches that fit the free memory (10 % kept);
    when not even one fits, a one-line error names run.chunk (no numba-cuda needed)."""
    from types import SimpleNamespace

    from spikefa.engine import cuda_backend
    from spikefa.engine.cuda_backend import CudaBackend

    impls = [SimpleNamespace(net=make_net("fa", seed=s)) for s in range(5)]
    each = cuda_backend.per_network_bytes(impls[0].net, 100)
    monkeypatch.setattr(cuda_backend, "free_memory", lambda: int(3.5 * each / 0.9))
    assert CudaBackend.fit_many(impls, 100) == 3
    assert CudaBackend.fit_many(impls[:2], 100) == 2
    monkeypatch.setattr(cuda_backend, "free_memory", lambda: each // 2)
    with pytest.raises(ConfigError, match=r"^backend cuda: one network of sizes \[.*\] needs .* GiB of device memory "
                                          r"with chunks of 100 images and .* is free: 0 fit; lower run.chunk"):
        CudaBackend.fit_many(impls, 100)
    monkeypatch.setattr(cuda_backend, "free_memory", lambda: None)      # the simulator: unknown, all of them
    assert CudaBackend.fit_many(impls, 100) == 5


@needs_cuda
def test_memory_check_runs_before_anything_moves(monkeypatch):
    from spikefa.engine import cuda_backend

    monkeypatch.setattr(cuda_backend, "free_memory", lambda: 3 * cuda_backend.per_network_bytes(make_net(), 2))
    nets = [make_net("fa", seed=s) for s in range(4)]
    W = nets[0].W.copy()
    x, y = make_data(2)
    with pytest.raises(ConfigError, match=r"4 networks need .*: 2 fit; run at most 2 at once"):
        Simulator.train_many([cuda_sim(n) for n in nets], [x] * 4, [y] * 4)
    assert nets[0].t == 0 and np.array_equal(nets[0].W, W)


@needs_cuda
def test_draws_are_the_counter_based_ones():
    from numba import cuda

    from spikefa.engine.cuda_kernels import draws

    keys = np.array([crng.layer_key(7, 0, 1), crng.layer_key(2**32 - 1, 1, 3), 0], dtype=np.uint32)
    t = np.array([0, 12345, 2**32 + 5], dtype=np.int64)
    out = cuda.to_device(np.zeros((3, 50)))
    draws[3, 8](cuda.to_device(keys), cuda.to_device(t), out)
    for k in range(3):
        np.testing.assert_array_equal(out.copy_to_host()[k], crng.uniforms(int(keys[k]), int(t[k]), 50))


CUDA_CASES = CASES + [("fa", {"gamma": 0.05}), ("kp", {"gamma": 0.05}), ("kp", {"gamma": 0.05, "sparsity": 0.5})]


@needs_cuda
@pytest.mark.parametrize("rule,kw", CUDA_CASES, ids=[f"{r}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}"
                                                     for r, kw in CUDA_CASES])
def test_matches_numpy_twin(rule, kw):
    """Same draws, same spikes for all 40 steps (exactly); continuous state within the
    Numba twin test's tolerances (float sums in another order). gamma = 0.05: c falls
    below RENORM_BELOW after 14 steps, so the fold of the decay runs."""
    net_a = make_net(rule, **kw)
    net_b = net_a.copy()
    W0 = net_a.W.copy()
    X, y = make_data(N_IMG)
    ca, la = cuda_sim(net_a).train(X, y)
    cb, lb = Simulator(net_b, "numpy").train(X, y)
    assert net_a.t == net_b.t == N_IMG * 5 and net_a.npend == 0
    np.testing.assert_array_equal(ca, cb)
    np.testing.assert_array_equal(la, lb)
    np.testing.assert_array_equal(net_a.spikes, net_b.spikes)
    assert (la[1:] > 0).all()
    big = kw.get("w_init", 0.05) / 0.05
    for f, tol in (("V", V_TOL * big), ("sig", V_TOL * big), ("W", W_TOL * big), ("b", W_TOL * big),
                   ("U", U_TOL), ("phi", U_TOL), ("B", W_TOL)):
        np.testing.assert_allclose(getattr(net_a, f), getattr(net_b, f), rtol=0, atol=tol, err_msg=f)
    np.testing.assert_array_equal(net_a.c, net_b.c)
    np.testing.assert_array_equal(net_a.B_c, net_b.B_c)
    np.testing.assert_array_equal(net_a.R_bar, net_b.R_bar) if rule != "np" else \
        np.testing.assert_allclose(net_a.R_bar, net_b.R_bar, rtol=0, atol=1e-12)
    assert np.abs(net_a.W - W0).max() > 1000 * W_TOL
    if kw.get("gamma", 0) >= 0.05:
        assert (net_a.c[1:] < 1.0).all() and (net_a.c[1:] > 0.5).all()   # folded back at least once


@needs_cuda
def test_capture_equals_the_numba_engines():
    from spikefa.recording import Capture

    X, y = make_data(4)
    caps = []
    for backend in ("numba", "cuda"):
        net = make_net("fa")
        cap = Capture(np.array([0, 5, 31, 75, 119]), np.array([31, 70, 119]), np.array([True, False, True, True]), 5, 0)
        Simulator(net, backend).train(X, y, capture=cap)
        caps.append(cap)
    np.testing.assert_array_equal(caps[0].spikes, caps[1].spikes)
    np.testing.assert_allclose(caps[0].V, caps[1].V, rtol=0, atol=1e-6)
    np.testing.assert_allclose(caps[0].phi, caps[1].phi, rtol=0, atol=1e-5)
    assert caps[1].spikes.any() and np.abs(caps[1].phi).max() > 0


@needs_cuda
def test_checkpoint_moves_between_backends(tmp_path):
    """A Numba checkpoint with pending steps continues on cuda as on numpy, and back."""
    x, y = make_data(12)
    a = make_net("kp")
    Simulator(a, "numba").train(x[:5], y[:5])
    assert a.npend > 0
    checkpoint.save(a, tmp_path / "c.npz", {})
    b, c = make_net("kp"), make_net("kp")
    checkpoint.load(b, tmp_path / "c.npz")
    checkpoint.load(c, tmp_path / "c.npz")
    cb, _ = cuda_sim(b).train(x[5:9], y[5:9])
    cc, _ = Simulator(c, "numpy").train(x[5:9], y[5:9])
    np.testing.assert_array_equal(cb, cc)
    np.testing.assert_array_equal(b.spikes, c.spikes)
    checkpoint.save(b, tmp_path / "d.npz", {})
    d = make_net("kp")
    checkpoint.load(d, tmp_path / "d.npz")
    cd, _ = Simulator(d, "numba").train(x[9:], y[9:])
    cc, _ = Simulator(c, "numpy").train(x[9:], y[9:])
    np.testing.assert_array_equal(cd, cc)


@needs_cuda
def test_k_networks_differing_in_values_equal_k_runs():
    """Seeds and eta differ; one launch gives exactly what each network gives alone."""
    x, y = make_data(4)
    specs = [(3, 0.05), (4, 0.02), (5, 0.1)]
    alone = []
    for seed, eta in specs:
        net = make_net("np", seed=seed, eta=eta)
        c, _ = cuda_sim(net).train(x, y)
        alone.append((c, net))
    nets = [make_net("np", seed=s, eta=e) for s, e in specs]
    out = Simulator.train_many([cuda_sim(n) for n in nets], [x] * 3, [y] * 3)
    for (c, ref), (ct, _), net in zip(alone, out, nets):
        np.testing.assert_array_equal(c, ct)
        for f in ("W", "b", "V", "U", "R_bar", "spikes"):
            np.testing.assert_array_equal(getattr(ref, f), getattr(net, f), err_msg=f)


@needs_cuda
def test_k_networks_one_diverging_stops_alone():
    x, y = make_data(4)
    nets = [make_net("fa", seed=s) for s in (3, 4)]
    nets[1].W[:5] = np.nan
    out = Simulator.train_many([cuda_sim(n) for n in nets], [x, x], [y, y])
    assert isinstance(out[1], NumericalError) and "non-finite" in str(out[1])
    assert isinstance(out[0], tuple) and np.isfinite(nets[0].W).all() and nets[0].t == 20


@needs_cuda
def test_k_networks_must_share_the_rule():
    x, y = make_data(2)
    sims = [cuda_sim(make_net("fa")), cuda_sim(make_net("bp"))]
    with pytest.raises(ConfigError, match="^backend cuda: K networks in one launch must share rule"):
        Simulator.train_many(sims, [x, x], [y, y])


@needs_cuda
def test_packed_sweep_equals_points_run_alone(tmp_path, monkeypatch):
    """``spikefa sweep --backend cuda``: 2 seeds x 2 eta values train in one pack, K = 4
    networks per launch, and each point ends exactly as the same point run alone
    (``spikefa run --backend cuda``): final state, result rows, test error."""
    import json

    from clihelp import mnist_dir
    from spikefa.engine.cuda_backend import CudaBackend
    from spikefa.experiments import lillicrap2016_spiking as exp
    from spikefa.sweep import plan, run_sweep
    from test_sweep_packing import InlineExecutor, assert_same_point

    sets = ["network.sizes=[784,12,10]", "run.train_images=4", "run.test_images=3", "run.chunk=2",
            "run.checkpoint_every=2", "run.eval_every=0", "run.probe_images=2", "run.epochs=1",
            "run.eta_schedule=[]", f"run.data_dir={json.dumps(mnist_dir())}", "network.eta=0.01,0.03"]
    pl = plan(exp.NAME, sets, seeds=2, backend="cuda")
    for p in pl.points:
        exp.run(p.config, tmp_path / "alone" / p.name, progress=False)
    launches = []
    run_many = CudaBackend.run_many.__func__

    def counted(cls, impls, *args, **kw):
        launches.append(len(impls))
        return run_many(cls, impls, *args, **kw)

    monkeypatch.setattr(CudaBackend, "run_many", classmethod(counted))
    monkeypatch.setenv("TQDM_MININTERVAL", "2")
    ex = InlineExecutor()
    res = run_sweep(exp.NAME, sets, seeds=2, out=tmp_path / "packed", progress=False, executor=ex, backend="cuda")
    assert sorted(res.ran) == sorted(p.name for p in pl.points) and not res.failed
    assert len(ex.tasks) == 1 and launches.count(4) == 2        # two chunks of 2 images, 4 networks each
    for p in pl.points:
        assert_same_point(tmp_path / "packed" / "points" / p.name, tmp_path / "alone" / p.name,
                          series=("epoch", "alignment", "saturation"), samples=False)


def test_bad_block_is_a_clear_error():
    pytest.importorskip("numba_cuda")
    with pytest.raises(ConfigError, match="^backend cuda: block must be an integer in"):
        Simulator(make_net("fa"), "cuda", options={"block": 5000})


def test_every_kernel_compiles_to_ptx_for_sm90():
    """Every kernel of the backend compiles for compute capability 9.0 without a GPU
    (NVVM from the nvidia-cuda-nvcc-cu12 wheel), for float32 and int8 feedback storage."""
    pytest.importorskip("numba_cuda")
    from spikefa.engine.cuda_backend import simulated
    if simulated():
        pytest.skip("the simulator has no compiler: run in-process without NUMBA_ENABLE_CUDASIM")
    from spikefa.engine import cuda_kernels

    try:
        for entry in cuda_kernels.signatures():
            ptx, _ = cuda_kernels.compile_ptx(entry)
            assert ".target sm_90" in ptx and ".entry" in ptx
    except Exception as e:      # only a missing NVVM library skips
        if "NVVM" in str(e) or "libnvvm" in str(e).lower():
            pytest.skip(f"NVVM library not found: {e}")
        raise


def test_suite_on_the_simulator(request):
    """This file and the conformance suite's cuda cases, under numba-cuda's simulator.

    tests/conftest.py starts the subprocess when the tests are collected (wherever this
    test is selected and numba-cuda is installed) and runs this test last; here it waits."""
    pytest.importorskip("numba_cuda")
    from spikefa.engine.cuda_backend import simulated
    if simulated():
        pytest.skip("already under the simulator")
    proc, out = request.config._spikefa_simulator
    # minutes on a quiet 2-core machine; beside two trainings it took over 15, so the
    # limit only guards against a hang
    try:
        proc.wait(timeout=2700)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("the simulator suite gave no result in 2700 s")
    with out:
        out.seek(0)
        stdout = out.read()
    tail = stdout[-5000:]
    assert proc.returncode == 0, tail
    assert " passed" in stdout and "failed" not in stdout, tail
