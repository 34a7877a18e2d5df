"""Lillicrap et al. (2016), Fig. 5: the mechanics of feedback alignment.

A 20-1000-20 network (tanh hidden units, linear outputs) learns the quadratic map
``y_k = x^T Q_k x`` with ``x ~ U[-2, 2]^20`` and ``Q_k`` elements ``~ U[-0.5, 0.5]`` (fixed
per seed), with fixed random feedback ``B ~ U[-0.5, 0.5]``. Each output is standardised
over the training set (its raw s.d. is about 7, which would need a much smaller learning
rate), so a test NSE of 1 is what a constant prediction earns.

In our layout the output weights ``W = net.W[2]`` and the feedback matrix
``B = net.rule.B[1]`` are both (1000, 20): row j of each belongs to hidden unit j (the
paper's column j of W and row j of B), so they are compared directly.

(a) All layers learn: the angle between W and B^T falls, for the whole matrix and for
    the rows of single hidden units (mean and spread over the 1000 units).
(c) Three phases on a fresh network: W frozen while W0 learns (the error does not fall);
    W0 frozen while W learns (W comes to align with B^T, because phase 1 wrote B's
    imprint into the hidden activities); W frozen while W0 learns again (now it falls).

Initialisation (``[init]``): the network's ``w_init`` sets W small (the angle starts near
90 degrees); W0 gets its own larger scale so the hidden units carry x, and the hidden
biases are drawn ~ U[-b_hidden, b_hidden], because tanh is odd and with zero biases the
network starts on odd functions, which have no projection on this even target.
"""

from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import config
from ..errors import ConfigError
from ..metrics import angle, nse, row_angles
from ..rate.network import RateNetwork, RateParams
from ..rate.train import train
from ..results import ResultsWriter
from .common import band, check_rules, mean_sd, save_curves, seed_list, stack_runs
from .samples import Sample, curve, seeds_of

NAME = "fig5-mechanics"
DESCRIPTION = "[L16] Fig. 5: 20-1000-20 tanh net, quadratic target; W vs B^T angle and the three-phase test"
# the smoke run shrinks the hidden layer to 200 units (5x cheaper, stable at a larger rate)
SMOKE = {"network": {"sizes": [20, 200, 20]}, "lr": {"fa": 0.01},
         "run": {"seeds": 2, "examples": 20000, "phase_examples": [6000, 6000, 6000], "record_every": 1000}}
PHASE_LAYERS = ([1], [2], [1])   # (c): which layer learns in each phase
UNIT_QUANTILES = (10, 50, 90)


def defaults() -> dict:
    return config.load_toml(config.MODELS_DIR / "fig5_mechanics.toml")


def task(seed: int, n_in: int, n_out: int, cfg_task: dict):
    """Training and test sets of the quadratic map, drawn from ``seed``.

    Returns X (n_train, n_in), Y (n_train, n_out), Xt, Yt: ``Y[:, k] = x^T Q_k x``,
    standardised with the training set's mean and s.d. when ``standardise``.
    """
    t = cfg_task
    rng = np.random.default_rng([seed, 2])
    Q = rng.uniform(-t["q_range"], t["q_range"], (n_out, n_in, n_in))
    X = rng.uniform(-t["input_range"], t["input_range"], (t["train_examples"] + t["test_examples"], n_in))
    Y = np.einsum("ni,kij,nj->nk", X, Q, X)
    n = t["train_examples"]
    if t["standardise"]:
        Y = (Y - Y[:n].mean(axis=0)) / Y[:n].std(axis=0)
    return X[:n], Y[:n], X[n:], Y[n:]


def network(cfg: dict, seed: int) -> RateNetwork:
    """The 20-1000-20 network of ``seed`` with the hidden layer's own initial scale."""
    p = RateParams(**cfg["network"], lr=cfg["lr"][cfg["run"]["rule"]])
    net = RateNetwork(p, cfg["run"]["rule"], seed=seed)
    rng = np.random.default_rng([seed, 3])
    w, b = cfg["init"]["w_hidden"], cfg["init"]["b_hidden"]
    net.W[1] = rng.uniform(-w, w, net.W[1].shape)
    if net.W_mask[1] is not None:           # removed elements stay removed
        net.W[1] *= net.W_mask[1]
    net.b[1] = rng.uniform(-b, b, net.b[1].shape)
    return net


def feedback_angles(net) -> dict:
    """angle(W, B^T) of the whole output matrix and quantiles of its per-unit (row) angles."""
    W, B = net.W[2], net.rule.rate_feedback(net, 1)
    rows = row_angles(W, B)
    out = {"matrix_angle": angle(W, B), "unit_angle_mean": float(np.nanmean(rows)),
           "unit_angle_sd": float(np.nanstd(rows))}
    out.update({f"unit_angle_p{q}": float(v) for q, v in zip(UNIT_QUANTILES, np.nanpercentile(rows, UNIT_QUANTILES))})
    return out


def _check(cfg) -> None:
    r = cfg["run"]
    check_rules([r["rule"]])
    if r["rule"] not in cfg["lr"]:
        raise ConfigError(f"lr.{r['rule']}: no learning rate for rule '{r['rule']}' (add it to the [lr] section)")
    if len(cfg["network"]["sizes"]) != 3:
        raise ConfigError(f"network.sizes: need one hidden layer (in, hidden, out), got {cfg['network']['sizes']}")
    if len(r["phase_examples"]) != len(PHASE_LAYERS) or min(r["phase_examples"]) < 1:
        raise ConfigError(f"run.phase_examples: need {len(PHASE_LAYERS)} positive counts, got {r['phase_examples']}")
    config.require_at_least(r, "run", ("seeds", "examples", "batch", "record_every"))
    for key in ("train_examples", "test_examples"):
        if cfg["task"][key] < 2:
            raise ConfigError(f"task.{key} must be >= 2, got {cfg['task'][key]}")


def run(cfg: dict, out_dir, progress: bool = True, resume: bool = False, overwrite: bool = False) -> dict:
    """Run (a) and (c) over ``run.seeds`` seeds; write ``results.h5`` and ``fig5.png``.

    Runs take a minute or two and keep no checkpoint: ``resume`` and ``overwrite`` are
    accepted for the CLI's sake and a new run always replaces the old files.
    """
    _check(cfg)
    r = cfg["run"]
    sizes = cfg["network"]["sizes"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = seed_list(r)
    res = ResultsWriter(out / "results.h5", NAME, cfg, {"seeds": seeds})
    bar = tqdm(total=r["seeds"] * (r["examples"] + sum(r["phase_examples"])), unit="ex",
               disable=not progress, desc=NAME)

    def ticker():
        last = [0]

        def tick(seen):
            bar.update(seen - last[0])
            last[0] = seen
        return tick, last

    runs_a, runs_c, units_start, units_end = [], [], [], []
    for seed in seeds:
        X, Y, Xt, Yt = task(seed, sizes[0], sizes[-1], cfg["task"])

        def evaluate(n):
            return {"nse": nse(Yt, n.predict(Xt)), **feedback_angles(n)}

        # (a) every layer learns
        net = network(cfg, seed)
        units_start.append(row_angles(net.W[2], net.rule.rate_feedback(net, 1)))
        tick, last = ticker()
        runs_a.append(train(net, X, Y, r["examples"], batch=r["batch"], record_every=r["record_every"],
                            evaluate=evaluate, order_rng=np.random.default_rng([seed, 1]), progress=tick))
        bar.update(r["examples"] - last[0])
        units_end.append(row_angles(net.W[2], net.rule.rate_feedback(net, 1)))

        # (c) a fresh network of the same seed, one layer learning at a time
        net = network(cfg, seed)
        parts, offset = [], 0
        for ph, (layers, n_ex) in enumerate(zip(PHASE_LAYERS, r["phase_examples"])):
            tick, last = ticker()
            c = train(net, X, Y, n_ex, batch=r["batch"], record_every=r["record_every"], evaluate=evaluate,
                      layers=layers, order_rng=np.random.default_rng([seed, 1, ph]), progress=tick)
            bar.update(n_ex - last[0])
            c["examples"] = c["examples"] + offset
            c["phase"] = np.full(len(c["examples"]), ph + 1.0)
            offset += n_ex
            parts.append(c)
        runs_c.append({k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
    bar.close()

    a, c = stack_runs(runs_a), stack_runs(runs_c)
    save_curves(res, "a", a)
    save_curves(res, "a_units", {"start": np.stack(units_start), "end": np.stack(units_end)})
    save_curves(res, "c", c)
    # change of the test NSE over each phase (end minus start), per seed: (seeds, 3)
    phase = c["phase"][0]
    change = np.stack([c["nse"][:, phase == ph + 1][:, -1] - c["nse"][:, phase == ph + 1][:, 0]
                       for ph in range(len(PHASE_LAYERS))], axis=1)
    save_curves(res, "c_phase_change", {"nse": change})
    s = {"matrix_angle_start": mean_sd(a["matrix_angle"][:, 0]),
         "matrix_angle_end": mean_sd(a["matrix_angle"][:, -1]),
         "unit_angle_start": mean_sd(a["unit_angle_mean"][:, 0]),
         "unit_angle_end": mean_sd(a["unit_angle_mean"][:, -1]),
         "unit_angle_sd_end": mean_sd(a["unit_angle_sd"][:, -1]), "final_nse_a": mean_sd(a["nse"][:, -1])}
    s.update({f"phase{ph + 1}_nse_change": mean_sd(change[:, ph]) for ph in range(len(PHASE_LAYERS))})
    res.summary(**{k: v[0] for k, v in s.items()}, **{f"{k}_sd": v[1] for k, v in s.items()})
    res.close()
    png = plot(a, c, np.stack(units_start), np.stack(units_end), out / "fig5.png")
    return {**{k: f"{m:.3g}+-{sd:.2g}" for k, (m, sd) in s.items()}, "plot": str(png)}


def plot(a: dict, c: dict, units_start, units_end, path) -> Path:
    """(a) angle(W, B^T) during learning, whole matrix and per unit; per-unit angles at the
    start and end; (c) test NSE over the three phases. Mean +- s.d. over seeds."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter

    fig, (ax, hx, cx) = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    x = a["examples"][0]
    band(ax, x, a["matrix_angle"], "whole matrix", color="C0")
    band(ax, x, a["unit_angle_mean"], "hidden units (mean)", color="C1")
    ax.fill_between(x, a["unit_angle_p10"].mean(axis=0), a["unit_angle_p90"].mean(axis=0), color="C1",
                    alpha=0.1, lw=0, label="hidden units (10-90 %)")
    ax.axhline(90, color="grey", lw=0.5, ls=":")
    ax.set(xlabel="examples", ylabel="angle(W, B^T) [deg]", ylim=(0, 110),
           title="a  output weights vs feedback (all layers learn)")
    ax.legend(loc="lower left")
    hi = 5 * np.ceil(np.nanmax(np.concatenate([units_start.ravel(), units_end.ravel()])) / 5)
    bins = np.linspace(0, hi, int(hi // 3) + 1)
    hx.hist(units_start.ravel(), bins=bins, alpha=0.5, label="start", color="grey")
    hx.hist(units_end.ravel(), bins=bins, alpha=0.6, label="end", color="C1")
    hx.set(xlabel="angle(W_j, B_j) of hidden unit j [deg]", ylabel="units (all seeds)",
           title="a  per-unit angles, start and end")
    hx.legend()
    xc = c["examples"][0]
    phase = c["phase"][0]
    names = ("W0 learns", "W learns", "W0 learns")
    for ph, name in enumerate(names):
        sel = phase == ph + 1
        band(cx, xc[sel], c["nse"][:, sel], f"phase {ph + 1}: {name}", color=f"C{ph + 2}")
        d = c["nse"][:, sel][:, -1] - c["nse"][:, sel][:, 0]
        cx.text(xc[sel].mean(), 0.03, f"change\n{d.mean():+.3f}\n+- {d.std():.3f}", ha="center", va="bottom",
                fontsize="small", color=f"C{ph + 2}")
        if ph:
            cx.axvline(xc[sel][0], color="grey", lw=0.5, ls=":")
    top = np.nanmax(c["nse"].mean(axis=0) + c["nse"].std(axis=0))
    cx.set(xlabel="examples", ylabel="NSE (test)", ylim=(0, 1.1 * top),
           title="c  one layer learns at a time")
    cx.legend(loc="upper right")
    for axis in (ax, cx):
        axis.xaxis.set_major_formatter(EngFormatter(sep=""))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


# ----- what a sweep over this experiment tabulates (spikefa sweep) -----
SWEEP_HEADLINE = ('final_nse', 'matrix_angle_end')   # the metrics its summary shows and tests


def sweep_samples(res: dict) -> list:
    """``fig5-mechanics``: final NSE and W-vs-B^T angles of (a), NSE change of each phase of (c)."""
    seeds = seeds_of(res)
    a_nse, ang = curve(res, "a/nse")[:, -1], curve(res, "a/matrix_angle")[:, -1]
    unit = curve(res, "a/unit_angle_mean")[:, -1]
    change = curve(res, "c_phase_change/nse")
    out = []
    for i, s in enumerate(seeds):
        vals = {"final_nse": float(a_nse[i]), "matrix_angle_end": float(ang[i]), "unit_angle_end": float(unit[i])}
        vals.update({f"phase{ph + 1}_nse_change": float(change[i, ph]) for ph in range(change.shape[1])})
        out.append(Sample({}, s, vals))
    return out
