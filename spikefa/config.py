"""Experiment configurations: TOML files of sections, ``--set key=value`` overrides, checks.

A configuration is a dict of sections (``{"network": {...}, "run": {...}}``) whose
defaults come from the experiment. Every key of a file or an override must already exist
in the defaults and keep its type, so a typo or a wrong type is caught before anything
runs, with a one-line message naming the field.
"""

import difflib
import tomllib
from pathlib import Path

from .errors import ConfigError

# the experiments' TOML files: spikefa/models in an installed wheel, models/ beside the
# package in a checkout (an editable install)
MODELS_DIR = next((d for d in (Path(__file__).resolve().parent / "models", Path(__file__).resolve().parents[1] / "models")
                   if d.is_dir()), Path(__file__).resolve().parent / "models")


def _parse_value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return text  # a bare word is a string: rule=fa


def _show(key) -> str:
    """A key as it can be printed on one line (odd ones quoted)."""
    key = str(key)
    return key if key.isprintable() and key.strip() == key and key else repr(key)


def _suggest(key, known) -> str:
    close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1)
    return f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(sorted(known))})"


def _check_type(where: str, old, new):
    if isinstance(old, bool) or isinstance(new, bool):
        ok = isinstance(old, bool) and isinstance(new, bool)
    elif isinstance(old, float):
        ok = isinstance(new, (int, float))
        if ok:
            try:
                new = float(new)
            except OverflowError:   # an integer beyond float range (1e400 written as digits)
                raise ConfigError(f"{where}: {new} is out of range of a float") from None
    elif isinstance(old, list):
        # elements keep the type of the default's (True is an int to Python, not here);
        # lists of lists (a schedule) are checked by their owner, which names the bad entry
        ok = isinstance(new, list) and (not old or isinstance(old[0], list)
                                        or all(type(x) is type(old[0]) for x in new))
    elif old is None:
        ok = True
    else:
        ok = isinstance(new, type(old))
    if not ok:
        raise ConfigError(f"{where}: expected {type(old).__name__}, got {type(new).__name__} {new!r}")
    return new


def merge(defaults: dict, updates: dict, origin: str = "config") -> dict:
    """A copy of ``defaults`` with ``updates`` (same sections and keys) applied and type-checked."""
    out = {sec: dict(vals) for sec, vals in defaults.items()}
    for sec, vals in updates.items():
        if sec not in out:
            raise ConfigError(f"{origin}: unknown section [{_show(sec)}]{_suggest(sec, out)}")
        if not isinstance(vals, dict):
            raise ConfigError(f"{origin}: [{_show(sec)}] must be a table of key = value")
        for key, val in vals.items():
            if key not in out[sec]:
                raise ConfigError(f"{origin}: unknown field {sec}.{_show(key)}{_suggest(key, out[sec])}")
            out[sec][key] = _check_type(f"{sec}.{key}", out[sec][key], val)
    return out


def load_toml(path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as e:       # a folder, no permission, ...
        raise ConfigError(f"config file {path}: cannot read it ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML: nested too deeply") from None


def parse_overrides(defaults: dict, items) -> dict:
    """``["run.epochs=3", "eta=2e-3"]`` -> updates; a bare key must name one field."""
    updates: dict = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set network.eta=2e-3")
        if "." in key:
            sec, _, field = key.partition(".")
        else:
            owners = [s for s, vals in defaults.items() if key in vals]
            if len(owners) != 1:
                known = sorted({k for vals in defaults.values() for k in vals})
                raise ConfigError(f"--set {_show(key)}: " + ("ambiguous, write section.key" if owners
                                                      else f"unknown field{_suggest(key, known)}"))
            sec, field = owners[0], key
        updates.setdefault(sec, {})[field] = _parse_value(text.strip())
    return updates


def build(defaults: dict, path=None, overrides=None, preset=None) -> dict:
    """Defaults, then the TOML file ``preset`` (a named variant of the experiment's), then
    the TOML file at ``path``, then ``--set`` overrides."""
    cfg = merge(defaults, load_toml(preset), f"preset {Path(preset).name}") if preset else merge(defaults, {})
    cfg = merge(cfg, load_toml(path), str(path)) if path else cfg
    return merge(cfg, parse_overrides(cfg, overrides), "--set")


def preset_path(experiment, name: str) -> Path:
    """The TOML file of preset ``name`` of an experiment module (its ``PRESETS``: name ->
    (file in models/, description)); a ConfigError lists the known presets."""
    presets = getattr(experiment, "PRESETS", {})
    if name not in presets:
        known = f"choose one of {', '.join(sorted(presets))}" if presets else "it has none"
        raise ConfigError(f"--preset: experiment {experiment.NAME} has no preset {name!r}; {known}")
    return MODELS_DIR / presets[name][0]


def require_at_least(section: dict, name: str, keys, low: int = 1) -> None:
    """One-line error for the first of ``keys`` in config section ``name`` below ``low``."""
    for key in keys:
        if section[key] < low:
            raise ConfigError(f"{name}.{key}: must be >= {low}, got {section[key]}")
