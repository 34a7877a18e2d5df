"""Lillicrap et al. (2016), Fig. 4: the spiking 784-1500-1500-1500-1000 network on MNIST.

Online training, one image at a time for ``steps_per_image`` steps with no reset between
images; after each epoch the whole test set is shown with plasticity off and each image is
assigned the class whose group of output units spiked most. [L16] reports 1.8 % test error.
"""

import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import checkpoint, config, data, recording
from ..engine.network import SpikingNetwork
from ..engine.params import SpikingParams
from ..engine.simulator import Simulator
from ..errors import ConfigError
from ..results import ResultsWriter, read_results

NAME = "lillicrap2016-spiking"
DESCRIPTION = "spiking 784-1500x3-1000 network of [L16] Fig. 4 trained online on MNIST (paper: 1.8 % test error)"
SMOKE = {"network": {"sizes": [784, 500, 500, 500, 1000]},
         "run": {"train_images": 3000, "test_images": 1000, "eval_every": 0}}


def defaults() -> dict:
    return config.load_toml(config.MODELS_DIR / "lillicrap2016.toml")


def check_run(r: dict, n_train: int, n_test: int) -> None:
    """Range checks of the [run] section, each naming its field."""
    for key in ("epochs", "train_images", "test_images", "chunk", "eval_images"):
        if r[key] < 1:
            raise ConfigError(f"run.{key}: must be >= 1, got {r[key]}")
    for key in ("eval_every", "checkpoint_every"):
        if r[key] < 0:
            raise ConfigError(f"run.{key}: must be >= 0, got {r[key]}")
    if r["train_images"] > n_train:
        raise ConfigError(f"run.train_images: the {r['dataset']} training set has {n_train} images, asked for {r['train_images']}")
    if r["test_images"] > n_test:
        raise ConfigError(f"run.test_images: the {r['dataset']} test set has {n_test} images, asked for {r['test_images']}")


# fields that may change when a run is resumed; any other change means another run
RESUME_MAY_CHANGE = {"epochs", "threads", "data_dir", "chunk", "checkpoint_every", "backend"}


def check_resumable(old: dict, new: dict, out) -> None:
    for sec, vals in new.items():
        if sec == "record":   # what is recorded never changes the run
            continue
        for key, val in vals.items():
            was = old.get(sec, {}).get(key)
            if key not in RESUME_MAY_CHANGE and was != val:
                raise ConfigError(f"--resume: {sec}.{key} is {val!r} but the run in {out} used {was!r}; "
                                  "resume with the same configuration or choose another --out")


def error_rate(counts: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose most active output group is not the label (ties: lowest class)."""
    return float(np.mean(np.argmax(counts, axis=1) != labels))


def build(cfg: dict) -> tuple:
    p = SpikingParams(**cfg["network"])
    r = cfg["run"]
    net = SpikingNetwork(p, r["rule"], seed=r["seed"], spike_seed=None if r["spike_seed"] < 0 else r["spike_seed"])
    return net, Simulator(net, backend=r["backend"], threads=r["threads"])


def run(cfg: dict, out_dir, progress: bool = True, resume: bool = False) -> dict:
    """Train and test; write ``results.h5`` and ``checkpoint.npz`` into ``out_dir``."""
    r = cfg["run"]
    recording.check(cfg)
    net, sim = build(cfg)
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
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.npz"
    seeds = {"seed_weights": net.seed_weights, "seed_spikes": net.seed_spikes}

    state = {"epoch": 0, "pos": 0, "epoch_time": 0.0}
    resume = resume and ckpt.exists() and (out / "results.h5").exists()
    if resume:
        check_resumable(read_results(out / "results.h5")["config"], cfg, out)
        state = checkpoint.load(net, ckpt)
    res = ResultsWriter(out / "results.h5", NAME, cfg, seeds, mode="a" if resume else "w")
    for name in ("epoch", "heldout"):
        res.truncate(name, state.get(f"rows_{name}", 0))
    rec = recording.open_recorder(cfg, net, out, NAME, seeds, total_images=r["epochs"] * len(X),
                                  images_done=state["epoch"] * len(X) + state["pos"], resume=resume)

    n, chunk = len(X), r["chunk"]
    bar = tqdm(total=r["epochs"] * n, initial=state["epoch"] * n + state["pos"], unit="img",
               disable=not progress, dynamic_ncols=True, desc=NAME)
    last_err = np.nan
    while state["epoch"] < r["epochs"]:
        ep = state["epoch"]
        order = np.random.default_rng([net.seed_weights, ep]).permutation(n)
        t_start = time.perf_counter() - state["epoch_time"]
        wrong, seen = state.get("wrong", 0), state.get("seen", 0)
        while state["pos"] < n:
            idx = order[state["pos"]:state["pos"] + chunk]
            cap = rec.capture(net.t, ep * n + state["pos"], X[idx], y[idx], idx) if rec else None
            t0 = time.perf_counter()
            counts, spikes = sim.train(X[idx], y[idx], capture=cap)
            dt = time.perf_counter() - t0
            if cap is not None:
                rec.write(cap)
            wrong += int(np.sum(np.argmax(counts, 1) != y[idx]))
            seen += len(idx)
            state["pos"] += len(idx)
            images_seen = ep * n + state["pos"]
            if r["eval_every"] and (images_seen // r["eval_every"]) > ((images_seen - len(idx)) // r["eval_every"]):
                m = min(r["eval_images"], len(Xt))
                last_err = error_rate(sim.test(Xt[:m])[0], yt[:m])
                res.append("heldout", [images_seen, last_err])
            rates = spikes / (len(idx) * net.params.steps_per_image) / net.sizes
            bar.set_postfix(steps_s=f"{len(idx) * net.params.steps_per_image / dt:,.0f}",
                            train_err=f"{wrong / seen:.3f}", heldout=f"{last_err:.3f}",
                            rates="/".join(f"{x:.2f}" for x in rates[1:]), refresh=False)
            bar.update(len(idx))
            every = r["checkpoint_every"]
            if every and state["pos"] < n and (state["pos"] // every) > ((state["pos"] - len(idx)) // every):
                state.update(epoch_time=time.perf_counter() - t_start, wrong=wrong, seen=seen,
                             rows_epoch=ep, rows_heldout=res.f["heldout"].shape[0] if "heldout" in res.f else 0)
                if rec:
                    rec.flush()   # rasters up to the checkpoint's step are on disk before it is
                checkpoint.save(net, ckpt, state)
        train_time = time.perf_counter() - t_start
        t0 = time.perf_counter()
        test_err = error_rate(sim.test(Xt)[0], yt)
        test_time = time.perf_counter() - t0
        res.append("epoch", [ep + 1, test_err, wrong / max(seen, 1), train_time, test_time, *rates])
        bar.write(f"epoch {ep + 1}: test error {100 * test_err:.2f} %  (train {100 * wrong / max(seen, 1):.2f} %, "
                  f"{train_time:.0f} s training, {test_time:.0f} s testing)")
        state = {"epoch": ep + 1, "pos": 0, "epoch_time": 0.0, "test_error": test_err,
                 "rows_epoch": ep + 1, "rows_heldout": res.f["heldout"].shape[0] if "heldout" in res.f else 0}
        if rec:
            rec.flush()
        checkpoint.save(net, ckpt, state)
    bar.close()
    final = float(state.get("test_error", np.nan))
    res.summary(test_error=final, epochs=r["epochs"], steps=net.t)
    res.close()
    if rec:
        rec.close()
    return {"test_error": final, "epochs": r["epochs"], "out": str(out), "steps": net.t}
