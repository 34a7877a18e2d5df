"""The grid of a sweep: ``--set`` items with comma-separated values are axes, ``--seeds N``
one more; the points are their product.

``--set rule=fa,bp,kp`` is an axis of three values; ``--set network.sizes=[2,16,1]`` is one
value (commas inside brackets, braces or quotes do not split); ``--set
'network.sizes=[2,16,1],[2,32,1]'`` is an axis of two. Every value of every axis is
resolved and type-checked against the experiment's configuration before anything runs.
"""

import itertools
import json
import re
from dataclasses import dataclass, field

from .. import config
from ..errors import ConfigError

_SLUG_BAD = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass(frozen=True)
class Axis:
    """One sweep axis.

    Attributes
    ----------
    name : str
        The key as the user wrote it, shown in tables and folder names (``rule``,
        ``network.eta``, ``seed``).
    key : str
        The configuration field it sets (``section.field``; ``seed`` for ``--seeds``).
    labels : tuple of str
        Each value as it is shown (``fa``, ``0.001``, ``[2, 16, 1]``).
    overrides : tuple of tuple of str
        For each value, the ``--set`` items that apply it.
    """

    name: str
    key: str
    labels: tuple
    overrides: tuple


@dataclass(frozen=True)
class Point:
    """One run of the sweep: its folder name, its axis values and its full configuration."""

    name: str
    params: dict            # axis name -> label, in axis order (seed included)
    overrides: tuple        # every --set item of this point, in the order applied
    config: dict = field(compare=False, repr=False)

    @property
    def condition(self) -> dict:
        """The axis values other than the seed: what the table groups by."""
        return {k: v for k, v in self.params.items() if k != "seed"}


def split_values(text: str) -> list:
    """``"fa,bp"`` -> ``["fa", "bp"]``; commas inside ``[]``, ``{}`` or quotes do not split."""
    parts, depth, quote, cur = [], 0, None, []
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and quote == '"' and i + 1 < len(text):
                cur.append(text[i:i + 2])
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    parts.append("".join(cur).strip())
    return parts


def label(value) -> str:
    """A configuration value as shown in a table: strings bare, the rest as JSON/TOML."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, separators=(", ", ": "))


def slug(text: str) -> str:
    """A label as a folder-name part: letters, digits, ``._+-``; other runs become ``-``."""
    s = _SLUG_BAD.sub("-", text).strip("-")
    return s or "x"


def _resolve(defaults: dict, key: str, piece: str) -> tuple:
    """``(section.field, value)`` of one ``key=piece``, checked like ``spikefa run --set``."""
    updates = config.parse_overrides(defaults, [f"{key}={piece}"])
    (sec, vals), = updates.items()
    (fld, _), = vals.items()
    merged = config.merge(defaults, updates, "--set")
    return f"{sec}.{fld}", merged[sec][fld]


def parse_sets(defaults: dict, items, aliases: dict | None = None) -> tuple:
    """Split ``--set`` items into fixed overrides and axes.

    Parameters
    ----------
    defaults : dict
        The experiment's configuration (after ``--config`` and ``--smoke``), to resolve keys.
    items : list of str
        ``KEY=VALUE`` or ``KEY=V1,V2,...``.
    aliases : dict, optional
        ``{name: "section.field"}``: a name that is no field of the experiment but stands
        for a list field taking one element per point (``rule`` -> ``run.rules``).

    Returns
    -------
    fixed : list of str
        Items with one value, passed on as they are.
    axes : list of Axis

    Raises
    ------
    ConfigError
        An empty value list or value, an unknown field, a wrong type, a repeated value or
        the same field given twice.
    """
    aliases = aliases or {}
    fixed, axes, seen = [], [], {}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value or key=v1,v2,..., e.g. --set rule=fa,bp")
        pieces = split_values(text)
        if not text.strip():
            raise ConfigError(f"--set {key}=: empty value list (write {key}=V or {key}=V1,V2,...)")
        if any(not p for p in pieces):
            raise ConfigError(f"--set {key}={text}: an empty value in the list (two commas or a trailing comma?)")
        alias = aliases.get(key) if not _is_field(defaults, key) else None
        labels, overrides = [], []
        for piece in pieces:
            if alias:
                value = config._parse_value(piece)
                if not isinstance(value, str):
                    raise ConfigError(f"--set {key}={piece}: expected a name")
                ov = f"{alias}={json.dumps([value])}"
                _resolve(defaults, *ov.split("=", 1))
            else:
                where, value = _resolve(defaults, key, piece)
                ov = f"{where}={piece}"
            labels.append(label(value))
            overrides.append((ov,))
        where = alias or _resolve(defaults, key, pieces[0])[0]
        if where in seen:
            raise ConfigError(f"--set {key}: {where} is already set by --set {seen[where]}")
        seen[where] = key
        if len(pieces) == 1:
            fixed.append(overrides[0][0])
            continue
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ConfigError(f"--set {key}: value {dup[0]} is given twice")
        # named as written: `rule`, `eta`, `lr.fa` (a bare `fa` would read like a rule)
        axes.append(Axis(name=key, key=where, labels=tuple(labels), overrides=tuple(overrides)))
    return fixed, axes


def _is_field(defaults: dict, key: str) -> bool:
    if "." in key:
        sec, _, fld = key.partition(".")
        return fld in defaults.get(sec, {})
    return any(key in vals for vals in defaults.values())


def seed_axis(seeds: int, first: int, seed_overrides) -> Axis:
    """The ``--seeds N`` axis: seeds ``first .. first + N - 1``, each applied by ``seed_overrides(s)``."""
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    if first < 0:
        raise ConfigError(f"--first-seed must be >= 0, got {first}")
    values = range(first, first + seeds)
    return Axis("seed", "seed", tuple(str(s) for s in values), tuple(tuple(seed_overrides(s)) for s in values))


def expand(defaults: dict, base: list, axes: list, config_path=None) -> list:
    """Every point of the grid: the product of the axes (the seed axis outermost, so that a
    sweep stopped half-way has some seeds of every condition), each with its configuration.

    ``base`` holds the overrides every point shares (``--smoke``, fixed ``--set`` items),
    applied before the point's own.
    """
    ordered = sorted(axes, key=lambda a: a.name != "seed")
    points, names = [], {}
    for combo in itertools.product(*(range(len(a.labels)) for a in ordered)):
        params = {a.name: a.labels[i] for a, i in zip(ordered, combo)}
        overrides = tuple(base) + tuple(ov for a, i in zip(ordered, combo) for ov in a.overrides[i])
        cfg = config.build(defaults, config_path, list(overrides))
        name = "__".join(f"{slug(k)}={slug(v)}" for k, v in params.items()) or "base"
        if len(name) > 120:
            name = name[:100] + "~" + _digest(overrides)
        names.setdefault(name, []).append(len(points))
        points.append(Point(name, params, overrides, cfg))
    # two labels that differ only in characters a folder name drops ("a b" and "a-b")
    for name, idx in names.items():
        if len(idx) > 1:
            for i in idx:
                p = points[i]
                points[i] = Point(f"{name}~{_digest(p.overrides)}", p.params, p.overrides, p.config)
    return points


def _digest(overrides) -> str:
    import hashlib

    return hashlib.sha1("\n".join(overrides).encode()).hexdigest()[:8]
