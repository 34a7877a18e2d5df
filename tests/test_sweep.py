"""spikefa sweep: grid expansion, the table against the per-point files, resume, retries,
a worker that dies, a dask LocalCluster, one-line errors.

Most tests use a fake experiment (a module written to a temporary folder and put on
PYTHONPATH, so spawned workers import it too) whose score is ``value + 0.1 * seed`` and
which can fail its first attempts or kill its worker; one runs the real ``xor``.
"""

import csv
import json
import os
import textwrap
import time
from pathlib import Path
import signal
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from spikefa import cli, config, experiments
from spikefa.errors import ConfigError, SpikefaError
from spikefa.results import read_results
from spikefa.sweep import executors as sweep_executors
from spikefa.sweep import grid, plan, run_sweep, split_values
from spikefa.sweep.worker import point_progress

FAKE = '''
"""A fake experiment for the sweep tests: score = value + 0.1 * seed."""
import os
import time
from pathlib import Path

from spikefa.results import ResultsWriter

NAME = "fake"
DESCRIPTION = "sweep test double"
SMOKE = {"run": {}}


def defaults():
    return {"run": {"seed": 0, "value": 1.0, "fail_times": 0, "crash": False, "sleep": 0.0}}


def run(cfg, out_dir, progress=True, resume=False, overwrite=False):
    r = cfg["run"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counter = out / "attempts.txt"
    n = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(n))
    if r["crash"] and n == 1:
        os._exit(3)                  # the worker process dies
    if n <= r["fail_times"]:
        raise RuntimeError(f"injected failure {n}")
    time.sleep(r["sleep"])
    score = r["value"] + 0.1 * r["seed"]
    res = ResultsWriter(out / "results.h5", NAME, cfg, {"seed": r["seed"]})
    res.summary(score=score)
    return {"score": score}
'''


@pytest.fixture
def fake(tmp_path_factory, monkeypatch):
    """Register the fake experiment as ``fake`` here and in spawned workers."""
    d = tmp_path_factory.getbasetemp() / "fake_experiment"
    d.mkdir(exist_ok=True)
    (d / "spikefa_sweep_fake.py").write_text(textwrap.dedent(FAKE))
    monkeypatch.syspath_prepend(str(d))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(d), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setitem(experiments._MODULES, "fake", "spikefa_sweep_fake")
    return "fake"


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def attempts(out, name):
    return int((out / "points" / name / "attempts.txt").read_text())


# --- the grid -------------------------------------------------------------------------

@pytest.mark.parametrize("text, parts", [
    ("fa,bp,kp", ["fa", "bp", "kp"]),
    ("[2,16,1]", ["[2,16,1]"]),
    ("[2,16,1], [2,32,1]", ["[2,16,1]", "[2,32,1]"]),
    ('"a,b",c', ['"a,b"', "c"]),
    ("{x = [1, 2]},3", ["{x = [1, 2]}", "3"]),
    ("1e-3", ["1e-3"]),
])
def test_split_values(text, parts):
    assert split_values(text) == parts


def test_grid_is_the_product_of_axes_and_seeds():
    pl = plan("xor", ["rule=fa,bp", "network.sizes=[2,16,1],[2,8,1]", "run.examples=50"], seeds=3, first_seed=4)
    assert [a.name for a in pl.axes] == ["rule", "network.sizes", "seed"]
    assert len(pl.points) == 2 * 2 * 3
    assert len({p.name for p in pl.points}) == 12
    got = {(p.config["run"]["rules"][0], tuple(p.config["network"]["sizes"]), p.config["run"]["first_seed"])
           for p in pl.points}
    assert got == {(r, s, seed) for r in ("fa", "bp") for s in ((2, 16, 1), (2, 8, 1)) for seed in (4, 5, 6)}
    for p in pl.points:
        assert p.config["run"]["seeds"] == 1 and p.config["run"]["examples"] == 50
        assert p.params["seed"] == str(p.config["run"]["first_seed"])
    # seeds are the outer axis: the first points cover every condition of the first seed
    assert [p.params["seed"] for p in pl.points[:4]] == ["4"] * 4
    assert pl.points[0].name == "seed=4__rule=fa__network.sizes=2-16-1"


def test_seed_field_of_the_spiking_experiment_and_one_thread_per_point():
    pl = plan("lillicrap2016-spiking", ["run.epochs=1"], seeds=2)
    assert [p.config["run"]["seed"] for p in pl.points] == [0, 1]
    assert all(p.config["run"]["threads"] == 1 for p in pl.points)


@pytest.mark.parametrize("name", experiments.names())
def test_every_experiment_sweeps_over_seeds(name):
    # the seed field is found for every registered experiment, and its smoke size plans
    pl = plan(name, seeds=2, smoke=True)
    assert len(pl.points) == 2 and pl.points[0].config != pl.points[1].config


def test_no_axes_is_one_point():
    pl = plan("xor", ["run.examples=50"])
    assert [p.name for p in pl.points] == ["base"]


def test_folder_names_stay_unique():
    ax = grid.Axis("x", "run.x", ("a b", "a-b"), (("run.x='a b'",), ("run.x='a-b'",)))
    pts = grid.expand({"run": {"x": ""}}, [], [ax])
    assert len({p.name for p in pts}) == 2


# --- running: the local executor ----------------------------------------------------------

def test_local_sweep_of_xor_table_matches_point_files(tmp_path):
    out = tmp_path / "sw"
    res = run_sweep("xor", ["rule=fa,bp", "run.examples=120"], seeds=3, out=out, workers=2, progress=False)
    assert sorted(res.ran) == sorted(p.name for p in res.plan.points) and not res.failed
    # recompute every figure from the points' own result files
    per = {}
    for p in res.plan.points:
        r = read_results(out / "points" / p.name / "results.h5")
        rule = r["config"]["run"]["rules"]
        assert rule == [p.params["rule"]] and json.loads(r["attrs"]["seeds"])["seeds"] == [int(p.params["seed"])]
        per.setdefault(rule[0], []).append((r[f"curves/{rule[0]}/solved_at"][0],
                                            r[f"curves/{rule[0]}/accuracy"][0, -1]))
    rows = {(row["rule"], row["metric"]): row for row in read_csv(out / "table.csv")}
    for rule, vals in per.items():
        solved_at = np.array([v[0] for v in vals])
        acc = np.array([v[1] for v in vals])
        fin = solved_at[np.isfinite(solved_at)]
        row = rows[(rule, "examples_to_solve")]
        assert int(row["n"]) == fin.size and int(row["missing"]) == 3 - fin.size
        if fin.size:
            assert float(row["mean"]) == pytest.approx(fin.mean())
        if fin.size > 1:
            assert float(row["sd"]) == pytest.approx(fin.std(ddof=1))
        row = rows[(rule, "final_accuracy")]
        assert int(row["n"]) == 3
        assert float(row["mean"]) == pytest.approx(acc.mean()) and float(row["sd"]) == pytest.approx(acc.std(ddof=1))
        assert float(rows[(rule, "solved")]["mean"]) == pytest.approx(np.isfinite(solved_at).mean())
    assert len(read_csv(out / "samples.csv")) == 6 * 3          # 6 points x 3 metrics
    # one point per seed gives what one run over those seeds gives
    xor = experiments.get("xor")
    xor.run(config.build(xor.defaults(), None, ["run.examples=120", "run.seeds=3"]), tmp_path / "direct",
            progress=False)
    direct = read_results(tmp_path / "direct" / "results.h5")
    for rule in ("fa", "bp"):
        # per[rule] is in point order, seeds 0, 1, 2
        np.testing.assert_array_equal([v[0] for v in per[rule]], direct[f"curves/{rule}/solved_at"])
        np.testing.assert_array_equal([v[1] for v in per[rule]], direct[f"curves/{rule}/accuracy"][:, -1])
    summary = (out / "summary.md").read_text()
    assert "| rule" in summary and "examples_to_solve" in summary and "6 points: 6 done" in summary
    assert all(row["status"] == "done" for row in read_csv(out / "points.csv"))
    # every point kept its own progress bar, finished
    assert all(point_progress(out / "points" / p.name) == "100%" for p in res.plan.points)


def test_point_progress_reads_the_newest_bar(tmp_path):
    assert point_progress(tmp_path) is None                       # no file yet
    f = tmp_path / "progress.txt"
    f.write_text("")
    assert point_progress(tmp_path) is None                       # no bar drawn yet
    f.write_text("xor:   3%|3    | 3/100\rxor:  47%|####7     | 47/100 [00:01<00:01]" + " " * 500
                 + "\rfig3a:  12%|#2   | 12/100")
    assert point_progress(tmp_path) == "12%"


def test_table_and_welch_test_of_a_two_value_axis(fake, tmp_path):
    out = tmp_path / "sw"
    res = run_sweep(fake, ["run.value=1.0,2.0"], seeds=3, out=out, workers=2, progress=False)
    rows = {row["run.value"]: row for row in read_csv(out / "table.csv")}
    seeds = np.array([0, 1, 2])
    for v in (1.0, 2.0):
        x = v + 0.1 * seeds
        row = rows[str(v)]
        assert row["metric"] == "score" and int(row["n"]) == 3
        assert float(row["mean"]) == pytest.approx(x.mean()) and float(row["sd"]) == pytest.approx(x.std(ddof=1))
    (t,) = res.tests
    want = stats.ttest_ind(1.0 + 0.1 * seeds, 2.0 + 0.1 * seeds, equal_var=False)
    assert t.factor == "run.value" and t.t == pytest.approx(want.statistic) and t.p == pytest.approx(want.pvalue)
    assert read_csv(out / "tests.csv")[0]["factor"] == "run.value"


def test_resume_skips_finished_points(fake, tmp_path):
    out = tmp_path / "sw"
    first = run_sweep(fake, [], seeds=2, out=out, workers=2, progress=False)
    assert len(first.ran) == 2
    with pytest.raises(ConfigError, match="already holds a sweep"):
        run_sweep(fake, [], seeds=2, out=out, workers=2, progress=False)
    again = run_sweep(fake, [], seeds=3, out=out, workers=2, progress=False, resume=True)
    assert sorted(again.skipped) == ["seed=0", "seed=1"] and again.ran == ["seed=2"]
    assert [attempts(out, f"seed={s}") for s in range(3)] == [1, 1, 1]    # none ran twice
    rows = read_csv(out / "table.csv")
    assert int(rows[0]["n"]) == 3 and float(rows[0]["mean"]) == pytest.approx(1.1)
    # a finished point with another configuration is not silently reused
    with pytest.raises(ConfigError, match="another configuration"):
        run_sweep(fake, ["run.value=5.0"], seeds=3, out=out, workers=1, progress=False, resume=True)
    fresh = run_sweep(fake, ["run.value=5.0"], seeds=1, out=out, workers=1, progress=False, overwrite=True)
    assert fresh.ran == ["seed=0"] and not (out / "points" / "seed=2").exists()


def test_failed_point_is_retried_then_reported(fake, tmp_path, capsys):
    out = tmp_path / "sw"
    rc = cli.main(["sweep", fake, "--set", "run.fail_times=0,1,5", "--retries", "2", "--workers", "2",
                   "--out", str(out), "--quiet"])
    assert rc == 1
    captured = capsys.readouterr()
    assert "1 of 3 points failed" in captured.err
    assert [attempts(out, f"run.fail_times={k}") for k in (0, 1, 5)] == [1, 2, 3]
    point = json.loads((out / "points" / "run.fail_times=5" / "point.json").read_text())
    assert point["status"] == "failed" and point["attempts"] == 3
    assert point["errors"] == [f"RuntimeError: injected failure {i}" for i in (1, 2, 3)]
    assert json.loads((out / "points" / "run.fail_times=1" / "point.json").read_text())["status"] == "done"
    summary = (out / "summary.md").read_text()
    assert "Failed points (1)" in summary and "run.fail_times=5" in summary and "injected failure 3" in summary
    assert "failed" in captured.out and "injected failure 3" in captured.out
    status = {r["point"]: r["status"] for r in read_csv(out / "points.csv")}
    assert status == {"run.fail_times=0": "done", "run.fail_times=1": "done", "run.fail_times=5": "failed"}
    # --resume runs only the failed point again
    res = run_sweep(fake, ["run.fail_times=0,1,5"], out=out, workers=1, retries=0, progress=False, resume=True)
    assert sorted(res.skipped) == ["run.fail_times=0", "run.fail_times=1"] and not res.ran
    assert res.failed == [("run.fail_times=5", 1, "RuntimeError: injected failure 4")]
    assert [attempts(out, f"run.fail_times={k}") for k in (0, 1, 5)] == [1, 2, 4]


def test_a_dead_worker_costs_its_point_one_attempt(fake, tmp_path):
    out = tmp_path / "sw"
    # the seed-1 point kills its worker on its first attempt; the seed-0 point, running
    # beside it, is not charged for that
    res = run_sweep(fake, ["run.crash=false,true", "run.sleep=0.5"], out=out, workers=2, retries=1, progress=False)
    assert sorted(res.ran) == ["run.crash=false", "run.crash=true"] and not res.failed
    assert res.attempts == {"run.crash=false": 1, "run.crash=true": 2}
    errors = json.loads((out / "points" / "run.crash=true" / "point.json").read_text())["errors"]
    assert len(errors) == 1 and "worker process died" in errors[0]


# --- dask ---------------------------------------------------------------------------------

def test_dask_local_cluster(fake, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        res = run_sweep(fake, ["run.value=1.0,2.0"], seeds=2, out=tmp_path / "shared", scheduler=cluster.scheduler_address,
                        progress=False)
        assert len(res.ran) == 4 and not res.failed
        rows = {r["run.value"]: r for r in read_csv(tmp_path / "shared" / "table.csv")}
        assert float(rows["2.0"]["mean"]) == pytest.approx(2.05) and int(rows["2.0"]["n"]) == 2
        # gathered: the worker runs in a temporary folder and sends the files back
        res = run_sweep(fake, [], seeds=2, out=tmp_path / "gathered", scheduler=cluster.scheduler_address,
                        gather=True, retries=0, progress=False)
        assert sorted(res.ran) == ["seed=0", "seed=1"]
        r = read_results(tmp_path / "gathered" / "points" / "seed=1" / "results.h5")
        assert r["summary"]["score"] == pytest.approx(1.1)


# --- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, needle", [
    (["sweep", "xr"], "unknown experiment 'xr'"),
    (["sweep", "xor", "--set", "rulez=fa,bp"], "unknown field"),
    (["sweep", "xor", "--set", "network.bogus=1,2"], "unknown field network.bogus"),
    (["sweep", "xor", "--set", "rule="], "empty value list"),
    (["sweep", "xor", "--set", "rule=fa,,bp"], "empty value"),
    (["sweep", "xor", "--set", "rule=fa,fa"], "given twice"),
    (["sweep", "xor", "--set", "rule=fa,bq"], "unknown rule 'bq'"),
    (["sweep", "xor", "--set", "run.examples=10,ten"], "expected int"),
    (["sweep", "xor", "--seeds", "0"], "--seeds must be >= 1"),
    (["sweep", "xor", "--seeds", "2", "--set", "run.seeds=4"], "--seeds sets run.seeds"),
    (["sweep", "xor", "--retries", "-1"], "--retries must be >= 0"),
    (["sweep", "xor", "--workers", "0"], "--workers must be >= 1"),
    (["sweep", "xor", "--gather"], "--gather only applies with --scheduler"),
])
def test_bad_input_is_one_line_exit_2(argv, needle, capsys, tmp_path):
    assert cli.main(argv + ["--out", str(tmp_path / "sw"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spikefa: error: ") and needle in err and err.count("\n") == 1
    assert not (tmp_path / "sw").exists()


def test_unreachable_scheduler(capsys, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(sweep_executors, "CONNECT_TIMEOUT", 1.0)
    rc = cli.main(["sweep", "xor", "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path / "sw"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("spikefa: error: --scheduler tcp://127.0.0.1:9: cannot reach") \
        and err.count("\n") == 1
    assert not (tmp_path / "sw").exists()


def test_dry_run_lists_points(capsys):
    assert cli.main(["sweep", "xor", "--seeds", "2", "--set", "rule=fa,bp", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "4 points; axes: rule (2), seed (2)" in out and "seed=1__rule=bp" in out


def test_point_error_line():
    from spikefa.sweep.worker import error_line

    assert error_line(SpikefaError("a\nb")) == "a / b"
    assert error_line(KeyError("x")) == "KeyError: 'x'"


def _children(pid):
    """Process ids whose parent is ``pid`` (from /proc)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_sigterm_ends_the_sweep_and_its_workers(tmp_path):
    # one xor point long enough (10^7 examples) to be running when SIGTERM comes
    out = tmp_path / "sw"
    proc = subprocess.Popen([sys.executable, "-m", "spikefa", "sweep", "xor", "--seeds", "1", "--workers", "1",
                             "--set", "run.examples=10000000", "--out", str(out), "--quiet"],
                            cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    workers = []
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("points/*/progress.txt")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        workers = [k for k in _children(proc.pid) if "spawn_main" in Path(f"/proc/{k}/cmdline").read_text()]
        assert proc.poll() is None and workers, "the sweep should be running a point in a worker process"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and "interrupted" in err
        deadline = time.monotonic() + 30
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers)
        assert (out / "points.csv").exists()           # the table so far was written
    finally:   # leave no process behind, whatever failed
        for pid in [proc.pid, *workers]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.communicate()


def test_sweep_exports_a_summary_that_report_tabulates(fake, tmp_path):
    """A sweep folder becomes a summary of docs/results/ (every sample), and spikefa report
    tabulates it: mean +- s.d. and the per-seed values of every condition."""
    from spikefa import report, summary

    out = tmp_path / "sw"
    run_sweep(fake, ["run.value=1.0,2.0"], seeds=3, out=out, workers=2, progress=False)
    doc = summary.export([out], "fake-sweep", tmp_path / "res" / "fake-sweep.json", title="A fake sweep")
    assert doc["kind"] == "sweep" and doc["factors"] == ["run.value"] and len(doc["samples"]) == 6
    md = report.write(tmp_path / "res", tmp_path / "results.md", tmp_path / "figs").read_text()
    assert "## A fake sweep" in md and "score, mean +- s.d." in md
    for v in (1.0, 2.0):
        x = v + 0.1 * np.arange(3)
        assert f"| {v} " in md and f"{x.mean():.4g}" in md and " / ".join(f"{y:.4g}" for y in x) in md
