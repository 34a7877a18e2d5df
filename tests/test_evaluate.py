"""``spikefa eval RUN_DIR``: a saved run scored again, with its own or other test settings."""

import numpy as np
import pytest

from spikefa.errors import SpikefaError

from spikefa.evaluate import read_evals
from spikefa.results import read_results

from clihelp import mnist_dir, run_cli

TINY = ["--set", "network.sizes=[784,60,60,1000]", "--train-images", "300", "--test-images", "200",
        "--set", "run.eval_every=0", "--set", "run.probe_images=0", "--epochs", "2", "--threads", "1", "--quiet"]


def test_eval_reproduces_the_runs_test_error_and_records_each_setting(capsys, tmp_path):
    out = tmp_path / "r"
    rc, _, err = run_cli(capsys, "run", "lillicrap2016-spiking", *TINY, "--data-dir", mnist_dir(), "--out", out)
    assert rc == 0, err
    last = read_results(out / "results.h5")["epoch"][-1, 1]
    rc, text, err = run_cli(capsys, "eval", out, "--threads", "1")
    assert rc == 0, err
    assert f"test error {100 * last:.2f} % with 5 test steps on 200 test images (end of epoch 2, step 3,000" in text
    rows = read_evals(out)
    assert len(rows) == 1 and rows[0]["test_error"] == last and rows[0]["epoch"] == 2   # exactly, not nearly
    for steps in ("20", "20", "1"):            # the same setting again replaces its row
        assert run_cli(capsys, "eval", out, "--threads", "1", "--test-steps", steps, "--test-images", "100")[0] == 0
    rows = read_evals(out)
    assert [(r["test_steps"], r["test_images"]) for r in rows] == [(5, 200), (20, 100), (1, 100)]
    assert all(0 <= r["test_error"] <= 1 and r["step"] == 3000 for r in rows)
    # one step per image gives a visibly noisier readout than twenty on the same network
    assert rows[2]["test_error"] > rows[1]["test_error"] or np.isclose(rows[1]["test_error"], 0)


def test_eval_errors_are_one_line(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "eval", tmp_path / "none")
    assert rc == 2 and err.count("\n") == 1 and "no results.h5" in err, err
    xor = tmp_path / "xor"
    assert run_cli(capsys, "run", "xor", "--smoke", "--quiet", "--out", xor)[0] == 0
    (xor / "checkpoint.npz").write_bytes(b"")
    rc, _, err = run_cli(capsys, "eval", xor)
    assert rc == 2 and "eval scores lillicrap2016-spiking runs, this is 'xor'" in err, err
    rc, _, err = run_cli(capsys, "eval", xor, "--test-steps", "0")
    assert rc == 2 and "--test-steps" in err
    assert read_evals(tmp_path) == []                        # no file: no evaluations
    (tmp_path / "eval.json").write_text("{not json")
    with pytest.raises(SpikefaError, match="eval.json: unreadable"):
        read_evals(tmp_path)
