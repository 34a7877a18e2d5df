"""Packed sweeps: points whose backend runs many networks per launch train together in one
process (``spikefa.sweep.runner.packs``, ``worker.run_pack``, ``training.run_lockstep``),
and each point ends exactly as when it runs alone.

The generic path needs no GPU: the Numba backend is given a ``run_many`` here (it runs the
networks in turn and counts them), the sweep runs its tasks in this process, and every
point of a packed sweep must equal, array for array, the same point of an unpacked one.
The CUDA backend's own packed sweep runs on numba-cuda's simulator in
``tests/test_cuda_backend.py`` (``test_packed_sweep_on_the_simulator``).
"""

import concurrent.futures as cf
import json

import numpy as np
import pytest

from clihelp import mnist_dir
from spikefa.engine.numba_backend import NumbaBackend
from spikefa.errors import ConfigError
from spikefa.results import read_results
from spikefa.sweep import plan, run_sweep, worker
from spikefa.sweep.runner import packs

EXP = "lillicrap2016-spiking"
# 8 + 8 + 8 images a chunk, a checkpoint, held-out evaluation and probe every 16 images
TINY = ["network.sizes=[784,20,20,10]", "run.train_images=24", "run.test_images=20", "run.chunk=8",
        "run.checkpoint_every=16", "run.eval_every=16", "run.eval_images=10", "run.probe_images=5",
        "run.probe_every=16", "run.epochs=2", "run.eta_schedule=[]"]
TIMES = {"epoch": ("train_seconds", "test_seconds"), "probes": ("seconds",)}   # wall times differ


class InlineExecutor:
    """The executor interface, running each task in this process (so a patched backend applies)."""

    kind = "inline"

    def __init__(self):
        self.tasks = []

    def describe(self):
        return "this process"

    def capacity(self):
        return 1

    def submit(self, task):
        self.tasks.append(task)
        fut = cf.Future()
        fut.set_result(worker.run_point(task))
        return fut

    def wait(self, futures, timeout):
        return set(futures)

    def result(self, fut):
        return fut.result()

    def close(self, cancel=False):
        pass


@pytest.fixture
def many(monkeypatch):
    """Give the Numba backend ``run_many`` (and a launch key by rule), undone after the
    test; returns the K of each launch and a set of seeds whose networks turn to NaN in
    their first launch."""
    launches, poison = [], set()

    def run_many(cls, impls, xs, labels, train, counts, layer_spikes):
        launches.append(len(impls))
        for b, x, y, c, s in zip(impls, xs, labels, counts, layer_spikes):
            b.run(x, y, train, c, s)
            if b.net.seed_weights in poison:
                b.net.W[:3] = np.nan

    monkeypatch.setattr(NumbaBackend, "run_many", classmethod(run_many), raising=False)
    monkeypatch.setattr(NumbaBackend, "launch_key", classmethod(lambda cls, impl: (impl.net.rule_name,)),
                        raising=False)
    monkeypatch.setenv("TQDM_MININTERVAL", "2")     # the worker sets it; restored after the test
    return launches, poison


def sweep(out, **kw):
    sets = [*TINY, f"run.data_dir={json.dumps(mnist_dir())}", "rule=fa,bp", "network.eta=0.01,0.02"]
    ex = InlineExecutor()
    res = run_sweep(EXP, sets, seeds=2, out=out, progress=False, executor=ex, **kw)
    return res, ex


def assert_same_point(a, b, series=("epoch", "heldout", "alignment", "saturation", "probes"), samples=True):
    """Two point folders hold the same run: final state, every result row but wall times, samples."""
    with np.load(a / "checkpoint.npz") as za, np.load(b / "checkpoint.npz") as zb:
        for k in za.files:
            if k != "extra":
                np.testing.assert_array_equal(za[k], zb[k], err_msg=f"{a.name}: checkpoint {k}")
    ra, rb = read_results(a / "results.h5"), read_results(b / "results.h5")
    for name in series:
        keep = [i for i, f in enumerate(ra["fields"][name]) if f not in TIMES.get(name, ())]
        assert len(ra[name]) > 0, (a.name, name)
        np.testing.assert_array_equal(ra[name][:, keep], rb[name][:, keep], err_msg=f"{a.name}: {name}")
    assert {k: ra["summary"][k] for k in ("test_error", "steps")} == {k: rb["summary"][k] for k in ("test_error", "steps")}
    if samples:
        assert json.loads((a / "point.json").read_text())["samples"] == \
            json.loads((b / "point.json").read_text())["samples"]


@pytest.fixture
def alone(tmp_path_factory, monkeypatch):
    """The 8 points of :func:`sweep`, each run alone (the Numba backend as it is)."""
    monkeypatch.setenv("TQDM_MININTERVAL", "2")
    out = tmp_path_factory.mktemp("alone")
    _, ex = sweep(out)
    assert len(ex.tasks) == 8 and all("points" not in t for t in ex.tasks)
    return out


def test_packed_sweep_equals_points_run_alone(tmp_path, alone, many, monkeypatch):
    """8 points (2 rules x 2 eta x 2 seeds) in one pack: launches group by rule and are
    split to what fits (3 here); every point equals its unpacked twin. A network that
    turns to NaN stops its point with the usual error while the others finish, and
    ``--resume`` then runs only the stopped points, to the same results."""
    launches, poison = many
    monkeypatch.setattr(NumbaBackend, "fit_many", classmethod(lambda cls, impls, n: 3), raising=False)
    poison.add(1)
    res, ex = sweep(tmp_path / "packed", retries=0, backend="numba")
    assert len(ex.tasks) == 1 and len(ex.tasks[0]["points"]) == 8
    failed = sorted(name for name, _, _ in res.failed)
    assert failed == sorted(p.name for p in res.plan.points if p.config["run"]["seed"] == 1)
    assert all("non-finite forward weights W in layer 1" in err and "no checkpoint was written yet" in err
               for _, _, err in res.failed)
    assert sorted(res.ran) == sorted(p.name for p in res.plan.points if p.config["run"]["seed"] == 0)
    assert max(launches) == 3 and 1 in launches      # per rule: 4 networks, at most 3 a launch
    stopped = read_results(tmp_path / "packed" / "points" / failed[0] / "results.h5")["summary"]["stopped"]
    assert "non-finite" in stopped

    poison.clear()
    launches.clear()
    again, ex = sweep(tmp_path / "packed", resume=True, backend="numba")
    assert sorted(again.skipped) == sorted(res.ran) and sorted(again.ran) == failed and not again.failed
    assert len(ex.tasks) == 1 and max(launches) == 2       # per rule: the two seed-1 points
    for p in res.plan.points:
        assert_same_point(tmp_path / "packed" / "points" / p.name, alone / "points" / p.name)
    log = (tmp_path / "packed" / "points" / res.plan.points[0].name / "log.txt").read_text()
    assert "running lillicrap2016-spiking" in log and "epoch 2: test error" in log


def test_only_backends_that_run_many_pack(many, monkeypatch):
    pl = plan(EXP, ["rule=fa,bp"], seeds=2, backend="numba")
    assert all(p.config["run"]["backend"] == "numba" for p in pl.points)
    assert all(packs(pl, p) for p in pl.points)            # `many` gave numba run_many
    monkeypatch.delattr(NumbaBackend, "run_many")
    assert not any(packs(pl, p) for p in pl.points)
    assert not any(packs(plan("xor", ["rule=fa,bp"], seeds=2), p) for p in plan("xor", ["rule=fa,bp"], seeds=2).points)


@pytest.mark.parametrize("args, msg", [
    ((EXP, [], 2, "gpu"), "^--backend: unknown 'gpu', choose one of numba"),
    (("xor", [], 2, "numba"), "^--backend: experiment xor has no run.backend field"),
    ((EXP, ["run.backend=numpy"], 2, "numba"), "^--backend sets run.backend itself: leave it out of --set"),
])
def test_backend_errors_name_the_field(args, msg):
    exp, sets, seeds, backend = args
    with pytest.raises(ConfigError, match=msg):
        plan(exp, sets, seeds=seeds, backend=backend)


def test_dry_run_says_which_points_train_together(capsys, many):
    from clihelp import run_cli

    rc, out, err = run_cli(capsys, "sweep", EXP, "--seeds", "2", "--set", "rule=fa,bp", "--backend", "numba", "--dry-run")
    assert rc == 0, err
    assert out.splitlines()[0] == (f"{EXP}: 4 points; axes: rule (2), seed (2); 4 train together in one process "
                                   "(backend runs many networks per launch)")
    rc, _, err = run_cli(capsys, "sweep", EXP, "--seeds", "2", "--backend", "gpu", "--dry-run")
    assert rc == 2 and "invalid choice: 'gpu'" in err


def test_a_backend_that_cannot_run_here_is_one_error_before_anything_is_written(tmp_path):
    from spikefa.engine import backends

    why = backends.unavailable("cuda")
    if not why:
        pytest.skip("the cuda backend can run here")
    with pytest.raises(ConfigError, match="^backend cuda: "):
        run_sweep(EXP, ["run.epochs=1"], seeds=2, out=tmp_path / "s", progress=False, backend="cuda")
    assert not (tmp_path / "s").exists()
