"""The default backend: the Numba kernels of :mod:`spikefa.engine.kernels`, a whole chunk
of images (thousands of steps) inside one JIT call."""

import numpy as np

from .kernels import run_images
from .params import PHI_KINDS
from .state import STATE
from .threads import set_threads


class _NoCapture:
    """Zero-size recording buffers: the kernel records nothing."""

    units = trace_units = row_of_image = np.zeros(0, dtype=np.int64)
    spikes = np.zeros((0, 0), dtype=np.uint8)
    V = phi = np.zeros((0, 0), dtype=np.float32)


NO_CAPTURE = _NoCapture()


class NumbaBackend:
    """Runs images through a network with :func:`~spikefa.engine.kernels.run_images`.

    ``incremental``: keep the forward drive and add the rows of the units that changed
    (see ``run_images``); False gathers every active row each step (same results up to
    float64 rounding; the benchmark times both).
    """

    def __init__(self, net, threads: int = 1, incremental: bool = True):
        self.net = net
        self.threads = set_threads(threads)
        self.incremental = bool(incremental)

    def first_call_note(self) -> str:
        """Said before the first call of a run: compiling the kernels takes a while once."""
        if run_images.signatures:    # already compiled or loaded in this process
            return ""
        return "preparing the Numba engine: about 20 s the first time on this machine, cached afterwards"

    def run(self, x, labels, train, counts, layer_spikes, capture=None) -> None:
        net, p = self.net, self.net.params
        cap = capture if capture is not None else NO_CAPTURE
        # a test leaves the reward's running mean as it was: it runs on a copy
        state = tuple(net.R_bar.copy() if f.name == "R_bar" and not train else getattr(net, f.name) for f in STATE)
        topology = (net.sizes, net.u_off, net.w_off, net.fb_kind, net.fb_src, net.fb_off, net.fb_scale,
                    net.fb_plastic)
        hyper = (float(p.tau), float(p.eta), float(p.gamma), PHI_KINDS[p.phi], bool(p.delay), int(p.n_classes),
                 p.feedback_gate == "psi", float(p.homeostasis_eta) if p.homeostasis == "rate" else 0.0,
                 float(p.homeostasis_rate))
        record = (cap.units, cap.row_of_image, cap.spikes, cap.trace_units, cap.V, cap.phi)
        t_end, net.npend = run_images(
            x, labels, train, net.t if train else 0, p.steps_per_image if train else p.test_steps,
            net.keys if train else net.test_keys, topology, state, net.npend, hyper, counts, layer_spikes,
            record, (bool(net.reward_mode), float(net.reward_rate)), (net.W_mask, net.B_mask, bool(net.masked)),
            self.incremental)
        if train:
            net.t = int(t_end)
