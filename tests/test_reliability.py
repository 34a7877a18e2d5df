"""Long runs that survive (issue #6): kills, full disks, blow-ups, bad configurations.

Every run here is the same tiny training run of ``lillicrap2016-spiking`` (784-100-100-1000,
2 epochs of 1000 images, a checkpoint every 200 images, chunks of 100, a held-out
evaluation every 500 images), about 2 s in-process or 4 s as a subprocess. Faults are
injected into it and the run is resumed; the final checkpoint and the result rows must be
bit for bit those of an uninterrupted run (wall-time columns excepted).
"""

import errno
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from spikefa import checkpoint, cli, data, fsutil, training
from spikefa.engine.network import SpikingNetwork
from spikefa.engine.params import SpikingParams
from spikefa.engine.simulator import Simulator, check_finite
from spikefa.engine.threads import set_threads
from spikefa.errors import NumericalError, SpikefaError, StorageError
from spikefa.results import read_results

from clihelp import mnist_dir, run_cli

EXP = "lillicrap2016-spiking"
TINY = ["--quiet", "--set", "network.sizes=[784,100,100,1000]", "--train-images", "1000",
        "--test-images", "200", "--epochs", "2", "--set", "run.checkpoint_every=200",
        "--set", "run.chunk=100", "--set", "run.eval_every=500", "--set", "run.eval_images=100"]
WALL_COLUMNS = [3, 4]     # training and testing seconds of the `epoch` rows
STEPS_PER_IMAGE = 5       # the checkpoint stores t in time steps
REPO = Path(__file__).resolve().parents[1]


def tiny(out, *extra):
    return ["run", EXP, *TINY, "--data-dir", mnist_dir(), "--out", str(out), *map(str, extra)]


def one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("spikefa: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def snapshot(out) -> dict:
    """Checkpoint arrays and result rows (wall-time columns dropped) of a finished run."""
    with np.load(Path(out) / "checkpoint.npz") as z:
        snap = {f"ckpt/{k}": z[k].copy() for k in (*checkpoint.STATE, "t", "npend")}
    res = read_results(Path(out) / "results.h5")
    snap["epoch"] = np.delete(res["epoch"], WALL_COLUMNS, axis=1)
    snap["heldout"] = res.get("heldout", np.zeros((0, 2)))
    snap["alignment"] = res.get("alignment", np.zeros((0, 0)))
    snap["saturation"] = res.get("saturation", np.zeros((0, 0)))
    return snap


def assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, 1 thread, in-process."""
    out = tmp_path_factory.mktemp("ref") / "run"
    assert cli.main(tiny(out, "--threads", "1")) == 0
    snap = snapshot(out)
    assert snap["epoch"].shape == (2, 7) and snap["heldout"].shape == (4, 2) and snap["alignment"].shape[0] == 2
    assert snap["saturation"].shape[0] == 2
    np.testing.assert_array_equal(snap["heldout"][:, 0], np.arange(500, 2001, 500))
    assert snap["ckpt/t"] == 2 * 1000 * 5
    return snap


# ----- reproducibility -----

def test_repeated_run_is_bit_identical(reference, tmp_path):
    assert cli.main(tiny(tmp_path / "again", "--threads", "1")) == 0
    assert_same(snapshot(tmp_path / "again"), reference)


def test_one_and_two_threads_are_bit_identical(tmp_path):
    """A shorter run: two threads on a machine with a busy core wait at every barrier."""
    short = ("--epochs", "1", "--train-images", "50", "--test-images", "50")
    try:
        for threads in (1, 2):
            assert cli.main(tiny(tmp_path / f"t{threads}", *short, "--threads", threads)) == 0
    finally:
        set_threads(1)
    a, b = snapshot(tmp_path / "t1"), snapshot(tmp_path / "t2")
    assert a["ckpt/t"] == 250
    assert_same(a, b)


# ----- SIGKILL at arbitrary moments -----

def _spawn(args, script=None):
    cmd = [sys.executable, "-c", script, *args] if script else [sys.executable, "-m", "spikefa", *args]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path, proc, timeout=120):
    t0 = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, f"no {path} after {timeout} s"
        time.sleep(0.01)


def _kill(proc):
    assert proc.poll() is None, "the run ended before the kill: shorten the delay"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL


def _assert_prefix(out, reference):
    """After a kill, results.h5 reads and holds a prefix of the reference rows."""
    res = read_results(out / "results.h5")
    for name in ("epoch", "heldout"):
        if name in res:
            rows = np.delete(res[name], WALL_COLUMNS, axis=1) if name == "epoch" else res[name]
            np.testing.assert_array_equal(rows, reference[name][:len(rows)], err_msg=name)
    checkpoint.load(SpikingNetwork(SpikingParams(**read_results(out / "results.h5")["config"]["network"])),
                    out / "checkpoint.npz")


def _checkpoint_images(out) -> int:
    path = out / "checkpoint.npz"
    return int(np.load(path)["t"]) // STEPS_PER_IMAGE if path.exists() else 0


def _wait_for_checkpoint(out, proc, images, timeout=120):
    """Wait until the run has checkpointed at least ``images`` images; the seconds it took."""
    t0 = time.monotonic()
    while _checkpoint_images(out) < images:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, f"no checkpoint at {images} images after {timeout} s"
        time.sleep(0.005)
    return time.monotonic() - t0


def test_sigkill_twice_then_resume_is_bit_identical(reference, tmp_path):
    """Seeded random kill times, between two checkpoints, in the first run and in the resumed run.

    A kill lands a random fraction of one checkpoint interval (200 images, timed on this
    machine in the same run) after a checkpoint, so it falls mid-chunk or mid-write on a
    fast machine and a slow one alike, and never after the run's end.
    """
    rnd = random.Random(6)
    out = tmp_path / "k"
    p = _spawn(tiny(out, "--threads", "1"))
    _wait_for_checkpoint(out, p, 200)
    interval = _wait_for_checkpoint(out, p, 400)
    time.sleep(rnd.uniform(0.0, 0.9) * interval)       # between images 400 and 600
    _kill(p)
    _assert_prefix(out, reference)
    before = _checkpoint_images(out)
    assert before in (400, 600)
    p = _spawn(tiny(out, "--resume"))
    _wait_for_checkpoint(out, p, before + 200)          # the resumed run made progress
    interval = _wait_for_checkpoint(out, p, before + 400)
    time.sleep(rnd.uniform(0.0, 0.9) * interval)
    _kill(p)
    _assert_prefix(out, reference)
    assert _checkpoint_images(out) in (before + 400, before + 600)
    p = _spawn(tiny(out, "--resume"))
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert not list(out.glob("*.tmp"))
    assert_same(snapshot(out), reference)


# The run's process kills itself in the middle of its third checkpoint write: half of the
# temporary file is on disk, checkpoint.npz is still the second checkpoint.
KILL_IN_WRITE = textwrap.dedent("""
    import os, signal, sys
    from spikefa import checkpoint, cli, fsutil
    calls = [0]
    def atomic_write(path, write, what):
        calls[0] += 1
        if calls[0] == 3:
            write(fsutil.tmp_path(path))
            tmp = fsutil.tmp_path(path)
            os.truncate(tmp, os.path.getsize(tmp) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        fsutil.atomic_write(path, write, what)
    checkpoint.atomic_write = atomic_write
    sys.exit(cli.main(sys.argv[1:]))
""")


def test_sigkill_during_checkpoint_write(reference, tmp_path):
    out = tmp_path / "w"
    p = _spawn(tiny(out), script=KILL_IN_WRITE)
    p.wait(300)
    assert p.returncode == -signal.SIGKILL, p.communicate()
    assert (out / "checkpoint.npz.tmp").exists()
    with np.load(out / "checkpoint.npz") as z:
        assert z["t"] == 400 * 5                  # the second checkpoint, at image 400
    _assert_prefix(out, reference)
    rc = cli.main(tiny(out, "--resume"))
    assert rc == 0
    assert not (out / "checkpoint.npz.tmp").exists()
    assert_same(snapshot(out), reference)


# ----- full disk, unwritable folder -----

def _failing_write(module, monkeypatch, nth, record):
    """Make the ``nth`` atomic write of ``module`` write half a file, then fail with ENOSPC."""
    real, calls = fsutil.atomic_write, [0]

    def atomic_write(path, write, what):
        calls[0] += 1
        if calls[0] == nth:
            record["before"] = Path(path).read_bytes() if Path(path).exists() else None

            def half_then_full(tmp):
                write(tmp)
                os.truncate(tmp, os.path.getsize(tmp) // 2)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))
            return real(path, half_then_full, what)
        return real(path, write, what)

    monkeypatch.setattr(module, "atomic_write", atomic_write)


def test_disk_full_during_checkpoint_keeps_the_last_one(reference, tmp_path, capsys, monkeypatch):
    import spikefa.checkpoint as mod

    out, rec = tmp_path / "f", {}
    _failing_write(mod, monkeypatch, 4, rec)
    rc, _, err = run_cli(capsys, *tiny(out))
    assert rc == 2
    line = one_line(err)
    assert "checkpoint" in line and "disk is full" in line and "previous checkpoint is intact" in line
    assert (out / "checkpoint.npz").read_bytes() == rec["before"]
    assert not (out / "checkpoint.npz.tmp").exists()
    monkeypatch.undo()
    assert cli.main(tiny(out, "--resume")) == 0
    assert_same(snapshot(out), reference)


def test_disk_full_during_results_row_keeps_the_file(reference, tmp_path, capsys, monkeypatch):
    import spikefa.results as mod

    out, rec = tmp_path / "r", {}
    _failing_write(mod, monkeypatch, 4, rec)      # 1: header, 2, 3: held-out rows, 4: first epoch row
    rc, _, err = run_cli(capsys, *tiny(out))
    assert rc == 2
    line = one_line(err)
    assert "result file" in line and "disk is full" in line
    assert (out / "results.h5").read_bytes() == rec["before"]
    assert read_results(out / "results.h5")["heldout"].shape == (2, 2)
    monkeypatch.undo()
    assert cli.main(tiny(out, "--resume")) == 0
    assert_same(snapshot(out), reference)


def _no_data(monkeypatch):
    def load(*a, **k):
        raise AssertionError("data loaded before the check")
    monkeypatch.setattr(data, "load", load)


def test_output_under_a_file_is_reported_before_loading(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("x")
    _no_data(monkeypatch)
    rc, _, err = run_cli(capsys, *tiny(tmp_path / "file" / "out"))
    assert rc == 2
    assert "is not writable" in one_line(err) and "file/out" in err


def test_read_only_output_folder(tmp_path, capsys, monkeypatch):
    """A read-only folder (chmod; root ignores it) and a read-only file system (simulated)."""
    _no_data(monkeypatch)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.geteuid() != 0:
            rc, _, err = run_cli(capsys, *tiny(ro))
            assert rc == 2 and "is not writable" in one_line(err)
    finally:
        ro.chmod(0o755)

    def read_only(*a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(fsutil.tempfile, "TemporaryFile", read_only)
    rc, _, err = run_cli(capsys, *tiny(tmp_path / "rofs"))
    assert rc == 2
    assert "is not writable: Read-only file system" in one_line(err)


def test_too_little_free_space_is_reported_before_loading(tmp_path, capsys, monkeypatch):
    _no_data(monkeypatch)
    monkeypatch.setattr(fsutil.shutil, "disk_usage", lambda p: type("U", (), {"free": 10_000})())
    rc, _, err = run_cli(capsys, *tiny(tmp_path / "o"))
    assert rc == 2
    line = one_line(err)
    assert "free" in line and "checkpoint" in line
    assert not (tmp_path / "o" / "results.h5").exists()


def test_atomic_write_failure_leaves_old_file(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"old")

    def fail(tmp):
        tmp.write_bytes(b"ne")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(StorageError, match="disk is full.*previous thing is intact"):
        fsutil.atomic_write(f, fail, "thing")
    assert f.read_bytes() == b"old" and not fsutil.tmp_path(f).exists()
    fsutil.atomic_write(f, lambda tmp: tmp.write_bytes(b"new"), "thing")
    assert f.read_bytes() == b"new"


# ----- NaN and infinity -----

SMALL = dict(sizes=(20, 16, 12, 8), n_classes=2)


@pytest.mark.parametrize("where,layer,needle", [
    ("W", 2, "forward weights W in layer 2"),
    ("V", 1, "potential V in layer 1"),
    ("U", 3, "feedback potential U in layer 3"),
    ("b", 3, "bias in layer 3"),
    ("pend_kg", 2, "pending weight increment in layer 2"),
])
def test_check_finite_names_layer_and_step(where, layer, needle):
    net = SpikingNetwork(SpikingParams(**SMALL), "fa", seed=1)
    sim = Simulator(net)
    X = np.random.default_rng(0).random((4, 20)).astype(np.float32)
    sim.train(X, np.arange(4) % 2)
    check_finite(net)
    assert net.npend > 0
    if where == "W":
        net.W_layer(layer)[3, 5] = np.nan
    elif where == "pend_kg":
        net.unit_view(net.pend_kg[0], layer)[1] = np.inf
    else:
        net.unit_view(getattr(net, where), layer)[2] = -np.inf
    with pytest.raises(NumericalError, match=rf"non-finite {needle} by step 20\b"):
        check_finite(net)


def test_check_finite_kp_feedback_matrix():
    net = SpikingNetwork(SpikingParams(**SMALL), "kp", seed=1)
    check_finite(net)
    net.B_layer(1)[0, 0] = np.inf
    with pytest.raises(NumericalError, match="feedback matrix B in layer 1"):
        check_finite(net)


def test_check_finite_accepts_huge_finite_weights():
    net = SpikingNetwork(SpikingParams(**SMALL), "fa", seed=1)
    net.W[:] = 3e38                    # the float32 sum overflows; the weights are finite
    check_finite(net)


def test_huge_eta_stops_with_layer_and_step(tmp_path, capsys):
    rc, _, err = run_cli(capsys, *tiny(tmp_path / "o", "--set", "network.eta=1e40"))
    assert rc == 2
    line = one_line(err)
    assert "non-finite" in line and "layer" in line and "by step 500" in line
    assert "no checkpoint was written yet" in line
    assert not (tmp_path / "o" / "checkpoint.npz").exists()
    assert "non-finite" in read_results(tmp_path / "o" / "results.h5")["summary"]["stopped"]


def test_blow_up_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    """Infinity injected into W of layer 2 before the 7th chunk (images 600-700)."""
    real, calls, rec = Simulator.train, [0], {}
    out = tmp_path / "o"

    def train(self, images, labels, *a, **k):
        calls[0] += 1
        if calls[0] == 7:
            rec["ckpt"] = (out / "checkpoint.npz").read_bytes()
            self.net.W_layer(2)[:] = np.inf
        return real(self, images, labels, *a, **k)

    monkeypatch.setattr(Simulator, "train", train)
    rc, _, err = run_cli(capsys, *tiny(out))
    assert rc == 2
    line = one_line(err)
    assert "non-finite" in line and "layer 2" in line and "by step 3500" in line
    assert "the last good checkpoint (epoch 1, image 600, step 3000) is kept" in line
    assert (out / "checkpoint.npz").read_bytes() == rec["ckpt"]
    with np.load(out / "checkpoint.npz") as z:
        assert np.isfinite(z["W"]).all() and z["t"] == 3000


# ----- configuration checked before anything runs -----

BAD = [
    ("run.epochs=0", "run.epochs"),
    ("run.threads=-1", "run.threads"),
    ("run.threads=999", "run.threads"),
    ("run.backend=\"gpu\"", "run.backend"),
    ("run.rule=\"nope\"", "known rules"),
    ("run.rule=\"f\\na\"", "run.rule: unknown 'f\\na'"),
    ("run.data_dir=\"a\\nb\"", "run.data_dir"),
    ("run.seed=-1", "run.seed"),
    ("run.spike_seed=4294967296", "run.spike_seed"),
    ("run.chunk=0", "run.chunk"),
    ("run.eval_every=-1", "run.eval_every"),
    ("run.checkpoint_every=-5", "run.checkpoint_every"),
    ("run.eval_images=0", "run.eval_images"),
    ("run.dataset=\"cifar\"", "run.dataset"),
    ("run.train_images=60001", "run.train_images"),
    ("run.test_images=10001", "run.test_images"),
    ("run.epochs=1.5", "run.epochs"),
    ("run.threads=true", "run.threads"),
    ("run.data_dir=3", "run.data_dir"),
    ("network.tau=0", "tau"),
    ("network.tau=1.01", "tau"),
    ("network.eta=-1e-3", "eta"),
    ("network.eta=inf", "eta"),
    ("network.eta=nan", "eta"),
    ("network.gamma=1.0", "gamma"),
    ("network.w_init=-inf", "w_init"),
    ("network.feedback_gain=nan", "feedback_gain"),
    ("network.input_max=0", "input_max"),
    ("network.b_init=1e300", "b_init"),
    ("network.sizes=[]", "sizes"),
    ("network.sizes=[784]", "sizes"),
    ("network.sizes=[784,0,1000]", "sizes"),
    ("network.sizes=[784,true,1000]", "network.sizes"),
    ("network.sizes=[784,100,1001]", "sizes"),
    ("network.sizes=[100,100,1000]", "network.sizes"),
    ("network.sizes=[784,2000000,2000000,1000]", "needs about"),
    ("network.n_classes=5", "network.n_classes"),
    ("network.n_classes=0", "n_classes"),
    ("network.steps_per_image=0", "steps_per_image"),
    ("network.phi=\"relu\"", "phi"),
    ("network.feedback_dtype=\"int4\"", "feedback_dtype"),
    ("network.eta=1" + "0" * 400, "network.eta"),
    ("network.eat=1e-3", "did you mean 'eta'"),
    ("nework.eta=1e-3", "did you mean 'network'"),
    ("epohcs=3", "did you mean"),
]


@pytest.mark.parametrize("item,needle", BAD)
def test_bad_config_is_one_line_before_anything_runs(tmp_path, capsys, monkeypatch, item, needle):
    _no_data(monkeypatch)
    out = tmp_path / "o"
    rc, _, err = run_cli(capsys, "run", EXP, "--quiet", "--out", str(out), "--set", item)
    assert rc == 2, err
    assert needle in one_line(err)
    assert not out.exists()


def test_rule_errors_come_before_loading(tmp_path, capsys, monkeypatch):
    _no_data(monkeypatch)
    rc, _, err = run_cli(capsys, "run", EXP, "--quiet", "--out", str(tmp_path / "o"), "--rule", "kp",
                      "--set", "network.feedback_dtype=\"int8\"")
    assert rc == 2 and "feedback_dtype" in one_line(err)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("content,needle", [
    (b"[network\n", "not valid TOML"),
    (b"\xff\xfe\x00bad", "not UTF-8"),
    (b"[network]\neta = " + b"[" * 5000, "not valid TOML"),
    (b"[run]\nepochs = 0\n", "run.epochs"),
    (b"[network]\ntau = \"x\"\n", "network.tau"),
    (None, "cannot read"),                        # a folder given as the file
])
def test_bad_config_file(tmp_path, capsys, monkeypatch, content, needle):
    _no_data(monkeypatch)
    f = tmp_path / "c.toml"
    if content is None:
        f.mkdir()
    else:
        f.write_bytes(content)
    rc, _, err = run_cli(capsys, "run", EXP, "--quiet", "--out", str(tmp_path / "o"), "--config", str(f))
    assert rc == 2
    assert needle in one_line(err)


# ----- resume edge cases -----

def test_existing_run_is_not_overwritten_without_asking(tmp_path, capsys, monkeypatch):
    out = tmp_path / "o"
    out.mkdir()
    (out / "checkpoint.npz").write_bytes(b"precious")
    _no_data(monkeypatch)
    rc, _, err = run_cli(capsys, *tiny(out))
    assert rc == 2 and "--resume" in one_line(err) and "--overwrite" in err
    assert (out / "checkpoint.npz").read_bytes() == b"precious"


def test_resume_refuses_other_network_and_corrupt_checkpoints(tmp_path, capsys):
    out = tmp_path / "o"
    short = ("--epochs", "1", "--train-images", "50", "--test-images", "50")
    assert cli.main(tiny(out, *short)) == 0
    rc, _, err = run_cli(capsys, *tiny(out, *short, "--resume", "--set", "network.sizes=[784,50,1000]"))
    assert rc == 2 and "network.sizes" in one_line(err)
    good = (out / "checkpoint.npz").read_bytes()
    for blob in (b"", good[:len(good) // 2], good[:-100] + bytes(100), os.urandom(300)):
        (out / "checkpoint.npz").write_bytes(blob)
        rc, _, err = run_cli(capsys, *tiny(out, *short, "--resume"))
        assert rc == 2 and "unreadable checkpoint" in one_line(err), err


def test_resume_without_checkpoint_starts_fresh(tmp_path, capsys):
    out = tmp_path / "o"
    rc, _, err = run_cli(capsys, *tiny(out, "--epochs", "1", "--train-images", "200", "--resume"))
    assert rc == 0 and "starting from the beginning" in err


def test_checkpoint_rejects_mismatched_network(tmp_path):
    net = SpikingNetwork(SpikingParams(**SMALL), "fa", seed=1)
    checkpoint.save(net, tmp_path / "c.npz", {"epoch": 0})
    other = SpikingNetwork(SpikingParams(sizes=(20, 16, 8), n_classes=2), "fa", seed=1)
    W = other.W.copy()
    with pytest.raises(SpikefaError, match="checkpoint W has shape"):
        checkpoint.load(other, tmp_path / "c.npz")
    np.testing.assert_array_equal(other.W, W)     # nothing was half restored


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_many_random_kills_then_resume_is_bit_identical(reference, tmp_path, seed):
    """Kill at uniformly random times (imports, data loading, training, writes) until done.

    About 20-40 s each: a (re)started run is killed after 0-3 s (12 times at most) unless it
    finished by then, so the kills land anywhere from the imports to the last epoch's test.
    """
    rnd = random.Random(seed)
    out, kills = tmp_path / "m", 0
    while True:
        p = _spawn(tiny(out, "--resume"))
        try:
            p.wait(timeout=rnd.uniform(0.0, 3.0) if kills < 12 else 300)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)           # it may end on its own in between
            p.wait(30)
            if p.returncode == 0:
                break
            assert p.returncode == -signal.SIGKILL, p.communicate()
            kills += 1
            if (out / "results.h5").exists():
                _assert_prefix_if_checkpoint(out, reference)
            continue
        assert p.returncode == 0, p.communicate()
        break
    assert kills >= 1
    assert_same(snapshot(out), reference)


def _assert_prefix_if_checkpoint(out, reference):
    if (out / "checkpoint.npz").exists():
        _assert_prefix(out, reference)
    else:
        read_results(out / "results.h5")


def test_resume_accepts_fields_added_since_at_their_default():
    """A run started by an older spikefa lacks newer fields: they must keep their default."""
    from spikefa import config
    from spikefa.errors import ConfigError
    from spikefa.experiments import lillicrap2016_spiking as l16

    d = l16.defaults()
    old = {s: dict(v) for s, v in d.items() if s in ("network", "run")}
    del old["run"]["eval_images"]
    training.check_resumable(old, config.build(d, overrides=["run.epochs=30"]), "OUT", d)
    with pytest.raises(ConfigError, match=r"run\.eval_images is 5 but the run in OUT used 1000"):
        training.check_resumable(old, config.build(d, overrides=["run.eval_images=5"]), "OUT", d)


def test_a_run_written_before_named_fields_resumes(tmp_path):
    """results.h5 files written before the series had named fields (plain float64 arrays,
    as every version up to commit fde6348 wrote them) still read, resume and gain their
    field names; the checkpoint format did not change."""
    import h5py

    out = tmp_path / "old"
    assert cli.main(tiny(out, "--threads", "1", "--epochs", "1")) == 0
    with h5py.File(out / "results.h5", "a") as f:      # rewrite every series as the old plain arrays
        for name in ("epoch", "heldout", "alignment", "saturation"):
            rows = np.column_stack([f[name][k] for k in f[name].dtype.names])
            del f[name]
            f.create_dataset(name, data=rows)
    old = read_results(out / "results.h5")
    assert "fields" not in old and old["epoch"].shape[0] == 1
    assert cli.main(tiny(out, "--threads", "1", "--epochs", "2", "--resume")) == 0
    new = read_results(out / "results.h5")
    np.testing.assert_array_equal(new["epoch"][0], old["epoch"][0])
    assert new["epoch"].shape[0] == 2 and new["fields"]["epoch"][:2] == ["epoch", "test_error"]
