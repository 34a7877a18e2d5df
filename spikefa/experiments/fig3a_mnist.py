"""Lillicrap et al. (2016), Fig. 3a,b: MNIST, 784-1000-10 logistic units, BP / FA / shallow.

Reported (mean of 20 runs): test error BP 2.4 %, FA 2.1 %, FA with 50 % of the elements
of W and B removed 2.4 %; the angle between FA's and BP's hidden teaching signals falls
and stays low (Fig. 3b). A condition ``RULE-sparseNN`` removes NN % of every W and B;
with ``run.sparse_feedback_scale`` the kept elements of B are drawn from a range wider by
1 / sqrt(1 - sparsity), so that each hidden unit's feedback keeps its variance.
"""

import re
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import config
from ..errors import ConfigError
from ..metrics import error_rate
from ..rate.network import RateNetwork, RateParams
from ..rate.train import train
from ..results import ResultsWriter
from .common import Ticker, band, check_rules, load_dataset, mean_sd, save_curves, seed_list, shows_angle, stack_runs
from .samples import per_rule_final

NAME = "fig3a-mnist"
DESCRIPTION = "[L16] Fig. 3a,b: MNIST 784-1000-10 logistic, BP / FA / shallow / FA 50 % sparse; delta angles"
SMOKE = {"run": {"seeds": 2, "epochs": 1, "train_images": 3000, "test_images": 1000, "batch": 10},
         "network": {"lr": 0.01}}


def defaults() -> dict:
    return config.load_toml(config.MODELS_DIR / "fig3a_mnist.toml")


def parse_condition(cond: str) -> tuple:
    """'fa-sparse50' -> ('fa', 0.5); 'bp' -> ('bp', 0.0)."""
    m = re.fullmatch(r"([a-z_]+)(?:-sparse(\d{1,2}))?", cond)
    if not m:
        raise ConfigError(f"run.conditions: '{cond}' is not RULE or RULE-sparseNN (e.g. fa-sparse50)")
    check_rules([m.group(1)])
    return m.group(1), int(m.group(2) or 0) / 100


def condition_params(cfg: dict, sparsity: float) -> RateParams:
    """The network of a condition: ``sparsity`` removed from every W and B, and with
    ``run.sparse_feedback_scale`` B's range widened by 1 / sqrt(1 - sparsity)."""
    widen = 1.0 / np.sqrt(1.0 - sparsity) if cfg["run"]["sparse_feedback_scale"] else 1.0
    return RateParams(**{**cfg["network"], "sparsity": sparsity, "b_init": cfg["network"]["b_init"] * widen})


def run(cfg: dict, out_dir, progress: bool = True, resume: bool = False, overwrite: bool = False) -> dict:
    r = cfg["run"]
    conds = [(c, *parse_condition(c)) for c in r["conditions"]]
    config.require_at_least(r, "run", ("seeds", "epochs", "batch", "train_images", "test_images", "probe_images"))
    X, y, Xt, yt, n_cls = load_dataset(r)
    X, y, Xt, yt = X[:r["train_images"]], y[:r["train_images"]], Xt[:r["test_images"]], yt[:r["test_images"]]
    Y = np.eye(n_cls)[y]
    probe = (Xt[:r["probe_images"]], np.eye(n_cls)[yt[:r["probe_images"]]])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = seed_list(r)
    res = ResultsWriter(out / "results.h5", NAME, cfg, {"seeds": seeds})
    n_ex = r["epochs"] * len(X)
    bar = tqdm(total=len(conds) * r["seeds"] * n_ex, unit="ex", disable=not progress, desc=NAME, smoothing=0.05)
    curves, summary = {}, {}
    for cond, rule, sparsity in conds:
        runs = []
        for seed in seeds:
            p = condition_params(cfg, sparsity)
            net = RateNetwork(p, rule, seed=seed)
            tick = Ticker(bar)

            runs.append(train(net, X, Y, n_ex, batch=r["batch"], record_every=len(X),
                              evaluate=lambda n: {"test_error": error_rate(n.predict(Xt), yt)}, probe=probe,
                              order_rng=np.random.default_rng([seed, 1]), progress=tick))
            tick.finish(n_ex)
        curves[cond] = stack_runs(runs)
        save_curves(res, f"curves/{cond}", curves[cond])
        summary[cond] = mean_sd(curves[cond]["test_error"][:, -1])
        bar.write(f"{cond}: test error {100 * summary[cond][0]:.2f} +- {100 * summary[cond][1]:.2f} % "
                  f"({r['seeds']} seeds, {r['epochs']} epochs)")
    bar.close()
    res.summary(**{f"test_error_{k}": v[0] for k, v in summary.items()},
                **{f"test_error_sd_{k}": v[1] for k, v in summary.items()})
    res.close()
    png = plot(curves, out / "fig3a.png")
    return {"test_error": {k: f"{100 * m:.2f}+-{100 * s:.2f}%" for k, (m, s) in summary.items()}, "plot": str(png)}


def plot(curves: dict, path) -> Path:
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for cond, c in curves.items():
        ep = c["examples"][0] / max(c["examples"][0][1], 1)
        band(a, ep, 100 * c["test_error"], cond, log=True)
        if shows_angle(c["delta_angle"]):
            band(b, ep, c["delta_angle"][:, :, 0], cond)
    a.set(xlabel="epochs", ylabel="test error [%]", title="a  MNIST 784-1000-10 (mean +- s.d.)")
    a.legend()
    b.axhline(90, color="grey", lw=0.5, ls=":")
    b.set(xlabel="epochs", ylabel="angle(delta, delta_BP) [deg]", ylim=(0, 100), title="b  hidden teaching signal")
    if b.get_legend_handles_labels()[0]:   # none when only bp ran (a sweep point of one condition)
        b.legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


# ----- what a sweep over this experiment tabulates (spikefa sweep) -----
SWEEP_HEADLINE = ('test_error',)   # the metrics its summary shows and tests
# `--set rule=fa,bp` sweeps a list field with one element per point
SWEEP_ALIASES = {'rule': 'run.conditions', 'condition': 'run.conditions'}


def sweep_samples(res: dict) -> list:
    """``fig3a-mnist``: final test error per condition and seed."""
    return per_rule_final(res, "test_error", "test_error", res["config"]["run"]["conditions"], "condition")
