"""What a sweep needs to know about an experiment, asked of the experiment itself.

Each experiment module may define ``sweep_samples(results) -> [Sample, ...]`` (one sample
per seed and per condition it runs inside itself: a rate experiment loops over its rules,
so ``xor`` gives one sample per rule and seed), ``SWEEP_HEADLINE`` (the metrics the
summary shows and tests) and ``SWEEP_ALIASES`` (a name standing for a list field of one
element per point: ``--set rule=fa,bp`` sweeps ``run.rules = ["fa"], ["bp"]``). An
experiment without ``sweep_samples`` is tabulated from the numeric ``summary`` attributes
of its result file.

Seeds: an experiment with a ``run.first_seed`` field (the rate experiments, which loop
over ``run.seeds`` seeds themselves) runs one seed per point, ``run.seeds = 1``,
``run.first_seed = s``; one with a ``run.seed`` field (``lillicrap2016-spiking``) gets
``run.seed = s``.
"""

import numpy as np

from .. import experiments
from ..errors import ConfigError, SpikefaError
from ..experiments.samples import Sample  # noqa: F401 - the sweep's unit of data


def summary_metrics(res: dict) -> list:
    """Any other experiment: every numeric attribute of the result file's ``summary``."""
    vals = {k: float(v) for k, v in res["summary"].items()
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))}
    if not vals:
        raise SpikefaError("the result file has no numeric summary to tabulate (the run did not finish?)")
    run = res["config"].get("run", {})
    return [Sample({}, run.get("seed", run.get("first_seed")), vals)]


def samples(exp, res: dict) -> list:
    """The samples of one point's result file (``read_results``) of experiment module ``exp``."""
    return getattr(exp, "sweep_samples", summary_metrics)(res)


def headline(name: str) -> tuple:
    return tuple(getattr(experiments.get(name), "SWEEP_HEADLINE", ()))


def aliases(name: str) -> dict | None:
    return getattr(experiments.get(name), "SWEEP_ALIASES", None)


def seed_overrides(name: str, defaults: dict):
    """``seed -> [--set items]`` giving a point of experiment ``name`` that one seed."""
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
