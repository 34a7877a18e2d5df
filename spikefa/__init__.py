"""spikefa: deep learning without weight transport, spiking and rate-based.

See README.md; the model's equations are in docs/engine.md. The names most scripts need
are importable from here (loaded on first use, so ``import spikefa`` stays light):
``SpikingParams``, ``SpikingNetwork``, ``Simulator``, ``Capture``.
"""

__version__ = "0.1.0"

_LAZY = {"SpikingParams": "spikefa.engine.params", "SpikingNetwork": "spikefa.engine.network",
         "Simulator": "spikefa.engine.simulator", "Capture": "spikefa.recording.capture"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'spikefa' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
