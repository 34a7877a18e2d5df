"""``spikefa show RUN_DIR``: what a run folder holds, in words: the configuration, the
per-epoch table, the final figures and the files."""

import json
from pathlib import Path

import numpy as np

from .errors import SpikefaError
from .results import read_results

FILES = {
    "results.h5": "configuration, seeds, commit and every series of figures (docs/usage.md)",
    "checkpoint.npz": "the network's whole state, to --resume or spikefa eval (docs/reliability.md)",
    "rasters.h5": "recorded spikes and traces: spikefa plot (docs/hdf5-format.md)",
    "eval.json": "scores of spikefa eval",
}


def _cell(value: float, unit: str) -> str:
    if unit == "fraction":
        return f"{100 * value:.2f}"
    if unit == "s":
        return f"{value:.0f}"
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.3f}" if unit == "1" or "per unit" in unit else f"{value:.3g}"


def _table(name: str, rows: np.ndarray, fields: list, units: list) -> list:
    head = [f + (" %" if u == "fraction" else f" ({u})" if u in ("s", "deg") else "") for f, u in zip(fields, units)]
    cells = [[_cell(v, u) for v, u in zip(row, units)] for row in rows]
    width = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    return ["  " + "  ".join(h.rjust(w) for h, w in zip(head, width))] + \
           ["  " + "  ".join(c.rjust(w) for c, w in zip(r, width)) for r in cells]


def describe(run_dir) -> str:
    run_dir = Path(run_dir)
    path = run_dir / "results.h5"
    if not path.is_file():
        raise SpikefaError(f"{run_dir}: no results.h5; show reads folders written by spikefa run")
    res = read_results(path)
    a = res["attrs"]
    lines = [f"{run_dir}: {a.get('experiment')}, spikefa {a.get('version')}, commit {a.get('git_commit')}, "
             f"created {a.get('created')}" + (f", resumed {a['resumed']}" if a.get("resumed") else "")]
    if res["summary"]:
        lines.append("summary: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                             for k, v in res["summary"].items()))
    lines.append("config:")
    for sec, vals in res["config"].items():
        lines.append(f"  [{sec}] " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in vals.items()))
    import h5py

    with h5py.File(path, "r", locking=False) as f:
        order = ("epoch", "heldout")
        for name in sorted(res.get("fields", {}), key=lambda n: (order.index(n) if n in order else len(order), n)):
            d = f[name]
            units = [str(u) for u in d.attrs.get("field_units", [""] * len(res["fields"][name]))]
            lines.append(f"{name}: {d.attrs.get('description', '')}")
            lines += _table(name, res[name], res["fields"][name], units) if len(res[name]) else ["  (no rows yet)"]
        arrays = []
        f.visititems(lambda n, d: arrays.append((n, d)) if isinstance(d, h5py.Dataset) and not d.dtype.names else None)
        if arrays:
            lines.append("arrays:")
            lines += [f"  {n} {d.shape}: {d.attrs.get('description', '')}"
                      + (f" [{d.attrs['unit']}]" if d.attrs.get("unit") else "") for n, d in arrays]
    lines.append("files:")
    for p in sorted(run_dir.iterdir()):
        if p.is_file():
            size = p.stat().st_size
            human = f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB"
            lines.append(f"  {p.name:16s} {human:>10s}  {FILES.get(p.name, '')}".rstrip())
    return "\n".join(lines)
