"""Where the points run: local worker processes (default) or a dask.distributed cluster.

Both offer the same small interface to the sweep's loop: ``capacity()`` (points that can
run at once), ``submit(task)`` -> a future, ``wait(futures, timeout)`` -> the finished
ones, ``result(future)`` (raises when the worker died), ``close()``.
"""

import concurrent.futures as cf
import multiprocessing
import os
import time

from ..errors import ConfigError, SpikefaError
from . import worker

CONNECT_TIMEOUT = 10.0   # seconds to reach a scheduler before giving up


def cpu_count() -> int:
    """Cores this process may use (the affinity mask where there is one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class LocalExecutor:
    """``workers`` spawned processes, each single-threaded (numba, OpenMP, OpenBLAS).

    Spawned, not forked: a fork would copy the parent's numba and OpenMP thread pools.
    The thread variables are put into the environment while processes start (a worker
    reads them when it imports numpy and numba, before any code of ours runs) and
    restored after. Each worker is a pool of its own, kept for the whole sweep: when a
    worker dies (killed, out of memory, a crash in native code) only the point it ran
    fails that attempt, and a fresh process takes its place.
    """

    kind = "local"

    def __init__(self, workers: int | None = None):
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {workers}")
        self.workers = workers or cpu_count()
        self._slots = [None] * self.workers     # one single-process pool per worker
        self._busy = {}                         # future -> slot

    def describe(self) -> str:
        return f"{self.workers} local worker process{'es' if self.workers != 1 else ''}"

    def capacity(self) -> int:
        return self.workers

    def submit(self, task):
        i = next(i for i in range(self.workers) if i not in self._busy.values())
        saved = {k: os.environ.get(k) for k in worker.THREAD_VARS}
        os.environ.update(worker.single_threaded_env())   # the process starts on its first submit
        try:
            if self._slots[i] is None:
                self._slots[i] = cf.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                        initializer=worker.init_local_worker)
            fut = self._slots[i].submit(worker.run_point, task)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self._busy[fut] = i
        return fut

    def wait(self, futures, timeout):
        done, _ = cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return done

    def result(self, fut):
        i = self._busy.pop(fut)
        try:
            return fut.result()
        except cf.process.BrokenProcessPool as e:
            self._slots[i].shutdown(wait=False, cancel_futures=True)
            self._slots[i] = None
            raise SpikefaError(f"worker process died ({e or 'killed'})") from None

    def close(self, cancel: bool = False):
        """Stop the workers; ``cancel`` (an interrupted sweep) also ends the points they run,
        which is safe: results and checkpoints are written atomically, and the points are
        run again on --resume. Otherwise Python would wait for them at exit."""
        for pool in self._slots:
            if pool is None:
                continue
            if cancel:
                # Python < 3.14 has no public way to end a pool's processes
                procs = getattr(pool, "_processes", None) or {}
                for proc in list(procs.values()):
                    if proc.is_alive():
                        proc.terminate()
            pool.shutdown(wait=not cancel, cancel_futures=cancel)
        self._slots = [None] * self.workers
        self._busy.clear()


class DaskExecutor:
    """Points run as tasks of an existing dask.distributed scheduler at ``address``.

    The workers need spikefa installed (the same version) and, unless ``gather`` is
    used, the sweep folder at the same path (a shared file system).
    """

    kind = "dask"

    def __init__(self, address: str, workers: int | None = None, timeout: float | None = None):
        try:
            import distributed
        except ImportError:
            raise SpikefaError("--scheduler needs dask.distributed: pip install 'spikefa[dask]'") from None
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {workers}")
        self._distributed = distributed
        self.address = address
        self.workers = workers
        try:
            self.client = distributed.Client(address, timeout=timeout or CONNECT_TIMEOUT, set_as_default=False)
        except Exception as e:  # noqa: BLE001 - OSError, TimeoutError, ValueError for a bad address...
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise SpikefaError(f"--scheduler {address}: cannot reach a dask scheduler there ({why}); "
                               "start one with `dask scheduler` and workers with `dask worker ADDRESS`") from None

    def describe(self) -> str:
        return f"dask scheduler {self.address} ({self.capacity()} worker threads now)"

    def capacity(self) -> int:
        if self.workers:
            return self.workers
        info = self.client.scheduler_info(n_workers=-1) if _takes_n_workers(self.client) \
            else self.client.scheduler_info()
        # workers may join later: keep one point queued so a new worker finds work
        return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))

    def submit(self, task):
        return self.client.submit(worker.run_point, task, pure=False)

    def wait(self, futures, timeout):
        # polled: distributed.wait() looks for a default client, and this one is not
        end = time.monotonic() + timeout
        while True:
            done = {f for f in futures if f.done()}
            if done or time.monotonic() >= end:
                return done
            time.sleep(0.05)

    def result(self, fut):
        try:
            return fut.result()
        except Exception as e:  # noqa: BLE001 - KilledWorker, a worker without spikefa, a lost connection
            raise SpikefaError(worker.error_line(e)) from None

    def close(self, cancel: bool = False):
        self.client.close()


def _takes_n_workers(client) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        return False
