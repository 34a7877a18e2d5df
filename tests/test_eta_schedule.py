"""Learning-rate schedules of ``lillicrap2016-spiking`` (``run.eta_schedule``).

Runs are tiny (784-60-60-1000, 300 training images per epoch, chunks of 100), about 1 s each.
"""

import numpy as np
import pytest

from spikefa import cli, schedule
from spikefa.engine.network import SpikingNetwork
from spikefa.engine.params import SpikingParams
from spikefa.engine.simulator import Simulator
from spikefa.results import read_results

from clihelp import mnist_dir, run_cli

TINY = ["--quiet", "--set", "network.sizes=[784,60,60,1000]", "--train-images", "300", "--test-images", "200",
        "--set", "run.chunk=100", "--set", "run.checkpoint_every=100", "--set", "run.eval_every=0",
        "--set", "run.probe_images=0", "--set", "network.eta=0.01", "--threads", "1"]


def tiny(out, *extra):
    return ["run", "lillicrap2016-spiking", *TINY, "--data-dir", mnist_dir(), "--out", str(out), *map(str, extra)]


def final(out):
    with np.load(out / "checkpoint.npz") as z:
        return z["W"].copy(), read_results(out / "results.h5")["epoch"][:, 1:3]


def test_eta_at_steps_from_the_named_epoch():
    s = [[3, 1e-3], [5, 1e-4]]
    assert [schedule.eta_at(e, 1e-2, s) for e in range(1, 7)] == [1e-2, 1e-2, 1e-3, 1e-3, 1e-4, 1e-4]
    assert schedule.eta_at(4, 0.5, []) == 0.5


@pytest.mark.parametrize("bad, words", [
    ("[[0, 1e-3]]", "run.eta_schedule[0]: epochs count from 1"),
    ("[[3, 1e-3], [3, 1e-4]]", "run.eta_schedule[1]: epochs must increase"),
    ("[[2, -1e-3]]", "run.eta_schedule[0]: eta must be a positive finite number"),
    ("[[2, nan]]", "run.eta_schedule[0]: eta must be a positive finite number"),
    ("[[2.5, 1e-3]]", "run.eta_schedule[0]: expected [epoch, eta]"),
    ("[2, 1e-3]", "run.eta_schedule[0]: expected [epoch, eta]"),
])
def test_bad_schedule_is_one_line_error(capsys, tmp_path, bad, words):
    rc, _, err = run_cli(capsys, *tiny(tmp_path / "r", "--set", f"run.eta_schedule={bad}"))
    assert rc != 0 and words in err and "Traceback" not in err, err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())   # nothing written


def test_set_eta_equals_a_network_built_with_that_eta():
    """Training at eta a, then set_eta(b): the second part is the network built with eta b."""
    rng = np.random.default_rng(0)
    x, y = rng.random((20, 30)), rng.integers(0, 2, 20)
    p = dict(sizes=(30, 16, 8), n_classes=2)
    a = SpikingNetwork(SpikingParams(**p, eta=0.01), "fa", seed=3)
    sa = Simulator(a)
    sa.train(x[:10], y[:10])
    sa.set_eta(0.2)
    sa.train(x[10:], y[10:])
    b = SpikingNetwork(SpikingParams(**p, eta=0.01), "fa", seed=3)
    sb = Simulator(b)
    sb.train(x[:10], y[:10])
    b.params = SpikingParams(**p, eta=0.2)
    sb.train(x[10:], y[10:])
    np.testing.assert_array_equal(a.settled().effective_W(1), b.settled().effective_W(1))
    c = SpikingNetwork(SpikingParams(**p, eta=0.01), "fa", seed=3)
    Simulator(c).train(x, y)
    assert not np.array_equal(a.settled().effective_W(1), c.settled().effective_W(1))      # the new eta was used


def test_schedule_changes_only_the_later_epochs(tmp_path):
    assert cli.main(tiny(tmp_path / "flat", "--epochs", "2")) == 0
    assert cli.main(tiny(tmp_path / "step", "--epochs", "2", "--set", "run.eta_schedule=[[2, 0.002]]")) == 0
    W0, e0 = final(tmp_path / "flat")
    W1, e1 = final(tmp_path / "step")
    assert read_results(tmp_path / "step" / "results.h5")["config"]["run"]["eta_schedule"] == [[2, 0.002]]
    assert not np.array_equal(W0, W1)
    # epoch 1 is the same run; epoch 2 learnt 5x slower
    np.testing.assert_array_equal(e0[0], e1[0])


def test_schedule_added_on_resume_equals_one_run(tmp_path):
    """Train 1 epoch, then resume for 2 with a drop at epoch 2: bit for bit one scheduled run."""
    sched = ["--set", "run.eta_schedule=[[2, 0.002]]"]
    assert cli.main(tiny(tmp_path / "one", "--epochs", "2", *sched)) == 0
    assert cli.main(tiny(tmp_path / "two", "--epochs", "1")) == 0
    assert cli.main(tiny(tmp_path / "two", "--epochs", "2", "--resume", *sched)) == 0
    (W1, e1), (W2, e2) = final(tmp_path / "one"), final(tmp_path / "two")
    np.testing.assert_array_equal(W1, W2)
    np.testing.assert_array_equal(e1, e2)


def test_resume_refuses_a_schedule_that_rewrites_begun_epochs(capsys, tmp_path):
    out = tmp_path / "r"
    assert cli.main(tiny(out, "--epochs", "2", "--set", "run.eta_schedule=[[2, 0.002]]")) == 0
    before = final(out)[0]
    rc, _, err = run_cli(capsys, *tiny(out, "--epochs", "3", "--resume", "--set", "run.eta_schedule=[[2, 0.001]]"))
    assert rc == 2 and "run.eta_schedule gives epoch 2 eta 0.001 but the run" in err, err
    assert "trained it at 0.002; change only epochs after 2" in err
    np.testing.assert_array_equal(final(out)[0], before)        # nothing was touched
    # extending the schedule past the epochs done is allowed
    sched = "run.eta_schedule=[[2, 0.002], [3, 0.001]]"
    assert cli.main(tiny(out, "--epochs", "3", "--resume", "--set", sched)) == 0
    assert read_results(out / "results.h5")["epoch"].shape[0] == 3


def test_an_epoch_interrupted_midway_counts_as_begun(capsys, tmp_path, monkeypatch):
    """Stopped after a checkpoint inside epoch 2: epoch 2's rate is fixed, epoch 3's is not."""
    from spikefa import checkpoint

    real, calls = checkpoint.save, []

    def save_then_stop(net, path, state):
        real(net, path, state)
        calls.append(dict(state))
        if state["epoch"] == 1 and state["pos"] == 200:      # epoch 2, image 200 of 300
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save", save_then_stop)
    out = tmp_path / "r"
    assert cli.main(tiny(out, "--epochs", "3")) == 130      # interrupted, checkpoint kept
    monkeypatch.setattr(checkpoint, "save", real)
    rc, _, err = run_cli(capsys, *tiny(out, "--epochs", "3", "--resume", "--set", "run.eta_schedule=[[2, 0.002]]"))
    assert rc == 2 and "epoch 2 eta 0.002 but the run" in err and "change only epochs after 2" in err, err
    assert cli.main(tiny(out, "--epochs", "3", "--resume", "--set", "run.eta_schedule=[[3, 0.002]]")) == 0
    # the same as one run with that schedule
    assert cli.main(tiny(tmp_path / "one", "--epochs", "3", "--set", "run.eta_schedule=[[3, 0.002]]")) == 0
    np.testing.assert_array_equal(final(out)[0], final(tmp_path / "one")[0])


def test_changing_network_eta_on_resume_points_to_the_schedule(capsys, tmp_path):
    out = tmp_path / "r"
    assert cli.main(tiny(out, "--epochs", "1")) == 0
    rc, _, err = run_cli(capsys, *tiny(out, "--epochs", "2", "--resume", "--set", "network.eta=0.001"))
    assert rc == 2 and "network.eta is 0.001 but the run" in err and "set run.eta_schedule" in err, err
