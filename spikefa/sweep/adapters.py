"""What a sweep needs to know about each experiment: its metrics, its seed field, aliases.

``METRICS[name](results) -> [Sample, ...]`` turns one point's result file (as
:func:`spikefa.results.read_results` returns it) into samples: one per seed and per
condition the experiment runs inside itself (a rate experiment loops over its rules, so
``xor`` gives one sample per rule and seed). ``HEADLINE[name]`` names the metrics the
summary shows and tests. An experiment without an entry is tabulated from the numeric
``summary`` attributes of its result file.

Seeds: an experiment with a ``run.first_seed`` field (the rate experiments, which loop
over ``run.seeds`` seeds themselves) runs one seed per point, ``run.seeds = 1``,
``run.first_seed = s``; one with a ``run.seed`` field (``lillicrap2016-spiking``) gets
``run.seed = s``. Add an entry to ``SEED_OVERRIDES`` for another layout.
"""

import json
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, SpikefaError


@dataclass(frozen=True)
class Sample:
    """Metric values of one seed of one condition inside a point.

    ``factors`` are conditions the experiment varies itself (``{"rule": "fa", "depth":
    "deep"}``); the table adds them to the point's axis values.
    """

    factors: dict
    seed: int | None
    values: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"factors": self.factors, "seed": self.seed, "values": self.values}

    @classmethod
    def from_json(cls, d: dict) -> "Sample":
        return cls(dict(d["factors"]), d["seed"], {k: float(v) for k, v in d["values"].items()})


def _seeds(res: dict) -> list:
    s = json.loads(res["attrs"]["seeds"])
    return list(s["seeds"]) if "seeds" in s else [res["config"]["run"].get("seed")]


def _curve(res: dict, name: str) -> np.ndarray:
    if name not in res:
        raise SpikefaError(f"result file has no {name} (the run did not finish?)")
    return np.asarray(res[name], dtype=np.float64)


def _per_rule_final(res: dict, metric: str, curve: str, conds, factor: str = "rule") -> list:
    seeds = _seeds(res)
    out = []
    for cond in conds:
        last = _curve(res, f"curves/{cond}/{curve}")[:, -1]
        out += [Sample({factor: cond}, s, {metric: float(v)}) for s, v in zip(seeds, last)]
    return out


def spiking_metrics(res: dict) -> list:
    """``lillicrap2016-spiking``: the test error after the last epoch."""
    summ = res["summary"]
    if "test_error" not in summ:
        why = summ.get("stopped", "no test_error in its summary")
        raise SpikefaError(f"the run did not finish: {why}")
    return [Sample({}, res["config"]["run"]["seed"], {"test_error": float(summ["test_error"])})]


def fig2_metrics(res: dict) -> list:
    """``fig2-linear``: final test NSE per rule and seed."""
    return _per_rule_final(res, "final_nse", "nse", res["config"]["run"]["rules"])


def fig3a_metrics(res: dict) -> list:
    """``fig3a-mnist``: final test error per condition and seed."""
    return _per_rule_final(res, "test_error", "test_error", res["config"]["run"]["conditions"], "condition")


def fig3d_metrics(res: dict) -> list:
    """``fig3d-deep``: final test NSE per rule, depth and seed (the paper's Welch test is
    deep against shallow within a rule: a pair that differs in one factor)."""
    seeds, out = _seeds(res), []
    for rule in res["config"]["run"]["rules"]:
        for depth in ("shallow", "deep"):
            last = _curve(res, f"curves/{rule}_{depth}/nse")[:, -1]
            out += [Sample({"rule": rule, "depth": depth}, s, {"final_nse": float(v)}) for s, v in zip(seeds, last)]
    return out


def fig5_metrics(res: dict) -> list:
    """``fig5-mechanics``: final NSE and W-vs-B^T angles of (a), NSE change of each phase of (c)."""
    seeds = _seeds(res)
    a_nse, ang = _curve(res, "a/nse")[:, -1], _curve(res, "a/matrix_angle")[:, -1]
    unit = _curve(res, "a/unit_angle_mean")[:, -1]
    change = _curve(res, "c_phase_change/nse")
    out = []
    for i, s in enumerate(seeds):
        vals = {"final_nse": float(a_nse[i]), "matrix_angle_end": float(ang[i]), "unit_angle_end": float(unit[i])}
        vals.update({f"phase{ph + 1}_nse_change": float(change[i, ph]) for ph in range(change.shape[1])})
        out.append(Sample({}, s, vals))
    return out


def xor_metrics(res: dict) -> list:
    """``xor``: whether a seed reached 100 % (1 / 0), the examples it needed (NaN: never),
    its final accuracy; per rule."""
    seeds, out = _seeds(res), []
    for rule in res["config"]["run"]["rules"]:
        solved_at = _curve(res, f"curves/{rule}/solved_at")
        acc = _curve(res, f"curves/{rule}/accuracy")[:, -1]
        for s, n, a in zip(seeds, solved_at, acc):
            out.append(Sample({"rule": rule}, s, {"solved": float(np.isfinite(n)), "examples_to_solve": float(n),
                                                  "final_accuracy": float(a)}))
    return out


def compare_metrics(res: dict) -> list:
    """``compare``: final test error per rule and seed, of the rate MLP and (when run) the
    spiking network, the network being a factor."""
    seeds, out = _seeds(res), []
    for rule in res["config"]["run"]["rules"]:
        rate = _curve(res, f"rate/{rule}/test_error")[:, -1]
        out += [Sample({"rule": rule, "network": "rate"}, s, {"test_error": float(v)}) for s, v in zip(seeds, rate)]
        if res["config"]["run"]["spiking"]:
            spk = _curve(res, f"spiking/{rule}/test_error")
            out += [Sample({"rule": rule, "network": "spiking"}, s, {"test_error": float(v)})
                    for s, v in zip(seeds, spk)]
    return out


def summary_metrics(res: dict) -> list:
    """Any other experiment: every numeric attribute of the result file's ``summary``."""
    vals = {k: float(v) for k, v in res["summary"].items()
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))}
    if not vals:
        raise SpikefaError("the result file has no numeric summary to tabulate (the run did not finish?)")
    run = res["config"].get("run", {})
    return [Sample({}, run.get("seed", run.get("first_seed")), vals)]


METRICS = {
    "lillicrap2016-spiking": spiking_metrics,
    "compare": compare_metrics,
    "fig2-linear": fig2_metrics,
    "fig3a-mnist": fig3a_metrics,
    "fig3d-deep": fig3d_metrics,
    "fig5-mechanics": fig5_metrics,
    "xor": xor_metrics,
}

HEADLINE = {
    "lillicrap2016-spiking": ("test_error",),
    "compare": ("test_error",),
    "fig2-linear": ("final_nse",),
    "fig3a-mnist": ("test_error",),
    "fig3d-deep": ("final_nse",),
    "fig5-mechanics": ("final_nse", "matrix_angle_end"),
    "xor": ("solved", "examples_to_solve"),
}

# a name that is no field of the experiment standing for a list field of one element per
# point: `--set rule=fa,bp` sweeps run.rules = ["fa"], ["bp"] (the rate experiments loop
# over a list of rules inside one run)
ALIASES = {
    "compare": {"rule": "run.rules"},
    "fig2-linear": {"rule": "run.rules"},
    "fig3a-mnist": {"rule": "run.conditions", "condition": "run.conditions"},
    "fig3d-deep": {"rule": "run.rules"},
    "xor": {"rule": "run.rules"},
}

SEED_OVERRIDES: dict = {}   # name -> (seed -> [--set items]); default from the config's fields


def samples(name: str, res: dict) -> list:
    """The samples of one point's result file (``read_results``) for experiment ``name``."""
    return METRICS.get(name, summary_metrics)(res)


def headline(name: str) -> tuple:
    return HEADLINE.get(name, ())


def seed_overrides(name: str, defaults: dict):
    """``seed -> [--set items]`` giving a point of experiment ``name`` that one seed."""
    if name in SEED_OVERRIDES:
        return SEED_OVERRIDES[name]
    run = defaults.get("run", {})
    if "first_seed" in run and "seeds" in run:
        return lambda s: ["run.seeds=1", f"run.first_seed={s}"]
    if "seed" in run:
        return lambda s: [f"run.seed={s}"]
    raise ConfigError(f"--seeds: experiment {name} has no run.seed or run.first_seed field; "
                      "sweep its seed with --set instead")


def seed_fields(name: str, defaults: dict) -> set:
    """The fields ``--seeds`` sets (a ``--set`` of one of them beside ``--seeds`` is refused)."""
    return {item.split("=", 1)[0] for item in seed_overrides(name, defaults)(0)}


def check(exp, cfg: dict) -> None:
    """Checks of a point's configuration that need neither data nor disk, so a bad rule
    name or size is reported before the sweep starts rather than by every point."""
    import difflib

    from ..rules import rule_names

    run = cfg.get("run", {})
    for key in ("rule", "rules"):
        names = run.get(key)
        for n in [names] if isinstance(names, str) else names or ():
            if n not in rule_names():
                close = difflib.get_close_matches(str(n), rule_names(), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(f"run.{key}: unknown rule {n!r}{hint}; known: {', '.join(rule_names())}")
    if hasattr(exp, "validate"):
        exp.validate(cfg)
