"""Train and test a :class:`SpikingNetwork` with the Numba kernels, the NumPy twin or Brian2.

Python comes back only between chunks of images (for progress and recording); the
Numba backend runs a whole chunk, thousands of steps, inside one JIT call.
"""

from dataclasses import replace

import numpy as np

from ..errors import ConfigError, NumericalError
from . import reference
from .params import PHI_KINDS

BACKENDS = ("numba", "numpy", "brian2")


def resolve_threads(threads: int, where: str = "threads") -> int:
    """The number of Numba threads that ``threads`` asks for: 0 means every core this
    process may use (``NUMBA_NUM_THREADS``); a ConfigError naming ``where`` otherwise."""
    import numba

    top = numba.config.NUMBA_NUM_THREADS
    if isinstance(threads, bool) or not isinstance(threads, int) or not 0 <= threads <= top:
        raise ConfigError(f"{where}: must be 0 (all {top} cores) or an integer in [1, {top}] on this machine, "
                          f"got {threads!r}")
    return threads or top


def set_threads(threads: int) -> int:
    """Threads of the Numba kernels (0: all cores; 1 behaves best on a busy shared
    machine); returns the number set."""
    import numba

    n = resolve_threads(threads)
    numba.set_num_threads(n)
    return n


class Simulator:
    """Runs images through a network.

    Parameters
    ----------
    net : SpikingNetwork
    backend : {"numba", "numpy", "brian2"}
        ``numpy`` runs :func:`spikefa.engine.reference.step` once per step (slow, the spec);
        ``brian2`` builds the network from Brian2 objects (optional extra, see
        :mod:`spikefa.brian2_backend`).
    threads : int
        Threads of the Numba backend; 0 means all cores (resolved in ``self.threads``).
    brian2_options : dict, optional
        Keyword arguments of :class:`spikefa.brian2_backend.Brian2Runner` (``target``,
        ``draws``) for the brian2 backend.
    """

    def __init__(self, net, backend: str = "numba", threads: int = 1, brian2_options: dict | None = None):
        if backend not in BACKENDS:
            raise ConfigError(f"backend: unknown '{backend}', choose one of {', '.join(BACKENDS)}")
        self.net, self.backend, self.threads = net, backend, threads
        # Numba: keep the forward drive and add the rows of the units that changed (see
        # kernels.run_images); False gathers every active row each step (same results)
        self.incremental = True
        if backend == "numba":
            self.threads = set_threads(threads)
        elif backend == "brian2":   # one-line ConfigError with the install command when missing
            from ..brian2_backend import Brian2Runner

            self._brian2 = Brian2Runner(net, **(brian2_options or {}))

    def set_eta(self, eta: float) -> None:
        """Train at learning rate ``eta`` from now on (a learning-rate schedule); every
        backend reads the network's parameters at each call."""
        self.net.params = replace(self.net.params, eta=float(eta))

    def _prob(self, images):
        return np.minimum(np.asarray(images, dtype=np.float32), np.float32(self.net.params.input_max))

    def train(self, images: np.ndarray, labels: np.ndarray, capture=None) -> tuple:
        """Train on ``images`` (n, n_0) in [0, 1] with ``labels`` (n,), in order.

        ``capture`` (a :class:`spikefa.recording.Capture`, optional) receives the spikes
        and traces of the recorded units during the images it selects.

        Returns
        -------
        counts : ndarray (n, n_classes) int64
            Output spikes per class group during each image (the running guess).
        layer_spikes : ndarray (L+1,) int64
            Spikes of each layer over the chunk.
        """
        x, labels = self._prob(images), np.asarray(labels, dtype=np.int64)
        net = self.net
        if not net.mirror:
            return self._run(x, labels, train=True, capture=capture)
        # weight mirror: a mirror phase after every mirror_every images of the whole run,
        # so the schedule does not depend on how the run is cut into calls
        every, steps = net.params.mirror_every, net.params.steps_per_image
        parts, i = [], 0
        while i < len(x):
            done = net.t // steps
            j = min(len(x), i + every - done % every)
            parts.append(self._run(x[i:j], labels[i:j], train=True, capture=_sliced(capture, i, j)))
            if (done + j - i) % every == 0:
                net.rule.mirror_phase(net, done + j - i)
            i = j
        return np.concatenate([c for c, _ in parts]), sum(ls for _, ls in parts)

    def test(self, images: np.ndarray, labels: np.ndarray | None = None) -> tuple:
        """Show images with plasticity off; the network's state is left untouched.

        Every call starts the test random stream at step 0 from the current state, so
        two calls on the same weights give the same answer.
        """
        labels = np.zeros(len(images), dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
        net = self.net
        saved = (net.V.copy(), net.sig.copy(), net.spikes.copy())
        try:
            return self._run(self._prob(images), labels, train=False)
        finally:
            net.V[:], net.sig[:], net.spikes[:] = saved

    def _run(self, x, labels, train, capture=None):
        net, p = self.net, self.net.params
        cap = capture if capture is not None else _NO_CAPTURE
        counts = np.zeros((len(x), p.n_classes), dtype=np.int64)
        layer_spikes = np.zeros(p.n_layers + 1, dtype=np.int64)
        steps = p.steps_per_image if train else p.test_steps
        if self.backend == "brian2":
            self._brian2.run(x, labels, train, counts, layer_spikes, capture)
        elif self.backend == "numpy":
            t = 0
            for i in range(len(x)):
                for _ in range(steps):
                    counts[i] += reference.step(net, x[i], int(labels[i]), train=train, stream_t=t)
                    cur = (net.t - 1 if train else t) & 1
                    layer_spikes += [int(net.unit_view(net.spikes[cur], l).sum())
                                     for l in range(p.n_layers + 1)]
                    if cap.row_of_image.size and cap.row_of_image[i] >= 0:
                        cap.record_step(net, int(cap.row_of_image[i]) + t % steps, cur, train)
                    t += 1
        else:
            from .kernels import run_images

            t_end, net.npend = run_images(
                x, labels, train, net.t if train else 0, steps,
                net.keys if train else net.test_keys, net.sizes, net.u_off, net.w_off,
                net.fb_kind, net.fb_src, net.fb_off, net.fb_scale, net.fb_plastic,
                net.W, net.b, net.c, net.B, net.B_c, net.V, net.U, net.sig, net.phi, net.spikes,
                net.pend_spk, net.pend_kg, net.pend_kgb, net.npend,
                p.tau, p.eta, p.gamma, PHI_KINDS[p.phi], p.delay, p.n_classes, counts, layer_spikes,
                cap.units, cap.row_of_image, cap.spikes, cap.trace_units, cap.V, cap.phi,
                net.reward_mode, net.reward_rate, net.R_bar if train else net.R_bar.copy(),
                net.W_mask, net.B_mask, net.masked, self.incremental)
            if train:
                net.t = int(t_end)
        if train:
            check_finite(net)
        return counts, layer_spikes


def _sliced(capture, i, j):
    """The capture of images i..j-1 of a chunk (same buffers, rows of those images)."""
    if capture is None:
        return None
    import copy

    part = copy.copy(capture)
    part.row_of_image = capture.row_of_image[i:j]
    return part


class _NoCapture:
    """Zero-size recording buffers: the kernel records nothing."""

    units = trace_units = row_of_image = np.zeros(0, dtype=np.int64)
    spikes = np.zeros((0, 0), dtype=np.uint8)
    V = phi = np.zeros((0, 0), dtype=np.float32)


_NO_CAPTURE = _NoCapture()


def check_finite(net) -> None:
    """Raise :class:`NumericalError` naming the first layer with NaN or infinity.

    Checks, layer by layer, the potentials ``V`` and ``U``, the biases, the pending
    plasticity increments, the decay scale and the stored forward weights (and the
    feedback matrices of rules that change them). Called after every training chunk, so a
    checkpoint is never written from a diverged state. Weights are tested through their
    float32 sum (NaN and infinity propagate into it; about 2 ms for the 7.6 M weights of
    the paper network), and only a non-finite sum is confirmed element by element.
    """
    from ..rules.base import FB_MATRIX

    def bad(arr):
        with np.errstate(over="ignore", invalid="ignore"):   # huge finite weights may overflow the sum
            s = arr.sum()
        return not np.isfinite(s) and not np.isfinite(arr).all()

    for l in range(1, net.params.n_layers + 1):
        parts = [("potential V", net.unit_view(net.V, l)), ("feedback potential U", net.unit_view(net.U, l)),
                 ("bias", net.unit_view(net.b, l)),
                 ("pending weight increment", net.unit_view(net.pend_kg[:net.npend], l)),
                 ("weight decay scale c", net.c[l:l + 1]), ("forward weights W", net.W_layer(l))]
        if l < net.params.n_layers and net.fb_plastic[l] and net.fb_kind[l] == FB_MATRIX:
            parts += [("feedback matrix B", net.B_layer(l)), ("pending feedback increment",
                                                               net.unit_view(net.pend_kgb[:net.npend], l + 1))]
        for name, arr in parts:
            if bad(arr):
                raise NumericalError(f"non-finite {name} in layer {l} by step {net.t}: the run diverged "
                                     "(lower eta or feedback_gain)")
