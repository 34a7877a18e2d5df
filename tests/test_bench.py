"""`spikefa bench` on a small network: what it prints and what it measures."""

import numpy as np
import pytest

from spikefa import bench, checkpoint
from spikefa.engine.network import SpikingNetwork
from spikefa.engine.simulator import Simulator
from spikefa.errors import SpikefaError

SMALL = ["sizes=[784, 60, 60, 60, 1000]"]


def test_bench_prints_both_engines_the_bound_and_changed_units():
    lines = []
    r = bench.run(images=2, repeats=1, dense_steps=2, overrides=SMALL, out=lines.append)
    text = "\n".join(lines)
    for key in ("numba, full gather", "numba incremental", "dense numpy float32", "speed-up", "bandwidth bound",
                "units changed per step", "initial weights"):
        assert key in text
    assert ((0 <= r["rates"]) & (r["rates"] <= 1)).all() and ((0 <= r["changed"]) & (r["changed"] <= 1)).all()
    # at most every unit changes; a unit can change only if it or its past self fired
    assert (r["changed"] <= 2 * np.minimum(r["rates"], 1 - r["rates"]) + 0.2).all()
    assert r["bound_ms"] > 0 and r["speedup"] > 0


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_bench_from_a_checkpoint(tmp_path, dtype):
    params = bench.paper_params(overrides=SMALL)
    net = SpikingNetwork(params, "fa", seed=0)
    X = (np.random.default_rng(0).random((20, 784)) < 0.2).astype(np.float32)
    Simulator(net).train(X, np.arange(20) % 10)
    checkpoint.save(net, tmp_path / "checkpoint.npz", {})
    loaded = bench.trained_network(bench.paper_params(dtype, SMALL), "fa", tmp_path / "checkpoint.npz")
    assert loaded.t == net.t == 100 and loaded.B.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(loaded.W, net.W)
    np.testing.assert_array_equal(loaded.V, net.V)
    lines = []
    bench.run(images=2, repeats=1, dense_steps=2, overrides=SMALL, feedback_dtype=dtype,
              checkpoint=tmp_path / "checkpoint.npz", out=lines.append)
    assert "trained state" in lines[0] and "step 100" in lines[0]


def test_bench_checkpoint_of_another_network_is_one_clear_error(tmp_path):
    net = SpikingNetwork(bench.paper_params(overrides=["sizes=[784, 30, 30, 30, 1000]"]), "fa", seed=0)
    checkpoint.save(net, tmp_path / "c.npz", {})
    with pytest.raises(SpikefaError, match="shape"):
        bench.run(images=1, repeats=1, overrides=SMALL, checkpoint=tmp_path / "c.npz", out=lambda s: None)


def test_dense_baseline_keeps_removed_weights_removed():
    """The dense step does the sparse network's work: removed elements stay 0, kept ones learn."""
    net = SpikingNetwork(bench.paper_params(overrides=SMALL + ["sparsity=0.5", "eta=0.05"]), "fa", seed=0)
    bench.dense_copies(net)
    W0 = {l: w.copy() for l, w in net.W32.items()}
    rng = np.random.default_rng(0)
    x = np.full(784, 0.5, dtype=np.float32)
    for k in range(20):
        bench.dense_numpy_step(net, x, k % 10, rng)
    for l, w in net.W32.items():
        kept = net.W_mask_layer(l) == 1
        assert (w[~kept] == 0).all() and 0.3 < kept.mean() < 0.7
        assert (w[kept] != W0[l][kept]).mean() > 0.5
