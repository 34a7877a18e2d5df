"""Checkpoints of a spiking network: every array of its state, written atomically.

A checkpoint (``checkpoint.npz``) holds everything a run needs to continue bit for bit:

- the forward weights ``W``, biases ``b``, decay scales ``c``, feedback matrices ``B``
  and their scales ``B_c``;
- the unit states ``V``, ``U``, ``sig``, ``phi``, ``spikes`` and the pending plasticity
  of the lazy engine (``pend_spk``, ``pend_kg``, ``pend_kgb``, ``npend``);
- the global step ``t``, which is the position of every random stream (draws are a hash
  of seed, stream, layer, step and unit, so ``t`` is all the random state there is);
- ``extra``: a JSON dict of the training loop's progress (epoch, position in the epoch,
  running error counts, result rows written, the configuration, and ``recorder``: the
  offsets of a spike recorder, if any).

It is written to ``checkpoint.npz.tmp``, fsync'ed, renamed into place and the folder is
fsync'ed (:func:`spikefa.fsutil.atomic_write`), so a kill at any moment leaves either the
previous checkpoint or the new one, never half of one; a full disk leaves the previous one.
"""

import json
import zipfile
from pathlib import Path

import numpy as np

from .engine import state
from .errors import SpikefaError
from .fsutil import atomic_write

STATE = state.names()   # every array of the network's state (spikefa.engine.state), and t, npend
FILL = {f.name: f.fill for f in state.STATE}


def save(net, path, extra: dict) -> None:
    """Write ``net``'s state and ``extra`` (a JSON-able dict) to ``path`` atomically.

    Raises :class:`~spikefa.errors.StorageError` (and keeps the previous checkpoint)
    when the file cannot be written.
    """
    meta = np.array(json.dumps(extra))        # before touching the disk: a bad extra is a bug

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, t=np.int64(net.t), npend=np.int64(net.npend), extra=meta,
                     **{k: getattr(net, k) for k in STATE})

    atomic_write(path, write, "checkpoint")


def nbytes(net) -> int:
    """Size of ``net``'s checkpoint in bytes (the arrays; the zip adds a few hundred)."""
    return sum(getattr(net, k).nbytes for k in STATE) + 4096


def load(net, path, keep_own=()) -> dict:
    """Restore ``net`` from ``path`` in place; return the ``extra`` dict saved with it.

    ``keep_own``: state arrays (e.g. ``("B", "B_c")``) for which ``net`` keeps its own
    values, so that a state can be loaded into a network with other feedback.

    Raises :class:`~spikefa.errors.SpikefaError` naming the file when it is unreadable,
    truncated or corrupt (zip CRC), or holds a network of another shape.
    """
    path = Path(path)
    try:
        with np.load(path) as z:
            arrays = {}
            for k in STATE:
                if k in keep_own:
                    continue
                arr = getattr(net, k)
                if k not in z and FILL[k] is not None:   # a field newer than the checkpoint: its initial value
                    arrays[k] = np.full_like(arr, FILL[k])
                    continue
                a = z[k]
                if a.shape != arr.shape or a.dtype != arr.dtype:
                    raise SpikefaError(f"{path}: checkpoint {k} has shape {a.shape} {a.dtype}, "
                                       f"the configured network has {arr.shape} {arr.dtype}")
                arrays[k] = a
            t, npend = int(z["t"]), int(z["npend"]) if "npend" in z else 0
            extra = json.loads(str(z["extra"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise SpikefaError(f"{path}: unreadable checkpoint ({type(e).__name__}: {e}); "
                           "delete it to start the run again") from None
    if t < 0 or not 0 <= npend <= net.pend_kg.shape[0] or not isinstance(extra, dict):
        raise SpikefaError(f"{path}: inconsistent checkpoint (step {t}, {npend} pending steps)")
    if getattr(net, "masked", False):    # removed elements (sparsity) must be zero in it too
        for k, mask in (("W", net.W_mask), ("B", net.B_mask)):
            if k in arrays and (arrays[k][mask == 0] != 0).any():
                raise SpikefaError(f"{path}: checkpoint {k} has weights where this network's sparsity mask "
                                   "removes them (a run of another sparsity or seed)")
    # every array is read and checked before the network is touched
    for k, a in arrays.items():
        getattr(net, k)[...] = a
    net.t, net.npend = t, npend
    return extra
