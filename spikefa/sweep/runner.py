"""Run a sweep: plan the grid, run its points (skipping finished ones, retrying failed
ones), write the table. ``spikefa sweep`` is a thin wrapper over :func:`run_sweep`.

Layout of a sweep folder::

    sweep.json           the grid: experiment, axes, fixed settings, seeds; times
    points/NAME/         one folder per point, NAME from its axis values (rule=fa__seed=3)
        results.h5       what `spikefa run` writes (plus the experiment's figures)
        point.json       its settings, full configuration, status, attempts, errors and,
                         once done, its samples; status "done" marks a finished point
        log.txt          what the run printed; the traceback of a failed attempt
    table.csv            per condition and metric: n, mean, sd, sem, missing
    samples.csv          every value: point, condition, seed, metric, value
    tests.csv            Welch's t-tests between conditions that differ in one factor
    points.csv           per point: status, attempts, seconds, host, last error
    summary.md           the readable summary (also printed)
"""

import collections
import datetime
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .. import __version__, experiments, fsutil
from ..engine import backends
from ..errors import ConfigError, SpikefaError
from . import adapters, grid, table
from .adapters import Sample
from .executors import DaskExecutor, LocalExecutor
from .worker import point_progress

OUTPUTS = ("table.csv", "samples.csv", "tests.csv", "points.csv", "summary.md")


@dataclass
class Plan:
    """A checked grid: the experiment module, its axes and points."""

    experiment: str
    module: object
    axes: list
    fixed: list
    points: list
    seeds: int | None = None
    first_seed: int = 0


@dataclass
class SweepResult:
    """What :func:`run_sweep` did and wrote."""

    out: Path
    plan: Plan
    ran: list = field(default_factory=list)        # names of points run now and finished
    skipped: list = field(default_factory=list)    # names of points finished by an earlier call
    failed: list = field(default_factory=list)     # (name, attempts, last error)
    attempts: dict = field(default_factory=dict)   # name -> attempts made now
    table: list = field(default_factory=list)      # table.Row
    tests: list = field(default_factory=list)      # table.Test
    summary: str = ""


def plan(experiment: str, sets=(), seeds: int | None = None, first_seed: int = 0, config_path=None,
         smoke: bool = False, threads_one: bool = True, backend: str | None = None) -> Plan:
    """Check every setting and expand the grid; nothing is run or written.

    ``backend`` (``--backend``) sets ``run.backend`` of every point.

    Raises ConfigError for an unknown experiment or field, a wrong type, an empty value
    list, ``seeds < 1``, a seed field set beside ``--seeds``, an unknown backend or one given
    to an experiment without ``run.backend`` or beside ``--set run.backend``, or a point
    whose configuration fails the experiment's checks.
    """
    exp = experiments.get(experiment)
    defaults = exp.defaults()
    base = []
    if smoke:
        base += [f"{sec}.{k}={json.dumps(v)}" for sec, vals in exp.SMOKE.items() for k, v in vals.items()]
    if threads_one and "threads" in defaults.get("run", {}):
        base.append("run.threads=1")   # one core per point; --set run.threads=N overrides
    fixed, axes = grid.parse_sets(defaults, sets, adapters.aliases(experiment))
    if backend is not None:
        backends.info(backend, "--backend")
        if "backend" not in defaults.get("run", {}):
            raise ConfigError(f"--backend: experiment {experiment} has no run.backend field (it runs on the CPU only)")
        if "run.backend" in {item.split("=", 1)[0] for item in fixed} | {a.key for a in axes}:
            raise ConfigError("--backend sets run.backend itself: leave it out of --set")
        fixed.append(f"run.backend={backend}")
    if seeds is not None:
        seed_fields = adapters.seed_fields(experiment, defaults)
        clash = sorted(seed_fields & {item.split("=", 1)[0] for item in fixed} | seed_fields & {a.key for a in axes})
        if clash:
            raise ConfigError(f"--seeds sets {clash[0]} itself: leave it out of --set")
        axes.append(grid.seed_axis(seeds, first_seed, adapters.seed_overrides(experiment, defaults)))
    points = grid.expand(defaults, base + fixed, axes, config_path)
    for p in points:
        try:
            adapters.check(exp, p.config)
        except ConfigError as e:
            raise ConfigError(f"point {p.name}: {e}" if len(points) > 1 else str(e)) from None
    return Plan(experiment, exp, axes, base + fixed, points, seeds, first_seed)


def packs(pl: Plan, p) -> bool:
    """Whether point ``p`` trains in a pack: the one place that decides. It does when its
    backend (``run.backend``) advances many networks per launch (defines ``run_many``,
    :func:`spikefa.engine.backends.runs_many`) and its experiment trains through
    :class:`spikefa.training.Trainer` (has ``build`` and ``check_run``). The sweep then sends
    every such point waiting to run to one worker process (:func:`.worker.run_pack`), where
    :func:`spikefa.training.run_lockstep` groups them by what one launch shares."""
    name = p.config.get("run", {}).get("backend")
    if not (isinstance(name, str) and name in backends.names() and callable(getattr(pl.module, "build", None))
            and callable(getattr(pl.module, "check_run", None))):
        return False
    try:
        return backends.runs_many(name)
    except ImportError:         # an optional backend whose package is missing runs no pack
        return False


def _write_json(path: Path, obj) -> None:
    fsutil.atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=1, default=str)), "sweep file")


def _norm(cfg: dict) -> dict:
    return json.loads(json.dumps(cfg))


def _diff(old: dict, new: dict) -> list:
    return [f"{sec}.{k}" for sec in sorted(set(old) | set(new))
            for k in sorted(set(old.get(sec, {})) | set(new.get(sec, {})))
            if old.get(sec, {}).get(k, "<absent>") != new.get(sec, {}).get(k, "<absent>")]


def _prepare(out: Path, pl: Plan, resume: bool, overwrite: bool) -> tuple:
    """Check the sweep folder against the plan; returns ``{name: samples}`` of the finished
    points (skipped) and ``{name: {seconds, host, pid}}`` of their runs: a ``point.json`` with status done, the same configuration and a
    ``results.h5``. A point run with another configuration is refused, unless it is
    unfinished and has no checkpoint (it simply runs again), or differs only in fields
    its experiment lets a resume change (``RESUME_MAY_CHANGE``; it continues from its
    checkpoint)."""
    manifest = out / "sweep.json"
    if manifest.exists():
        if overwrite:
            shutil.rmtree(out / "points", ignore_errors=True)
            for f in (*OUTPUTS, "sweep.json"):
                (out / f).unlink(missing_ok=True)
        elif not resume:
            raise ConfigError(f"{out} already holds a sweep (sweep.json): continue it with --resume, "
                              "replace it with --overwrite, or choose another --out")
    elif out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty and holds no sweep (no sweep.json): choose another --out")
    may_change = {f"run.{k}" for k in getattr(pl.module, "RESUME_MAY_CHANGE", ())}
    finished, info = {}, {}
    for p in pl.points:
        folder = out / "points" / p.name
        marker = folder / "point.json"
        if not marker.exists():
            continue
        try:
            old = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue            # a marker cut short: run the point again
        diff = _diff(old.get("config", {}), _norm(p.config))
        ckpt = (folder / "checkpoint.npz").exists()
        if diff and not (ckpt and set(diff) <= may_change) and (old.get("status") == "done" or ckpt):
            raise ConfigError(f"--resume: point {p.name} in {out} was run with another configuration "
                              f"({', '.join(diff[:3])} differ{'s' if len(diff) == 1 else ''}); resume with the same "
                              "settings, or use --overwrite or another --out")
        if old.get("status") == "done" and not diff and (folder / "results.h5").exists():
            finished[p.name] = [Sample.from_json(s) for s in old.get("samples", [])]
            info[p.name] = {k: old.get(k) for k in ("seconds", "host", "pid")}
    return finished, info


def _make_executor(workers, scheduler):
    return DaskExecutor(scheduler, workers) if scheduler else LocalExecutor(workers)


def run_sweep(experiment: str, sets=(), seeds: int | None = None, first_seed: int = 0, config_path=None,
              smoke: bool = False, out=None, workers: int | None = None, scheduler: str | None = None,
              gather: bool = False, retries: int = 1, resume: bool = False, overwrite: bool = False,
              progress: bool = True, metrics=None, executor=None, backend: str | None = None) -> SweepResult:
    """Run every point of a sweep and write its table; see the module docstring for the files.

    Parameters
    ----------
    experiment, sets, seeds, first_seed, config_path, smoke
        The grid (:func:`plan`).
    out : path-like
        The sweep folder (default ``results/sweeps/EXPERIMENT``). With ``scheduler`` and
        without ``gather`` the workers write into it, so it must be on a file system they
        share, under the same path.
    workers : int, optional
        Points at once: local processes (default: the cores of this machine), or a cap on
        the cluster's (default: its worker threads).
    scheduler : str, optional
        Address of a dask.distributed scheduler (``tcp://host:8786``).
    gather : bool
        With ``scheduler``: points run in a worker's temporary folder and their files
        (all but ``checkpoint.npz``) are sent back and written here.
    retries : int
        Extra attempts of a failed point (0: none); a point that fails them all is
        reported in the summary with its last error.
    resume, overwrite
        Continue the sweep in ``out`` (finished points are skipped, others run, a spiking
        point from its checkpoint) or replace it; without either an existing sweep is refused.
    metrics : list of str, optional
        Metrics the summary shows and tests (default: the experiment's headline metrics).
    executor : optional
        An object with the executor interface (tests); overrides ``workers``/``scheduler``.
    backend : str, optional
        ``run.backend`` of every point (``--backend``). Points whose backend runs many
        networks per launch (cuda) train together in one process (:func:`packs`).
    """
    if retries < 0:
        raise ConfigError(f"--retries must be >= 0, got {retries}")
    if gather and not scheduler and executor is None:
        raise ConfigError("--gather only applies with --scheduler (local workers write into the sweep folder)")
    pl = plan(experiment, sets, seeds, first_seed, config_path, smoke, backend=backend)
    if not scheduler and executor is None:    # points run here: a backend that cannot is one error, not N
        for name in sorted({str(p.config.get("run", {}).get("backend")) for p in pl.points} & set(backends.names())):
            why = backends.unavailable(name)
            if why:
                raise ConfigError(why)
    out = Path(out or Path("results") / "sweeps" / experiment).absolute()
    finished, info = _prepare(out, pl, resume, overwrite)
    ex = executor or _make_executor(workers, scheduler)    # reaches the scheduler before writing anything
    try:
        fsutil.prepare_folder(out)
    except SpikefaError:
        ex.close()
        raise
    now = datetime.datetime.now().isoformat(timespec="seconds")
    manifest = {"experiment": experiment, "axes": [{"name": a.name, "key": a.key, "values": list(a.labels)}
                                                   for a in pl.axes],
                "fixed": pl.fixed, "config_file": str(config_path) if config_path else None, "smoke": smoke,
                "points": len(pl.points), "spikefa_version": __version__, "executor": ex.describe()}
    old = json.loads((out / "sweep.json").read_text()) if (out / "sweep.json").exists() else {}
    manifest.update(created=old.get("created", now), **({"resumed": now} if old else {}))
    _write_json(out / "sweep.json", manifest)

    res = SweepResult(out, pl, skipped=[p.name for p in pl.points if p.name in finished])
    samples = dict(finished)
    todo = collections.deque(p for p in pl.points if p.name not in finished)
    errors = {p.name: [] for p in todo}
    inflight = {}
    bar = tqdm(total=len(pl.points), initial=len(finished), unit="pt", desc=f"sweep {experiment}",
               disable=not progress, dynamic_ncols=True, smoothing=0.1)

    def mark(p, status, **extra):
        folder = out / "points" / p.name
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / "point.json", {"name": p.name, "params": p.params, "overrides": list(p.overrides),
                                            "status": status, "attempts": res.attempts.get(p.name, 0),
                                            "errors": errors.get(p.name, []), "config": p.config, **extra})

    shown = [None]

    def show():
        retrying = sum(1 for p in todo if errors[p.name])
        running = [p for pack in inflight.values() for p in pack]
        where = [f"{p.name} {pr}" for p in running if (pr := point_progress(out / "points" / p.name))]
        text = (f"done {len(res.ran) + len(res.skipped)}, running {len(running)}, failed {len(res.failed)}"
                + (f", retrying {retrying}" if retrying else "") + (f" ({'; '.join(where)})" if where else ""))
        if text != shown[0]:        # redraw only on a change; the bar's own clock does the rest
            bar.set_postfix_str(text)
            shown[0] = text

    def finish(p, reply):
        folder = out / "points" / p.name
        for rel, blob in reply.pop("files", {}).items():
            dest = folder / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            fsutil.atomic_write(dest, lambda tmp, blob=blob: tmp.write_bytes(blob), "gathered file")
        info[p.name] = {k: reply.get(k) for k in ("seconds", "host", "pid")}
        if reply["ok"]:
            samples[p.name] = [Sample.from_json(s) for s in reply["samples"]]
            res.ran.append(p.name)
            mark(p, "done", samples=reply["samples"], result=reply.get("result"), **info[p.name],
                 finished=datetime.datetime.now().isoformat(timespec="seconds"))
            show()
            bar.update(1)
            return
        errors[p.name].append(reply["error"])
        if res.attempts[p.name] <= retries:
            todo.appendleft(p)
            mark(p, "retrying", **info[p.name])
        else:
            res.failed.append((p.name, res.attempts[p.name], reply["error"]))
            mark(p, "failed", **info[p.name])
            show()
            bar.update(1)
            bar.write(f"point {p.name} failed after {res.attempts[p.name]} attempt(s): {reply['error']}")

    try:
        while todo or inflight:
            while todo and len(inflight) < ex.capacity():
                p = todo.popleft()
                pack = [p, *(q for q in todo if packs(pl, q))] if packs(pl, p) else [p]
                for q in pack[1:]:
                    todo.remove(q)
                for q in pack:
                    res.attempts[q.name] = res.attempts.get(q.name, 0) + 1
                    mark(q, "running")
                task = {"experiment": experiment, "module": pl.module.__name__, "gather": bool(gather)}
                if len(pack) > 1:
                    task["points"] = [{"name": q.name, "config": q.config, "out": str(out / "points" / q.name)}
                                      for q in pack]
                else:
                    task.update(config=p.config, out=str(out / "points" / p.name))
                inflight[ex.submit(task)] = pack
            show()
            for fut in ex.wait(set(inflight), timeout=0.5):
                pack = inflight.pop(fut)
                try:
                    reply = ex.result(fut)
                except SpikefaError as e:
                    reply = {"ok": False, "error": str(e)}
                for p in pack:     # a pack's replies, one per point; a pack that died fails each of its points
                    finish(p, dict(reply["points"][p.name]) if "points" in reply else dict(reply))
            show()
    except KeyboardInterrupt:
        ex.close(cancel=True)
        bar.close()
        _write_outputs(res, samples, info, errors, metrics, interrupted=True)
        raise
    ex.close()
    bar.close()
    _write_outputs(res, samples, info, errors, metrics)
    return res


def _write_outputs(res: SweepResult, samples: dict, info: dict, errors: dict, metrics, interrupted=False):
    pl, out = res.plan, res.out
    done = [(p, samples[p.name]) for p in pl.points if p.name in samples]
    factors, rows = table.long_rows(done)
    res.table = table.aggregate(factors, rows)
    known = list(dict.fromkeys(r.metric for r in res.table))
    chosen = list(metrics or adapters.headline(pl.experiment) or known)
    unknown = [m for m in chosen if m not in known]
    chosen = [m for m in chosen if m in known] or known
    res.tests = table.welch_tests(factors, res.table, chosen) if res.table else []
    table.write_table_csv(out / "table.csv", factors, res.table)
    table.write_samples_csv(out / "samples.csv", factors, rows)
    table.write_tests_csv(out / "tests.csv", res.tests)
    failed = {name: (n, err) for name, n, err in res.failed}
    table.write_csv(out / "points.csv", ["point", *[a.name for a in pl.axes], "status", "attempts", "seconds", "host",
                                         "last_error"],
                    [[p.name, *(p.params[a.name] for a in pl.axes),
                      "done" if p.name in res.ran else "finished earlier" if p.name in res.skipped
                      else "failed" if p.name in failed else "unfinished",
                      res.attempts.get(p.name, 0), table.fmt((info.get(p.name) or {}).get("seconds"), 3),
                      (info.get(p.name) or {}).get("host") or "", (errors.get(p.name) or [""])[-1]]
                     for p in pl.points])
    counts = {"points": len(pl.points), "done": len(res.ran) + len(res.skipped), "skipped": len(res.skipped),
              "failed": len(res.failed)}
    title = f"spikefa sweep {pl.experiment}" + (" (interrupted)" if interrupted else "")
    text = table.summary_markdown(title, factors, res.table, res.tests, chosen, res.failed, counts)
    if unknown:
        text += f"\nNo metric {', '.join(unknown)} in the results; metrics: {', '.join(known)}.\n"
    if not interrupted and counts["done"] + counts["failed"] < counts["points"]:
        text += f"\n{counts['points'] - counts['done'] - counts['failed']} points did not finish.\n"
    res.summary = text
    (out / "summary.md").write_text(text)
