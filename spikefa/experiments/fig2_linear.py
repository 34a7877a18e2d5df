"""Lillicrap et al. (2016), Fig. 2: a linear 30-20-10 network learning a linear map.

Rules: shallow (only the output layer learns), node perturbation, backprop, feedback
alignment (B ~ U[-0.5, 0.5]); W0, W ~ U[-0.01, 0.01]; online updates. Expected: shallow
barely improves, node perturbation slowly, FA as fast as BP (a), and the angle between
FA's and BP's hidden teaching signals starts near 90 degrees and falls, never to 0 (b).
"""

from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import config
from ..metrics import nse
from ..rate.network import RateNetwork, RateParams
from ..rate.train import train
from ..results import ResultsWriter
from .common import Ticker, band, check_rule_lrs, check_rules, mean_sd, save_curves, seed_list, shows_angle, stack_runs
from .samples import per_rule_final

NAME = "fig2-linear"
DESCRIPTION = "[L16] Fig. 2: linear 30-20-10 net, shallow / node perturbation / BP / FA, NSE and delta angle"
SMOKE = {"run": {"seeds": 2, "examples": 8000, "record_every": 250}}


def defaults() -> dict:
    return config.load_toml(config.MODELS_DIR / "fig2_linear.toml")


def task(seed: int, n_in: int, n_out: int, n_train: int, n_test: int):
    """Training and test sets of x ~ N(0, I), y = x T, T ~ U[-1, 1] drawn from ``seed``."""
    rng = np.random.default_rng([seed, 2])
    T = rng.uniform(-1, 1, (n_in, n_out))
    X = rng.normal(size=(n_train + n_test, n_in))
    Y = X @ T
    return X[:n_train], Y[:n_train], X[n_train:], Y[n_train:]


def run(cfg: dict, out_dir, progress: bool = True, resume: bool = False, overwrite: bool = False) -> dict:
    r = cfg["run"]
    rules = check_rules(r["rules"])
    check_rule_lrs(cfg, rules)
    config.require_at_least(r, "run", ("seeds", "examples", "record_every"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = seed_list(r)
    res = ResultsWriter(out / "results.h5", NAME, cfg, {"seeds": seeds})
    curves, summary = {}, {}
    bar = tqdm(total=len(rules) * r["seeds"] * r["examples"], unit="ex", disable=not progress, desc=NAME)
    for rule in rules:
        runs = []
        for seed in seeds:
            p = RateParams(**cfg["network"], lr=cfg["lr"][rule])
            n_in, n_out = p.sizes[0], p.sizes[-1]
            X, Y, Xt, Yt = task(seed, n_in, n_out, 5000, r["test_examples"])
            net = RateNetwork(p, rule, seed=seed)
            probe = (Xt[:r["probe_examples"]], Yt[:r["probe_examples"]])
            tick = Ticker(bar)

            runs.append(train(net, X, Y, r["examples"], record_every=r["record_every"],
                              evaluate=lambda n: {"nse": nse(Yt, n.predict(Xt))}, probe=probe,
                              order_rng=np.random.default_rng([seed, 1]), progress=tick))
            tick.finish(r["examples"])
        curves[rule] = stack_runs(runs)
        save_curves(res, f"curves/{rule}", curves[rule])
        summary[rule] = mean_sd(curves[rule]["nse"][:, -1])
    bar.close()
    res.summary(**{f"final_nse_{k}": v[0] for k, v in summary.items()},
                **{f"final_nse_sd_{k}": v[1] for k, v in summary.items()})
    res.close()
    png = plot(curves, out / "fig2.png")
    return {"final_nse": {k: f"{m:.3g}+-{s:.2g}" for k, (m, s) in summary.items()}, "plot": str(png)}


def plot(curves: dict, path) -> Path:
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for rule, c in curves.items():
        band(a, c["examples"][0], c["nse"], rule, log=True)
        if shows_angle(c["delta_angle"]):
            band(b, c["examples"][0], c["delta_angle"][:, :, 0], rule)
    a.set(xlabel="examples", ylabel="NSE (test)", title="a  learning curves (mean +- s.d.)")
    a.legend()
    b.axhline(90, color="grey", lw=0.5, ls=":")
    b.set(xlabel="examples", ylabel="angle(delta, delta_BP) [deg]", ylim=(0, 100),
          title="b  hidden teaching signal vs backprop's")
    b.legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


# ----- what a sweep over this experiment tabulates (spikefa sweep) -----
SWEEP_HEADLINE = ('final_nse',)   # the metrics its summary shows and tests
# `--set rule=fa,bp` sweeps a list field with one element per point
SWEEP_ALIASES = {'rule': 'run.rules'}


def sweep_samples(res: dict) -> list:
    """``fig2-linear``: final test NSE per rule and seed."""
    return per_rule_final(res, "final_nse", "nse", res["config"]["run"]["rules"])
