"""Write spike rasters and traces to HDF5 while a run goes (layout: docs/hdf5-format.md).

Every dataset is created when the file is opened and then only grows, so the file can be
switched into HDF5's single-writer/multiple-reader (SWMR) mode: a reader may open it
while the run writes (``h5py.File(path, "r", swmr=True)``, which
:class:`spikefa.recording.RasterFile` does), and a file whose writer was killed stays
readable up to the last chunk written.

Rows (recorded steps) are buffered and written in whole HDF5 chunks, each write followed
by a flush; the buffer is also written out, partial chunk and all, when a window ends, at
:meth:`RasterWriter.flush` (before each checkpoint) and at close. A chunk holds one
window's steps (at most ``MAX_CHUNK_ROWS``), so with the default windows every window is
exactly one chunk. Rewriting a partial compressed chunk costs a decompress-recompress
and, under SWMR (where HDF5 does not reuse freed file space), leaks the chunk's old
space: measured, a file 4x its data when ten appends went into one chunk. The step
indices are written last, so a row counts only once its data are in.
"""

import datetime
import json
import os
from pathlib import Path

import h5py
import numpy as np

from .. import __version__
from ..errors import ConfigError, SpikefaError
from .capture import Capture
from .layout import BITORDER, FORMAT, FORMAT_VERSION
from .select import Selection, Window, plan_windows, select

COMPRESSION = {"compression": "gzip", "compression_opts": 1}


MAX_CHUNK_ROWS = 5000    # recorded steps per HDF5 chunk, at most


def _grow(d, data) -> None:
    n = d.shape[0]
    d.resize(n + len(data), axis=0)
    d[n:] = data


class RasterWriter:
    """Streams recorded chunks of one run into ``path`` (see docs/hdf5-format.md).

    Parameters
    ----------
    path : path-like
    net : SpikingNetwork
        Only its sizes, offsets and parameters are read.
    selection : Selection
    windows : list of Window
        Windows in images of the run; image ``i`` starts at step ``i * steps_per_image``.
    meta : dict
        ``experiment``, ``config`` (dict), ``seeds`` (dict), optionally ``dataset``.
    keep : dict, optional
        Rows of an earlier file to write first (see :func:`open_recorder` on resume).
    swmr : bool
        Switch to SWMR mode after creating the datasets (default).
    chunk_rows : int, optional
        Recorded steps per HDF5 chunk; default the longest window's, at most
        ``MAX_CHUNK_ROWS``.
    """

    def __init__(self, path, net, selection: Selection, windows, meta: dict, keep: dict | None = None,
                 swmr: bool = True, chunk_rows: int | None = None):
        self.path = Path(path)
        self.net, self.sel, self.windows = net, selection, list(windows)
        p = net.params
        self.steps = p.steps_per_image
        self.flat_units = selection.flat_units(net.u_off)
        self.flat_traces = selection.flat_traces(net.u_off)
        self.cols = np.cumsum([0] + [len(u) for u in selection.units])
        self._win = np.array([(w.start_image, w.stop_image) for w in self.windows], dtype=np.int64).reshape(-1, 2)
        tmp = self.path.with_name(self.path.name + ".tmp")
        f = self.f = h5py.File(tmp, "w", libver="latest")
        a = f.attrs
        a["format"], a["format_version"], a["version"] = FORMAT, FORMAT_VERSION, __version__
        a["experiment"] = meta.get("experiment", "")
        a["config"] = json.dumps(meta.get("config", {}))
        a["seeds"] = json.dumps(meta.get("seeds", {}))
        a["dataset"] = meta.get("dataset", "")
        a["git_commit"] = meta.get("git_commit", "unknown")
        a["created"] = datetime.datetime.now().isoformat(timespec="seconds")
        a["sizes"] = np.asarray(net.sizes, dtype=np.int64)
        a["steps_per_image"], a["n_classes"], a["group"] = self.steps, p.n_classes, p.group
        a["phi"] = p.phi
        a["complete"] = False

        longest = max([w.stop_image - w.start_image for w in self.windows] + [1]) * self.steps
        cr = self.chunk_rows = int(chunk_rows or min(longest, MAX_CHUNK_ROWS))
        self.d_steps = f.create_dataset("steps", (0,), maxshape=(None,), dtype="i8", chunks=(cr,), **COMPRESSION)
        self.d_spikes = []
        for l, name, u in zip(selection.layers, selection.names, selection.units):
            g = f.create_group(f"layers/{name}")
            g.attrs["layer"], g.attrs["layer_size"] = l, int(net.sizes[l])
            g.attrs["bitorder"], g.attrs["n_recorded"] = BITORDER, len(u)
            g.create_dataset("units", data=np.asarray(u, dtype=np.int32))
            width = (len(u) + 7) // 8
            self.d_spikes.append(g.create_dataset("spikes", (0, width), maxshape=(None, width), dtype="u1",
                                                  chunks=(cr, width), **COMPRESSION))
        T = len(self.flat_traces)
        self.d_V = self.d_phi = None
        if T:
            g = f.create_group("traces")
            g.create_dataset("units", data=selection.traces.astype(np.int32))
            kw = dict(maxshape=(None, T), dtype="f4", chunks=(cr, T), **COMPRESSION)
            self.d_V, self.d_phi = g.create_dataset("V", (0, T), **kw), g.create_dataset("phi", (0, T), **kw)
        g = f.create_group("windows")
        g.create_dataset("name", data=[w.name for w in self.windows], dtype=h5py.string_dtype())
        for key in ("start_image", "stop_image"):
            g.create_dataset(key, data=np.array([getattr(w, key) for w in self.windows], dtype=np.int64))
        g.create_dataset("start_step", data=self._win[:, 0] * self.steps)
        g.create_dataset("stop_step", data=self._win[:, 1] * self.steps)
        g = f.create_group("images")
        n0 = int(net.sizes[0])
        side = int(round(np.sqrt(n0)))
        g.attrs["shape"] = [side, side] if side * side == n0 else [n0]
        ci = max(1, cr // self.steps)
        self.d_img = {k: g.create_dataset(k, (0,), maxshape=(None,), dtype="i8", chunks=(ci,), **COMPRESSION)
                      for k in ("step", "label", "index")}
        self.d_img["pixels"] = g.create_dataset("pixels", (0, n0), maxshape=(None, n0), dtype="u1",
                                                chunks=(ci, n0), **COMPRESSION)
        self._pending, self._pending_img = [], []
        if keep:
            self._append(keep["spikes"], keep.get("V"), keep.get("phi"), keep["steps"], keep["images"])
        f.flush()
        os.replace(tmp, self.path)   # the open handle follows the file
        if swmr:
            f.swmr_mode = True
        self.rows = self.d_steps.shape[0]

    # ----- capture and write -----
    def recorded_images(self, first_image: int, n: int) -> np.ndarray:
        """Which of the images ``first_image .. first_image + n - 1`` lie in a window."""
        i = first_image + np.arange(n)[:, None]
        return ((i >= self._win[None, :, 0]) & (i < self._win[None, :, 1])).any(axis=1)

    def capture(self, t0: int, first_image: int, images, labels, index=None) -> Capture | None:
        """Buffers for the next training call, or None when none of its images is recorded.

        ``t0`` is ``net.t`` before the call, ``first_image`` the run's count of images
        seen before it; ``images`` (n, n_0) in [0, 1], ``labels`` (n,) and ``index`` (n,)
        (positions in the data set) are stored for the recorded images.
        """
        mask = self.recorded_images(first_image, len(labels))
        if not mask.any():
            return None
        cap = Capture(self.flat_units, self.flat_traces, mask, self.steps, t0)
        cap.first_image = first_image
        idx = np.flatnonzero(mask)
        cap.image_info = {"step": t0 + idx * self.steps, "label": np.asarray(labels)[idx],
                          "index": (np.asarray(index) if index is not None else first_image + np.arange(len(labels)))[idx],
                          "pixels": np.rint(np.asarray(images, dtype=np.float32)[idx] * 255).astype(np.uint8)}
        return cap

    def write(self, cap: Capture) -> None:
        """Take the rows of a filled capture: whole chunks go to the file at once (then a
        flush), the rest waits in memory (less than a chunk) unless the capture
        ended a window, in which case everything is written and flushed."""
        spikes = [np.packbits(cap.spikes[:, self.cols[i]:self.cols[i + 1]], axis=1, bitorder=BITORDER)
                  for i in range(len(self.d_spikes))]
        self._pending.append((spikes, cap.V, cap.phi, cap.step))
        self._pending_img.append(cap.image_info)
        last = int(np.flatnonzero(cap.recorded)[-1])
        window_ended = not self.recorded_images(cap.first_image + last + 1, 1)[0]
        self._drain(everything=window_ended)

    def flush(self) -> None:
        """Write every buffered row (a partial chunk too) and flush the file."""
        self._drain(everything=True)

    @property
    def pending_rows(self) -> int:
        """Rows taken but not yet in the file."""
        return sum(len(p[3]) for p in self._pending)

    def _drain(self, everything: bool) -> None:
        n_pend = self.pending_rows
        if everything:
            n = n_pend
        else:  # up to the last chunk boundary of the file's rows
            n = (self.rows + n_pend) // self.chunk_rows * self.chunk_rows - self.rows
        if n <= 0:
            if everything:
                self.f.flush()
            return
        parts = self._pending
        spikes = [np.concatenate([p[0][i] for p in parts]) for i in range(len(self.d_spikes))]
        V, phi, steps = (np.concatenate([p[k] for p in parts]) for k in (1, 2, 3))
        img = {k: np.concatenate([q[k] for q in self._pending_img]) for k in self._pending_img[0]}
        ni = int(np.searchsorted(img["step"], steps[n - 1], side="right"))
        self._append([b[:n] for b in spikes], V[:n], phi[:n], steps[:n], {k: v[:ni] for k, v in img.items()})
        self._pending = [([b[n:] for b in spikes], V[n:], phi[n:], steps[n:])] if n < n_pend else []
        self._pending_img = [{k: v[ni:] for k, v in img.items()}] if n < n_pend else []
        self.f.flush()

    def _append(self, spikes, V, phi, steps, images) -> None:
        for d, bits in zip(self.d_spikes, spikes):
            _grow(d, bits)
        if self.d_V is not None:
            _grow(self.d_V, V)
            _grow(self.d_phi, phi)
        for k, d in self.d_img.items():
            _grow(d, images[k])
        _grow(self.d_steps, steps)   # last: a row exists once its step index does
        self.rows = self.d_steps.shape[0]

    def close(self) -> None:
        """Close, then mark the file complete (outside SWMR mode, where attributes may change)."""
        if not self.f.id.valid:
            return
        self.flush()
        self.f.close()
        with h5py.File(self.path, "a") as f:
            f.attrs["complete"] = True
            f.attrs["closed"] = datetime.datetime.now().isoformat(timespec="seconds")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _kept_rows(path, selection: Selection, before_step: int) -> tuple:
    """(rows, windows) of an earlier raster file with steps before ``before_step``."""
    from .reader import RasterFile

    try:
        rf = RasterFile(path)
    except SpikefaError:
        return None, []
    with rf:
        if not selection.same_as(rf.selection):
            return None, []
        n = int(np.searchsorted(rf.f["steps"][:rf.n_rows], before_step))
        ni = int(np.searchsorted(rf.f["images/step"][:rf.n_images], before_step))
        keep = {"steps": rf.f["steps"][:n],
                "spikes": [rf.f[f"layers/{name}/spikes"][:n] for name in selection.names],
                "V": rf.f["traces/V"][:n] if "traces" in rf.f else None,
                "phi": rf.f["traces/phi"][:n] if "traces" in rf.f else None,
                "images": {k: rf.f[f"images/{k}"][:ni] for k in ("step", "label", "index", "pixels")}}
        windows = [Window(w["name"], w["start_image"], w["stop_image"]) for w in rf.windows]
    return keep, windows


def check(cfg: dict) -> None:
    """Check the ``[record]`` section against the configured network and run length
    (before any data are loaded); raises ConfigError naming the field. No-op when off."""
    rec = cfg["record"]
    if not rec["enabled"]:
        return
    if not str(rec["file"]).strip() or Path(rec["file"]).name != rec["file"]:
        raise ConfigError(f"record.file: must be a plain file name inside the output folder, got {rec['file']!r}")
    seed = rec["seed"] if rec["seed"] >= 0 else cfg["run"]["seed"]
    select(rec, cfg["network"]["sizes"], seed)
    plan_windows(rec["windows"], rec["window_images"], cfg["run"]["epochs"] * cfg["run"]["train_images"])


def open_recorder(cfg: dict, net, out_dir, experiment: str, seeds: dict, total_images: int,
                  images_done: int = 0, resume: bool = False):
    """The run's :class:`RasterWriter`, or None when ``record.enabled`` is false.

    Checks the ``[record]`` section first (a layer or unit that does not exist raises
    :class:`~spikefa.errors.ConfigError`). On ``resume``, rows of an existing file from
    steps before the network's step ``net.t`` are kept (when it recorded the same units),
    and so are its windows that started before ``images_done``; later windows follow the
    new configuration (an old window whose name is planned again, e.g. ``late`` when the
    run was extended, is renamed ``late@START``). The file is rewritten under a temporary
    name and renamed into place.
    """
    rec = cfg["record"]
    if not rec["enabled"]:
        return None
    seed = rec["seed"] if rec["seed"] >= 0 else cfg["run"]["seed"]
    selection = select(rec, net.sizes, seed)
    windows = plan_windows(rec["windows"], rec["window_images"], total_images)
    path = Path(out_dir) / rec["file"]
    keep = None
    if resume and path.exists():
        keep, old = _kept_rows(path, selection, net.t)
        if keep is not None:
            later = [w for w in windows if w.start_image >= images_done]
            names = {w.name for w in later}   # a name now planned later: the old one gets its start image
            before = [w if w.name not in names else Window(f"{w.name}@{w.start_image}", w.start_image, w.stop_image)
                      for w in old if w.start_image < images_done]
            windows = sorted(before + later, key=lambda w: w.start_image)
    from ..results import git_commit

    meta = {"experiment": experiment, "config": cfg, "seeds": seeds, "dataset": cfg["run"].get("dataset", ""),
            "git_commit": git_commit()}
    return RasterWriter(path, net, selection, windows, meta, keep=keep)
