"""Result files (HDF5): the configuration, seeds and version beside the numbers.

Layout of ``results.h5``::

    attrs:  format = "spikefa-results", version, experiment, config (JSON), seeds (JSON),
            git_commit, created (ISO time)
    /<name> one resizable dataset per series, appended row by row and flushed at once,
            so a file from a killed run holds every row written before the kill.
    /summary attrs: final figures (e.g. test_error) once the run ends.
"""

import datetime
import json
import subprocess
from pathlib import Path

import h5py
import numpy as np

from . import __version__
from .errors import SpikefaError

FORMAT = "spikefa-results"


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                              capture_output=True, text=True, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class ResultsWriter:
    """Append-only writer of one result file. ``append(name, row)`` adds one row."""

    def __init__(self, path, experiment: str, config: dict, seeds: dict, mode: str = "w"):
        self.path = Path(path)
        self.f = h5py.File(self.path, mode)
        a = self.f.attrs
        now = datetime.datetime.now().isoformat(timespec="seconds")
        if mode == "w" or "format" not in a:
            a["format"], a["experiment"], a["created"] = FORMAT, experiment, now
        else:  # resumed: the config may differ in run length or threads; keep the latest
            a["resumed"] = now
        a["version"], a["git_commit"] = __version__, git_commit()
        a["config"], a["seeds"] = json.dumps(config), json.dumps(seeds)
        self.f.flush()

    def append(self, name: str, row) -> None:
        row = np.atleast_1d(np.asarray(row, dtype=np.float64))
        if name not in self.f:
            self.f.create_dataset(name, shape=(0, row.size), maxshape=(None, row.size), dtype="f8",
                                  chunks=(64, row.size))
        d = self.f[name]
        d.resize(d.shape[0] + 1, axis=0)
        d[-1] = row
        self.f.flush()

    def truncate(self, name: str, rows: int) -> None:
        """Drop rows past ``rows`` (used when resuming from an earlier checkpoint)."""
        if name in self.f and self.f[name].shape[0] > rows:
            self.f[name].resize(rows, axis=0)

    def summary(self, **values) -> None:
        g = self.f.require_group("summary")
        for k, v in values.items():
            g.attrs[k] = v
        self.f.flush()

    def close(self) -> None:
        self.f.close()


def read_results(path) -> dict:
    """A result file as ``{"attrs": {...}, "config": {...}, "summary": {...}, name: array}``."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise SpikefaError(f"{path}: not a readable HDF5 file ({e})") from None
    with f:
        if f.attrs.get("format") != FORMAT:
            raise SpikefaError(f"{path}: not a spikefa result file (no format='{FORMAT}' attribute)")
        out = {"attrs": dict(f.attrs), "config": json.loads(f.attrs["config"]),
               "summary": dict(f["summary"].attrs) if "summary" in f else {}}
        for name, d in f.items():
            if isinstance(d, h5py.Dataset):
                out[name] = d[()]
    return out
