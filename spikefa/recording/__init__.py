"""Spike rasters and traces of chosen units, streamed to HDF5 during training.

- :func:`open_recorder` / :class:`RasterWriter`: what the training loop uses
  (``[record]`` section of the config, ``spikefa run ... --record``).
- :class:`Capture`: the buffers the engine fills inside its JIT loop.
- :class:`RasterFile`, :func:`read_raster`: read rasters, spike times, traces, images.
- :func:`export_nwb`: NWB export (optional extra ``nwb``).

The file layout is documented in ``docs/hdf5-format.md``.
"""

from .capture import Capture
from .nwb import export_nwb
from .reader import RasterFile, read_raster, to_seconds
from .select import Selection, Window, layer_name, plan_windows, select
from .layout import FORMAT
from .writer import RasterWriter, check, open_recorder

__all__ = ["Capture", "FORMAT", "RasterFile", "RasterWriter", "Selection", "Window", "check", "export_nwb", "layer_name",
           "open_recorder", "plan_windows", "read_raster", "select", "to_seconds"]
