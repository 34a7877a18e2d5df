"""What to record: the ``[record]`` section turned into units, traces and windows.

Units are chosen once per run from a seeded generator, so a run and its resumption record
the same units. Every mistake (a layer or unit that does not exist, an unknown window)
raises :class:`~spikefa.errors.ConfigError` with a one-line message naming the field.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

WINDOW_NAMES = ("early", "middle", "late")


def layer_name(l: int, n_layers: int) -> str:
    """``input`` (0), ``hidden1`` .. ``hidden{L-1}``, ``output`` (L)."""
    if l == 0:
        return "input"
    return "output" if l == n_layers else f"hidden{l}"


def parse_layer(text, n_layers: int, field: str) -> int:
    """A layer given as an index (``2``, ``"2"``) or a name (``"hidden2"``, ``"output"``)."""
    names = {layer_name(l, n_layers): l for l in range(n_layers + 1)}
    if isinstance(text, str) and text.strip() in names:
        return names[text.strip()]
    l = None
    if isinstance(text, (int, np.integer)) and not isinstance(text, bool):
        l = int(text)
    elif isinstance(text, str) and text.strip().lstrip("-").isdigit():
        l = int(text)
    if l is None or not 0 <= l <= n_layers:
        raise ConfigError(f"{field}: layer {text!r} does not exist; this network has layers 0..{n_layers} "
                          f"({', '.join(names)})")
    return l


def parse_units(items, sizes, field: str) -> dict:
    """``["2:17", "output:0-99"]`` -> ``{2: [17], 4: [0..99]}`` (ranges inclusive)."""
    L = len(sizes) - 1
    out: dict = {}
    for item in items:
        layer, sep, spec = str(item).partition(":")
        if not sep or not spec.strip():
            raise ConfigError(f"{field}: {item!r} is not LAYER:UNIT or LAYER:FIRST-LAST, e.g. \"2:17\" or \"output:0-99\"")
        l = parse_layer(layer, L, field)
        lo, dash, hi = spec.partition("-")
        try:
            a, b = int(lo), int(hi) if dash else int(lo)
        except ValueError:
            raise ConfigError(f"{field}: {item!r}: unit must be a whole number or a range FIRST-LAST") from None
        for j in (a, b):
            if not 0 <= j < sizes[l]:
                raise ConfigError(f"{field}: unit {j} of layer {layer_name(l, L)} does not exist "
                                  f"(it has units 0..{sizes[l] - 1})")
        if b < a:
            raise ConfigError(f"{field}: {item!r}: empty range (FIRST > LAST)")
        out.setdefault(l, set()).update(range(a, b + 1))
    return {l: np.array(sorted(u), dtype=np.int64) for l, u in out.items()}


@dataclass(frozen=True)
class Selection:
    """Recorded units, per layer, and the units whose V and phi(U) are traced.

    Attributes
    ----------
    layers : tuple of int
        Recorded layers, ascending (0 = input, L = output).
    units : tuple of ndarray
        Per recorded layer, the unit indices within the layer, ascending, int64.
    traces : ndarray (T, 2) int64
        ``(layer, unit)`` of each traced unit, sorted; layers >= 1.
    names : tuple of str
        Layer names (``hidden1``, ``output``...) of ``layers``.
    """

    layers: tuple
    units: tuple
    traces: np.ndarray
    names: tuple

    def flat_units(self, u_off) -> np.ndarray:
        """Flat state indices (``u_off[l] + j``) of every recorded unit, layer by layer."""
        if not self.layers:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([u_off[l] + u for l, u in zip(self.layers, self.units)]).astype(np.int64)

    def flat_traces(self, u_off) -> np.ndarray:
        return (np.asarray(u_off)[self.traces[:, 0]] + self.traces[:, 1]).astype(np.int64)

    def same_as(self, other: "Selection") -> bool:
        return (self.layers == other.layers and all(np.array_equal(a, b) for a, b in zip(self.units, other.units))
                and np.array_equal(self.traces, other.traces))


def _count(rec: dict, key: str) -> int:
    k = rec[key]
    if k != -1 and k < 1:
        raise ConfigError(f"record.{key}: must be >= 1, or -1 for all units, got {k}")
    return k


def select(rec: dict, sizes, seed: int) -> Selection:
    """Resolve the ``[record]`` section for a network of layer ``sizes``.

    Random subsets come from ``numpy.random.default_rng([seed, 0x7EC0])``; a layer with
    fewer units than asked for is recorded whole. Units named in ``record.units`` replace
    the random subset of their layer (and add their layer to the recorded ones).
    """
    sizes = [int(n) for n in sizes]
    L = len(sizes) - 1
    layers = [parse_layer(x, L, "record.layers") for x in rec["layers"]] or list(range(1, L + 1))
    explicit = parse_units(rec["units"], sizes, "record.units")
    layers = sorted(set(layers) | set(explicit))
    hidden_k, output_k = _count(rec, "hidden_units"), _count(rec, "output_units")
    rng = np.random.default_rng([seed, 0x7EC0])
    units = []
    for l in layers:
        if l in explicit:
            units.append(explicit[l])
            continue
        k = output_k if l == L else hidden_k
        k = sizes[l] if k == -1 else min(k, sizes[l])
        units.append(np.sort(rng.choice(sizes[l], k, replace=False)).astype(np.int64))

    if rec["traces"] < 0:
        raise ConfigError(f"record.traces: must be >= 0, got {rec['traces']}")
    if rec["trace_units"]:
        chosen = parse_units(rec["trace_units"], sizes, "record.trace_units")
        if 0 in chosen:
            raise ConfigError("record.trace_units: input units have no potential V or feedback signal; "
                              "trace units of layers 1.." + str(L))
        traces = [(l, j) for l, js in chosen.items() for j in js]
    else:
        traces = []
        for l, u in zip(layers, units):
            if l >= 1:
                traces += [(l, int(j)) for j in rng.choice(u, min(rec["traces"], len(u)), replace=False)]
    traces = np.array(sorted(traces), dtype=np.int64).reshape(-1, 2)
    return Selection(tuple(layers), tuple(units), traces, tuple(layer_name(l, L) for l in layers))


@dataclass(frozen=True)
class Window:
    """Images ``start_image`` (inclusive) to ``stop_image`` (exclusive) of the run."""

    name: str
    start_image: int
    stop_image: int


def plan_windows(names, window_images: int, total_images: int) -> list:
    """Windows of ``window_images`` images among the ``total_images`` of a run.

    ``early`` starts at image 0, ``middle`` in the middle, ``late`` ends with the run; a
    whole number given as a string (``"30000"``) starts a window at that image (named
    ``at30000``); an empty list means all three named ones. Windows may overlap (on short
    runs); a step is stored once.
    """
    if window_images < 1:
        raise ConfigError(f"record.window_images: must be >= 1, got {window_images}")
    names = list(names) or list(WINDOW_NAMES)
    n = min(window_images, total_images)
    out = []
    for w in names:
        w = str(w).strip()
        if w == "early":
            start = 0
        elif w == "middle":
            start = (total_images - n) // 2
        elif w == "late":
            start = total_images - n
        else:
            if not w.lstrip("-").isdigit():
                raise ConfigError(f"record.windows: unknown window {w!r}; use early, middle, late or a start "
                                  "image number such as \"30000\"")
            start = int(w)
            if not 0 <= start < total_images:
                raise ConfigError(f"record.windows: window at image {start} is outside the run "
                                  f"(images 0..{total_images - 1})")
            w = f"at{start}"
        if any(x.name == w for x in out):
            raise ConfigError(f"record.windows: window {w!r} given twice")
        out.append(Window(w, start, min(start + n, total_images)))
    return out
