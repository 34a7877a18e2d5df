"""The ``spikefa`` command: list, run, sweep, plot and benchmark experiments.

Every error a user can cause (bad name, option, size, missing data) is printed as one
line, ``spikefa: error: ...``, with exit status 2; never a traceback from inside a kernel.
"""

import argparse
import signal
import sys
from pathlib import Path

from . import __version__, config, experiments
from .engine import backends
from .errors import SpikefaError


def _cmd_list(args) -> int:
    from .rules import get_rule, rule_names

    print("experiments (spikefa run NAME):")
    for name in experiments.names():
        print(f"  {name:24s} {experiments.get(name).DESCRIPTION}")
    print("feedback rules (--rule NAME):")
    for name in rule_names():
        print(f"  {name:24s} {get_rule(name).description}")
    return 0


# command-line shortcuts for [run] fields; everything else goes through --set
_RUN_OPTIONS = ("epochs", "train_images", "test_images", "seed", "threads", "backend", "rule", "data_dir")


def _cmd_run(args) -> int:
    exp = experiments.get(args.experiment)
    sets = []
    if args.smoke:
        sets += [f"{sec}.{k}={v!r}".replace("'", '"') for sec, vals in exp.SMOKE.items() for k, v in vals.items()]
    for key in _RUN_OPTIONS:
        val = getattr(args, key)
        if val is not None:
            sets.append(f"run.{key}={val!r}".replace("'", '"'))
    if args.record:
        if "record" not in exp.defaults():
            raise SpikefaError(f"--record: experiment {args.experiment} has no spikes to record")
        sets.append("record.enabled=true")
    preset = config.preset_path(exp, args.preset) if args.preset else None
    cfg = config.build(exp.defaults(), args.config, sets + list(args.set or []), preset=preset)
    out = Path(args.out or Path("results") / args.experiment)
    # BLAS threads follow the engine's thread setting (default 1): on a shared 2-core machine
    # a multi-threaded BLAS under load made the rate experiments 7x slower, not faster
    from threadpoolctl import threadpool_limits

    n = cfg["run"].get("threads", 1)
    made = not out.exists()
    try:
        with threadpool_limits(limits=n if isinstance(n, int) and n >= 1 else 1, user_api="blas"):
            result = exp.run(cfg, out, progress=not args.quiet, resume=args.resume, overwrite=args.overwrite)
    except SpikefaError:
        if made and out.is_dir() and not any(out.iterdir()):
            out.rmdir()     # a run that failed before writing anything leaves no folder behind
        raise
    print(f"{args.experiment}: {_summary(result)}")
    return 0


def _summary(result: dict) -> str:
    """A run's result dict: its scalars on one line (``key value; ...``), then its nested
    dicts (one figure per rule or condition) as one table, a row per inner key."""
    from .sweep.table import markdown

    def one(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    flat = "; ".join(f"{k} {one(v)}" for k, v in result.items() if not isinstance(v, dict))
    nested = {k: v for k, v in result.items() if isinstance(v, dict)}
    if not nested:
        return flat
    rows = list(dict.fromkeys(r for v in nested.values() for r in v))
    table = markdown(["", *nested], [[r, *(one(v.get(r, "")) for v in nested.values())] for r in rows])
    return flat + "\n" + table


def _cmd_bench(args) -> int:
    from . import bench

    common = dict(threads=args.threads, images=args.images, rule=args.rule, feedback_dtype=args.feedback_dtype,
                  data_dir=args.data_dir, overrides=args.set)
    if args.backend == backends.DEFAULT:
        bench.run(repeats=args.repeats or 7, **common, **({"checkpoint": args.checkpoint} if args.checkpoint else {}))
    elif args.checkpoint:
        raise SpikefaError(f"--checkpoint: only the Numba benchmark starts from a trained state; "
                           f"leave out --backend {args.backend}")
    elif backends.runs_many(args.backend):
        bench.run_many_beside(args.backend, repeats=args.repeats or 3, **common)
    else:
        bench.run_beside(args.backend, repeats=args.repeats or 3, **common)
    return 0


def _cmd_eval(args) -> int:
    from threadpoolctl import threadpool_limits

    from .evaluate import evaluate

    with threadpool_limits(limits=1, user_api="blas"):
        r = evaluate(args.run_dir, test_steps=args.test_steps, test_images=args.test_images, threads=args.threads,
                     data_dir=args.data_dir)
    where = f"end of epoch {r['epoch']}" if r["image"] == 0 else f"epoch {r['epoch'] + 1}, image {r['image']}"
    print(f"{args.run_dir}: test error {100 * r['test_error']:.2f} % with {r['test_steps']} test steps on "
          f"{r['test_images']:,} test images ({where}, step {r['step']:,}; {r['seconds']:.0f} s); "
          f"recorded in eval.json")
    return 0


def _cmd_export_summary(args) -> int:
    from . import summary

    out = args.out or f"docs/results/{args.name}.json"
    doc = summary.export(args.run_dirs, args.name, out, title=args.title or "", command=args.command or "",
                         baseline=args.baseline or "")
    if doc["kind"] == "sweep":
        what = f"{len(doc['samples'])} samples of a sweep"
    else:
        what = "seeds " + ", ".join(f"{r['seed']} ({r['epochs_done']} epochs)" for r in doc["runs"])
    print(f"wrote {out}: {doc['experiment']}, commit {doc['commit']}, {what}")
    return 0


def _cmd_report(args) -> int:
    from . import report

    out = report.write(args.results, args.out, args.figures)
    print(f"wrote {out} (figures in {args.figures})")
    return 0


def _cmd_show(args) -> int:
    from .show import describe

    print(describe(args.run_dir))
    return 0


def _cmd_export_nwb(args) -> int:
    from .recording import export_nwb

    out = export_nwb(args.rasters, args.out, step_seconds=args.step_seconds)
    print(f"wrote {out}")
    return 0


def _cmd_plot(args) -> int:
    import matplotlib

    matplotlib.use("Agg")   # files only, never a window
    from . import plots

    window = int(args.window) if args.window is not None and args.window.lstrip("-").isdigit() else args.window
    out = plots.plot_file(args.file, kind=args.kind, out=args.out, window=window, trace=args.trace, fmt=args.format)
    print(f"wrote {out}")
    return 0


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _cmd_sweep(args) -> int:
    from .sweep import plan, run_sweep

    grid = {"sets": list(args.set or []), "seeds": args.seeds, "first_seed": args.first_seed,
            "config_path": args.config, "smoke": args.smoke, "backend": args.backend}
    if args.dry_run:
        from .sweep.runner import packs

        pl = plan(args.experiment, **grid)
        axes = ", ".join(f"{a.name} ({len(a.labels)})" for a in pl.axes) or "none"
        packed = sum(packs(pl, p) for p in pl.points)
        print(f"{args.experiment}: {len(pl.points)} points; axes: {axes}"
              + (f"; {packed} train together in one process (backend runs many networks per launch)"
                 if packed > 1 else ""))
        for p in pl.points:
            print(f"  {p.name}")
        return 0
    # SIGTERM (kill, a batch system's time limit) stops a sweep as Ctrl-C does: its worker
    # processes are ended and the table so far is written. Left to the default, the sweep
    # would die alone and its workers run on, orphaned.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        res = run_sweep(args.experiment, **grid, out=args.out, workers=args.workers, scheduler=args.scheduler,
                        gather=args.gather, retries=args.retries, resume=args.resume, overwrite=args.overwrite,
                        progress=not args.quiet, metrics=args.metric)
    except KeyboardInterrupt:
        print("spikefa: interrupted; finished points and the table so far are in the sweep folder "
              "(continue with --resume)", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(res.summary)
    print(f"wrote {res.out}/summary.md, table.csv, tests.csv, samples.csv, points.csv")
    if res.failed:
        print(f"spikefa: {len(res.failed)} of {len(res.plan.points)} points failed (listed above); "
              "run again with --resume to retry them", file=sys.stderr)
        return 1
    return 0


def _threads(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number (0: all cores), got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (all cores) or >= 1, got {v}")
    return v


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="spikefa", description="Deep learning without weight transport: "
                                 "spiking and rate-based networks, feedback-path rules, experiments.")
    ap.add_argument("--version", action="version", version=f"spikefa {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("list", help="list experiments and feedback rules").set_defaults(fn=_cmd_list)

    r = sub.add_parser("run", help="run an experiment", description="Run an experiment; see `spikefa list`.")
    r.add_argument("experiment", help="experiment name, e.g. lillicrap2016-spiking")
    r.add_argument("--preset", help="a named variant of the experiment's defaults, applied before --config "
                                    "and --set (lillicrap2016-spiking: paper, the protocol of [L16])")
    r.add_argument("--config", help="TOML file overriding the experiment's defaults")
    r.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one field, e.g. --set network.eta=2e-3 (repeatable)")
    r.add_argument("--smoke", action="store_true", help="a small run that finishes in about a minute")
    r.add_argument("--epochs", type=_positive_int, help="epochs to train (default: the experiment's; the recipe: 30)")
    r.add_argument("--train-images", type=_positive_int, help="use the first N training images")
    r.add_argument("--test-images", type=_positive_int, help="use the first N test images")
    r.add_argument("--seed", type=int, help="seed of weights and feedback matrices")
    r.add_argument("--threads", type=_threads,
                   help="threads of the Numba engine; 0: all cores (the paper network's default; "
                        "use 1 on a machine shared with other jobs)")
    r.add_argument("--backend", choices=backends.names(), help="simulation backend (default numba)")
    r.add_argument("--rule", help="feedback rule (see `spikefa list`)")
    r.add_argument("--data-dir", help="folder with the IDX .gz files (default: $SPIKEFA_DATA, then the cache)")
    r.add_argument("-o", "--out", help="output folder (default results/EXPERIMENT)")
    r.add_argument("--resume", action="store_true", help="continue from the output folder's last checkpoint")
    r.add_argument("--overwrite", action="store_true", help="replace a run already in the output folder")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--record", action="store_true",
                   help="stream spike rasters and traces to OUT/rasters.h5 (the [record] section says what)")
    r.set_defaults(fn=_cmd_run)

    sh = sub.add_parser("show", help="what a run folder holds: configuration, per-epoch table, files",
                        description="Print a run's configuration, commit, final figures, every series of its "
                                    "results.h5 as a table with units, and the files in its folder.")
    sh.add_argument("run_dir", help="output folder of spikefa run")
    sh.set_defaults(fn=_cmd_show)

    ev = sub.add_parser("eval", help="score a run's checkpoint with other test settings",
                        description="Show the test set to the network of RUN_DIR/checkpoint.npz with plasticity "
                                    "off, as after every epoch, with other test settings (e.g. --test-steps 20: "
                                    "a less noisy readout than the paper's 5 steps). With the run's own settings "
                                    "it gives its last test error exactly. Appends the result to RUN_DIR/eval.json.")
    ev.add_argument("run_dir", help="output folder of a lillicrap2016-spiking run")
    ev.add_argument("--test-steps", type=_positive_int, help="steps per test image (default: the run's)")
    ev.add_argument("--test-images", type=_positive_int, help="score the first N test images (default: the run's)")
    ev.add_argument("--threads", type=_threads, default=0, help="threads of the Numba engine (default 0: all cores)")
    ev.add_argument("--data-dir", help="folder with the IDX .gz files (default: the run's, $SPIKEFA_DATA, the cache)")
    ev.set_defaults(fn=_cmd_eval)

    ex = sub.add_parser("export", help="export runs to other formats (summary: the JSON behind docs/results.md)")
    exs = ex.add_subparsers(dest="format", required=True, metavar="FORMAT")
    en = exs.add_parser("nwb", help="a raster file (rasters.h5) as NWB (needs the nwb extra)",
                        description="Write the spikes, traces, windows and images of a rasters.h5 to a Neurodata "
                                    "Without Borders file: one unit per recorded unit, windows as epochs, images "
                                    "as trials. Needs pip install 'spikefa[nwb]'.")
    en.add_argument("rasters", help="a rasters.h5 written by spikefa run --record")
    en.add_argument("out", help="the .nwb file to write")
    en.add_argument("--step-seconds", type=float, default=1e-3,
                    help="duration of one step in seconds (default 0.001; the model itself has no time unit)")
    en.set_defaults(fn=_cmd_export_nwb)
    es = exs.add_parser("summary", help="the seeds of one configuration as a small JSON summary for spikefa report",
                        description="Summarise runs of one configuration and commit (their seeds) from their "
                                    "results.h5 and eval.json into docs/results/NAME.json, small enough to "
                                    "commit; spikefa report turns the summaries into docs/results.md.")
    es.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="output folders of the runs, one per seed")
    es.add_argument("--name", required=True, help="name of the summary (its file name)")
    es.add_argument("--title", help="heading of its section in docs/results.md (default: the name)")
    es.add_argument("-o", "--out", help="file to write (default docs/results/NAME.json)")
    es.add_argument("--command", help="the command that made the runs, shown beside the results")
    es.add_argument("--baseline", metavar="NAME", help="another summary to compare with, seed by seed at this "
                    "summary's last epoch (e.g. a variant beside the defaults)")
    es.set_defaults(fn=_cmd_export_summary)

    rp = sub.add_parser("report", help="regenerate docs/results.md from the summaries in docs/results/",
                        description="Write docs/results.md (tables, statistics over seeds, t-tests against the "
                                    "paper) and its figures from the JSON summaries of spikefa export summary.")
    rp.add_argument("--results", default="docs/results", help="folder of the summaries (default docs/results)")
    rp.add_argument("-o", "--out", default="docs/results.md", help="Markdown file to write (default docs/results.md)")
    rp.add_argument("--figures", default="docs/figures", help="folder of the figures (default docs/figures)")
    rp.set_defaults(fn=_cmd_report)

    pl = sub.add_parser("plot", help="draw a saved raster or result file to PNG",
                        description="Draw rasters.h5 (Fig. 4 of [L16], rasters, traces) or results.h5 "
                                    "(learning curve) to a PNG.")
    pl.add_argument("file", help="a rasters.h5 or results.h5 written by spikefa run")
    pl.add_argument("--kind", choices=["fig4", "raster", "traces", "learning"],
                    help="default: fig4 for a raster file, learning for a result file")
    pl.add_argument("-o", "--out", help="figure to write (default FILE-KIND.FORMAT beside FILE)")
    pl.add_argument("--format", choices=["png", "svg", "pdf"],
                    help="file format (default: from --out's suffix, else png)")
    pl.add_argument("--window", help="window name or position (fig4: only it; raster, traces: default the last)")
    pl.add_argument("--trace", type=int, default=0, help="fig4: which traced unit to show (default 0)")
    pl.set_defaults(fn=_cmd_plot)

    b = sub.add_parser("bench", help="ms/step of the paper network: Numba engine vs dense NumPy (or vs Brian2)")
    b.add_argument("--threads", type=_threads, default=0,
                   help="threads of the Numba engine (default 0: all cores, as spikefa run)")
    b.add_argument("--images", type=_positive_int, default=40, help="images per timed run (5 steps each)")
    b.add_argument("--repeats", type=_positive_int, help="timed runs (default 7; 3 with another --backend)")
    b.add_argument("--backend", choices=backends.names(), default=backends.DEFAULT,
                   help="another backend (e.g. brian2): time it beside the Numba engine on the same network")
    b.add_argument("--rule", default="fa", help="feedback rule of the timed network (default fa)")
    b.add_argument("--feedback-dtype", choices=["auto", "float32", "int8"],
                   help="storage of B (default: the run's, auto: int8 when the rule keeps B fixed)")
    b.add_argument("--data-dir", help="folder with the MNIST IDX .gz files (default: $SPIKEFA_DATA, then the cache)")
    b.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a network field")
    b.add_argument("--checkpoint", help="time a trained network: the checkpoint.npz of a lillicrap2016-spiking run")
    b.set_defaults(fn=_cmd_bench)

    sw = sub.add_parser("sweep", help="run an experiment over seeds, rules and parameters; tabulate",
                        description="Run a grid of points (every --set with comma-separated values is an "
                                    "axis, --seeds N one more) on local worker processes or a dask cluster, "
                                    "each into its own folder, and write one table: mean, s.d. and n per "
                                    "condition, with Welch's t-tests. See docs/sweeps.md.")
    sw.add_argument("experiment", help="experiment name (see `spikefa list`)")
    sw.add_argument("--seeds", type=int, metavar="N", help="N seeds per condition (a seed axis)")
    sw.add_argument("--first-seed", type=int, default=0, metavar="S", help="seeds S .. S+N-1 (default 0)")
    sw.add_argument("--set", action="append", metavar="KEY=V1,V2,...",
                    help="a field for every point, or with commas an axis, e.g. --set rule=fa,bp (repeatable)")
    sw.add_argument("--config", help="TOML file overriding the experiment's defaults")
    sw.add_argument("--smoke", action="store_true", help="each point at the experiment's smoke size")
    sw.add_argument("--workers", type=int, metavar="N",
                    help="points at once (default: this machine's cores; with --scheduler: the cluster's threads)")
    sw.add_argument("--scheduler", metavar="ADDRESS", help="run on a dask.distributed scheduler, e.g. tcp://host:8786")
    sw.add_argument("--gather", action="store_true",
                    help="with --scheduler: workers send each point's files back (no shared folder needed)")
    sw.add_argument("--retries", type=int, default=1, metavar="N", help="extra attempts of a failed point (default 1)")
    sw.add_argument("-o", "--out", help="sweep folder (default results/sweeps/EXPERIMENT)")
    sw.add_argument("--resume", action="store_true", help="continue the sweep in --out: finished points are skipped")
    sw.add_argument("--overwrite", action="store_true", help="replace a sweep already in --out")
    sw.add_argument("--metric", action="append", metavar="NAME",
                    help="metric to summarise and test (repeatable; default: the experiment's headline metrics)")
    sw.add_argument("--backend", choices=backends.names(),
                    help="run.backend of every point; with cuda the points train together in one process, "
                         "K networks per launch (docs/gpu.md)")
    sw.add_argument("--dry-run", action="store_true", help="list the points and stop")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")
    sw.set_defaults(fn=_cmd_sweep)
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except SpikefaError as e:
        print(f"spikefa: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spikefa: interrupted; completed epochs are in the output folder's results.h5 and "
              "checkpoint.npz (continue with --resume)", file=sys.stderr)
        return 130
    except BrokenPipeError:    # spikefa list | head
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
