"""The recipe as the default of ``lillicrap2016-spiking``: all cores, B int8 where the rule
keeps it fixed, the eta schedule, the "paper" preset, and what a run says at its start.

Runs are tiny (784-60-60-1000, 300 training images, 1 epoch), about 1 s each.
"""

import numba
import numpy as np
import pytest

from spikefa.engine.network import SpikingNetwork
from spikefa.engine.params import SpikingParams
from spikefa.engine.threads import resolve_threads, set_threads
from spikefa.errors import ConfigError
from spikefa.results import read_results

from clihelp import mnist_dir, run_cli

TINY = ["--set", "network.sizes=[784,60,60,1000]", "--train-images", "300", "--test-images", "200",
        "--set", "run.eval_every=0", "--set", "run.probe_images=0", "--epochs", "1", "--quiet"]
SMALL = dict(sizes=(30, 40, 30, 20), n_classes=4)


def tiny(out, *extra):
    return ["run", "lillicrap2016-spiking", *TINY, "--data-dir", mnist_dir(), "--out", str(out), *map(str, extra)]


@pytest.fixture
def one_thread_after():
    yield
    set_threads(1)     # the other tests expect the engine's default of one thread


def test_default_run_prints_its_plan_and_unused_schedule(capsys, tmp_path, one_thread_after):
    rc, out, err = run_cli(capsys, *tiny(tmp_path / "r"))
    assert rc == 0, err
    top = numba.config.NUMBA_NUM_THREADS
    plan = ("running lillicrap2016-spiking: 1 epoch of 300 images, rule fa, eta 0.01 (epoch 1), B int8, seed 0, "
            f"backend numba, {top} thread{'s' * (top != 1)} (all cores)")
    assert out.splitlines()[0] == plan
    assert err.splitlines() == [
        "spikefa: run.eta_schedule entry [20, 0.001] starts after the last epoch (1): unused",
        "spikefa: run.eta_schedule entry [27, 0.0001] starts after the last epoch (1): unused"]
    assert read_results(tmp_path / "r" / "results.h5")["config"]["run"]["threads"] == 0
    assert numba.get_num_threads() == top


def test_paper_preset_from_the_command_line(capsys, tmp_path, one_thread_after):
    rc, out, err = run_cli(capsys, *tiny(tmp_path / "p", "--preset", "paper", "--threads", "1"))
    assert rc == 0 and err == "", err
    assert out.splitlines()[0].endswith("eta 0.001 (epoch 1), B float32, seed 0, backend numba, 1 thread")
    cfg = read_results(tmp_path / "p" / "results.h5")["config"]
    assert cfg["network"]["eta"] == 1e-3 and cfg["network"]["feedback_dtype"] == "float32"
    assert cfg["run"]["eta_schedule"] == [] and cfg["run"]["epochs"] == 1     # --epochs beats the preset


@pytest.mark.parametrize("argv, words", [
    (["--preset", "papr"], "--preset: experiment lillicrap2016-spiking has no preset 'papr'; choose one of paper"),
    (["--set", "run.threads=-1"], "run.threads: must be 0 (all"),
    (["--set", "run.threads=100000"], "run.threads: must be 0 (all"),
])
def test_bad_preset_or_threads_is_one_line_and_writes_nothing(capsys, tmp_path, argv, words):
    rc, out, err = run_cli(capsys, *tiny(tmp_path / "bad", *argv))
    assert rc == 2 and err.count("\n") == 1 and err.startswith("spikefa: error: ") and words in err, err
    assert not (tmp_path / "bad").exists()


def test_negative_threads_option_is_refused(capsys, tmp_path):
    rc, _, err = run_cli(capsys, *tiny(tmp_path / "neg", "--threads", "-2"))
    assert rc == 2 and "must be 0 (all cores) or >= 1" in err


def test_resolve_threads():
    top = numba.config.NUMBA_NUM_THREADS
    assert resolve_threads(0) == top and resolve_threads(1) == 1
    for bad in (-1, top + 1, 1.5, True):
        with pytest.raises(ConfigError, match=r"^run\.threads: must be 0"):
            resolve_threads(bad, "run.threads")


@pytest.mark.parametrize("rule, dtype", [("fa", np.int8), ("dfa", np.int8), ("kp", np.float32),
                                         ("wm", np.float32)])
def test_auto_feedback_dtype_is_int8_where_the_rule_keeps_b_fixed(rule, dtype):
    auto = SpikingNetwork(SpikingParams(**SMALL, feedback_dtype="auto"), rule, seed=4)
    assert auto.B.dtype == dtype
    same = SpikingNetwork(SpikingParams(**SMALL, feedback_dtype=np.dtype(dtype).name), rule, seed=4)
    np.testing.assert_array_equal(auto.B, same.B)          # exactly the explicit choice
    np.testing.assert_array_equal(auto.fb_scale, same.fb_scale)
