"""XOR with a small ReLU network learns to 100 % with fixed random feedback.

A check from the blog reproductions of Lillicrap et al. (2016): a 2-16-1
network (ReLU hidden units, linear output, squared error on targets 0 / 1, the class is
output > 0.5) learns XOR online from its four patterns with feedback alignment (rule fa,
B ~ U[-0.5, 0.5]) and, for comparison, backprop. Reported per rule: the fraction of seeds
that end at 100 % accuracy and the examples they needed (the first record from which the
accuracy stays at 100 % to the end).
"""

from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import config
from ..errors import ConfigError
from ..rate.network import RateNetwork, RateParams
from ..rate.train import train
from ..results import ResultsWriter
from .common import check_rule_lrs, check_rules, mean_sd, save_curves, seed_list, stack_runs
from .samples import Sample, curve, seeds_of

NAME = "xor"
DESCRIPTION = "XOR with a 2-16-1 ReLU net: fraction of seeds reaching 100 % with random feedback (fa) and bp"
SMOKE = {"run": {"seeds": 10, "examples": 600}}

X_XOR = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y_XOR = np.array([[0.0], [1.0], [1.0], [0.0]])


def defaults() -> dict:
    return config.load_toml(config.MODELS_DIR / "xor.toml")


def accuracy(net) -> float:
    """Fraction of the four patterns whose output lies on the target's side of 0.5."""
    return float(np.mean((net.predict(X_XOR) > 0.5) == (Y_XOR > 0.5)))


def examples_to_solve(examples, acc) -> float:
    """Examples after which the accuracy stays at 1 to the last record (NaN: never)."""
    acc = np.asarray(acc)
    if acc[-1] < 1.0:
        return float("nan")
    below = np.nonzero(acc < 1.0)[0]
    return float(examples[below[-1] + 1] if below.size else examples[0])


def run(cfg: dict, out_dir, progress: bool = True, resume: bool = False, overwrite: bool = False) -> dict:
    """Train every rule over ``run.seeds`` seeds; write ``results.h5`` and ``xor.png``.

    Runs take seconds and keep no checkpoint: ``resume`` and ``overwrite`` are accepted
    for the CLI's sake and a new run always replaces the old files.
    """
    r, netc = cfg["run"], cfg["network"]
    rules = check_rules(r["rules"])
    check_rule_lrs(cfg, rules)
    config.require_at_least(r, "run", ("seeds", "examples", "record_every"))
    if netc["sizes"][0] != 2 or netc["sizes"][-1] != 1:
        raise ConfigError(f"network.sizes: XOR needs 2 inputs and 1 output, got {netc['sizes']}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = seed_list(r)
    res = ResultsWriter(out / "results.h5", NAME, cfg, {"seeds": seeds})
    curves, solved_at, summary = {}, {}, {}
    bar = tqdm(total=len(rules) * r["seeds"] * r["examples"], unit="ex", disable=not progress, desc=NAME)
    for rule in rules:
        runs = []
        for seed in seeds:
            net = RateNetwork(RateParams(**netc, lr=cfg["lr"][rule]), rule, seed=seed)
            c = train(net, X_XOR, Y_XOR, r["examples"], record_every=r["record_every"],
                      evaluate=lambda n: {"accuracy": accuracy(n),
                                          "loss": float(n.loss(n.predict(X_XOR), Y_XOR).mean())},
                      order_rng=np.random.default_rng([seed, 1]))
            bar.update(r["examples"])
            runs.append(c)
        curves[rule] = stack_runs(runs)
        solved_at[rule] = np.array([examples_to_solve(c["examples"], c["accuracy"]) for c in runs])
        save_curves(res, f"curves/{rule}", {**curves[rule], "solved_at": solved_at[rule]})
        ok = np.isfinite(solved_at[rule])
        summary[rule] = {"success": float(ok.mean()),
                         "solved_at": mean_sd(solved_at[rule][ok]) if ok.any() else (np.nan, np.nan),
                         "solved_at_median": float(np.median(solved_at[rule][ok])) if ok.any() else np.nan,
                         "final_accuracy": mean_sd(curves[rule]["accuracy"][:, -1])}
    bar.close()
    flat = {}
    for rule, s in summary.items():
        flat.update({f"success_{rule}": s["success"], f"solved_at_{rule}": s["solved_at"][0],
                     f"solved_at_sd_{rule}": s["solved_at"][1], f"solved_at_median_{rule}": s["solved_at_median"],
                     f"final_accuracy_{rule}": s["final_accuracy"][0],
                     f"final_accuracy_sd_{rule}": s["final_accuracy"][1]})
    res.summary(**flat)
    res.close()
    png = plot(curves, solved_at, out / "xor.png")
    return {"success": {k: f"{s['success']:.0%} of {r['seeds']}" for k, s in summary.items()},
            "examples_to_100%": {k: f"{s['solved_at'][0]:.0f}+-{s['solved_at'][1]:.0f} "
                                    f"(median {s['solved_at_median']:.0f})" for k, s in summary.items()},
            "plot": str(png)}


def plot(curves: dict, solved_at: dict, path) -> Path:
    """Accuracy (mean +- s.d. over seeds), loss (median and 10-90 %) and the fraction of seeds solved vs examples."""
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(14, 4), constrained_layout=True)
    for rule, cv in curves.items():
        x = cv["examples"][0]
        acc = 100 * cv["accuracy"]
        m, sd = acc.mean(axis=0), acc.std(axis=0)
        line, = a.plot(x, m, label=rule)
        # accuracy is bounded: clip the band to [0, 100] rather than draw impossible values
        a.fill_between(x, np.clip(m - sd, 0, 100), np.clip(m + sd, 0, 100), color=line.get_color(),
                       alpha=0.2, lw=0)
        # the loss spans decades across seeds; a mean +- s.d. band is meaningless on a log axis
        q = np.percentile(cv["loss"], [10, 50, 90], axis=0)
        b.plot(x, q[1], color=line.get_color(), label=rule)
        b.fill_between(x, q[0], q[2], color=line.get_color(), alpha=0.2, lw=0)
        done = np.array([np.mean(solved_at[rule] <= e) for e in x])
        c.step(x, 100 * done, where="post", label=f"{rule} ({100 * done[-1]:.0f} %)")
    n = next(iter(curves.values()))["accuracy"].shape[0]
    a.set(xlabel="examples", ylabel="accuracy on the 4 patterns [%]", ylim=(0, 105),
          title=f"accuracy (mean +- s.d., {n} seeds)")
    a.legend(loc="lower right")
    b.set(xlabel="examples", ylabel="squared error / 2 (mean over patterns)", yscale="log",
          title="loss (median, 10-90 % of seeds)")
    b.legend()
    c.set(xlabel="examples", ylabel="seeds at 100 % from here on [%]", ylim=(0, 105),
          title="seeds solved")
    c.legend(loc="lower right")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


# ----- what a sweep over this experiment tabulates (spikefa sweep) -----
SWEEP_HEADLINE = ('solved', 'examples_to_solve')   # the metrics its summary shows and tests
# `--set rule=fa,bp` sweeps a list field with one element per point
SWEEP_ALIASES = {'rule': 'run.rules'}


def sweep_samples(res: dict) -> list:
    """``xor``: whether a seed reached 100 % (1 / 0), the examples it needed (NaN: never),
    its final accuracy; per rule."""
    seeds, out = seeds_of(res), []
    for rule in res["config"]["run"]["rules"]:
        solved_at = curve(res, f"curves/{rule}/solved_at")
        acc = curve(res, f"curves/{rule}/accuracy")[:, -1]
        for s, n, a in zip(seeds, solved_at, acc):
            out.append(Sample({"rule": rule}, s, {"solved": float(np.isfinite(n)), "examples_to_solve": float(n),
                                                  "final_accuracy": float(a)}))
    return out
