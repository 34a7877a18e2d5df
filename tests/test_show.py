"""Result files explain themselves: named fields with units and descriptions in
results.h5, and ``spikefa show RUN_DIR``."""

import h5py
import pytest

from spikefa.results import read_results

from clihelp import mnist_dir, run_cli

TINY = ["--set", "network.sizes=[784,40,40,1000]", "--train-images", "200", "--test-images", "100",
        "--set", "run.eval_every=100", "--set", "run.probe_images=20", "--threads", "1", "--quiet", "--epochs", "2"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    import spikefa.cli as cli

    out = tmp_path_factory.mktemp("show") / "r"
    argv = ["run", "lillicrap2016-spiking", *TINY, "--data-dir", mnist_dir(), "--out", str(out)]
    assert cli.main(argv) == 0
    return out


def test_every_series_has_named_fields_with_units_and_descriptions(run_dir):
    with h5py.File(run_dir / "results.h5", "r") as f:
        for name in ("epoch", "heldout", "alignment", "saturation"):
            d = f[name]
            assert d.dtype.names and d.attrs["description"], name
            units, texts = list(d.attrs["field_units"]), list(d.attrs["field_descriptions"])
            assert len(units) == len(texts) == len(d.dtype.names)
            assert all(texts), name
        assert f["epoch"].dtype.names[:5] == ("epoch", "test_error", "train_error", "train_seconds", "test_seconds")
        assert f["epoch"].dtype.names[5:] == ("rate_input", "rate_hidden1", "rate_hidden2", "rate_output")
        assert list(f["epoch"].attrs["field_units"][1:4]) == ["fraction", "fraction", "s"]
        assert f["saturation"].dtype.names[-1] == "saturated_output"
        assert list(f["heldout"]["images"]) == [100, 200, 300, 400]
    res = read_results(run_dir / "results.h5")   # readers get plain rows, and the names beside them
    assert res["epoch"].shape == (2, 9) and res["fields"]["heldout"] == ["images", "error"]


def test_show_prints_config_tables_and_files(capsys, run_dir):
    rc, out, err = run_cli(capsys, "show", run_dir)
    assert rc == 0, err
    res = read_results(run_dir / "results.h5")
    lines = out.splitlines()
    assert lines[0].startswith(f"{run_dir}: lillicrap2016-spiking, spikefa ")
    assert "  [network] sizes = [784, 40, 40, 1000]" in out and "eta_schedule = [[20, 0.001], [27, 0.0001]]" in out
    head = lines.index("epoch: one row per epoch")
    assert lines[head + 1].split()[:4] == ["epoch", "test_error", "%", "train_error"]
    for k, row in enumerate(res["epoch"]):
        assert lines[head + 2 + k].split()[:2] == [f"{row[0]:.0f}", f"{100 * row[1]:.2f}"]
    assert out.index("epoch: one row") < out.index("heldout: ") < out.index("alignment: ")
    assert "matrix_angle_hidden1 (deg)" in out
    files = out[out.index("files:"):]
    assert "checkpoint.npz" in files and "results.h5" in files and "KiB" in files


def test_show_missing_run_is_one_line(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "show", tmp_path)
    assert rc == 2 and err.count("\n") == 1 and "no results.h5" in err
