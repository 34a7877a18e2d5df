"""Tests of the ``spikefa`` command line: listing, one-line errors, a tiny real run, --resume."""

import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from spikefa import cli, data
from spikefa.results import read_results
from spikefa.rules import rule_names

from clihelp import mnist_dir, run_cli

EXP = "lillicrap2016-spiking"


def assert_one_line_error(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("spikefa: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_list(capsys):
    rc, out, err = run_cli(capsys, "list")
    assert rc == 0 and err == ""
    assert EXP in out
    for name in ("fa", "bp", "dfa"):
        assert any(line.split()[:1] == [name] for line in out.splitlines()), name
    assert set(rule_names()) >= {"fa", "bp", "dfa"}


def test_module_entry_point_list():
    # `python -m spikefa` works as a program (one subprocess, ~1 s of imports)
    p = subprocess.run([sys.executable, "-m", "spikefa", "list"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert EXP in p.stdout and "dfa" in p.stdout


def test_module_entry_point_error_exit_status():
    p = subprocess.run([sys.executable, "-m", "spikefa", "run", "lillicrap2016-spikin"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    line = assert_one_line_error(p.stderr)
    assert f"did you mean '{EXP}'" in line


def test_unknown_experiment(capsys):
    rc, out, err = run_cli(capsys, "run", "lillicrap2016-spiknig")
    assert rc == 2
    line = assert_one_line_error(err)
    assert "unknown experiment 'lillicrap2016-spiknig'" in line
    assert f"did you mean '{EXP}'" in line


@pytest.mark.parametrize("argv,needle", [
    (["--set", "network.tau=2"], "tau"),
    (["--set", "network.sizes=[784,0,10]"], "sizes"),
    (["--set", "network.eat=1e-3"], "did you mean 'eta'"),
    (["--set", "network.phi=relu"], "phi"),
    (["--set", "network.tau=fast"], "network.tau"),
    (["--rule", "nope"], "known rules"),
    (["--backend", "brian2"], "backend"),
    (["--set", "network.feedback_dtype=int4"], "feedback_dtype"),
])
def test_bad_settings_exit_2(capsys, tmp_path, argv, needle):
    rc, out, err = run_cli(capsys, "run", EXP, "--quiet", "--out", str(tmp_path / "o"), *argv)
    assert rc == 2, (out, err)
    line = assert_one_line_error(err)
    assert needle in line
    assert not (tmp_path / "o" / "results.h5").exists()


def test_too_many_threads_exit_2(capsys, tmp_path):
    import numba

    rc, _, err = run_cli(capsys, "run", EXP, "--quiet", "--out", str(tmp_path),
                         "--threads", str(numba.config.NUMBA_NUM_THREADS + 1))
    assert rc == 2
    assert "threads" in assert_one_line_error(err)


def test_argparse_rejects_zero_epochs(capsys):
    rc, _, err = run_cli(capsys, "run", EXP, "--epochs", "0")
    assert rc == 2 and "must be >= 1" in err


def test_missing_data_exit_2(capsys, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.delenv("SPIKEFA_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def offline(name, dest):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(data, "_download", offline)
    rc, out, err = run_cli(capsys, "run", EXP, "--smoke", "--quiet", "--data-dir", str(empty),
                           "--out", str(tmp_path / "o"))
    assert rc == 2
    line = assert_one_line_error(err)
    assert "train-images-idx3-ubyte.gz" in line
    assert "not found" in line and str(empty) in line
    assert "download failed" in line
    assert not (tmp_path / "cache" / "spikefa" / "data" / "mnist" / "train-images-idx3-ubyte.gz").exists()


def test_too_many_train_images_exit_2(capsys, tmp_path):
    d = mnist_dir()
    rc, _, err = run_cli(capsys, "run", EXP, "--smoke", "--quiet", "--data-dir", d,
                         "--train-images", "60001", "--out", str(tmp_path))
    assert rc == 2
    assert "run.train_images" in assert_one_line_error(err)


TINY = ["--smoke", "--train-images", "300", "--test-images", "100", "--quiet"]


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """A one-epoch run, the same continued with --resume to two epochs, and a fresh two-epoch run.

    About 2 s per epoch of 300 images on the smoke network (784-500-500-500-1000).
    """
    d = mnist_dir()
    root = tmp_path_factory.mktemp("cli")
    a, b = root / "a", root / "b"
    outs = {}

    def call(*argv):
        import contextlib
        import io

        so, se = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
            rc = cli.main(list(argv))
        return rc, so.getvalue(), se.getvalue()

    outs["one"] = call("run", EXP, *TINY, "--data-dir", d, "--out", str(a))
    outs["one_res"] = read_results(a / "results.h5")
    outs["one_ckpt"] = dict(np.load(a / "checkpoint.npz"))
    outs["resumed"] = call("run", EXP, *TINY, "--data-dir", d, "--out", str(a), "--resume", "--epochs", "2")
    outs["fresh"] = call("run", EXP, *TINY, "--data-dir", d, "--out", str(b), "--epochs", "2")
    outs["a"], outs["b"] = a, b
    return outs


def test_tiny_run(tiny_runs):
    rc, out, err = tiny_runs["one"]
    assert rc == 0, err
    summary = [line for line in out.splitlines() if line.startswith(f"{EXP}: ")]
    assert len(summary) == 1, out
    assert "test_error" in summary[0] and "steps 1500" in summary[0]      # 300 images x 5 steps
    res = tiny_runs["one_res"]
    assert res["attrs"]["format"] == "spikefa-results"
    assert res["attrs"]["version"] == "0.1.0"
    assert res["attrs"]["experiment"] == EXP
    import json
    seeds = json.loads(res["attrs"]["seeds"])
    assert set(seeds) >= {"seed_weights", "seed_spikes"}
    assert seeds["seed_weights"] == 0 and 0 <= seeds["seed_spikes"] < 2**32
    cfg = res["config"]
    assert cfg["network"]["sizes"] == [784, 500, 500, 500, 1000]
    assert cfg["run"]["train_images"] == 300 and cfg["run"]["test_images"] == 100
    ep = res["epoch"]
    assert ep.shape[0] == 1
    assert ep.shape[1] == 5 + 5              # epoch, test, train error, 2 times, 5 layer rates
    assert ep[0, 0] == 1.0
    # test error is a multiple of 1/100 in [0, 1] and matches the summary
    assert 0.0 <= ep[0, 1] <= 1.0 and abs(ep[0, 1] * 100 - round(ep[0, 1] * 100)) < 1e-9
    assert res["summary"]["test_error"] == ep[0, 1]
    assert res["summary"]["steps"] == 1500
    rates = ep[0, 5:]
    assert ((rates > 0) & (rates < 1)).all()
    assert tiny_runs["one_ckpt"]["t"] == 1500
    # per epoch: epoch, matrix angle and teaching-signal angle of hidden layers 1..3
    al = res["alignment"]
    assert al.shape == (1, 7) and al[0, 0] == 1.0
    assert (np.abs(al[0, 1:4] - 90) < 10).all()       # FA's fixed B after 300 images: near orthogonal to W
    assert (al[0, 4:] > 0).all() and (al[0, 4:] < 100).all()
    # per epoch: epoch, mean Psi of layers 1..4 (at most 1/4), fraction saturated of layers 1..4
    sat = res["saturation"]
    assert sat.shape == (1, 9) and sat[0, 0] == 1.0
    assert ((sat[0, 1:5] > 0) & (sat[0, 1:5] <= 0.25)).all()
    assert ((sat[0, 5:] >= 0) & (sat[0, 5:] <= 1)).all()


def test_resume_equals_fresh_run(tiny_runs):
    for key in ("resumed", "fresh"):
        rc, out, err = tiny_runs[key]
        assert rc == 0, err
        assert "steps 3000" in out
    ra = read_results(tiny_runs["a"] / "results.h5")
    rb = read_results(tiny_runs["b"] / "results.h5")
    assert ra["epoch"].shape == rb["epoch"].shape == (2, 10)
    np.testing.assert_array_equal(ra["epoch"][:, :2], rb["epoch"][:, :2])
    # also the train error and the spike rates (columns 3, 4 are wall times)
    np.testing.assert_array_equal(ra["epoch"][:, 2], rb["epoch"][:, 2])
    np.testing.assert_array_equal(ra["epoch"][:, 5:], rb["epoch"][:, 5:])
    # the first epoch of the resumed file is the one written before the resume
    np.testing.assert_array_equal(ra["epoch"][0], tiny_runs["one_res"]["epoch"][0])
    np.testing.assert_array_equal(ra["alignment"], rb["alignment"])
    np.testing.assert_array_equal(ra["saturation"], rb["saturation"])
    assert ra["saturation"].shape == (2, 9)
    with np.load(tiny_runs["a"] / "checkpoint.npz") as za, np.load(tiny_runs["b"] / "checkpoint.npz") as zb:
        assert za["t"] == zb["t"] == 3000
        for k in ("W", "b", "c", "V", "U", "spikes"):
            np.testing.assert_array_equal(za[k], zb[k], err_msg=k)
        # and training did move the weights between the epochs
        assert np.abs(za["W"] - tiny_runs["one_ckpt"]["W"]).max() > 1e-4


def test_every_experiment_has_its_script(tmp_path):
    # experiments/NAME.py is `spikefa run NAME`: one per registered experiment, and one of
    # them run for real as a script (xor at its smoke size, a few seconds)
    from spikefa import experiments

    root = Path(__file__).resolve().parents[1] / "experiments"
    for name in experiments.names():
        script = root / f"{name.replace('-', '_')}.py"
        assert script.is_file(), f"no script for experiment {name}"
        assert f'"run", "{name}"' in script.read_text(), script
    r = subprocess.run([sys.executable, str(root / "xor.py"), "--smoke", "--quiet", "--out", str(tmp_path / "x")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "x" / "results.h5").is_file()


def test_missing_data_leaves_no_folders_behind(capsys, tmp_path, monkeypatch):
    """A run whose data cannot be found (nor downloaded) writes nothing: no output folder,
    no empty data folder from the attempted download."""
    def offline(url, *a, **k):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    empty = tmp_path / "nodata"
    empty.mkdir()
    out = tmp_path / "run"
    rc, _, err = run_cli(capsys, "run", EXP, "--smoke", "--data-dir", empty, "--out", out)
    assert rc == 2 and "not found" in assert_one_line_error(err)
    assert not out.exists()
    assert list(empty.iterdir()) == []          # the download's mnist/ folder was removed again
