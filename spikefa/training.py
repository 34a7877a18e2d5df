"""Training a spiking network in epochs: :class:`Trainer`.

One place owns what every spiking run needs: the learning-rate schedule, held-out
evaluation, the alignment and saturation probes, checkpoints and ``--resume`` (bit for
bit), the result rows of ``results.h5`` and the progress bar. An experiment supplies its
configuration checks and how to build the network (``lillicrap2016-spiking``:
:mod:`spikefa.experiments.lillicrap2016_spiking`). See docs/reliability.md.

:meth:`Trainer.steps` is the run as a generator of its training chunks; :meth:`Trainer.run`
trains each with ``Simulator.train``, and :func:`run_lockstep` trains the chunks of K runs
together with ``Simulator.train_many`` (a packed sweep, docs/sweeps.md).
"""

import contextlib
import sys
import time
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from . import checkpoint, data, fsutil, recording, schedule
from .engine import alignment
from .errors import ConfigError, NumericalError, SpikefaError, StorageError
from .results import ResultsWriter, read_results

# fields that may change when a run is resumed; any other change means another run
# (eta_schedule only for epochs not yet begun: checked when resuming)
RESUME_MAY_CHANGE = {"epochs", "threads", "data_dir", "chunk", "checkpoint_every", "backend", "probe_images",
                     "eta_schedule"}
SERIES = ("epoch", "heldout", "alignment", "saturation", "probes")   # the row series of results.h5


def check_resumable(old: dict, new: dict, out, base: dict) -> None:
    """Refuse to resume the run in ``out`` (configured as ``old``) with a configuration that
    would change its results; a field added to spikefa since (absent from ``old``) must keep
    its default in ``base`` (the experiment's defaults), which is how the older version behaved."""
    for sec, vals in new.items():
        if sec == "record":   # what is recorded never changes the run
            continue
        for key, val in vals.items():
            was = old.get(sec, {}).get(key, base.get(sec, {}).get(key))
            if key not in RESUME_MAY_CHANGE and was != val:
                hint = ("; to train later epochs at another rate, keep network.eta and set run.eta_schedule"
                        if (sec, key) == ("network", "eta") else "")
                raise ConfigError(f"--resume: {sec}.{key} is {val!r} but the run in {out} used {was!r}; "
                                  f"resume with the same configuration or choose another --out{hint}")


def result_schema(n_layers: int) -> dict:
    """Names, units and descriptions of the fields of every series of results.h5."""
    from .recording import layer_name

    L, name = n_layers, (lambda l: layer_name(l, n_layers))
    hidden = range(1, L)
    angles = [*[(f"matrix_angle_{name(l)}", "deg", f"angle between the feedback matrix of {name(l)} and the "
                 "transposed forward weights of the layer above") for l in hidden],
              *[(f"delta_angle_{name(l)}", "deg", f"angle between the teaching signal of {name(l)} and "
                 "backprop's") for l in hidden]]
    return {
        "epoch": ("one row per epoch", [
            ("epoch", "1", "epoch, counted from 1"),
            ("test_error", "fraction", "test images misclassified after the epoch (plasticity off, "
                                       "network.test_steps steps per image)"),
            ("train_error", "fraction", "training images of the epoch whose output spikes named a wrong class, "
                                        "while learning"),
            ("train_seconds", "s", "wall time of the epoch's training"),
            ("test_seconds", "s", "wall time of the test after the epoch"),
            *[(f"rate_{name(l)}", "spikes per unit and step", f"firing rate of layer {name(l)} over the "
               "epoch's last chunk of training images") for l in range(L + 1)]]),
        "heldout": ("one row per held-out evaluation (every run.eval_every training images)", [
            ("images", "images", "training images seen since the start of the run"),
            ("error", "fraction", "error on the first run.eval_images test images, plasticity off")]),
        "alignment": ("one row per epoch: alignment of the feedback path with backprop's, on "
                      "run.probe_images test images (docs/rules.md)", [
            ("epoch", "1", "epoch, counted from 1"), *angles]),
        "probes": ("one row every run.probe_every training images (and at the start): alignment during "
                   "training, on run.probe_images test images", [
            ("images", "images", "training images seen since the start of the run"),
            ("seconds", "s", "wall time of training so far in this epoch"), *angles]),
        "saturation": ("one row per epoch: how far units sit in the flat tails of the sigmoid, on "
                       "run.probe_images test images", [
            ("epoch", "1", "epoch, counted from 1"),
            *[(f"mean_psi_{name(l)}", "1", f"mean of Psi = sigma'(V) over the units of {name(l)} and the "
               "probe images (at most 0.25)") for l in range(1, L + 1)],
            *[(f"saturated_{name(l)}", "fraction", f"unit-image pairs of {name(l)} with Psi < 0.01 "
               "(|V| > 4.6): plasticity all but stops there") for l in range(1, L + 1)]]),
    }


def rows_written(res) -> dict:
    """Rows of each series a checkpoint vouches for: on --resume, rows past these (written
    after the checkpoint) are dropped, then written again."""
    return {f"rows_{name}": res.rows(name) for name in SERIES}


def error_rate(counts: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose most active output group is not the label (ties: lowest class)."""
    return float(np.mean(np.argmax(counts, axis=1) != labels))


def plan_line(name: str, cfg: dict, net, sim, n_train: int) -> str:
    """What a run will do, in one line: printed at its start."""
    r = cfg["run"]
    threads = (f"{sim.threads} thread{'s' * (sim.threads != 1)}"
               + (" (all cores)" if r["threads"] == 0 and sim.threads > 1 else ""))
    return (f"running {name}: {r['epochs']} epoch{'s' * (r['epochs'] != 1)} of {n_train:,} images, rule {r['rule']}, "
            f"{schedule.describe(cfg['network']['eta'], r['eta_schedule'], r['epochs'])}, "
            f"B {net.B.dtype}, seed {r['seed']}, backend {r['backend']}, {threads}")


class Chunk(NamedTuple):
    """One training call of a run (:meth:`Trainer.steps`): images (n, n_0) in [0, 1],
    labels (n,), and the recorder's capture of these images (None when not recording)."""

    images: np.ndarray
    labels: np.ndarray
    capture: object = None


def _kept(state: dict, t: int, ckpt) -> str:
    where = (f"end of epoch {state['epoch']}" if state["pos"] == 0
             else f"epoch {state['epoch'] + 1}, image {state['pos']}")
    return f"the last good checkpoint ({where}, step {t}) is kept in {ckpt}"


class Trainer:
    """Trains and tests the spiking network of an experiment; writes ``results.h5`` and
    ``checkpoint.npz`` into ``out_dir``.

    Parameters
    ----------
    experiment : module
        Supplies ``NAME``, ``defaults()``, ``validate(cfg)`` (every check that needs no
        data), ``check_run(run_section, n_train, n_test)`` (the checks against the data)
        and ``build(cfg) -> (net, simulator)``.
    cfg : dict
        The configuration (``[network]``, ``[run]``, ``[record]``).
    resume, overwrite : bool
        ``resume`` continues from ``out_dir/checkpoint.npz``, bit for bit as an
        uninterrupted run; without it an existing run is only replaced with ``overwrite``.

    Order of work: every configuration check, then building the network (which checks
    the rule), then the output folder (writable, free space for a checkpoint, an earlier
    run there), then the data, then training. So a mistake is reported before anything
    is loaded or written.
    """

    def __init__(self, experiment, cfg: dict, out_dir, progress: bool = True, resume: bool = False,
                 overwrite: bool = False, announce: bool = True):
        self.exp, self.cfg, self.progress, self.announce = experiment, cfg, progress, announce
        self.name = experiment.NAME
        r = cfg["run"]
        experiment.validate(cfg)
        recording.check(cfg)
        self.net, self.sim = experiment.build(cfg)
        net = self.net
        out = self.out = fsutil.prepare_folder(out_dir)
        self.ckpt, self.res_path = out / "checkpoint.npz", out / "results.h5"
        for f in (self.ckpt, self.res_path):
            fsutil.remove_stale_tmp(f)      # a kill in the middle of a write; the file itself is intact
        if resume and not self.ckpt.exists():
            print(f"spikefa: no checkpoint in {out}; starting from the beginning", file=sys.stderr)
            resume = False
        if not resume and not overwrite and self.ckpt.exists():
            raise ConfigError(f"{out} already holds a run (checkpoint.npz): continue it with --resume, "
                              "replace it with --overwrite, or choose another --out")
        fsutil.check_free_space(out, checkpoint.nbytes(net) + 2**20, "a checkpoint")
        self.seeds = {"seed_weights": net.seed_weights, "seed_spikes": net.seed_spikes}
        self.state = {"epoch": 0, "pos": 0, "epoch_time": 0.0}
        self.resume = resume
        if resume:
            if not self.res_path.exists():
                raise SpikefaError(f"--resume: {self.ckpt} exists but {self.res_path} does not; restore it, "
                                   "or start again with --overwrite")
            old = read_results(self.res_path)["config"]
            check_resumable(old, cfg, out, experiment.defaults())
            self.state = checkpoint.load(net, self.ckpt)
            schedule.check_unchanged_before(self.state["epoch"] + (self.state["pos"] > 0), net.params.eta,
                                            old["run"].get("eta_schedule", []), r["eta_schedule"], out)
        self.last_good = _kept(self.state, net.t, self.ckpt) if resume else "no checkpoint was written yet"
        self.data_cache = None      # {(dataset, split, data_dir): (images, labels)} shared by run_lockstep

    def _load_data(self) -> tuple:
        r, net = self.cfg["run"], self.net
        cache = self.data_cache if self.data_cache is not None else {}
        for split in ("train", "test"):     # K trainers of one process (run_lockstep) share one copy
            key = (r["dataset"], split, r["data_dir"])
            if key not in cache:
                cache[key] = data.load(r["dataset"], split, data_dir=r["data_dir"] or None)
        (X, y), (Xt, yt) = cache[(r["dataset"], "train", r["data_dir"])], cache[(r["dataset"], "test", r["data_dir"])]
        self.exp.check_run(r, len(X), len(Xt))
        if net.sizes[0] != X.shape[1]:
            raise ConfigError(f"network.sizes: the input layer has {net.sizes[0]} units but {r['dataset']} images "
                              f"have {X.shape[1]} pixels")
        if net.params.n_classes != int(y.max()) + 1:
            raise ConfigError(f"network.n_classes: {r['dataset']} has {int(y.max()) + 1} classes, "
                              f"not {net.params.n_classes}")
        return X[:r["train_images"]], y[:r["train_images"]], Xt[:r["test_images"]], yt[:r["test_images"]]

    def _save_checkpoint(self, state: dict) -> None:
        """The one place checkpoints are written. Anything JSON-able in ``state`` is saved
        with the network and comes back from ``checkpoint.load`` on --resume: a recorder
        keeps its file offsets in ``state["recorder"]`` (flush its file before this call)."""
        if self.rec:
            self.rec.flush()   # rasters up to the checkpoint's step are on disk before it is
        checkpoint.save(self.net, self.ckpt, state)
        self.last_good = _kept(state, self.net.t, self.ckpt)

    def _announce(self, n: int) -> None:
        r = self.cfg["run"]
        print(plan_line(self.name, self.cfg, self.net, self.sim, n))
        note = self.sim.impl.first_call_note() if hasattr(self.sim.impl, "first_call_note") else ""
        if note and self.progress:
            print(note, flush=True)
        for e, eta in schedule.unused(r["eta_schedule"], r["epochs"]):
            print(f"spikefa: run.eta_schedule entry [{e}, {eta:g}] starts after the last epoch ({r['epochs']}): "
                  "unused", file=sys.stderr)

    def run(self) -> dict:
        """Train every epoch not yet done, testing after each; return the final figures."""
        steps = self.steps()
        try:
            chunk = next(steps)
            while True:
                try:
                    done = self.sim.train(chunk.images, chunk.labels, capture=chunk.capture)
                except NumericalError as e:
                    chunk = steps.throw(e)
                    continue
                chunk = steps.send(done)
        except StopIteration as stop:
            return stop.value

    def steps(self):
        """The run as a generator: it yields each training chunk (a :class:`Chunk`), is sent
        back what ``Simulator.train`` returns for it (or thrown its ``NumericalError``), and
        returns :meth:`run`'s figures. Everything between chunks (held-out evaluation,
        probes, checkpoints, tests, result rows) happens inside it, so :func:`run_lockstep`
        can train the chunks of K runs in one ``Simulator.train_many`` call and leave the rest
        to each run."""
        cfg, r, net, sim, state = self.cfg, self.cfg["run"], self.net, self.sim, self.state
        X, y, Xt, yt = self._load_data()
        res = ResultsWriter(self.res_path, self.name, cfg, self.seeds, mode="a" if self.resume else "w",
                            schema=result_schema(net.params.n_layers))
        for name in SERIES:   # rows written after the checkpoint are written again
            res.truncate(name, state.get(f"rows_{name}", 0))
        self.rec = rec = recording.open_recorder(cfg, net, self.out, self.name, self.seeds,
                                                 total_images=r["epochs"] * len(X),
                                                 images_done=state["epoch"] * len(X) + state["pos"],
                                                 resume=self.resume)
        n, chunk = len(X), r["chunk"]
        every, eval_every, probe_every = r["checkpoint_every"], r["eval_every"], r.get("probe_every", 0)
        m_probe = min(r["probe_images"], len(Xt))

        def probe(images_seen, seconds):
            pr = alignment.probe(net, Xt[:m_probe], yt[:m_probe])
            res.append("probes", [images_seen, seconds, *alignment.matrix_angles(net), *pr["delta"]])

        if probe_every and m_probe and state["epoch"] == 0 and state["pos"] == 0:
            probe(0, 0.0)           # the starting point of the curves
        if self.announce:
            self._announce(n)
        bar = tqdm(total=r["epochs"] * n, initial=state["epoch"] * n + state["pos"], unit="img",
                   disable=not self.progress, dynamic_ncols=True, desc=self.name)
        last_err = np.nan
        while state["epoch"] < r["epochs"]:
            ep = state["epoch"]
            sim.set_eta(schedule.eta_at(ep + 1, cfg["network"]["eta"], r["eta_schedule"]))
            order = np.random.default_rng([net.seed_weights, ep]).permutation(n)
            t_start = time.perf_counter() - state["epoch_time"]
            wrong, seen = state.get("wrong", 0), state.get("seen", 0)
            while state["pos"] < n:
                # a chunk ends at the next checkpoint and held-out evaluation, so both happen at
                # exact multiples of their periods whatever the chunk size (chunking changes nothing else)
                pos = state["pos"]
                stop = min(n, pos + chunk)
                if every:
                    stop = min(stop, (pos // every + 1) * every)
                if eval_every:
                    stop = min(stop, pos + eval_every - (ep * n + pos) % eval_every)
                if probe_every:
                    stop = min(stop, pos + probe_every - (ep * n + pos) % probe_every)
                idx = order[pos:stop]
                cap = rec.capture(net.t, ep * n + pos, X[idx], y[idx], idx) if rec else None
                t0 = time.perf_counter()
                try:
                    counts, spikes = yield Chunk(X[idx], y[idx], cap)
                except NumericalError as e:
                    bar.close()
                    try:
                        res.summary(stopped=f"{e}")
                    except StorageError:
                        pass
                    raise NumericalError(f"{e}; {self.last_good}") from None
                dt = time.perf_counter() - t0
                if cap is not None:
                    rec.write(cap)
                wrong += int(np.sum(np.argmax(counts, 1) != y[idx]))
                seen += len(idx)
                state["pos"] += len(idx)
                images_seen = ep * n + state["pos"]
                if eval_every and (images_seen // eval_every) > ((images_seen - len(idx)) // eval_every):
                    m = min(r["eval_images"], len(Xt))
                    last_err = error_rate(sim.test(Xt[:m])[0], yt[:m])
                    res.append("heldout", [images_seen, last_err])
                if probe_every and m_probe and (images_seen // probe_every) > ((images_seen - len(idx)) // probe_every):
                    probe(images_seen, time.perf_counter() - t_start)
                rates = spikes / (len(idx) * net.params.steps_per_image) / net.sizes
                shown = {"steps_s": f"{len(idx) * net.params.steps_per_image / dt:,.0f}",
                         "train_err": f"{wrong / seen:.3f}"}
                if eval_every:   # the last held-out error, once there is one
                    shown["heldout"] = "-" if np.isnan(last_err) else f"{last_err:.3f}"
                bar.set_postfix(**shown, rates="/".join(f"{x:.2f}" for x in rates[1:]), refresh=False)
                bar.update(len(idx))
                if every and state["pos"] < n and (state["pos"] // every) > ((state["pos"] - len(idx)) // every):
                    state.update(epoch_time=time.perf_counter() - t_start, wrong=wrong, seen=seen,
                                 **rows_written(res))
                    self._save_checkpoint(state)
            train_time = time.perf_counter() - t_start
            t0 = time.perf_counter()
            test_err = error_rate(sim.test(Xt)[0], yt)
            test_time = time.perf_counter() - t0
            res.append("epoch", [ep + 1, test_err, wrong / max(seen, 1), train_time, test_time, *rates])
            bar.write(f"epoch {ep + 1}: test error {100 * test_err:.2f} %  (train {100 * wrong / max(seen, 1):.2f} %, "
                      f"{train_time:.0f} s training, {test_time:.0f} s testing"
                      + (f", eta {net.params.eta:g})" if r["eta_schedule"] else ")"))
            if r["probe_images"]:
                m = min(r["probe_images"], len(Xt))
                pr = alignment.probe(net, Xt[:m], yt[:m])
                res.append("alignment", [ep + 1, *alignment.matrix_angles(net), *pr["delta"]])
                res.append("saturation", [ep + 1, *pr["psi"], *pr["saturated"]])
            state = self.state = {"epoch": ep + 1, "pos": 0, "epoch_time": 0.0, "test_error": test_err,
                                  **rows_written(res)}
            self._save_checkpoint(state)
        bar.close()
        final = float(state.get("test_error", np.nan))
        res.summary(test_error=final, epochs=r["epochs"], steps=net.t)
        res.close()
        if rec:
            rec.close()
        return {"test_error": final, "epochs": r["epochs"], "out": str(self.out), "steps": net.t}


def run_lockstep(trainers: list, context=None, finished=None) -> list:
    """Run K trainers together: their training chunks advance side by side, one
    ``Simulator.train_many`` call per round (one launch for a backend that runs many), and
    everything else (evaluation, probes, checkpoints, tests, results) is each run's own
    code in :meth:`Trainer.steps`. Each run gives exactly what its :meth:`Trainer.run` gives.

    The runs are first put into launch groups (:meth:`Simulator.launch_groups`: what one
    launch must share, split into parts that fit the device; a ConfigError when not even
    one network fits), run one group after another. A chunk the recorder captures is
    trained alone. A run that raises (a ``NumericalError`` is reported as ``Trainer.run``
    reports it) stops alone; the others go on. The trainers share one copy of the data.

    Parameters
    ----------
    trainers : list of Trainer
    context : callable, optional
        ``context(k)`` returns a context manager entered around every piece of run k's work
        (a sweep sends each run's prints and progress bar to that point's own files).
    finished : callable, optional
        ``finished(k, outcome)`` is called as run k ends, with its figures or its exception.

    Returns
    -------
    list
        Per trainer, :meth:`Trainer.run`'s figures (dict) or the exception that stopped it.
    """
    from .engine.simulator import Simulator

    context = context or (lambda k: contextlib.nullcontext())
    outcome = [None] * len(trainers)
    if not trainers:
        return outcome
    shared = {}
    for t in trainers:
        t.data_cache = shared
    n_img = max(min(t.cfg["run"]["chunk"], t.cfg["run"]["train_images"]) for t in trainers)
    for group in Simulator.launch_groups([t.sim for t in trainers], n_img):
        gens, pending = {k: trainers[k].steps() for k in group}, {}

        def advance(k, step, value):
            try:
                with context(k):
                    pending[k] = step(value)
            except StopIteration as stop:
                outcome[k] = stop.value
            except Exception as e:  # noqa: BLE001 - one run's failure stops that run only
                outcome[k] = e
            if k not in pending and finished:
                finished(k, outcome[k])

        for k in group:
            advance(k, gens[k].send, None)
        while pending:
            chunks, pending = pending, {}
            together = [k for k in chunks if chunks[k].capture is None]
            got = {}
            if together:
                try:
                    got.update(zip(together, Simulator.train_many([trainers[k].sim for k in together],
                                                                   [chunks[k].images for k in together],
                                                                   [chunks[k].labels for k in together])))
                except Exception as e:  # noqa: BLE001 - a failed launch stops every run in it
                    got.update((k, e) for k in together)
            for k in chunks:
                if k not in got:      # recorded: one network per call
                    c = chunks[k]
                    try:
                        got[k] = trainers[k].sim.train(c.images, c.labels, capture=c.capture)
                    except Exception as e:  # noqa: BLE001
                        got[k] = e
            for k in chunks:
                if isinstance(got[k], BaseException):
                    advance(k, gens[k].throw, got[k])
                else:
                    advance(k, gens[k].send, got[k])
    return outcome
