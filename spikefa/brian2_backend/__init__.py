"""Optional Brian2 backend: the spiking network of [L16] built from Brian2 objects.

``Simulator(net, backend="brian2")`` (``spikefa run ... --backend brian2``; registered in
:mod:`spikefa.engine.backends`) trains and
tests a :class:`~spikefa.engine.network.SpikingNetwork` with Brian2 NeuronGroups and
Synapses instead of the Numba kernels; :class:`Brian2Runner` does the work. Brian2 is an
optional dependency (``pip install -e '.[brian2]'``); without it every other part of
spikefa works and asking for this backend raises a one-line :class:`ConfigError` that
says how to install it. How the network maps onto Brian2 objects: ``docs/brian2.md``.
"""

from ..errors import ConfigError

INSTALL_HINT = ("pip install -e '.[brian2]' (the extra pins numpy<2.4: brian2 2.9 calls ndarray.ptp, "
                "which numpy 2.4 removed)")


def import_brian2():
    """Import and return the ``brian2`` module, or raise a one-line ConfigError saying how to get it.

    brian2 2.9 with numpy >= 2.4 fails inside its own import (AttributeError), not with
    ImportError, so any exception of the import is reported the same way.
    """
    try:
        import brian2
    except Exception as e:  # noqa: BLE001 - see the docstring
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"backend brian2: Brian2 cannot be imported ({type(e).__name__}: {first}); "
                          f"install it with {INSTALL_HINT}") from None
    return brian2


def available() -> bool:
    """Whether Brian2 imports in this environment."""
    try:
        import_brian2()
    except ConfigError:
        return False
    return True


def __getattr__(name):
    if name == "Brian2Runner":  # imported on demand: the module imports brian2
        from .runner import Brian2Runner
        return Brian2Runner
    raise AttributeError(name)


__all__ = ["Brian2Runner", "INSTALL_HINT", "available", "import_brian2"]
