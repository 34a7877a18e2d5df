"""Pieces shared by experiments: seed lists, curve storage, mean +- s.d. summaries, figures."""

import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from .. import data  # noqa: E402
from ..errors import ConfigError  # noqa: E402
from ..rules import get_rule  # noqa: E402


def check_rules(names) -> list:
    """The rule names, each checked against the registry (unknown ones list the known)."""
    for name in names:
        get_rule(name)
    return list(names)


def seed_list(r: dict) -> list:
    """The seeds a rate experiment runs: ``run.first_seed``, ``first_seed + 1``, ... (``run.seeds`` of them).

    ``first_seed`` lets ``spikefa sweep`` give each point one seed of its own
    (``run.seeds = 1``, ``run.first_seed = s``); seed s draws the same task, network and
    example order whichever way it is run.
    """
    first = r.get("first_seed", 0)
    if first < 0:
        raise ConfigError(f"run.first_seed must be >= 0, got {first}")
    return list(range(first, first + r["seeds"]))


def load_dataset(r: dict) -> tuple:
    """Training and test images and labels of a [run] section (``dataset``, ``data_dir``),
    and the number of classes."""
    X, y = data.load(r["dataset"], "train", data_dir=r["data_dir"] or None)
    Xt, yt = data.load(r["dataset"], "test", data_dir=r["data_dir"] or None)
    return X, y, Xt, yt, int(y.max()) + 1


def check_rule_lrs(cfg: dict, rules) -> None:
    """Every rule of the run has a learning rate in the config's [lr] section."""
    for rule in rules:
        if rule not in cfg["lr"]:
            raise ConfigError(f"lr.{rule}: no learning rate for rule '{rule}' (add it to the [lr] section)")


class Ticker:
    """Feeds a progress bar from the cumulative example count of one training run
    (``train(..., progress=ticker)``); ``finish(total)`` accounts for the rest."""

    def __init__(self, bar):
        self.bar, self.last = bar, 0

    def __call__(self, seen: int) -> None:
        self.bar.update(seen - self.last)
        self.last = seen

    def finish(self, total: int) -> None:
        self(total)


def stack_runs(runs: list) -> dict:
    """[{key: array}, ...] over seeds -> {key: array with a leading seed axis}."""
    return {k: np.stack([r[k] for r in runs]) for k in runs[0]}


# unit and description of the curves the experiments store (a leading axis is the seed)
CURVES = {
    "examples": ("examples", "training examples seen at each record"),
    "seconds": ("s", "wall time since the start of training at each record"),
    "nse": ("1", "normalised squared error on the test set, at each record"),
    "test_error": ("fraction", "test error at each record"),
    "accuracy": ("fraction", "share of the patterns answered correctly, at each record"),
    "loss": ("1", "mean squared error / 2 over the patterns, at each record"),
    "solved_at": ("examples", "examples until the run answered every pattern correctly from then on"),
    "matrix_angle": ("deg", "angle between each hidden layer's B and the transposed forward weights above"),
    "delta_angle": ("deg", "angle between each hidden layer's teaching signal and backprop's"),
    "unit_angle_mean": ("deg", "mean over hidden units of the angle between a unit's column of W and row of B"),
    "unit_angle_sd": ("deg", "s.d. over hidden units of the angle between a unit's column of W and row of B"),
    "start": ("deg", "per hidden unit, the angle between its column of W and row of B at the start"),
    "end": ("deg", "per hidden unit, the angle between its column of W and row of B at the end"),
}


def shows_angle(angles) -> bool:
    """Whether an angle curve is worth drawing beside the others: it is defined somewhere
    (a rule with no feedback has NaN) and not identically 0 (backprop's, the reference)."""
    a = np.asarray(angles, dtype=np.float64)
    return bool(np.isfinite(a).any() and np.nanmax(np.abs(a)) > 1e-9)


def save_curves(res, group: str, curves: dict) -> None:
    """Store every array of ``curves`` as ``group/key`` in a result file (written at once),
    with the unit and description of ``CURVES`` (a generic one for a key not listed)."""
    for k, v in curves.items():
        if k.startswith("unit_angle_p"):
            unit, text = "deg", f"{k[12:]}th percentile over hidden units of the per-unit angle of W and B"
        else:
            unit, text = CURVES.get(k, ("", f"'{k}' recorded by the experiment, one row per seed"))
        res.put(f"{group}/{k}", np.asarray(v, dtype=np.float64), unit=unit, description=text)


def seed_mean(a, axis=0) -> np.ndarray:
    """Mean over seeds ignoring NaN (a rule with no feedback has NaN angles), silently."""
    a = np.asarray(a, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=axis)


def mean_sd(x) -> tuple:
    x = np.asarray(x, dtype=np.float64)
    return float(np.nanmean(x)), float(np.nanstd(x, ddof=1)) if x.size > 1 else 0.0


def band(ax, x, ys, label, log=False, **kw):
    """Mean over seeds (rows of ys) with a +- s.d. band; returns the axes."""
    ys = np.asarray(ys, dtype=np.float64)
    m = np.nanmean(ys, axis=0)
    s = np.nanstd(ys, axis=0)
    line, = ax.plot(x, m, label=label, **kw)
    lo = np.maximum(m - s, m * 1e-3) if log else m - s
    ax.fill_between(x, lo, m + s, color=line.get_color(), alpha=0.2, lw=0)
    if log:
        ax.set_yscale("log")
    return ax
