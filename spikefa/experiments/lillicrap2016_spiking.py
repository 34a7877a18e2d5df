"""Lillicrap et al. (2016), Fig. 4: the spiking 784-1500-1500-1500-1000 network on MNIST.

Online training, one image at a time for ``steps_per_image`` steps with no reset between
images; after each epoch the whole test set is shown with plasticity off and each image is
assigned the class whose group of output units spiked most. [L16] reports 1.8 % test error.
"""

import difflib
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from .. import checkpoint, config, data, fsutil, recording, schedule
from ..engine import alignment
from ..engine.network import SpikingNetwork
from ..engine.params import SpikingParams
from ..engine import backends
from ..engine.simulator import Simulator
from ..engine.threads import resolve_threads
from ..errors import ConfigError, NumericalError, SpikefaError, StorageError
from ..results import ResultsWriter, read_results
from ..rules import rule_names

NAME = "lillicrap2016-spiking"
DESCRIPTION = "spiking 784-1500x3-1000 network of [L16] Fig. 4 trained online on MNIST (paper: 1.8 % test error)"
# named variants (--preset NAME): a TOML file of models/ applied over the defaults
PRESETS = {"paper": ("lillicrap2016-paper.toml", "the protocol of [L16]: constant eta 1e-3, B float32, 300 epochs")}
SMOKE = {"network": {"sizes": [784, 500, 500, 500, 1000]},
         "run": {"epochs": 1, "train_images": 3000, "test_images": 1000, "eval_every": 0}}


def defaults() -> dict:
    return config.load_toml(config.MODELS_DIR / "lillicrap2016.toml")


# training images, test images, pixels per image and classes of each data set, so that a
# configuration is checked against its data set before the data are loaded
DATASET_SHAPES = {"mnist": (60000, 10000, 784, 10), "fashion-mnist": (60000, 10000, 784, 10)}


def check_run(r: dict, n_train: int | None = None, n_test: int | None = None) -> None:
    """Range checks of the [run] section, each naming its field; needs no data."""
    config.require_at_least(r, "run", ("epochs", "train_images", "test_images", "chunk", "eval_images"))
    for key in ("eval_every", "checkpoint_every", "probe_images"):
        if r[key] < 0:
            raise ConfigError(f"run.{key}: must be >= 0, got {r[key]}")
    if not 0 <= r["seed"] < 2**32:
        raise ConfigError(f"run.seed: must be an integer in [0, 2**32), got {r['seed']}")
    if r["spike_seed"] != -1 and not 0 <= r["spike_seed"] < 2**32:
        raise ConfigError(f"run.spike_seed: must be -1 (derived from seed) or in [0, 2**32), got {r['spike_seed']}")
    schedule.check(r["eta_schedule"])
    backends.info(r["backend"], "run.backend")
    resolve_threads(r["threads"], "run.threads")
    if r["rule"] not in rule_names():
        close = difflib.get_close_matches(r["rule"], rule_names(), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(f"run.rule: unknown {r['rule']!r}{hint}; known rules: {', '.join(rule_names())}")
    if not r["data_dir"].isprintable() or "\0" in r["data_dir"]:
        raise ConfigError(f"run.data_dir: {r['data_dir']!r} is not a usable folder name")
    if r["dataset"] not in DATASET_SHAPES:
        raise ConfigError(f"run.dataset: unknown {r['dataset']!r}, choose one of {', '.join(DATASET_SHAPES)}")
    known_train, known_test = DATASET_SHAPES[r["dataset"]][:2]
    n_train = known_train if n_train is None else n_train
    n_test = known_test if n_test is None else n_test
    if r["train_images"] > n_train:
        raise ConfigError(f"run.train_images: the {r['dataset']} training set has {n_train} images, asked for {r['train_images']}")
    if r["test_images"] > n_test:
        raise ConfigError(f"run.test_images: the {r['dataset']} test set has {n_test} images, asked for {r['test_images']}")


def state_bytes(p: SpikingParams) -> int:
    """Upper bound of a network's memory (and checkpoint size) in bytes, before building it.

    Forward weights in float32, feedback matrices at most one (n_l, max n_above) block per
    hidden layer, about 130 bytes of per-unit state (potentials, pending plasticity), and
    one byte per weight for the masks of a sparse network (in memory, not in checkpoints).
    """
    n = p.sizes
    weights = sum(n[l - 1] * n[l] for l in range(1, len(n)))
    feedback = sum(n[l] * max(n[l + 1:]) for l in range(1, len(n) - 1))
    masks = weights + feedback if p.sparsity > 0 else 0
    return 4 * (weights + feedback) + masks + 130 * sum(n)


def validate(cfg: dict) -> SpikingParams:
    """Every check of a configuration that needs neither data nor disk, each error naming its field.

    Called before anything is loaded, allocated or written. Raises ConfigError.
    """
    p = SpikingParams(**cfg["network"])
    r = cfg["run"]
    check_run(r)
    _, _, pixels, classes = DATASET_SHAPES[r["dataset"]]
    if p.sizes[0] != pixels:
        raise ConfigError(f"network.sizes: the input layer has {p.sizes[0]} units but {r['dataset']} images "
                          f"have {pixels} pixels")
    if p.n_classes != classes:
        raise ConfigError(f"network.n_classes: {r['dataset']} has {classes} classes, not {p.n_classes}")
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = None
    need = state_bytes(p)
    if ram and need > ram:
        raise ConfigError(f"network.sizes: {p.sizes} needs about {need / 2**30:.1f} GiB of memory, "
                          f"this machine has {ram / 2**30:.1f} GiB")
    return p


# fields that may change when a run is resumed; any other change means another run
# (eta_schedule only for epochs not yet begun: checked in run())
RESUME_MAY_CHANGE = {"epochs", "threads", "data_dir", "chunk", "checkpoint_every", "backend", "probe_images",
                     "eta_schedule"}


def check_resumable(old: dict, new: dict, out) -> None:
    """Refuse to resume the run in ``out`` (configured as ``old``) with a configuration that
    would change its results; a field added to spikefa since (absent from ``old``) must keep
    its default, which is how the older version behaved."""
    base = defaults()
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


SERIES = ("epoch", "heldout", "alignment", "saturation")   # the row series of results.h5


def result_schema(n_layers: int) -> dict:
    """Names, units and descriptions of the fields of every series of results.h5."""
    from ..recording import layer_name

    L, name = n_layers, (lambda l: layer_name(l, n_layers))
    hidden = range(1, L)
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
            ("epoch", "1", "epoch, counted from 1"),
            *[(f"matrix_angle_{name(l)}", "deg", f"angle between the feedback matrix of {name(l)} and the "
               "transposed forward weights of the layer above") for l in hidden],
            *[(f"delta_angle_{name(l)}", "deg", f"angle between the teaching signal of {name(l)} and "
               "backprop's") for l in hidden]]),
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


def build(cfg: dict) -> tuple:
    p = SpikingParams(**cfg["network"])
    r = cfg["run"]
    net = SpikingNetwork(p, r["rule"], seed=r["seed"], spike_seed=None if r["spike_seed"] < 0 else r["spike_seed"])
    return net, Simulator(net, backend=r["backend"], threads=r["threads"])


def plan_line(cfg: dict, net, sim, n_train: int) -> str:
    """What a run will do, in one line: printed at its start."""
    r = cfg["run"]
    threads = (f"{sim.threads} Numba thread{'s' * (sim.threads != 1)}" + (" (all cores)" if r["threads"] == 0 else "")
               if r["backend"] == "numba" else f"backend {r['backend']}")
    return (f"running {NAME}: {r['epochs']} epoch{'s' * (r['epochs'] != 1)} of {n_train:,} images, rule {r['rule']}, "
            f"{schedule.describe(cfg['network']['eta'], r['eta_schedule'], r['epochs'])}, "
            f"B {net.B.dtype}, seed {r['seed']}, {threads}")


def _kept(state: dict, t: int, ckpt) -> str:
    where = (f"end of epoch {state['epoch']}" if state["pos"] == 0
             else f"epoch {state['epoch'] + 1}, image {state['pos']}")
    return f"the last good checkpoint ({where}, step {t}) is kept in {ckpt}"


def run(cfg: dict, out_dir, progress: bool = True, resume: bool = False, overwrite: bool = False) -> dict:
    """Train and test; write ``results.h5`` and ``checkpoint.npz`` into ``out_dir``.

    Order of work: every configuration check (:func:`validate`, then building the network,
    which checks the rule), then the output folder (writable, free space for a checkpoint,
    an earlier run there), then the data, then training. So a mistake is reported before
    anything is loaded or written. ``resume`` continues from ``out_dir/checkpoint.npz``
    (bit for bit: same weights, errors and rates as an uninterrupted run); without it an
    existing run in ``out_dir`` is only replaced when ``overwrite`` is given.
    See docs/reliability.md.
    """
    r = cfg["run"]
    validate(cfg)
    recording.check(cfg)
    net, sim = build(cfg)
    out = fsutil.prepare_folder(out_dir)
    ckpt, res_path = out / "checkpoint.npz", out / "results.h5"
    for f in (ckpt, res_path):
        fsutil.remove_stale_tmp(f)      # a kill in the middle of a write; the file itself is intact
    if resume and not ckpt.exists():
        print(f"spikefa: no checkpoint in {out}; starting from the beginning", file=sys.stderr)
        resume = False
    if not resume and not overwrite and ckpt.exists():
        raise ConfigError(f"{out} already holds a run (checkpoint.npz): continue it with --resume, "
                          "replace it with --overwrite, or choose another --out")
    fsutil.check_free_space(out, checkpoint.nbytes(net) + 2**20, "a checkpoint")
    seeds = {"seed_weights": net.seed_weights, "seed_spikes": net.seed_spikes}
    state = {"epoch": 0, "pos": 0, "epoch_time": 0.0}
    if resume:
        if not res_path.exists():
            raise SpikefaError(f"--resume: {ckpt} exists but {res_path} does not; restore it, or start "
                               "again with --overwrite")
        old = read_results(res_path)["config"]
        check_resumable(old, cfg, out)
        state = checkpoint.load(net, ckpt)
        schedule.check_unchanged_before(state["epoch"] + (state["pos"] > 0), net.params.eta,
                                        old["run"].get("eta_schedule", []), r["eta_schedule"], out)
    last_good = _kept(state, net.t, ckpt) if resume else "no checkpoint was written yet"

    X, y = data.load(r["dataset"], "train", data_dir=r["data_dir"] or None)
    Xt, yt = data.load(r["dataset"], "test", data_dir=r["data_dir"] or None)
    check_run(r, len(X), len(Xt))
    if net.sizes[0] != X.shape[1]:
        raise ConfigError(f"network.sizes: the input layer has {net.sizes[0]} units but {r['dataset']} images "
                          f"have {X.shape[1]} pixels")
    if net.params.n_classes != int(y.max()) + 1:
        raise ConfigError(f"network.n_classes: {r['dataset']} has {int(y.max()) + 1} classes, "
                          f"not {net.params.n_classes}")
    X, y, Xt, yt = X[:r["train_images"]], y[:r["train_images"]], Xt[:r["test_images"]], yt[:r["test_images"]]

    res = ResultsWriter(res_path, NAME, cfg, seeds, mode="a" if resume else "w",
                        schema=result_schema(net.params.n_layers))
    for name in SERIES:   # rows written after the checkpoint are written again
        res.truncate(name, state.get(f"rows_{name}", 0))
    rec = recording.open_recorder(cfg, net, out, NAME, seeds, total_images=r["epochs"] * len(X),
                                  images_done=state["epoch"] * len(X) + state["pos"], resume=resume)

    def save_checkpoint(state):
        """The one place checkpoints are written. Anything JSON-able in ``state`` is saved
        with the network and comes back from ``checkpoint.load`` on --resume: a recorder
        keeps its file offsets in ``state["recorder"]`` (flush its file before this call)."""
        nonlocal last_good
        if rec:
            rec.flush()   # rasters up to the checkpoint's step are on disk before it is
        checkpoint.save(net, ckpt, state)
        last_good = _kept(state, net.t, ckpt)

    n, chunk = len(X), r["chunk"]
    every, eval_every = r["checkpoint_every"], r["eval_every"]
    print(plan_line(cfg, net, sim, n))
    if r["backend"] == "numba" and progress:
        from ..engine.kernels import run_images

        if not run_images.signatures:   # not yet compiled or loaded in this process
            print("preparing the Numba engine: about 20 s the first time on this machine, cached afterwards",
                  flush=True)
    for e, eta in schedule.unused(r["eta_schedule"], r["epochs"]):
        print(f"spikefa: run.eta_schedule entry [{e}, {eta:g}] starts after the last epoch ({r['epochs']}): unused",
              file=sys.stderr)
    bar = tqdm(total=r["epochs"] * n, initial=state["epoch"] * n + state["pos"], unit="img",
               disable=not progress, dynamic_ncols=True, desc=NAME)
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
            idx = order[pos:stop]
            cap = rec.capture(net.t, ep * n + pos, X[idx], y[idx], idx) if rec else None
            t0 = time.perf_counter()
            try:
                counts, spikes = sim.train(X[idx], y[idx], capture=cap)
            except NumericalError as e:
                bar.close()
                try:
                    res.summary(stopped=f"{e}")
                except StorageError:
                    pass
                raise NumericalError(f"{e}; {last_good}") from None
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
            rates = spikes / (len(idx) * net.params.steps_per_image) / net.sizes
            shown = {"steps_s": f"{len(idx) * net.params.steps_per_image / dt:,.0f}", "train_err": f"{wrong / seen:.3f}"}
            if eval_every:   # the last held-out error, once there is one
                shown["heldout"] = "-" if np.isnan(last_err) else f"{last_err:.3f}"
            bar.set_postfix(**shown, rates="/".join(f"{x:.2f}" for x in rates[1:]), refresh=False)
            bar.update(len(idx))
            if every and state["pos"] < n and (state["pos"] // every) > ((state["pos"] - len(idx)) // every):
                state.update(epoch_time=time.perf_counter() - t_start, wrong=wrong, seen=seen,
                             **rows_written(res))
                save_checkpoint(state)
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
        state = {"epoch": ep + 1, "pos": 0, "epoch_time": 0.0, "test_error": test_err, **rows_written(res)}
        save_checkpoint(state)
    bar.close()
    final = float(state.get("test_error", np.nan))
    res.summary(test_error=final, epochs=r["epochs"], steps=net.t)
    res.close()
    if rec:
        rec.close()
    return {"test_error": final, "epochs": r["epochs"], "out": str(out), "steps": net.t}
