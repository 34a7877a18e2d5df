"""Every feedback rule side by side: a rate-based MNIST MLP and the spiking network.

Rate-based: 784-500-10 sigmoid (the network of makrout's public weight-mirror /
Kolen-Pollack code, whose published accuracies are BP 98.50 %, FA 97.80 %, WM 98.49 %,
KP 98.45 %, with final delta angles to BP of FA 34.9, WM 3.2, KP 3.2 degrees). Spiking:
the spiking engine (docs/engine.md) with every rule. One table per network kind (test error
mean +- s.d. over seeds, final matrix and delta angles per layer, wall time), a bar chart
and angle curves.
"""

import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import config
from ..errors import ConfigError
from ..metrics import error_rate
from ..rate.network import RateNetwork, RateParams
from ..rate.train import train
from ..results import ResultsWriter, read_results
from ..training import Trainer
from .common import (Ticker, check_rule_lrs, check_rules, load_dataset, mean_sd,
    save_curves, seed_list, seed_mean, shows_angle, stack_runs)
from .samples import Sample, curve, seeds_of

NAME = "compare"
DESCRIPTION = "every rule on MNIST: 784-500-10 sigmoid MLP and the spiking network; table, bars, angle curves"
SMOKE = {"run": {"seeds": 2, "epochs": 1, "train_images": 3000, "test_images": 1000, "probe_images": 100},
         "spiking": {"sizes": [784, 200, 200, 200, 1000], "train_images": 1500, "test_images": 500,
                    "record_every": 500, "probe_images": 20}}


def defaults() -> dict:
    return config.load_toml(config.MODELS_DIR / "compare.toml")


# fields of [spiking] that pass straight into the spiking network's [network]
SPIKING_NETWORK_FIELDS = ("feedback_gate", "homeostasis", "homeostasis_rate", "homeostasis_eta")


def _spiking_cfg(sp: dict, r: dict, rule: str, seed: int) -> dict:
    """The lillicrap2016-spiking configuration of one spiking run of the comparison."""
    from . import lillicrap2016_spiking as l16

    cfg = l16.defaults()
    # float32 B: the comparison's networks are those of SpikingParams' defaults
    cfg["network"].update(sizes=list(sp["sizes"]), eta=sp["eta"], gamma=sp["gamma"], feedback_dtype="float32",
                          **{k: sp[k] for k in SPIKING_NETWORK_FIELDS})
    cfg["run"].update(rule=rule, seed=seed, epochs=1, eta_schedule=[], train_images=sp["train_images"],
                      test_images=sp["test_images"], eval_every=0, probe_images=sp["probe_images"],
                      probe_every=sp["record_every"], threads=r.get("threads", 1), dataset=r["dataset"],
                      data_dir=r["data_dir"])
    return cfg


def _spiking_rule(rule, seeds, sp, r, out, res, bar, resume) -> dict:
    """Train the spiking network with ``rule`` for every seed (each a resumable run of
    :class:`spikefa.training.Trainer` in ``out/spiking/RULE-seedS``); record test error and
    the matrix and delta angles every ``record_every`` images on ``probe_images`` test images."""
    from . import lillicrap2016_spiking as l16

    errs, walls, curves = [], [], []
    for seed in seeds:
        folder = out / "spiking" / f"{rule}-seed{seed}"
        done = Trainer(l16, _spiking_cfg(sp, r, rule, seed), folder, progress=False, resume=resume,
                       overwrite=not resume, announce=False).run()
        bar.update(sp["train_images"])
        got = read_results(folder / "results.h5")
        probes, L = got["probes"], len(sp["sizes"]) - 1
        errs.append(done["test_error"])
        walls.append(float(got["epoch"][-1, 3]))
        curves.append({"examples": probes[:, 0], "seconds": probes[:, 1],
                       "matrix_angle": probes[:, 2:1 + L], "delta_angle": probes[:, 1 + L:]})
    c = stack_runs(curves)
    save_curves(res, f"spiking/{rule}", {**c, "test_error": np.array(errs)})
    return {"error": mean_sd(errs), "matrix_angle": seed_mean(c["matrix_angle"][:, -1], 0),
            "delta_angle": seed_mean(c["delta_angle"][:, -1], 0), "wall_s": float(np.mean(walls)), "curves": c}


def run(cfg: dict, out_dir, progress: bool = True, resume: bool = False, overwrite: bool = False) -> dict:
    r, sp = cfg["run"], cfg["spiking"]
    rules = check_rules(r["rules"])
    check_rule_lrs(cfg, rules)
    config.require_at_least(r, "run", ("seeds", "epochs", "batch", "train_images", "test_images", "probe_images"))
    config.require_at_least(sp, "spiking", ("train_images", "test_images", "record_every", "probe_images"))
    if not (r["rate"] or r["spiking"]):
        raise ConfigError("run.rate: run.rate and run.spiking are both false, so there is nothing to compare")
    X, y, Xt, yt, n_cls = load_dataset(r)
    Xr, yr, Xtr, ytr = X[:r["train_images"]], y[:r["train_images"]], Xt[:r["test_images"]], yt[:r["test_images"]]
    probe = (Xtr[:r["probe_images"]], np.eye(n_cls)[ytr[:r["probe_images"]]])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = seed_list(r)
    res = ResultsWriter(out / "results.h5", NAME, cfg, {"seeds": seeds})
    n_ex = r["epochs"] * len(Xr)
    total = len(rules) * r["seeds"] * ((n_ex if r["rate"] else 0) + (sp["train_images"] if r["spiking"] else 0))
    bar = tqdm(total=total, unit="ex", disable=not progress, desc=NAME, smoothing=0.05)
    rate_rows, spike_rows, curves = {}, {}, {}
    for rule in rules:
        runs, walls = [], []
        for seed in seeds if r["rate"] else ():
            net = RateNetwork(RateParams(**cfg["network"], lr=cfg["lr"][rule]), rule, seed=seed)
            tick = Ticker(bar)
            t0 = time.perf_counter()
            runs.append(train(net, Xr, np.eye(n_cls)[yr], n_ex, batch=r["batch"], record_every=len(Xr),
                              evaluate=lambda n: {"test_error": error_rate(n.predict(Xtr), ytr)}, probe=probe,
                              order_rng=np.random.default_rng([seed, 1]), progress=tick))
            walls.append(time.perf_counter() - t0)
            tick.finish(n_ex)
        if r["rate"]:
            _rate_rule(rule, runs, walls, curves, rate_rows, res)
        if r["spiking"]:
            spike_rows[rule] = _spiking_rule(rule, seeds, sp, r, out, res, bar, resume)
    bar.close()
    tables = ([format_table(rate_rows, "rate-based 784-500-10 sigmoid MLP")] if rate_rows else []) + (
        [format_table(spike_rows, f"spiking {'-'.join(map(str, sp['sizes']))}")] if spike_rows else [])
    table = "\n".join(tables)
    (out / "table.md").write_text(table)
    res.summary(**{f"rate_test_error_{k}": v["error"][0] for k, v in rate_rows.items()},
                **{f"spiking_test_error_{k}": v["error"][0] for k, v in spike_rows.items()})
    res.close()
    plot(curves, rate_rows, spike_rows, out)
    if progress:
        print(table)
    return {"table": str(out / "table.md"), "rules": len(rules), "seeds": r["seeds"]}


def _rate_rule(rule, runs, walls, curves, rate_rows, res) -> None:
    """Stack the rate-based runs of ``rule`` into its curves and its row of the table."""
    c = curves[rule] = stack_runs(runs)
    save_curves(res, f"rate/{rule}", c)
    rate_rows[rule] = {"error": mean_sd(c["test_error"][:, -1]), "delta_angle": seed_mean(c["delta_angle"][:, -1], 0),
                       "matrix_angle": seed_mean(c["matrix_angle"][:, -1], 0), "wall_s": float(np.mean(walls))}


def format_table(rows: dict, title: str) -> str:
    def angles(a):
        return ", ".join("-" if not np.isfinite(x) else f"{x:.1f}" for x in np.atleast_1d(a))

    lines = [f"### {title}", "", "| rule | test error % (mean +- s.d.) | matrix angle per layer (deg) | "
             "delta angle per layer (deg) | wall time per run (s) |", "|---|---|---|---|---|"]
    for rule, v in rows.items():
        m, s = v["error"]
        lines.append(f"| {rule} | {100 * m:.2f} +- {100 * s:.2f} | {angles(v['matrix_angle'])} | "
                     f"{angles(v['delta_angle']) if 'delta_angle' in v else 'n/a'} | {v['wall_s']:.1f} |")
    return "\n".join(lines) + "\n"


def plot(curves, rate_rows, spike_rows, out) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plots import plot_angles, plot_comparison

    panels = (2 if rate_rows else 0) + (2 if spike_rows else 0)
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), constrained_layout=True, squeeze=False)
    axes = list(axes[0])
    if rate_rows:
        ax, ax_angle = axes.pop(0), axes.pop(0)
        plot_comparison(ax, {k: (100 * v["error"][0], 100 * v["error"][1]) for k, v in rate_rows.items()})
        ax.set_title("rate-based MLP: test error (%)")
        plot_angles(ax_angle, {k: (c["examples"][0], seed_mean(c["delta_angle"], 0)) for k, c in curves.items()
                               if shows_angle(c["delta_angle"])}, layer=0,
                    ylabel="angle(delta, delta_BP) (deg)")
        ax_angle.set_title("rate MLP: hidden teaching signal vs backprop's")
    if spike_rows:
        ax, ax_angle = axes.pop(0), axes.pop(0)
        plot_comparison(ax, {k: (100 * v["error"][0], 100 * v["error"][1]) for k, v in spike_rows.items()})
        ax.set_title("spiking network: test error (%)")
        plot_angles(ax_angle, {k: (v["curves"]["examples"][0], seed_mean(v["curves"]["delta_angle"], 0))
                               for k, v in spike_rows.items() if np.isfinite(v["curves"]["delta_angle"]).any()},
                    layer=0, ylabel="angle(delta_1, delta_BP) (deg)")
        ax_angle.set_title("spiking: first hidden layer's teaching signal")
    fig.savefig(out / "compare.png", dpi=110)
    plt.close(fig)


# ----- what a sweep over this experiment tabulates (spikefa sweep) -----
SWEEP_HEADLINE = ('test_error',)   # the metrics its summary shows and tests
# `--set rule=fa,bp` sweeps a list field with one element per point
SWEEP_ALIASES = {'rule': 'run.rules'}


def sweep_samples(res: dict) -> list:
    """``compare``: final test error per rule and seed, of the rate MLP and (when run) the
    spiking network, the network being a factor."""
    seeds, out = seeds_of(res), []
    for rule in res["config"]["run"]["rules"]:
        if res["config"]["run"].get("rate", True):
            rate = curve(res, f"rate/{rule}/test_error")[:, -1]
            out += [Sample({"rule": rule, "network": "rate"}, s, {"test_error": float(v)}) for s, v in zip(seeds, rate)]
        if res["config"]["run"]["spiking"]:
            spk = curve(res, f"spiking/{rule}/test_error")
            out += [Sample({"rule": rule, "network": "spiking"}, s, {"test_error": float(v)})
                    for s, v in zip(seeds, spk)]
    return out
