"""Checkpoints of a spiking network: every array of its state, written atomically.

A checkpoint is an ``.npz`` file written to a temporary name and renamed into place, so a
kill at any moment leaves either the previous checkpoint or the new one, never half of one.
"""

import json
import os
from pathlib import Path

import numpy as np

from .errors import SpikefaError

STATE = ("W", "b", "c", "B", "B_c", "V", "U", "sig", "phi", "spikes", "pend_spk", "pend_kg", "pend_kgb")


def save(net, path, extra: dict) -> None:
    """Write ``net``'s state and ``extra`` (JSON-able progress info) to ``path`` atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, t=np.int64(net.t), npend=np.int64(net.npend), extra=np.array(json.dumps(extra)),
                 **{k: getattr(net, k) for k in STATE})
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(net, path) -> dict:
    """Restore ``net`` from ``path`` in place; return the ``extra`` dict saved with it."""
    try:
        with np.load(path) as z:
            for k in STATE:
                arr = getattr(net, k)
                if k.startswith("pend_") and k not in z:  # written before lazy plasticity: none pending
                    arr[...] = 0
                    continue
                if z[k].shape != arr.shape or z[k].dtype != arr.dtype:
                    raise SpikefaError(f"{path}: checkpoint {k} has shape {z[k].shape} {z[k].dtype}, "
                                       f"the configured network has {arr.shape} {arr.dtype}")
                arr[...] = z[k]
            net.t, net.npend = int(z["t"]), int(z["npend"]) if "npend" in z else 0
            return json.loads(str(z["extra"]))
    except (OSError, ValueError, KeyError) as e:
        raise SpikefaError(f"{path}: unreadable checkpoint ({e})") from None
