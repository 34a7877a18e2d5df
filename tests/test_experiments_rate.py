"""Smoke sizes of the rate-based paper experiments reproduce the papers' qualitative facts."""

import h5py
import pytest
import numpy as np

from smoke import run_smoke as _run


def test_fig2_linear_smoke(tmp_path):
    # 2 seeds x 8000 online examples of the 30-20-10 linear task (about 3 s)
    out = _run("fig2-linear", tmp_path)
    assert (tmp_path / "fig2.png").stat().st_size > 10_000
    with h5py.File(tmp_path / "results.h5") as f:
        nse = {r: f[f"curves/{r}/nse"][()] for r in ("shallow", "np", "bp", "fa")}
        fa_angle = f["curves/fa/delta_angle"][()][:, :, 0]
    for r, c in nse.items():
        assert c.shape == (2, 8000 // 250 + 1) and np.allclose(c[:, 0], c[0, 0], rtol=0.2), r
    final = {r: c[:, -1].mean() for r, c in nse.items()}
    # [L16] Fig. 2a: shallow barely improves, FA learns as fast as BP (here faster: B is
    # large while W starts near 0), both far below shallow and node perturbation
    assert final["shallow"] > 0.9
    assert final["fa"] < 0.01 and final["bp"] < 0.5
    assert final["fa"] < final["np"] and final["bp"] < final["np"]
    # Fig. 2b: FA's teaching signal starts near 90 degrees from backprop's and falls
    assert 75 < fa_angle[:, 0].mean() < 105
    assert fa_angle[:, -1].mean() < 45 and fa_angle[:, -1].min() > 0.5
    assert "fa" in out["final_nse"]


@pytest.mark.slow
def test_compare_smoke(tmp_path):
    # every rule, rate-based and spiking, at smoke size (about 2 minutes on 2 cores)
    _run("compare", tmp_path)
    table = (tmp_path / "table.md").read_text()
    for rule in ("bp", "fa", "dfa", "ss", "kp", "wm", "shallow", "np"):
        assert f"| {rule} |" in table
    assert (tmp_path / "compare.png").stat().st_size > 20_000
    with h5py.File(tmp_path / "results.h5") as f:
        # B = W^T exactly; arccos near 1 turns the cosine's rounding (~1e-13 over 5,000
        # elements) into about 3e-5 degrees
        assert f["rate/bp/matrix_angle"][()][:, -1].max() < 1e-4
        assert np.isfinite(f["spiking/fa/test_error"][()]).all()
        # spiking delta angles (seeds, records, hidden layers): FA starts near orthogonal
        # and falls; transport starts near 0 (the engine omits the upper layers' Psi)
        fa, bp = f["spiking/fa/delta_angle"][()], f["spiking/bp/delta_angle"][()]
        assert fa.shape == (2, 4, 3) and np.isnan(f["spiking/shallow/delta_angle"][()]).all()
        assert 80 < fa[:, 0].mean() < 100 and fa[:, -1].mean() < fa[:, 0].mean() - 10
        assert bp[:, 0].max() < 15


def test_fig3a_sparse_condition_widens_feedback_to_keep_its_variance():
    from spikefa.experiments import fig3a_mnist
    from spikefa.rate.network import RateNetwork

    cfg = fig3a_mnist.defaults()
    beta = cfg["network"]["b_init"]
    assert fig3a_mnist.condition_params(cfg, 0.0).b_init == beta
    p = fig3a_mnist.condition_params(cfg, 0.5)
    assert p.sparsity == 0.5 and p.b_init == pytest.approx(beta * np.sqrt(2))
    # seed 0: 10,000 feedback elements, half removed; the kept ones ~ U[-b, b] with b = beta sqrt(2),
    # so the variance of B over all elements is (1/2) b^2 / 3 = beta^2 / 3, as without removal
    B = RateNetwork(p, "fa", seed=0).rule.B[1]
    assert abs((B == 0).mean() - 0.5) < 0.02                       # 4 s.d. of a binomial mean
    assert B.var() == pytest.approx(beta ** 2 / 3, rel=0.05)
    cfg["run"]["sparse_feedback_scale"] = False
    assert fig3a_mnist.condition_params(cfg, 0.5).b_init == beta


def test_compare_spiking_runs_are_resumable_trainer_runs(tmp_path, capsys):
    """compare's spiking part trains each rule and seed as a Trainer run of its own
    (OUT/spiking/RULE-seedS); with --resume a finished one is not trained again."""
    from spikefa.results import read_results

    from clihelp import mnist_dir, run_cli

    argv = ["run", "compare", "--smoke", "--quiet", "--data-dir", mnist_dir(), "--set", 'run.rules=["fa"]',
            "--set", "run.seeds=1", "--out", tmp_path]
    assert run_cli(capsys, *argv)[0] == 0
    sub = tmp_path / "spiking" / "fa-seed0"
    first = read_results(sub / "results.h5")
    assert first["fields"]["probes"][:2] == ["images", "seconds"]
    np.testing.assert_array_equal(first["probes"][:, 0], [0, 500, 1000, 1500])   # record_every 500 of 1500
    with h5py.File(tmp_path / "results.h5") as f:
        assert f["spiking/fa/delta_angle"].shape == (1, 4, 3)
        assert f["spiking/fa/test_error"][0] == first["epoch"][-1, 1]
    ck = (sub / "checkpoint.npz").stat().st_mtime_ns
    assert run_cli(capsys, *argv, "--resume")[0] == 0
    assert (sub / "checkpoint.npz").stat().st_mtime_ns == ck        # finished: nothing trained again
    np.testing.assert_array_equal(read_results(sub / "results.h5")["probes"], first["probes"])


def test_compare_spiking_alone_passes_the_gate_and_homeostasis(tmp_path, capsys):
    """run.rate = false skips the rate-based MLP; [spiking]'s feedback_gate and
    homeostasis reach every spiking run's [network]."""
    from spikefa.results import read_results

    from clihelp import mnist_dir, run_cli

    argv = ["run", "compare", "--smoke", "--quiet", "--data-dir", mnist_dir(), "--set", 'run.rules=["bp"]',
            "--set", "run.seeds=1", "--set", "run.rate=false", "--set", "spiking.feedback_gate=psi",
            "--set", "spiking.homeostasis=rate", "--out", tmp_path]
    assert run_cli(capsys, *argv)[0] == 0
    table = (tmp_path / "table.md").read_text()
    assert "rate-based" not in table and "| bp |" in table
    net = read_results(tmp_path / "spiking" / "bp-seed0" / "results.h5")["config"]["network"]
    assert (net["feedback_gate"], net["homeostasis"]) == ("psi", "rate")
    with h5py.File(tmp_path / "results.h5") as f:
        assert "rate" not in f and "spiking/bp/test_error" in f
    argv[argv.index("run.rate=false")] = "run.spiking=false"
    code, _, err = run_cli(capsys, *argv[:-2], "--set", "run.rate=false", "--out", tmp_path / "none")
    assert code != 0 and "run.rate" in err and "nothing to compare" in err
