"""Lillicrap et al. (2016), Fig. 4: the spiking 784-1500-1500-1500-1000 network on MNIST.

Online training, one image at a time for ``steps_per_image`` steps with no reset between
images; after each epoch the whole test set is shown with plasticity off and each image is
assigned the class whose group of output units spiked most. [L16] reports 1.8 % test error.
"""

import difflib
import os
import sys

import numpy as np

from .. import config, schedule
from ..engine import backends
from ..engine.network import SpikingNetwork
from ..engine.params import SpikingParams
from ..engine.simulator import Simulator
from ..engine.threads import resolve_threads
from ..errors import ConfigError, SpikefaError
from ..rules import rule_names
from ..training import Trainer
from .samples import Sample

NAME = "lillicrap2016-spiking"
DESCRIPTION = "spiking 784-1500x3-1000 network of [L16] Fig. 4 trained online on MNIST (paper: 1.8 % test error)"
# named variants (--preset NAME): a TOML file of models/ applied over the defaults
PRESETS = {"paper": ("lillicrap2016-paper.toml", "the protocol of [L16]: constant eta 1e-3, B float32, 300 epochs")}
SMOKE = {"network": {"sizes": [784, 500, 500, 500, 1000]},
         "run": {"epochs": 1, "train_images": 3000, "test_images": 1000, "eval_every": 1000, "eval_images": 500}}


def defaults() -> dict:
    return config.load_toml(config.MODELS_DIR / "lillicrap2016.toml")


# training images, test images, pixels per image and classes of each data set, so that a
# configuration is checked against its data set before the data are loaded
DATASET_SHAPES = {"mnist": (60000, 10000, 784, 10), "fashion-mnist": (60000, 10000, 784, 10)}


def check_run(r: dict, n_train: int | None = None, n_test: int | None = None) -> None:
    """Range checks of the [run] section, each naming its field; needs no data."""
    config.require_at_least(r, "run", ("epochs", "train_images", "test_images", "chunk", "eval_images"))
    for key in ("eval_every", "checkpoint_every", "probe_images", "probe_every"):
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


def build(cfg: dict) -> tuple:
    p = SpikingParams(**cfg["network"])
    r = cfg["run"]
    net = SpikingNetwork(p, r["rule"], seed=r["seed"], spike_seed=None if r["spike_seed"] < 0 else r["spike_seed"])
    return net, Simulator(net, backend=r["backend"], threads=r["threads"])


def run(cfg: dict, out_dir, progress: bool = True, resume: bool = False, overwrite: bool = False) -> dict:
    """Train and test (:class:`spikefa.training.Trainer`); write ``results.h5`` and
    ``checkpoint.npz`` into ``out_dir``. ``resume`` continues from its checkpoint, bit
    for bit; an existing run is replaced only with ``overwrite``. See docs/reliability.md."""
    return Trainer(sys.modules[__name__], cfg, out_dir, progress=progress, resume=resume, overwrite=overwrite).run()


# ----- what a sweep over this experiment tabulates (spikefa sweep) -----
SWEEP_HEADLINE = ('test_error',)   # the metrics its summary shows and tests


def sweep_samples(res: dict) -> list:
    """``lillicrap2016-spiking``: the test error after the last epoch and, from that
    epoch's probe (when the run probed), the teaching-signal angle to backprop of each
    hidden layer (``delta_angle_l``, where the rule sends one) and the share of
    saturated unit-image pairs of each layer (``saturated_l``)."""
    summ = res["summary"]
    if "test_error" not in summ:
        why = summ.get("stopped", "no test_error in its summary")
        raise SpikefaError(f"the run did not finish: {why}")
    metrics = {"test_error": float(summ["test_error"])}
    L = len(res["config"]["network"]["sizes"]) - 1
    if len(res.get("alignment", [])):
        for l, v in enumerate(res["alignment"][-1][L:], start=1):     # after the epoch and L-1 matrix angles
            if np.isfinite(v):
                metrics[f"delta_angle_{l}"] = float(v)
    if len(res.get("saturation", [])):
        for l, v in enumerate(res["saturation"][-1][1 + L:], start=1):  # after the epoch and L mean Psi
            metrics[f"saturated_{l}"] = float(v)
    return [Sample({}, res["config"]["run"]["seed"], metrics)]
