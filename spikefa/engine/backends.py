"""The simulation backends, behind one protocol and in one registry.

A backend is one module with one class that implements :class:`Backend`, plus one
:func:`register` line below. The command line (``--backend``), configuration checks
(``run.backend``) and ``spikefa bench`` list backends from here, and
:class:`~spikefa.engine.simulator.Simulator` creates them through :func:`create`. Only
``DEFAULT`` names one: the backend runs use unless told otherwise, which ``spikefa eval``
and the benchmark take as their reference. A backend's module is imported only when it is chosen, so an
optional one (Brian2) costs nothing until then. Every registered backend must pass the
conformance suite (``tests/test_backend_conformance.py``).
"""

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Protocol

from ..errors import ConfigError


class Backend(Protocol):
    """What a backend does: run images through one network.

    Constructed as ``cls(net, threads=threads, **options)``; ``threads`` (resolved, >= 1)
    says how many threads it uses.
    """

    threads: int

    # optional: ``first_call_note() -> str``, a line a run prints before its first call
    # (the Numba backend: that it compiles its kernels the first time)
    # optional: a classmethod ``run_many(backends, xs, labels, train, counts, layer_spikes)``
    # that advances K networks of one shape at once (one launch on a GPU); without it,
    # :func:`run_many` below runs them one after the other

    def run(self, x, labels, train: bool, counts, layer_spikes, capture=None) -> None:
        """Show the images ``x`` (n, n_0) float32, already clipped to ``input_max``, for
        ``steps_per_image`` (training) or ``test_steps`` (testing) steps each, in order.

        Fills ``counts`` (n, n_classes) int64 with the output spikes per class group and
        adds each layer's spikes to ``layer_spikes`` (L+1,) int64. Training writes the new
        state into the network (weights, potentials, pending plasticity) and advances
        ``net.t``; testing leaves the network as it was and starts the test stream at step
        0. ``capture`` (training only) receives the recorded units' spikes and traces.
        """


@dataclass(frozen=True)
class BackendInfo:
    name: str
    description: str
    module: str                 # imported when the backend is first created
    cls: str
    requires: str = ""          # how to install what it needs, when optional


_REGISTRY: dict = {}
DEFAULT = "numba"


def register(info: BackendInfo) -> None:
    if info.name in _REGISTRY:
        raise ValueError(f"backend {info.name!r} registered twice")
    _REGISTRY[info.name] = info


def names() -> list:
    return list(_REGISTRY)


def info(name: str, where: str = "backend") -> BackendInfo:
    """The registry entry of ``name``; a ConfigError naming ``where`` lists the known ones."""
    if name not in _REGISTRY:
        raise ConfigError(f"{where}: unknown {name!r}, choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def run_many(impls: list, xs: list, labels: list, train: bool, counts: list, layer_spikes: list) -> None:
    """Advance K networks, each with its own backend instance of one class and its own
    images, as :meth:`Backend.run` advances one. The networks must share their shapes (a
    sweep over seeds, or over values of the same configuration); a backend that can run
    them together defines ``run_many``, any other runs them in turn (same results)."""
    cls = type(impls[0])
    if any(type(b) is not cls for b in impls):
        raise ConfigError("run_many: all networks must use the same backend")
    sizes = [tuple(b.net.sizes) for b in impls]
    if len(set(sizes)) != 1:
        raise ConfigError(f"run_many: networks of different shapes {sorted(set(sizes))}; K networks share one")
    if hasattr(cls, "run_many"):
        cls.run_many(impls, xs, labels, train, counts, layer_spikes)
        return
    for b, x, y, c, s in zip(impls, xs, labels, counts, layer_spikes):
        b.run(x, y, train, c, s)


def unavailable(name: str) -> str:
    """Why backend ``name`` cannot run in this process, or "" when it can: its optional
    package is missing, or (a module-level ``unavailable()``) its hardware is absent."""
    entry = info(name)
    if entry.requires and importlib.util.find_spec(entry.requires) is None:
        return f"backend {name}: {entry.requires} is not installed"
    check = getattr(importlib.import_module(entry.module), "unavailable", None)
    return check() if check else ""


def runs_many(name: str) -> bool:
    """Whether backend ``name`` advances K networks per launch (defines ``run_many``)."""
    entry = info(name)
    return hasattr(getattr(importlib.import_module(entry.module), entry.cls), "run_many")


def create(name: str, net, threads: int = 1, **options) -> Backend:
    """An instance of backend ``name`` for ``net``; an option it does not take is a
    ConfigError naming the ones it does."""
    import inspect

    entry = info(name)
    cls = getattr(importlib.import_module(entry.module), entry.cls)
    takes = [p for p in inspect.signature(cls).parameters if p not in ("net", "threads")]
    unknown = sorted(set(options) - set(takes))
    if unknown:
        raise ConfigError(f"backend {name}: unknown option {unknown[0]!r}; it takes "
                          f"{', '.join(takes) or 'none'}")
    return cls(net, threads=threads, **options)


register(BackendInfo("numba", "Numba kernels: whole chunks of images in one JIT call, event-driven (the default)",
                     "spikefa.engine.numba_backend", "NumbaBackend"))
register(BackendInfo("numpy", "the NumPy specification, one Python call per step: slow, for checking",
                     "spikefa.engine.numpy_backend", "NumpyBackend"))
register(BackendInfo("cuda", "CUDA kernels (numba-cuda): whole chunks in one launch, K networks at once "
                     "(optional extra: pip install -e '.[cuda]')",
                     "spikefa.engine.cuda_backend", "CudaBackend", requires="numba_cuda"))
register(BackendInfo("brian2", "the network as Brian2 objects (optional extra: pip install -e '.[brian2]')",
                     "spikefa.brian2_backend.runner", "Brian2Runner", requires="brian2"))
