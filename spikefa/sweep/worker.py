"""What runs on a worker: one point of a sweep, in a local process or on a dask worker.

:func:`run_point` never raises for a failure of the run itself: it returns ``ok: False``
with a one-line error and the traceback (also written to the point's ``log.txt``), so
that any exception, picklable or not, reaches the sweep as a message.
"""

import contextlib
import importlib
import io
import os
import re
import shutil
import socket
import tempfile
import time
import traceback
from pathlib import Path

# one thread per worker: a machine runs as many points as it has cores, and a point that
# also threads (numba, OpenBLAS) would fight the others for them
THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# the point's own progress bars (tqdm, redrawn at most every 2 s): `tail -f` it, and the
# sweep's bar shows the newest percentage of each running point
PROGRESS_FILE = "progress.txt"
PROGRESS_EVERY = "2"

# files a gathering worker does not send back: the spiking network's checkpoint is
# hundreds of MB and only a local resume needs it
NOT_GATHERED = ("checkpoint.npz",)


def single_threaded_env() -> dict:
    return {v: "1" for v in THREAD_VARS}


def init_local_worker() -> None:
    """Initializer of a local worker process (its environment already says one thread)."""
    os.environ.update(single_threaded_env())


def error_line(err: BaseException) -> str:
    """An exception as one line: the user-facing message of a SpikefaError, else type: message."""
    from ..errors import SpikefaError

    msg = " / ".join(line.strip() for line in str(err).strip().splitlines())
    return msg if isinstance(err, SpikefaError) and msg else f"{type(err).__name__}: {msg}".rstrip(": ")


def run_point(task: dict) -> dict:
    """Run one point and read its metrics back from its result file.

    Parameters
    ----------
    task : dict
        ``experiment`` (name), ``module`` (where it is defined), ``config`` (the point's
        full configuration), ``out`` (its folder; on a dask worker without a shared
        folder, ``gather: True`` runs in a temporary folder and sends the files back).

    Returns
    -------
    dict
        ``ok``, ``seconds``, ``host``, ``pid``; on success ``samples`` (list of
        :class:`~spikefa.sweep.adapters.Sample` as JSON) and ``result`` (what the
        experiment's ``run`` returned, as strings); on failure ``error`` and ``traceback``;
        with ``gather`` also ``files`` ({relative path: bytes}).
    """
    if "points" in task:
        return run_pack(task)
    t0 = time.perf_counter()
    info = {"host": socket.gethostname(), "pid": os.getpid()}
    out = Path(tempfile.mkdtemp(prefix="spikefa-point-")) if task.get("gather") else Path(task["out"])
    log = io.StringIO()
    try:
        out.mkdir(parents=True, exist_ok=True)
        from ..results import read_results
        from .adapters import samples

        exp = importlib.import_module(task["module"])
        # a checkpoint left by an earlier attempt or an interrupted sweep: continue from it
        resume = (out / "checkpoint.npz").exists()
        os.environ["TQDM_MININTERVAL"] = PROGRESS_EVERY
        with open(out / PROGRESS_FILE, "w") as bars, contextlib.redirect_stdout(log), \
                contextlib.redirect_stderr(bars):
            result = exp.run(task["config"], out, progress=True, resume=resume, overwrite=True)
        found = samples(exp, read_results(out / "results.h5"))
        reply = {"ok": True, "samples": [s.to_json() for s in found],
                 "result": {str(k): str(v) for k, v in (result or {}).items()}}
    except Exception as e:  # noqa: BLE001 - every failure of a point is reported, none is lost
        reply = {"ok": False, "error": error_line(e), "traceback": traceback.format_exc()}
        log.write(reply["traceback"])
    reply.update(info, seconds=time.perf_counter() - t0)
    return _finish(reply, out, log, task.get("gather"))


def _finish(reply: dict, out: Path, log, gather) -> dict:
    """Append the attempt to the point's ``log.txt``; with ``gather`` pack its files into the reply."""
    try:   # every attempt appends: the log keeps the tracebacks of earlier ones
        with open(out / "log.txt", "a") as f:
            f.write(f"--- attempt on {reply['host']} (pid {reply['pid']}) at {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                    f"{'ok' if reply['ok'] else 'failed'}\n{log.getvalue()}")
    except OSError:
        pass
    if gather:
        reply["files"] = {str(f.relative_to(out)): f.read_bytes() for f in sorted(out.rglob("*"))
                          if f.is_file() and f.name not in NOT_GATHERED}
        shutil.rmtree(out, ignore_errors=True)
    return reply


def run_pack(task: dict) -> dict:
    """Run the points of a pack in this one process, their networks advancing together
    (:func:`spikefa.training.run_lockstep`: K networks per launch of a backend that runs
    many); each point gets its folder, ``log.txt``, ``progress.txt`` and reply exactly as
    :func:`run_point` gives them, and one point's failure (a NaN) leaves the others running.

    Parameters
    ----------
    task : dict
        ``experiment``, ``module``, ``gather`` as for :func:`run_point`, and ``points``: a list
        of ``{"name", "config", "out"}``.

    Returns
    -------
    dict
        ``ok: True`` and ``points``: ``{name: reply}``, each as :func:`run_point`'s (its
        ``seconds`` counted from the start of the pack to the end of that point).
    """
    from ..results import read_results
    from ..training import Trainer, run_lockstep
    from .adapters import samples

    t0 = time.perf_counter()
    info = {"host": socket.gethostname(), "pid": os.getpid()}
    pts = task["points"]
    outs = [Path(tempfile.mkdtemp(prefix="spikefa-point-")) if task.get("gather") else Path(pt["out"]) for pt in pts]
    logs = [io.StringIO() for _ in pts]
    replies, seconds = {}, {}

    def failure(i, e):
        tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        logs[i].write(tb)
        replies[i] = {"ok": False, "error": error_line(e), "traceback": tb}

    os.environ["TQDM_MININTERVAL"] = PROGRESS_EVERY
    with contextlib.ExitStack() as files:
        bars = []
        for out in outs:
            out.mkdir(parents=True, exist_ok=True)
            bars.append(files.enter_context(open(out / PROGRESS_FILE, "w")))

        @contextlib.contextmanager
        def own_files(i):      # a point's prints go to its log, its progress bar to its progress.txt
            with contextlib.redirect_stdout(logs[i]), contextlib.redirect_stderr(bars[i]):
                yield

        trainers, index = [], []
        for i, (pt, out) in enumerate(zip(pts, outs)):
            try:
                with own_files(i):
                    # a checkpoint left by an earlier attempt or an interrupted sweep: continue from it
                    trainers.append(Trainer(importlib.import_module(task["module"]), pt["config"], out, progress=True,
                                            resume=(out / "checkpoint.npz").exists(), overwrite=True))
                index.append(i)
            except Exception as e:  # noqa: BLE001 - a point that cannot start fails alone
                failure(i, e)
        try:
            outcome = run_lockstep(trainers, context=lambda k: own_files(index[k]),
                                   finished=lambda k, _: seconds.__setitem__(index[k], time.perf_counter() - t0))
        except Exception as e:  # noqa: BLE001 - the pack cannot start (not one network fits the device)
            outcome = [e] * len(trainers)
    for k, i in enumerate(index):
        if isinstance(outcome[k], BaseException):
            failure(i, outcome[k])
            continue
        try:
            found = samples(importlib.import_module(task["module"]), read_results(outs[i] / "results.h5"))
            replies[i] = {"ok": True, "samples": [s.to_json() for s in found],
                          "result": {str(a): str(b) for a, b in (outcome[k] or {}).items()}}
        except Exception as e:  # noqa: BLE001
            failure(i, e)
    return {"ok": True, "points": {pt["name"]: _finish({**replies[i], **info, "seconds": seconds.get(i, time.perf_counter() - t0)},
                                                         outs[i], logs[i], task.get("gather"))
                                   for i, pt in enumerate(pts)}}


def point_progress(folder) -> str | None:
    """How far a running point is ("35%" of its newest progress bar), or None if unknown."""
    try:
        with open(Path(folder) / PROGRESS_FILE, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 400))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    found = re.findall(r"(\d+)%\|", tail)
    return f"{found[-1]}%" if found else None
