"""Lillicrap et al. (2016), Fig. 3d: depth helps feedback alignment as it helps backprop.

A fixed random 30-20-10-10 teacher (weights ~ U[-0.5, 0.5], tanh hidden units, linear
output, no biases) maps inputs x ~ N(0, I) (default; ``target.inputs = "uniform"`` draws
x ~ U[-1, 1]^30) to targets. Two students with tanh hidden units and linear outputs learn
it: 30-20-10 (one hidden layer) and 30-20-10-10 (two, the teacher's shape), each with BP
and with FA (fixed B ~ U[-0.5, 0.5]). Expected: the four-layer student ends with a lower
test NSE than the three-layer one, for BP and for FA; over n seeds a two-sample t-test
(Welch's, two-sided) tells whether the difference is more than chance. A run of one
seed (``run.seeds = 1``, as each point of ``spikefa sweep --seeds N`` is) skips the test:
the sweep tests across its points.
"""

from pathlib import Path

import numpy as np
from scipy import stats
from tqdm import tqdm

from .. import config
from ..errors import ConfigError
from ..metrics import nse
from ..rate.network import RateNetwork, RateParams
from ..rate.train import train
from ..results import ResultsWriter
from .common import Ticker, band, check_rules, mean_sd, save_curves, seed_list, stack_runs
from .samples import Sample, curve, seeds_of

NAME = "fig3d-deep"
DESCRIPTION = "[L16] Fig. 3d: 30-20-10 vs 30-20-10-10 tanh nets fit a random deep teacher, BP and FA, t-test"
SMOKE = {"run": {"seeds": 4, "examples": 80000}}
DEPTHS = ("shallow", "deep")
INPUTS = ("normal", "uniform")


def defaults() -> dict:
    return config.load_toml(config.MODELS_DIR / "fig3d_deep.toml")


def teacher(seed: int, sizes, w_range: float, inputs: str, n: int):
    """Inputs X (n, sizes[0]) and the outputs Y (n, sizes[-1]) of a random tanh teacher.

    ``h_l = tanh(h_{l-1} @ T_l)`` for hidden layers, ``y = h_{L-1} @ T_L``, with every
    ``T_l ~ U[-w_range, w_range]`` drawn from ``seed`` (as are the inputs).
    """
    if inputs not in INPUTS:
        raise ConfigError(f"target.inputs: unknown '{inputs}', choose one of {', '.join(INPUTS)}")
    rng = np.random.default_rng([seed, 2])
    Ts = [rng.uniform(-w_range, w_range, (sizes[l], sizes[l + 1])) for l in range(len(sizes) - 1)]
    X = rng.normal(size=(n, sizes[0])) if inputs == "normal" else rng.uniform(-1, 1, (n, sizes[0]))
    h = X
    for l, T in enumerate(Ts):
        h = h @ T
        if l < len(Ts) - 1:
            h = np.tanh(h)
    return X, h


def _check(cfg) -> list:
    r, net, tgt = cfg["run"], cfg["network"], cfg["target"]
    rules = check_rules(r["rules"])
    for rule in rules:
        if rule not in cfg["lr"]:
            raise ConfigError(f"lr.{rule}: no learning rate for rule '{rule}' (add it to the [lr] section)")
    config.require_at_least(r, "run", ("seeds", "examples", "batch", "record_every", "train_examples", "test_examples"))
    for d in DEPTHS:
        if net[d][0] != tgt["sizes"][0] or net[d][-1] != tgt["sizes"][-1]:
            raise ConfigError(f"network.{d} = {net[d]}: input and output sizes must match target.sizes "
                              f"= {tgt['sizes']}")
    return rules


def run(cfg: dict, out_dir, progress: bool = True, resume: bool = False, overwrite: bool = False) -> dict:
    """Train the four conditions (rule x depth) over ``run.seeds`` seeds; write
    ``results.h5`` (curves per condition, final NSE per seed, t-tests) and ``fig3d.png``.

    Runs take seconds to minutes and keep no checkpoint: ``resume`` and ``overwrite``
    are accepted for the CLI's sake and a new run always replaces the old files.
    """
    rules = _check(cfg)
    r, netc, tgt = cfg["run"], cfg["network"], cfg["target"]
    shared = {k: v for k, v in netc.items() if k not in DEPTHS}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = seed_list(r)
    res = ResultsWriter(out / "results.h5", NAME, cfg, {"seeds": seeds})
    curves, final = {}, {}
    bar = tqdm(total=len(rules) * len(DEPTHS) * r["seeds"] * r["examples"], unit="ex",
               disable=not progress, desc=NAME)
    for rule in rules:
        for depth in DEPTHS:
            runs = []
            for seed in seeds:
                X, Y = teacher(seed, tgt["sizes"], tgt["w_range"], tgt["inputs"],
                               r["train_examples"] + r["test_examples"])
                X, Y, Xt, Yt = X[:r["train_examples"]], Y[:r["train_examples"]], X[r["train_examples"]:], \
                    Y[r["train_examples"]:]
                p = RateParams(sizes=netc[depth], **shared, lr=cfg["lr"][rule])
                # one seed: both students share the teacher, data order and their first two W draws
                net = RateNetwork(p, rule, seed=seed)
                tick = Ticker(bar)

                c = train(net, X, Y, r["examples"], batch=r["batch"], record_every=r["record_every"],
                          evaluate=lambda n: {"nse": nse(Yt, n.predict(Xt))},
                          order_rng=np.random.default_rng([seed, 1]), progress=tick)
                tick.finish(r["examples"])
                runs.append(c)
            cond = f"{rule}_{depth}"
            curves[cond] = stack_runs(runs)
            save_curves(res, f"curves/{cond}", curves[cond])
            final[cond] = curves[cond]["nse"][:, -1]
    bar.close()
    tests = {}
    for rule in rules:
        # one seed (a point of `spikefa sweep`, which tests across points) has no spread to test
        if len(seeds) < 2:
            tests[rule] = (np.nan, np.nan)
            continue
        t = stats.ttest_ind(final[f"{rule}_deep"], final[f"{rule}_shallow"], equal_var=False)
        tests[rule] = (float(t.statistic), float(t.pvalue))
    summary = {cond: mean_sd(v) for cond, v in final.items()}
    res.summary(**{f"final_nse_{k}": v[0] for k, v in summary.items()},
                **{f"final_nse_sd_{k}": v[1] for k, v in summary.items()},
                **{f"t_{rule}": t for rule, (t, _) in tests.items()},
                **{f"p_{rule}": p for rule, (_, p) in tests.items()})
    res.close()
    png = plot(curves, tests, netc, out / "fig3d.png")
    return {"final_nse": {k: f"{m:.3g}+-{s:.2g}" for k, (m, s) in summary.items()},
            "welch_p": {rule: f"{p:.2g}" for rule, (_, p) in tests.items()},
            "plot": str(png)}


def plot(curves: dict, tests: dict, netc: dict, path) -> Path:
    """Learning curves (mean +- s.d.) and final NSE per condition with the t-tests' p-values."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    label = {d: "-".join(map(str, netc[d])) for d in DEPTHS}
    style = {"shallow": "--", "deep": "-"}
    colour = {}
    for cond, c in curves.items():
        rule, depth = cond.split("_")
        colour.setdefault(rule, f"C{len(colour)}")
        band(a, c["examples"][0], c["nse"], f"{rule.upper()} {label[depth]}", log=True,
             color=colour[rule], ls=style[depth])
    # a band whose s.d. exceeds its mean has no lower edge on a log axis: stop at the floor
    floor = min(np.nanmean(c["nse"], axis=0).min() for c in curves.values())
    a.set(xlabel="examples", ylabel="NSE (test)", title="learning curves (mean +- s.d.)", ylim=(0.2 * floor, 20))
    a.xaxis.set_major_formatter(EngFormatter(sep=""))
    a.legend(loc="upper center", ncol=2, fontsize="small")
    conds = list(curves)
    finals = [curves[c]["nse"][:, -1] for c in conds]
    x = np.arange(len(conds))
    rng = np.random.default_rng(0)
    for i, (cond, v) in enumerate(zip(conds, finals)):
        rule, depth = cond.split("_")
        b.bar(i, v.mean(), yerr=v.std(ddof=1) if v.size > 1 else 0, capsize=4, color=colour[rule],
              alpha=0.35 if depth == "shallow" else 0.7, edgecolor=colour[rule])
        b.plot(i + rng.uniform(-0.15, 0.15, v.size), v, "k.", ms=3)
    top = max(v.max() for v in finals)
    for rule, (t, p) in tests.items():
        i = conds.index(f"{rule}_shallow")
        b.plot([i, i, i + 1, i + 1], [1.06 * top, 1.1 * top, 1.1 * top, 1.06 * top], "k-", lw=0.8)
        b.text(i + 0.5, 1.12 * top, f"p = {p:.1e}", ha="center", va="bottom")
    b.set_xticks(x, [f"{c.split('_')[0].upper()}\n{label[c.split('_')[1]]}" for c in conds])
    n = finals[0].size
    b.set(ylabel="final NSE (test)", ylim=(0, 1.25 * top),
          title=f"final NSE, mean +- s.d. over {n} seeds; Welch t-test")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


# ----- what a sweep over this experiment tabulates (spikefa sweep) -----
SWEEP_HEADLINE = ('final_nse',)   # the metrics its summary shows and tests
# `--set rule=fa,bp` sweeps a list field with one element per point
SWEEP_ALIASES = {'rule': 'run.rules'}


def sweep_samples(res: dict) -> list:
    """``fig3d-deep``: final test NSE per rule, depth and seed (the paper's Welch test is
    deep against shallow within a rule: a pair that differs in one factor)."""
    seeds, out = seeds_of(res), []
    for rule in res["config"]["run"]["rules"]:
        for depth in ("shallow", "deep"):
            last = curve(res, f"curves/{rule}_{depth}/nse")[:, -1]
            out += [Sample({"rule": rule, "depth": depth}, s, {"final_nse": float(v)}) for s, v in zip(seeds, last)]
    return out
