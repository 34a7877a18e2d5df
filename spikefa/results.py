"""Result files (HDF5): the configuration, seeds and version beside the numbers.

Layout of ``results.h5``::

    attrs:  format = "spikefa-results", version, experiment, config (JSON), seeds (JSON),
            git_commit, created (ISO time), resumed (ISO time of the last --resume)
    /<name> one dataset per series, one record per row, e.g. ``epoch``, ``heldout``: a
            compound type of named float64 fields, with attributes ``description``,
            ``field_units`` and ``field_descriptions`` (one string per field);
            whole arrays stored with ``put`` may have nested names (``curves/fa/nse``)
            and carry ``unit`` and ``description`` attributes
    /summary attrs: final figures (e.g. test_error) once the run ends, or ``stopped``
            (the reason) when it ended early.

The writer keeps the series in memory and rewrites the whole (small) file atomically on
every change (:func:`spikefa.fsutil.atomic_write`): a kill at any moment, even in the
middle of a write, leaves a readable file holding every row written before, and a full
disk leaves the previous file intact. ``results.h5`` belongs to this writer; bulk data
(spike recordings) go to files of their own.
"""

import datetime
import json
import subprocess
from pathlib import Path

import h5py
import numpy as np

from . import __version__
from .errors import SpikefaError
from .fsutil import atomic_write

FORMAT = "spikefa-results"


def git_commit() -> str:
    """The short commit of the code that runs, with "+dirty" when tracked files differ from
    it ("unknown" outside a git checkout, e.g. installed from a wheel)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True,
                              timeout=5).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        return (head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")) if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class ResultsWriter:
    """Writer of one result file. ``append(name, row)`` adds one row and rewrites the file.

    Parameters
    ----------
    path : path-like
    experiment : str
    config, seeds : dict
        Stored as JSON attributes.
    mode : {"w", "a"}
        ``"w"`` starts a new file; ``"a"`` keeps the rows of an existing one (resume).

    Raises
    ------
    StorageError
        When the file cannot be written (the previous version stays as it was).
    SpikefaError
        When ``mode="a"`` and the existing file is not a readable result file.
    """

    def __init__(self, path, experiment: str, config: dict, seeds: dict, mode: str = "w", schema: dict | None = None):
        self.path = Path(path)
        self.attrs: dict = {}
        self.series: dict = {}
        self.summary_attrs: dict = {}
        # series name -> (description, [(field, unit, description), ...]); arrays of put -> (unit, description)
        self.schema: dict = dict(schema or {})
        self.array_attrs: dict = {}
        now = datetime.datetime.now().isoformat(timespec="seconds")
        if mode == "a" and self.path.exists():
            old = read_results(self.path)
            self.attrs = old["attrs"]
            self.summary_attrs = old["summary"]
            self.series = {k: v for k, v in old.items() if k not in ("attrs", "config", "summary", "fields")}
            self.attrs["resumed"] = now   # the config may differ in run length or threads; keep the latest
        else:
            self.attrs.update(format=FORMAT, experiment=experiment, created=now)
        self.attrs.update(version=__version__, git_commit=git_commit(), config=json.dumps(config),
                          seeds=json.dumps(seeds))
        self._write()

    def rows(self, name: str) -> int:
        """Rows of series ``name`` (0 if it has none yet)."""
        return len(self.series[name]) if name in self.series else 0

    def append(self, name: str, row) -> None:
        row = np.atleast_1d(np.asarray(row, dtype=np.float64)).reshape(1, -1)
        old = self.series.get(name)
        if old is not None and old.shape[1] != row.shape[1]:
            raise ValueError(f"{name}: row of {row.shape[1]} values, the series has {old.shape[1]}")
        self.series[name] = row if old is None else np.concatenate([old, row])
        self._write()

    def put(self, name: str, array, unit: str = "", description: str = "") -> None:
        """Store a whole array as dataset ``name`` (``a/b/c`` makes groups) and write the file."""
        self.series[name] = np.asarray(array)
        self.array_attrs[name] = (unit, description)
        self._write()

    def truncate(self, name: str, rows: int) -> None:
        """Drop rows past ``rows`` (used when resuming from an earlier checkpoint)."""
        if self.rows(name) > rows:
            self.series[name] = self.series[name][:rows]
            self._write()

    def summary(self, **values) -> None:
        self.summary_attrs.update(values)
        self._write()

    def close(self) -> None:
        """Nothing to do: every change is already on disk."""

    def _write(self) -> None:
        def write(tmp):
            with h5py.File(tmp, "w") as f:
                for k, v in self.attrs.items():
                    f.attrs[k] = v
                for name, arr in self.series.items():
                    self._dataset(f, name, arr)
                if self.summary_attrs:
                    g = f.create_group("summary")
                    for k, v in self.summary_attrs.items():
                        g.attrs[k] = v

        atomic_write(self.path, write, "result file")

    def _dataset(self, f, name: str, arr) -> None:
        if name in self.schema and arr.ndim == 2:
            description, fields = self.schema[name]
            if len(fields) != arr.shape[1]:
                raise ValueError(f"{name}: {arr.shape[1]} columns but {len(fields)} fields described")
            rec = np.empty(len(arr), dtype=[(fname, "<f8") for fname, _, _ in fields])
            for k, (fname, _, _) in enumerate(fields):
                rec[fname] = arr[:, k]
            d = f.create_dataset(name, data=rec)
            d.attrs["description"] = description
            d.attrs["field_units"] = [u for _, u, _ in fields]
            d.attrs["field_descriptions"] = [t for _, _, t in fields]
            return
        d = f.create_dataset(name, data=arr)
        unit, description = self.array_attrs.get(name, ("", ""))
        if description:
            d.attrs["unit"], d.attrs["description"] = unit, description


def read_results(path) -> dict:
    """A result file as ``{"attrs": {...}, "config": {...}, "summary": {...}, name: array}``.

    A described series comes back as a 2-D float64 array (one column per field, in order);
    ``out["fields"][name]`` lists its field names."""
    path = Path(path)
    try:
        f = h5py.File(path, "r", locking=False)  # readable while a writer holds it open
    except OSError as e:
        raise SpikefaError(f"{path}: not a readable HDF5 file ({e})") from None
    with f:
        if f.attrs.get("format") != FORMAT:
            raise SpikefaError(f"{path}: not a spikefa result file (no format='{FORMAT}' attribute)")
        try:
            out = {"attrs": dict(f.attrs), "config": json.loads(f.attrs["config"]),
                   "summary": dict(f["summary"].attrs) if "summary" in f else {}}
            def take(name, d):
                if isinstance(d, h5py.Dataset):
                    v = d[()]
                    if v.dtype.names:   # a described series: its rows as a plain 2-D array
                        out.setdefault("fields", {})[name] = list(v.dtype.names)
                        v = np.column_stack([v[k] for k in v.dtype.names]) if len(v) else np.zeros((0, len(v.dtype.names)))
                    out[name] = v

            f.visititems(take)          # nested names too: curves/fa/nse
        except (KeyError, ValueError, OSError) as e:
            raise SpikefaError(f"{path}: damaged result file ({e})") from None
    return out
