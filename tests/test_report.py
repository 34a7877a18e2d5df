"""``spikefa export summary`` and ``spikefa report``: docs/results.md from small committed
summaries of runs, every number computed, none typed."""

import json
import math

import h5py
import numpy as np
import pytest

from spikefa import report
from spikefa.evaluate import read_evals
from spikefa.results import read_results

from clihelp import mnist_dir, run_cli

TINY = ["--set", "network.sizes=[784,40,40,1000]", "--train-images", "200", "--test-images", "100",
        "--set", "run.eval_every=0", "--set", "run.probe_images=20", "--threads", "1", "--quiet",
        "--set", "run.eta_schedule=[[2, 1e-3]]"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Seeds 0 and 1 finished (2 epochs), seed 2 stopped after epoch 1; a 20-step eval of seed 0."""
    import spikefa.cli as cli

    root = tmp_path_factory.mktemp("seeds")
    for seed, epochs in ((0, 2), (1, 2), (2, 1)):
        argv = ["run", "lillicrap2016-spiking", *TINY, "--seed", seed, "--epochs", epochs, "--data-dir", mnist_dir(),
                "--out", root / f"s{seed}"]
        assert cli.main([str(a) for a in argv]) == 0
    with h5py.File(root / "s2" / "results.h5", "a") as f:   # as if still running: 1 of its 2 epochs done
        cfg = json.loads(f.attrs["config"])
        cfg["run"]["epochs"] = 2
        f.attrs["config"] = json.dumps(cfg)
    assert cli.main(["eval", str(root / "s0"), "--test-steps", "20", "--threads", "1"]) == 0
    return root


def test_stats_match_the_t_table():
    s = report.stats([0.01, 0.02, 0.03], reference=0.0)
    assert s["n"] == 3 and math.isclose(s["mean"], 0.02) and math.isclose(s["sd"], 0.01)
    half = 4.302653 * 0.01 / math.sqrt(3)          # t(0.975, 2 d.f.) from a t-table
    assert np.allclose(s["ci"], (0.02 - half, 0.02 + half), rtol=1e-6)
    assert math.isclose(s["t"], 0.02 / (0.01 / math.sqrt(3)))
    assert math.isclose(s["p"], 0.07417990, rel_tol=1e-5)   # two-sided, t = 3.4641 on 2 d.f.
    one = report.stats([0.05], reference=0.018)
    assert one["n"] == 1 and math.isnan(one["sd"]) and math.isnan(one["p"])


def test_export_then_report(capsys, runs, tmp_path):
    out = tmp_path / "docs"
    rc, text, err = run_cli(capsys, "export", "summary", runs / "s2", runs / "s0", runs / "s1", "--name", "tiny",
                            "--title", "Tiny seeds", "--out", out / "results" / "tiny.json",
                            "--command", "spikefa run lillicrap2016-spiking --seed S")
    assert rc == 0, err
    assert "seeds 0 (2 epochs), 1 (2 epochs), 2 (1 epochs)" in text
    doc = json.loads((out / "results" / "tiny.json").read_text())
    assert [r["seed"] for r in doc["runs"]] == [0, 1, 2] and doc["declared_epoch"] == 2
    assert doc["config"]["run"]["eta_schedule"] == [[2, 1e-3]] and "seed" not in doc["config"]["run"]
    res = [read_results(runs / f"s{s}" / "results.h5")["epoch"] for s in (0, 1)]
    assert [e["eta"] for e in doc["runs"][0]["epochs"]] == [1e-2, 1e-3]
    assert doc["runs"][0]["epochs"][1]["test_error"] == res[0][1, 1]
    assert doc["runs"][0]["evals"] == read_evals(runs / "s0")

    rc, text, err = run_cli(capsys, "report", "--results", out / "results", "--out", out / "results.md",
                            "--figures", out / "figures")
    assert rc == 0, err
    md = (out / "results.md").read_text()
    assert (out / "figures" / "results-tiny.png").stat().st_size > 10_000
    assert "](figures/results-tiny.png)" in md
    e0, e1 = res[0][1, 1], res[1][1, 1]
    s = report.stats([e0, e1], 0.018)
    assert f"{100 * s['mean']:.2f} +- {100 * s['sd']:.2f} % (mean +- s.d., n = 2)" in md
    assert f"t = {s['t']:.2f}, p = {s['p']:.3g}" in md
    ev = read_evals(runs / "s0")[0]["test_error"]
    assert f"| 0    | 2 of 2      | {100 * e0:.2f}" in md and f"{100 * ev:.2f}" in md
    assert "20-step readout:** " + f"{100 * ev:.2f} % from one seed" in md
    assert "seed 2 (1 of 2 epochs); not in the statistics" in md
    assert md.startswith(report.HEADER)
    assert "Made with: `spikefa run lillicrap2016-spiking --seed S`" in md


def test_export_refuses_mixed_runs(capsys, runs, tmp_path):
    rc, _, err = run_cli(capsys, "export", "summary", runs / "s0", runs / "s0", "--name", "x", "--out", tmp_path / "x.json")
    assert rc == 2 and "seed 0 appears twice" in err
    import spikefa.cli as cli

    other = tmp_path / "other"
    argv = ["run", "lillicrap2016-spiking", *TINY, "--seed", "3", "--epochs", "1", "--set", "network.eta=0.02",
            "--data-dir", mnist_dir(), "--out", str(other)]
    assert cli.main([str(a) for a in argv]) == 0
    capsys.readouterr()
    rc, _, err = run_cli(capsys, "export", "summary", runs / "s0", other, "--name", "x", "--out", tmp_path / "x.json")
    assert rc == 2 and err.count("\n") == 1 and "configured unlike" in err and "network.eta" in err, err
    assert not (tmp_path / "x.json").exists()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.json").write_text('{"format": "other"}')
    rc, _, err = run_cli(capsys, "report", "--results", tmp_path / "bad", "--out", tmp_path / "r.md")
    assert rc == 2 and "not a spikefa summary" in err


def test_power_law_trend_of_a_constant_rate_run(tmp_path):
    """The paper's protocol (constant eta) gets a fitted trend and the epoch at which it
    would reach 1.8 %; on an exact power law the fit recovers it."""
    a, b = 0.07, 0.26
    epochs = [{"epoch": e, "eta": 1e-3, "test_error": a * e ** -b, "train_error": 0.0, "train_s": 200.0,
               "test_s": 8.0} for e in range(1, 15)]
    doc = {"name": "paper", "title": "paper protocol", "experiment": "lillicrap2016-spiking", "commit": "x",
           "version": "0", "declared_epoch": 300, "reference": {"test_error": 0.018, "source": "[L16]"},
           "config": {"run": {"rule": "fa", "eta_schedule": []}, "network": {"eta": 1e-3, "test_steps": 5}},
           "runs": [{"seed": 0, "epochs_done": 14, "wall_s": 2912.0, "threads": 2, "epochs": epochs, "evals": []}]}
    fa, fb = report.power_fit(range(1, 15), [e["test_error"] for e in epochs])
    assert math.isclose(fa, a, rel_tol=1e-9) and math.isclose(fb, b, rel_tol=1e-9)
    md = report.seeds_section(doc, tmp_path / "f.png", "f.png")
    reach = (a / 0.018) ** (1 / b)
    assert f"test error ~ 7.0 % x epoch^-0.26 (fitted to epochs 5-14); at that rate it reaches 1.8 % near epoch {reach:.0f}" in md
    assert "seed 0 (14 of 300 epochs); not in the statistics" in md
    assert (tmp_path / "f.png").stat().st_size > 10_000
    doc["config"]["run"]["eta_schedule"] = [[20, 1e-4]]        # a schedule: no trend line
    assert report.fit_lines(doc) == []


def test_a_variant_beside_its_baseline_is_a_paired_difference(tmp_path):
    """A summary exported with --baseline is compared seed by seed at its own last epoch:
    the paired difference, its standard error and the two-standard-error verdict."""
    def doc(name, errs, epochs, baseline=None):
        runs = [{"seed": s, "folder": f"s{s}", "epochs_done": epochs, "wall_s": 1.0, "threads": 2, "evals": [],
                 "epochs": [{"epoch": e + 1, "eta": 1e-2, "test_error": err + 0.01 * (epochs - e - 1),
                             "train_error": 0.0, "train_s": 1.0, "test_s": 0.0} for e in range(epochs)]}
                for s, err in enumerate(errs)]
        return {"format": "spikefa-summary/1", "kind": "seeds", "name": name, "title": name, "command": "",
                "experiment": "lillicrap2016-spiking", "commit": "c", "version": "0", "declared_epoch": epochs,
                "baseline": baseline, "reference": None,
                "config": {"run": {"rule": "fa", "eta_schedule": []}, "network": {"eta": 1e-2}}, "runs": runs}

    base = doc("defaults", [0.050, 0.052, 0.049, 0.051], 30)
    # the baseline at epoch 3 is its last-epoch error + 0.27 (the synthetic curve falls 0.01 an epoch)
    at3 = [b + 0.27 for b in (0.050, 0.052, 0.049, 0.051)]
    better = doc("variant", [x - 0.01 for x in at3[:3]], 3, baseline="defaults")
    line = report.baseline_lines(better, base)[0]
    assert "seed 0: " in line and "seed 3" not in line                  # only seeds in both
    assert "Paired difference -1.00 +- 0.00 % (mean +- s.e., n = 3): lower by more than two" in line
    noisy = doc("variant", [at3[0] - 0.01, at3[1] + 0.012, at3[2]], 3, baseline="defaults")
    d = np.array([-0.01, 0.012, 0.0])
    se = d.std(ddof=1) / np.sqrt(3)
    line = report.baseline_lines(noisy, base)[0]
    assert f"{100 * d.mean():.2f} +- {100 * se:.2f} %" in line and "within two standard errors" in line
    assert "no such summary" in report.baseline_lines(noisy, None)[0]
    # its section is judged against the baseline, not against the paper's figure
    noisy["reference"] = {"test_error": 0.018, "source": "[L16]"}
    noisy["config"]["network"].update(feedback_dtype="auto", test_steps=5)
    text = report.seeds_section(noisy, tmp_path / "v.png", "v.png", base)
    assert "Beside `defaults` at epoch 3" in text
    assert "Against the paper" not in text and "t-test" not in text


def test_above_the_paper_the_report_gives_the_measured_reasons():
    """A mean above the paper's figure comes with what was measured at the declared epoch:
    the 20-step readout against the 5-step one, saturation and the alignment angles."""
    ep = {"epoch": 1, "eta": 1e-2, "test_error": 0.020, "train_error": 0.0, "train_s": 1.0, "test_s": 0.0,
          "saturated": [0.6, 0.9], "delta_angles": [80.0], "matrix_angles": [87.0]}
    runs = [{"seed": s, "folder": "x", "epochs_done": 1, "wall_s": 1.0, "threads": 2, "epochs": [dict(ep)],
             "evals": [{"test_steps": 20, "epoch": 1, "image": 0, "test_error": 0.017}]} for s in (0, 1)]
    runs[1]["epochs"][0]["test_error"] = 0.022
    doc = {"name": "r", "title": "r", "experiment": "lillicrap2016-spiking", "commit": "c", "version": "0",
           "declared_epoch": 1, "reference": {"test_error": 0.018, "source": "[L16]"},
           "config": {"run": {"rule": "fa", "eta_schedule": []}, "network": {"eta": 1e-2}}, "runs": runs}
    s5, s20 = report.stats([0.020, 0.022]), report.stats([0.017, 0.017])
    text = report.reasons(doc, runs, s5, s20)
    assert "over 20 test steps the error is 1.70 % against 2.10 % over the paper's 5, so 0.40 points" in text
    assert "saturation: 60 / 90 %" in text and "stay 80 degrees from backprop's and B stays 87 degrees" in text
