"""Recording buffers of one chunk of images: what the engine fills during a JIT call.

A :class:`Capture` is handed to :meth:`spikefa.engine.simulator.Simulator.train`. The
Numba kernel writes into its arrays in place (``kernels.run_images``); the NumPy twin
calls :meth:`Capture.record_step` after every step. Either way one buffer row is one
recorded step, so the two backends produce the same arrays.
"""

import numpy as np


class Capture:
    """Buffers for the recorded steps of one call of ``Simulator.train``.

    Parameters
    ----------
    units : ndarray (R,) int64
        Flat state indices (``u_off[l] + j``) of the units whose spikes are recorded.
    trace_units : ndarray (T,) int64
        Flat state indices of the units whose ``V`` and ``phi_delta(U)`` are recorded.
    recorded : ndarray (n_img,) bool
        Which images of the chunk are recorded (every step of a recorded image is).
    steps : int
        Steps per image.
    t0 : int
        Global step of the chunk's first step (``net.t`` before the call).

    Attributes
    ----------
    row_of_image : ndarray (n_img,) int64
        First buffer row of each recorded image, -1 for the others.
    spikes : ndarray (rows, R) uint8
        0/1 spikes of ``units`` at each recorded step.
    V, phi : ndarray (rows, T) float32
        Potential and modulatory signal ``phi_delta(U)`` of ``trace_units`` after each
        recorded step (``phi`` stays 0 when plasticity is off).
    step : ndarray (rows,) int64
        Global step index of each row.
    """

    def __init__(self, units, trace_units, recorded, steps: int, t0: int):
        recorded = np.asarray(recorded, dtype=bool)
        self.units = np.ascontiguousarray(units, dtype=np.int64)
        self.trace_units = np.ascontiguousarray(trace_units, dtype=np.int64)
        self.recorded = recorded
        self.steps_per_image, self.t0 = int(steps), int(t0)
        first = np.cumsum(recorded) - recorded
        self.row_of_image = np.where(recorded, first * steps, -1).astype(np.int64)
        rows = int(recorded.sum()) * steps
        self.spikes = np.zeros((rows, self.units.size), dtype=np.uint8)
        self.V = np.zeros((rows, self.trace_units.size), dtype=np.float32)
        self.phi = np.zeros((rows, self.trace_units.size), dtype=np.float32)
        img = np.flatnonzero(recorded)
        self.step = (t0 + (img[:, None] * steps + np.arange(steps)[None, :])).ravel().astype(np.int64)

    @property
    def rows(self) -> int:
        return self.spikes.shape[0]

    def record_step(self, net, row: int, cur: int, train: bool) -> None:
        """Copy the state after one step into buffer ``row`` (the NumPy twin's path)."""
        self.spikes[row] = net.spikes[cur][self.units]
        self.V[row] = net.V[self.trace_units]
        if train:
            self.phi[row] = net.phi[cur][self.trace_units]
