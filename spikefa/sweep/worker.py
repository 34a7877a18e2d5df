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
    try:   # every attempt appends: the log keeps the tracebacks of earlier ones
        with open(out / "log.txt", "a") as f:
            f.write(f"--- attempt on {info['host']} (pid {info['pid']}) at {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                    f"{'ok' if reply['ok'] else 'failed'}\n{log.getvalue()}")
    except OSError:
        pass
    reply.update(info, seconds=time.perf_counter() - t0)
    if task.get("gather"):
        reply["files"] = {str(f.relative_to(out)): f.read_bytes() for f in sorted(out.rglob("*"))
                          if f.is_file() and f.name not in NOT_GATHERED}
        shutil.rmtree(out, ignore_errors=True)
    return reply


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
