"""Export a raster file to NWB (Neurodata Without Borders), the optional extra ``nwb``.

One NWB unit per recorded unit (Units table: ``spike_times`` with its
``spike_times_index``, plus ``layer``, ``layer_name`` and ``unit_index`` columns); the
windows become epochs (tagged with their names), each recorded image a trial (with its
``label``), and the traces two TimeSeries, ``V`` and ``phi``, in a processing module
``traces``. NWB counts time in seconds: a step lasts ``step_seconds`` (default 1 ms, a
nominal choice; the model itself has no time unit).
"""

import datetime
from pathlib import Path

from .. import __version__
from ..errors import SpikefaError
from .reader import RasterFile, to_seconds

INSTALL_HINT = "NWB export needs pynwb: pip install 'spikefa[nwb]' (or pip install pynwb)"


def export_nwb(raster_path, nwb_path, step_seconds: float = 1e-3) -> Path:
    """Write the raster file ``raster_path`` as NWB to ``nwb_path``; return the path."""
    try:
        from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    except ImportError:
        raise SpikefaError(INSTALL_HINT) from None
    if not step_seconds > 0:
        raise SpikefaError(f"step_seconds: must be > 0, got {step_seconds}")
    nwb_path = Path(nwb_path)
    with RasterFile(raster_path) as rf:
        a = rf.attrs
        created = datetime.datetime.fromisoformat(str(a.get("created"))) if a.get("created") else datetime.datetime.now()
        nwb = NWBFile(session_description=f"spikefa {a.get('experiment', '')}: recorded spikes of a simulated "
                                          "spiking network (step index * step_seconds = time)",
                      identifier=f"spikefa-{Path(raster_path).stem}-{created.isoformat()}",
                      session_start_time=created.astimezone(),
                      source_script=f"spikefa {__version__}", source_script_file_name="spikefa", notes=f"step_seconds = {step_seconds}; "
                                                                      f"seeds = {a.get('seeds')}")
        nwb.add_unit_column("layer", "layer index of the unit (0 input, L output)")
        nwb.add_unit_column("layer_name", "layer name (input, hidden1.., output)")
        nwb.add_unit_column("unit_index", "index of the unit within its layer")
        for name in rf.layers:
            l = int(rf.f[f"layers/{name}"].attrs["layer"])
            for j, times in zip(rf.units(name), rf.spike_times(name)):
                nwb.add_unit(spike_times=to_seconds(times, step_seconds), layer=l, layer_name=name, unit_index=int(j))
        dt = step_seconds
        for w in rf.windows:
            nwb.add_epoch(start_time=w["start_step"] * dt, stop_time=w["stop_step"] * dt, tags=[w["name"]])
        img = rf.images()
        if len(img["step"]):
            nwb.add_trial_column("label", "class of the image shown")
            nwb.add_trial_column("image_index", "position of the image in the training set")
            for s, lab, idx in zip(img["step"], img["label"], img["index"]):
                nwb.add_trial(start_time=s * dt, stop_time=(s + rf.steps_per_image) * dt, label=int(lab),
                              image_index=int(idx))
        tr = rf.traces()
        if tr["V"].shape[1]:
            mod = nwb.create_processing_module("traces", "potentials V and modulatory signals phi(U) of traced units "
                                                         "(columns: units, see description)")
            cols = ", ".join(f"{l}:{j}" for l, j in tr["units"])
            ts = to_seconds(tr["steps"], dt)
            mod.add(TimeSeries(name="V", data=tr["V"], unit="a.u.", timestamps=ts,
                               description=f"forward potential V after each step; columns layer:unit = {cols}"))
            mod.add(TimeSeries(name="phi", data=tr["phi"], unit="a.u.", timestamps=ts,
                               description=f"modulatory signal phi_delta(U) after each step; columns = {cols}"))
        with NWBHDF5IO(str(nwb_path), "w") as io:
            io.write(nwb)
    return nwb_path
