"""Read raster files back into NumPy arrays (layout: docs/hdf5-format.md).

Time is the integer step index of the run everywhere; :func:`to_seconds` converts on
export only. A file still being written (or left by a killed run) reads up to its last
complete chunk: the number of rows is the shortest of the row-indexed datasets.
"""

import json
from pathlib import Path

import h5py
import numpy as np

from ..errors import SpikefaError
from .select import Selection
from .layout import BITORDER, FORMAT


def to_seconds(steps, step_seconds: float) -> np.ndarray:
    """Step indices to seconds, given the duration of one step (a choice made on export)."""
    return np.asarray(steps, dtype=np.float64) * float(step_seconds)


class RasterFile:
    """A raster file opened for reading (SWMR read, so a live or killed run's file opens).

    Parameters
    ----------
    path : path-like

    Examples
    --------
    >>> with RasterFile("results/l16/rasters.h5") as rf:           # doctest: +SKIP
    ...     steps, raster = rf.raster("hidden1", "late")    # (n,), (n, 50) bool
    ...     times = rf.spike_times("output", "late")        # list of step arrays
    """

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise SpikefaError(f"{self.path}: no such file")
        try:
            self.f = h5py.File(self.path, "r", swmr=True)
        except OSError:
            try:
                self.f = h5py.File(self.path, "r")
            except OSError as e:
                raise SpikefaError(f"{self.path}: not a readable HDF5 file ({e})") from None
        if self.f.attrs.get("format") != FORMAT:
            fmt = self.f.attrs.get("format")
            self.f.close()
            raise SpikefaError(f"{self.path}: not a spikefa raster file (format attribute {fmt!r}, "
                               f"expected '{FORMAT}')")

    # ----- file-level facts -----
    def close(self) -> None:
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def refresh(self) -> None:
        """See rows appended since the file was opened (while the run still writes)."""
        def visit(_, obj):
            if isinstance(obj, h5py.Dataset):
                obj.refresh()
        self.f.visititems(visit)

    @property
    def attrs(self) -> dict:
        return dict(self.f.attrs)

    @property
    def config(self) -> dict:
        return json.loads(self.f.attrs["config"])

    @property
    def seeds(self) -> dict:
        return json.loads(self.f.attrs["seeds"])

    @property
    def complete(self) -> bool:
        """True once the writer closed the file; False while running or after a kill."""
        return bool(self.f.attrs.get("complete", False))

    @property
    def steps_per_image(self) -> int:
        return int(self.f.attrs["steps_per_image"])

    @property
    def group(self) -> int:
        """Output units per class."""
        return int(self.f.attrs["group"])

    @property
    def layers(self) -> list:
        """Recorded layer names, bottom-up."""
        return sorted(self.f["layers"], key=lambda k: int(self.f["layers"][k].attrs["layer"]))

    @property
    def n_rows(self) -> int:
        """Recorded steps readable now (the shortest row-indexed dataset)."""
        n = [self.f["steps"].shape[0]] + [self.f[f"layers/{k}/spikes"].shape[0] for k in self.f["layers"]]
        if "traces" in self.f:
            n += [self.f["traces/V"].shape[0], self.f["traces/phi"].shape[0]]
        return min(n)

    @property
    def n_images(self) -> int:
        n = min(self.f[f"images/{k}"].shape[0] for k in ("step", "label", "index", "pixels"))
        last = self.f["steps"][self.n_rows - 1] if self.n_rows else -1
        return int(np.searchsorted(self.f["images/step"][:n], last, side="right"))

    @property
    def selection(self) -> Selection:
        names = self.layers
        layers = tuple(int(self.f[f"layers/{k}"].attrs["layer"]) for k in names)
        units = tuple(self.f[f"layers/{k}/units"][()].astype(np.int64) for k in names)
        traces = self.f["traces/units"][()].astype(np.int64) if "traces" in self.f else np.zeros((0, 2), np.int64)
        return Selection(layers, units, traces.reshape(-1, 2), tuple(names))

    @property
    def windows(self) -> list:
        """One dict per window: name, start_image, stop_image, start_step, stop_step."""
        g = self.f["windows"]
        names = [x.decode() if isinstance(x, bytes) else str(x) for x in g["name"][()]]
        return [{"name": nm, **{k: int(g[k][i]) for k in ("start_image", "stop_image", "start_step", "stop_step")}}
                for i, nm in enumerate(names)]

    # ----- selecting rows -----
    def _layer(self, layer) -> str:
        names = self.layers
        if isinstance(layer, str) and layer in names:
            return layer
        for k in names:
            if not isinstance(layer, str) and int(self.f[f"layers/{k}"].attrs["layer"]) == layer:
                return k
        raise SpikefaError(f"{self.path}: layer {layer!r} was not recorded (recorded: {', '.join(names)})")

    def window(self, window) -> dict:
        """A window by name or position in :attr:`windows`."""
        wins = self.windows
        if isinstance(window, (int, np.integer)) and not isinstance(window, bool) and -len(wins) <= window < len(wins):
            return wins[window]
        for w in wins:
            if w["name"] == window:
                return w
        raise SpikefaError(f"{self.path}: no window {window!r} (windows: {', '.join(w['name'] for w in wins)})")

    def rows(self, window=None) -> slice:
        """Rows of a window (all rows for None); rows are in step order."""
        n = self.n_rows
        if window is None:
            return slice(0, n)
        w = self.window(window)
        steps = self.f["steps"][:n]
        return slice(int(np.searchsorted(steps, w["start_step"])), int(np.searchsorted(steps, w["stop_step"])))

    def steps(self, window=None) -> np.ndarray:
        """Global step index (int64) of each recorded row of the window."""
        return self.f["steps"][self.rows(window)]

    # ----- data -----
    def units(self, layer) -> np.ndarray:
        """Recorded unit indices (within the layer) of ``layer`` (name or index)."""
        return self.f[f"layers/{self._layer(layer)}/units"][()].astype(np.int64)

    def raster(self, layer, window=None) -> tuple:
        """``(steps (n,) int64, spikes (n, R) bool)``: the dense raster of a window."""
        name = self._layer(layer)
        r = self.rows(window)
        bits = self.f[f"layers/{name}/spikes"][r]
        R = int(self.f[f"layers/{name}"].attrs["n_recorded"])
        spikes = np.unpackbits(bits, axis=1, count=R, bitorder=BITORDER).astype(bool)
        return self.f["steps"][r], spikes

    def spike_times(self, layer, window=None) -> list:
        """Per recorded unit (in :meth:`units` order), the steps (int64) at which it spiked."""
        steps, spikes = self.raster(layer, window)
        step_i, unit_i = np.nonzero(spikes.T)      # sorted by unit, then step
        bounds = np.searchsorted(step_i, np.arange(spikes.shape[1] + 1))
        return [steps[unit_i[a:b]] for a, b in zip(bounds[:-1], bounds[1:])]

    def traces(self, window=None) -> dict:
        """``{"steps": (n,), "units": (T, 2) (layer, unit), "V": (n, T), "phi": (n, T)}``."""
        r = self.rows(window)
        if "traces" not in self.f:
            T = 0
            return {"steps": self.f["steps"][r], "units": np.zeros((0, 2), np.int64),
                    "V": np.zeros((r.stop - r.start, T), np.float32), "phi": np.zeros((r.stop - r.start, T), np.float32)}
        return {"steps": self.f["steps"][r], "units": self.f["traces/units"][()].astype(np.int64),
                "V": self.f["traces/V"][r], "phi": self.f["traces/phi"][r]}

    def images(self, window=None) -> dict:
        """Recorded images of a window: ``step`` (first step of each), ``label``, ``index``
        (position in the data set) and ``pixels`` (n, *shape) float32 in [0, 1]."""
        n = self.n_images
        steps = self.f["images/step"][:n]
        if window is None:
            sl = slice(0, n)
        else:
            w = self.window(window)
            sl = slice(int(np.searchsorted(steps, w["start_step"])), int(np.searchsorted(steps, w["stop_step"])))
        shape = tuple(int(s) for s in self.f["images"].attrs["shape"])
        pix = self.f["images/pixels"][sl].astype(np.float32) / 255
        return {"step": steps[sl], "label": self.f["images/label"][sl], "index": self.f["images/index"][sl],
                "pixels": pix.reshape((-1,) + shape)}


def read_raster(path, layer, window=None) -> tuple:
    """``(steps, spikes bool (n, R), units (R,))`` of one layer and window, in one call."""
    with RasterFile(path) as rf:
        steps, spikes = rf.raster(layer, window)
        return steps, spikes, rf.units(layer)
