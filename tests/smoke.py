"""Shared by the experiment tests: run an experiment at its smoke size."""

from spikefa import config, experiments


def run_smoke(name, tmp_path, **sets):
    """Run experiment ``name`` with its SMOKE overrides plus ``sets`` into ``tmp_path``."""
    exp = experiments.get(name)
    items = [f"{sec}.{k}={v!r}".replace("'", '"') for sec, vals in exp.SMOKE.items() for k, v in vals.items()]
    items += [f"{k}={v!r}".replace("'", '"') for k, v in sets.items()]
    cfg = config.build(exp.defaults(), overrides=items)
    return exp.run(cfg, tmp_path, progress=False)
