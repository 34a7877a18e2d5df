"""The ``cuda`` backend: :func:`spikefa.engine.cuda_kernels.run_chunk` on a GPU through
numba-cuda (the optional extra ``[cuda]``), K networks of one shape per launch.

Every call copies the networks' state to the device (writing pending plasticity steps of
the CPU engine first, ``net.flush``), runs the whole chunk in one launch and, after
training, copies the state back. So checkpoints, resume, rasters and the Simulator's
phases (weight mirror) see one network, and a checkpoint moves between backends. Under
``NUMBA_ENABLE_CUDASIM=1`` the same kernels run on numba-cuda's simulator (how the tests
run without a GPU). docs/gpu.md: install, K, memory, what is bit-identical.
"""

import importlib.util
import os
import sys

import numpy as np

from ..errors import ConfigError
from .params import PHI_KINDS

INSTALL_HINT = "pip install -e '.[cuda]' (numba-cuda with NVIDIA's CUDA 12 libraries from the package registry)"
BLOCK_DEVICE, BLOCK_SIMULATOR = 256, 4      # threads per network (one block each)

# how each field of the network's state (spikefa.engine.state.STATE) crosses to the
# device; a new state field must be placed here (tests/test_cuda_backend.py checks it)
STATE_TRANSFER = {
    "W": "copied, stacked (K, weights); back after training", "b": "copied; back", "c": "copied; back",
    "B": "copied; back (changed by Kolen-Pollack only)", "B_c": "copied; back",
    "V": "copied; back", "U": "copied; back", "sig": "copied; back", "phi": "copied; back",
    "spikes": "copied; back", "R_bar": "copied; back",
    "pend_spk": "none: the CPU engine's pending steps are written into W and B first (net.flush); "
                "the kernel writes plasticity every step",
    "pend_kg": "none: see pend_spk", "pend_kgb": "none: see pend_spk",
}
DEVICE_FIELDS = ("W", "b", "c", "B", "B_c", "V", "U", "sig", "phi", "spikes", "R_bar")


def simulated() -> bool:
    """Whether numba-cuda runs kernels on its CPU simulator in this process."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def import_cuda():
    """``numba.cuda`` from numba-cuda, or a one-line ConfigError saying how to install it."""
    if importlib.util.find_spec("numba_cuda") is None:
        raise ConfigError(f"backend cuda: numba-cuda is not installed; install it with {INSTALL_HINT}")
    from numba import cuda
    return cuda


def unavailable() -> str:
    """Why the backend cannot run in this process ("" when it can)."""
    try:
        cuda = import_cuda()
    except ConfigError as e:
        return str(e)
    if simulated() or cuda.is_available():
        return ""
    return ("backend cuda: no CUDA GPU here (numba.cuda.is_available() is False); without one it runs only "
            "on numba-cuda's simulator (NUMBA_ENABLE_CUDASIM=1, slow; how the tests run it)")


def free_memory() -> int | None:
    """Free device memory in bytes, or None where it cannot be known (the simulator)."""
    if simulated():
        return None
    from numba import cuda
    return int(cuda.current_context().get_memory_info()[0])


class CudaBackend:
    """Runs images through one network (or K, :meth:`run_many`) on a CUDA GPU.

    Parameters
    ----------
    net : SpikingNetwork
    threads : int
        Ignored (CPU threads); the GPU runs ``block`` threads per network.
    block : int
        Threads per network (one block); 0: 256 on a GPU, 4 on the simulator.
    """

    def __init__(self, net, threads: int = 1, block: int = 0):
        import_cuda()
        if not (isinstance(block, int) and 0 <= block <= 1024):
            raise ConfigError(f"backend cuda: block must be an integer in [0, 1024] (threads per network), got {block!r}")
        why = unavailable()
        if why:
            raise ConfigError(why)
        self.net, self.threads = net, 1
        self.block = block or (BLOCK_SIMULATOR if simulated() else BLOCK_DEVICE)

    def first_call_note(self) -> str:
        from .cuda_kernels import run_chunk
        if simulated() or run_chunk.overloads:
            return ""
        return "preparing the CUDA kernels: compiled once per process and per B dtype (about 10-30 s)"

    def run(self, x, labels, train, counts, layer_spikes, capture=None) -> None:
        type(self).run_many([self], [x], [labels], train, [counts], [layer_spikes], capture)

    @classmethod
    def launch_key(cls, impl) -> tuple:
        """What the networks of one launch share (:func:`_check_same` checks the same
        fields), so a packed sweep groups its points by it."""
        net, p = impl.net, impl.net.params
        return (*(getattr(p, f) for f in LAUNCH_SHARED), net.rule_name, str(net.B.dtype), int(net.B.size),
                bool(net.masked), impl.block)

    @classmethod
    def fit_many(cls, impls, n_img: int) -> int:
        """How many of these networks (one shape) fit on the device at once with chunks of
        ``n_img`` images (all of them where free memory cannot be known: the simulator); a
        ConfigError, as :func:`check_memory`'s, when not even one fits."""
        free = free_memory()
        if free is None:
            return len(impls)
        each = per_network_bytes(impls[0].net, n_img)
        fit = int(free * 0.9) // each
        if fit < 1:
            raise ConfigError(f"backend cuda: one network of sizes {list(impls[0].net.params.sizes)} needs "
                              f"{each / 2**30:.2f} GiB of device memory with chunks of {n_img} images and "
                              f"{free / 2**30:.2f} GiB is free: 0 fit; lower run.chunk or free the GPU")
        return min(fit, len(impls))

    @classmethod
    def run_many(cls, impls, xs, labels, train, counts, layer_spikes, capture=None) -> None:
        """Advance K networks (one block each) in one launch; see ``Backend.run``.

        The networks share their shapes, rule, B dtype, steps and switches (phi, delay,
        gate, homeostasis, sparsity); values (eta, tau, gamma, seeds, ...) may differ.
        ``capture`` (one network only) records as the CPU engine does.
        """
        from numba import cuda

        from .cuda_kernels import run_chunk

        nets = [b.net for b in impls]
        net0, p0 = nets[0], nets[0].params
        flags = _flags(net0)
        for net in nets[1:]:
            _check_same(net0, net, flags)
        if capture is not None and len(nets) > 1:
            raise ConfigError("backend cuda: recording (capture) needs one network per call")
        for net in nets:
            if net.npend:      # pending plasticity of the CPU engine: written first
                net.flush()
        K = len(nets)
        n_img = np.array([len(x) for x in xs], dtype=np.int64)
        nmax = int(n_img.max()) if K else 0
        if nmax == 0:
            return
        host = {f: np.stack([getattr(net, f) for net in nets]) for f in DEVICE_FIELDS}
        host["W_mask"] = np.stack([net.W_mask for net in nets])
        host["B_mask"] = np.stack([net.B_mask for net in nets])
        images = np.zeros((K, nmax, net0.sizes[0]), dtype=np.float32)
        lab = np.zeros((K, nmax), dtype=np.int64)
        for k, (x, y) in enumerate(zip(xs, labels)):
            images[k, :len(x)], lab[k, :len(y)] = x, y
        cnt = np.zeros((K, nmax, p0.n_classes), dtype=np.int64)
        check_memory(K, per_network_bytes(net0, nmax))

        rec = _recording(capture, K)
        steps = p0.steps_per_image if train else p0.test_steps
        t0 = np.array([net.t if train else 0 for net in nets], dtype=np.int64)
        keys = np.stack([net.keys if train else net.test_keys for net in nets]).astype(np.uint32)
        hyper = np.array([_hyper(net) for net in nets], dtype=np.float64)
        fb_scale = np.stack([net.fb_scale for net in nets]).astype(np.float64)
        if not train:      # a test leaves the network as it was: nothing comes back
            host["R_bar"] = host["R_bar"].copy()
        d = {name: cuda.to_device(np.ascontiguousarray(a)) for name, a in host.items()}
        d_cnt, d_ls = cuda.to_device(cnt), cuda.to_device(np.zeros((K, p0.n_layers + 1), dtype=np.int64))
        d_rec = [cuda.to_device(np.ascontiguousarray(a)) for a in rec]
        nunits = int(net0.sizes.max())
        switch = sys.getswitchinterval()
        if simulated():     # the simulator's main thread polls its block threads: hand over sooner
            sys.setswitchinterval(5e-5)
        try:
            dev = cuda.to_device
            inputs = (dev(images), dev(lab), dev(n_img), dev(t0), dev(keys))
            topology = tuple(dev(np.ascontiguousarray(a)) for a in _topology(net0)) + (dev(flags), dev(fb_scale),
                                                                                      dev(hyper))
            state = tuple(d[f] for f in DEVICE_FIELDS) + (d["W_mask"], d["B_mask"])
            scratch = (dev(np.zeros((K, nunits), dtype=np.float32)), dev(np.zeros((K, 1), np.int64)))
            run_chunk[K, impls[0].block](bool(train), int(steps), inputs, topology, state, (d_cnt, d_ls),
                                         tuple(d_rec), scratch)
            cuda.synchronize()
        finally:
            sys.setswitchinterval(switch)
        d_cnt.copy_to_host(cnt)
        ls = d_ls.copy_to_host()
        for k in range(K):
            counts[k][...] += cnt[k, :n_img[k]]
            layer_spikes[k][...] += ls[k]
        if capture is not None:
            capture.spikes[:], capture.V[:], capture.phi[:] = (d_rec[i].copy_to_host()[0] for i in (2, 4, 5))
        if not train:
            return
        for f in DEVICE_FIELDS:
            back = d[f].copy_to_host()
            for k, net in enumerate(nets):
                getattr(net, f)[...] = back[k]
        for k, net in enumerate(nets):
            net.npend = 0
            net.t = int(t0[k] + n_img[k] * steps)


def _topology(net) -> tuple:
    return (net.sizes, net.u_off, net.w_off, net.fb_kind, net.fb_src, net.fb_off, net.fb_plastic)


def _flags(net) -> np.ndarray:
    from .cuda_kernels import N_FLAGS
    p = net.params
    f = [PHI_KINDS[p.phi], p.delay, p.feedback_gate == "psi", net.reward_mode, net.masked, p.n_classes,
         p.homeostasis == "rate"]
    assert len(f) == N_FLAGS
    return np.array(f, dtype=np.int64)


def _hyper(net) -> list:
    p = net.params
    return [p.tau, p.eta, p.gamma, p.homeostasis_eta, p.homeostasis_rate, net.reward_rate]


# parameters the K networks of one launch share (the kernel takes them once)
LAUNCH_SHARED = ("sizes", "steps_per_image", "test_steps", "phi", "delay", "feedback_gate", "homeostasis",
                 "n_classes")


def _check_same(a, b, flags) -> None:
    """K networks in one launch share what the kernel takes once; a ConfigError names the field."""
    pa, pb = a.params, b.params
    for name in LAUNCH_SHARED:
        if getattr(pa, name) != getattr(pb, name):
            raise ConfigError(f"backend cuda: K networks in one launch must share {name}; got "
                              f"{getattr(pa, name)!r} and {getattr(pb, name)!r}")
    if a.rule_name != b.rule_name:
        raise ConfigError(f"backend cuda: K networks in one launch must share rule; got {a.rule_name!r} and "
                          f"{b.rule_name!r}")
    if a.B.dtype != b.B.dtype or a.B.size != b.B.size:
        raise ConfigError(f"backend cuda: K networks in one launch must share feedback_dtype; got {a.B.dtype} "
                          f"and {b.B.dtype}")
    if a.masked != b.masked:
        raise ConfigError("backend cuda: K networks in one launch must all be sparse or all dense (sparsity)")


def _recording(capture, K) -> list:
    """(rec_units, rec_row, rec_spk, tr_units, tr_V, tr_phi) with a leading K (zero-size: none)."""
    if capture is None or not capture.row_of_image.size:
        z = np.zeros(0, dtype=np.int64)
        return [z, np.zeros((K, 0), np.int64), np.zeros((K, 0, 0), np.uint8), z,
                np.zeros((K, 0, 0), np.float32), np.zeros((K, 0, 0), np.float32)]
    return [capture.units, capture.row_of_image[None], capture.spikes[None].copy(), capture.trace_units,
            capture.V[None].copy(), capture.phi[None].copy()]


def per_network_bytes(net, n_img: int) -> int:
    """Device bytes one network of a launch needs: its state, masks, images and counts."""
    p = net.params
    state = sum(getattr(net, f).nbytes for f in DEVICE_FIELDS) + net.W_mask.nbytes + net.B_mask.nbytes
    return state + n_img * (p.sizes[0] * 4 + 8 + p.n_classes * 8) + int(net.sizes.max()) * 4 + 64 * (p.n_layers + 1)


def check_memory(K: int, each: int, free: int | None = None) -> None:
    """A ConfigError, before anything is copied, when K networks of ``each`` bytes do not
    fit in the free device memory (with 10 % kept for the runtime); it says how many fit."""
    free = free_memory() if free is None else free
    if free is None:
        return
    fit = int(free * 0.9) // each
    if K > fit:
        raise ConfigError(f"backend cuda: {K} networks need {K * each / 2**30:.2f} GiB of device memory and "
                          f"{free / 2**30:.2f} GiB is free: {fit} fit; run at most {fit} at once")
