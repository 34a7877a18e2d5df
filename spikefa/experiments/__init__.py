"""Registry of experiments: ``spikefa list`` shows them, ``spikefa run NAME`` runs one.

An experiment module defines ``NAME``, ``DESCRIPTION``, ``defaults() -> dict`` (its
configuration sections), ``SMOKE`` (overrides for a run of about a minute) and
``run(cfg, out_dir, progress=True, resume=False, overwrite=False) -> dict``.
"""

import importlib

from ..errors import ConfigError

_MODULES = {
    "lillicrap2016-spiking": "spikefa.experiments.lillicrap2016_spiking",
    "fig2-linear": "spikefa.experiments.fig2_linear",
    "compare": "spikefa.experiments.compare",
    "fig3a-mnist": "spikefa.experiments.fig3a_mnist",
    "fig3d-deep": "spikefa.experiments.fig3d_deep",
    "fig5-mechanics": "spikefa.experiments.fig5_mechanics",
    "xor": "spikefa.experiments.xor",
}


def names() -> list:
    return sorted(_MODULES)


def get(name: str):
    if name not in _MODULES:
        import difflib

        close = difflib.get_close_matches(name, _MODULES, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(f"unknown experiment '{name}'{hint}; known: {', '.join(names())} (see `spikefa list`)")
    return importlib.import_module(_MODULES[name])
