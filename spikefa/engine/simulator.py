"""Train and test a :class:`SpikingNetwork` with the Numba kernels, the NumPy twin or Brian2.

Python comes back only between chunks of images (for progress and recording); the
Numba backend runs a whole chunk, thousands of steps, inside one JIT call.
"""

from dataclasses import replace

import numpy as np

from ..errors import ConfigError, NumericalError
from . import backends


class Simulator:
    """Runs images through a network on one of the registered backends.

    Parameters
    ----------
    net : SpikingNetwork
    backend : str
        A name of :mod:`spikefa.engine.backends`: ``numba`` (the default), ``numpy``
        (:func:`spikefa.engine.reference.step` once per step: slow, the spec), ``brian2``
        (the network as Brian2 objects, an optional extra).
    threads : int
        Threads of the backend; 0 means all cores (resolved in ``self.threads``).
    options : dict, optional
        Keyword arguments of the backend (brian2: ``target``, ``draws``).
    """

    def __init__(self, net, backend: str = "numba", threads: int = 1, options: dict | None = None):
        self.net, self.backend = net, backend
        self.impl = backends.create(backend, net, threads, **(options or {}))
        self.threads = self.impl.threads

    @property
    def incremental(self) -> bool:
        """Numba: the incremental forward drive (True) or a full gather every step."""
        return getattr(self.impl, "incremental", False)

    @incremental.setter
    def incremental(self, value: bool) -> None:
        self.impl.incremental = bool(value)

    def set_eta(self, eta: float) -> None:
        """Train at learning rate ``eta`` from now on (a learning-rate schedule); every
        backend reads the network's parameters at each call."""
        self.net.params = replace(self.net.params, eta=float(eta))


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
        x, labels = self._checked(images, labels)
        net = self.net
        if not net.phase_every:
            return self._run(x, labels, train=True, capture=capture)
        # a rule's phase (weight mirror) after every phase_every images of the whole run,
        # so the schedule does not depend on how the run is cut into calls
        every, steps = net.phase_every, net.params.steps_per_image
        parts, i = [], 0
        while i < len(x):
            done = net.t // steps
            j = min(len(x), i + every - done % every)
            parts.append(self._run(x[i:j], labels[i:j], train=True, capture=_sliced(capture, i, j)))
            if (done + j - i) % every == 0:
                net.rule.phase(net, done + j - i)
            i = j
        return np.concatenate([c for c, _ in parts]), sum(ls for _, ls in parts)

    def test(self, images: np.ndarray, labels: np.ndarray | None = None) -> tuple:
        """Show images with plasticity off; the network's state is left untouched.

        Every call starts the test random stream at step 0 from the current state, so
        two calls on the same weights give the same answer.
        """
        x, labels = self._checked(images, np.zeros(len(images), dtype=np.int64) if labels is None else labels)
        net = self.net
        saved = (net.V.copy(), net.sig.copy(), net.spikes.copy())
        try:
            return self._run(x, labels, train=False)
        finally:
            net.V[:], net.sig[:], net.spikes[:] = saved

    @staticmethod
    def train_many(sims: list, images: list, labels: list) -> list:
        """Train K networks at once, each on its own images (``images[k]``, ``labels[k]``),
        through their backend's :func:`~spikefa.engine.backends.run_many` (one launch for a
        backend that can). Returns, per network, ``(counts, layer_spikes)`` as
        :meth:`train` does, or the :class:`NumericalError` that stopped that network: a
        network that diverges is reported, the others go on."""
        checked = [s._checked(x, y) for s, x, y in zip(sims, images, labels)]
        if any(s.net.phase_every for s in sims):       # a rule's phases between images: one at a time
            out = []
            for s, x, y in zip(sims, images, labels):
                try:
                    out.append(s.train(x, y))
                except NumericalError as e:
                    out.append(e)
            return out
        counts, spikes = zip(*(s._buffers(len(x)) for s, (x, _) in zip(sims, checked)))
        backends.run_many([s.impl for s in sims], [x for x, _ in checked], [y for _, y in checked], True,
                          counts, spikes)
        out = []
        for s, c, ls in zip(sims, counts, spikes):
            try:
                check_finite(s.net)
                out.append((c, ls))
            except NumericalError as e:
                out.append(e)
        return out

    def launch_key(self) -> tuple:
        """What simulators must share to advance in one :meth:`train_many` launch: the
        backend's ``launch_key(impl)`` classmethod where it has one (the CUDA backend: shapes,
        rule, B dtype and switches), else the backend and the network's sizes."""
        cls = type(self.impl)
        own = cls.launch_key(self.impl) if hasattr(cls, "launch_key") else ()
        return (self.backend, tuple(int(n) for n in self.net.sizes), *own)

    @staticmethod
    def launch_groups(sims: list, n_images: int) -> list:
        """Indices of ``sims`` in groups that can each advance together through
        :meth:`train_many` on chunks of at most ``n_images`` images: same
        :meth:`launch_key`, and no more networks than the backend's ``fit_many(impls,
        n_images)`` says fit on its device at once (a larger group is split, in order; that
        classmethod raises a ConfigError saying so when not even one fits)."""
        keys = {}
        for i, s in enumerate(sims):
            keys.setdefault(s.launch_key(), []).append(i)
        groups = []
        for idx in keys.values():
            cls = type(sims[idx[0]].impl)
            fit = cls.fit_many([sims[i].impl for i in idx], n_images) if hasattr(cls, "fit_many") else len(idx)
            fit = max(1, min(int(fit), len(idx)))
            groups += [idx[i:i + fit] for i in range(0, len(idx), fit)]
        return groups

    def _checked(self, images, labels) -> tuple:
        """Input probabilities and labels as every backend expects them; a ConfigError
        names what is wrong before anything runs."""
        p = self.net.params
        images = np.asarray(images)
        if images.ndim != 2 or images.shape[1] != p.sizes[0]:
            raise ConfigError(f"images: expected an array (n, {p.sizes[0]}), got shape {images.shape}")
        if not np.issubdtype(images.dtype, np.number) or not np.isfinite(images).all():
            raise ConfigError("images: expected finite numbers (pixel values in [0, 1])")
        labels = np.asarray(labels)
        if labels.shape != (len(images),) or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
            raise ConfigError(f"labels: expected {len(images)} integers (one per image), got shape {labels.shape} "
                              f"{labels.dtype}")
        if labels.size and not (0 <= labels.min() and labels.max() < p.n_classes):
            raise ConfigError(f"labels: expected classes 0..{p.n_classes - 1}, got {labels.min()}..{labels.max()}")
        return self.net.input_prob(images), labels.astype(np.int64)

    def _buffers(self, n: int) -> tuple:
        """What a backend fills for ``n`` images: counts per class, spikes per layer."""
        p = self.net.params
        return np.zeros((n, p.n_classes), dtype=np.int64), np.zeros(p.n_layers + 1, dtype=np.int64)

    def _run(self, x, labels, train, capture=None):
        counts, layer_spikes = self._buffers(len(x))
        self.impl.run(x, labels, train, counts, layer_spikes, capture)
        if train:
            check_finite(self.net)
        return counts, layer_spikes


def _sliced(capture, i, j):
    """The capture of images i..j-1 of a chunk (same buffers, rows of those images)."""
    if capture is None:
        return None
    import copy

    part = copy.copy(capture)
    part.row_of_image = capture.row_of_image[i:j]
    return part


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
