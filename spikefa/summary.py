"""Small, committed summaries of runs: ``spikefa export summary RUN_DIR ... --name NAME``.

Result files and checkpoints are never committed. What docs/results.md reports comes from
``docs/results/NAME.json``, written here from the runs' ``results.h5`` (and ``eval.json``,
from ``spikefa eval``): the configuration the runs share, the commit that ran them, and
per seed every epoch's figures. ``spikefa report`` turns these files into docs/results.md.
"""

import json
import math
from pathlib import Path

from . import schedule
from .errors import SpikefaError
from .evaluate import read_evals
from .fsutil import atomic_write
from .results import read_results

FORMAT = "spikefa-summary/1"
# fields that may differ between the seeds of one summary: they do not change a run's numbers
PER_RUN = {("run", "seed"), ("run", "threads"), ("run", "data_dir"), ("run", "chunk"),
           ("run", "checkpoint_every"), ("run", "backend"), ("run", "probe_images"), ("record", None)}
# the paper's figure each experiment is compared with (fraction, citation)
REFERENCE = {"lillicrap2016-spiking": (0.018, "[L16]")}


def _shared(config: dict) -> dict:
    return {sec: {k: v for k, v in vals.items() if (sec, k) not in PER_RUN}
            for sec, vals in config.items() if (sec, None) not in PER_RUN}


def _run_summary(run_dir: Path) -> tuple:
    path = run_dir / "results.h5"
    if not path.is_file():
        raise SpikefaError(f"{run_dir}: no results.h5 (a folder written by spikefa run)")
    res = read_results(path)
    cfg = res["config"]
    if "epoch" not in res:
        raise SpikefaError(f"{path}: no epoch has finished yet")
    eta0, sched = cfg["network"]["eta"], cfg["run"].get("eta_schedule", [])
    epochs = [{"epoch": int(row[0]), "eta": schedule.eta_at(int(row[0]), eta0, sched),
               "test_error": float(row[1]), "train_error": float(row[2]),
               "train_s": round(float(row[3]), 1), "test_s": round(float(row[4]), 1)} for row in res["epoch"]]
    L = len(cfg["network"]["sizes"]) - 1
    # per epoch, per layer: mean Psi and the share of saturated unit-image pairs (layers
    # 1..L), the angle of each feedback matrix to W^T and of each teaching signal to
    # backprop's (hidden layers 1..L-1; None where the rule has none)
    parts = {"saturation": (("psi", 1, 1 + L), ("saturated", 1 + L, 1 + 2 * L)),
             "alignment": (("matrix_angles", 1, L), ("delta_angles", L, 2 * L - 1))}
    for name, fields in parts.items():
        for row in res.get(name, []):
            e = int(row[0]) - 1
            if 0 <= e < len(epochs):
                for key, lo, hi in fields:
                    epochs[e][key] = [round(float(x), 4) if math.isfinite(x) else None for x in row[lo:hi]]
    run = {"seed": int(cfg["run"]["seed"]), "folder": run_dir.name, "epochs_done": len(epochs),
           "wall_s": round(sum(e["train_s"] + e["test_s"] for e in epochs), 1),
           "threads": cfg["run"].get("threads"), "epochs": epochs, "evals": read_evals(run_dir)}
    return run, res["attrs"], cfg


def export_sweep(sweep_dir: Path, name: str, title: str = "", command: str = "") -> dict:
    """The summary of a sweep folder (``spikefa sweep``): its grid and every sample."""
    import csv

    manifest = json.loads((sweep_dir / "sweep.json").read_text())
    path = sweep_dir / "samples.csv"
    if not path.is_file():
        raise SpikefaError(f"{sweep_dir}: no samples.csv yet (the sweep has not finished a point)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    factors = [k for k in (rows[0] if rows else {}) if k not in ("point", "seed", "metric", "value")]
    samples = [{"condition": {k: r[k] for k in factors}, "seed": int(r["seed"]) if r["seed"] else None,
                "metric": r["metric"], "value": float(r["value"])} for r in rows]
    commits = set()
    for res_path in sorted(sweep_dir.glob("points/*/results.h5")):
        commits.add(read_results(res_path)["attrs"].get("git_commit"))
    if len(commits) > 1:
        raise SpikefaError(f"{sweep_dir}: its points ran at different commits ({', '.join(sorted(map(str, commits)))})")
    return {"format": FORMAT, "kind": "sweep", "name": name, "title": title or name, "command": command,
            "experiment": manifest["experiment"], "commit": commits.pop() if commits else None,
            "version": manifest.get("spikefa_version"), "axes": manifest["axes"], "fixed": manifest["fixed"],
            "factors": factors, "samples": samples}


def export(run_dirs, name: str, out, title: str = "", command: str = "", baseline: str = "") -> dict:
    """Write the summary of the runs in ``run_dirs`` (seeds of one configuration), or of
    one sweep folder, to ``out``. ``baseline`` names another summary that ``spikefa
    report`` compares this one with, seed by seed, at this one's last epoch."""
    if not run_dirs:
        raise SpikefaError("export summary: name at least one run folder")
    if len(run_dirs) == 1 and (Path(run_dirs[0]) / "sweep.json").is_file():
        doc = export_sweep(Path(run_dirs[0]), name, title, command)
        _write(doc, out)
        return doc
    runs, shared, meta = [], None, None
    for d in map(Path, run_dirs):
        run, attrs, cfg = _run_summary(d)
        if shared is None:
            shared, meta = _shared(cfg), attrs
        elif _shared(cfg) != shared:
            diff = sorted(f"{s}.{k}" for s in shared for k in shared[s] if _shared(cfg).get(s, {}).get(k) != shared[s][k])
            raise SpikefaError(f"{d}: configured unlike {run_dirs[0]} ({', '.join(diff) or 'sections'}); "
                               "a summary holds seeds of one configuration")
        elif attrs.get("git_commit") != meta.get("git_commit"):
            raise SpikefaError(f"{d}: ran at commit {attrs.get('git_commit')}, {run_dirs[0]} at "
                               f"{meta.get('git_commit')}; a summary holds runs of one commit")
        runs.append(run)
    seeds = [r["seed"] for r in runs]
    if len(set(seeds)) != len(seeds):
        raise SpikefaError(f"export summary: seed {max(seeds, key=seeds.count)} appears twice")
    exp = meta.get("experiment")
    ref = REFERENCE.get(exp)
    doc = {"format": FORMAT, "kind": "seeds", "name": name, "title": title or name, "command": command,
           "experiment": exp,
           "commit": meta.get("git_commit"), "version": meta.get("version"),
           "declared_epoch": shared["run"]["epochs"], "baseline": baseline or None,
           "reference": {"test_error": ref[0], "source": ref[1]} if ref else None,
           "config": shared, "runs": sorted(runs, key=lambda r: r["seed"])}
    _write(doc, out)
    return doc


def _write(doc: dict, out) -> None:
    text = json.dumps(doc, indent=1)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: Path(tmp).write_text(text + "\n"), "summary")


def load_all(folder) -> list:
    """Every summary in ``folder`` (``*.json``), by name."""
    docs = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise SpikefaError(f"{path}: unreadable summary ({e})") from None
        if doc.get("format") != FORMAT:
            raise SpikefaError(f"{path}: not a spikefa summary (format {doc.get('format')!r}, expected {FORMAT!r})")
        docs.append(doc)
    return docs
