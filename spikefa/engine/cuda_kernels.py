"""CUDA kernels of the spiking engine (numba-cuda): whole chunks of images in one launch,
K networks side by side (one thread block each).

The specification is :func:`spikefa.engine.reference.step`; :func:`run_chunk` computes
the same step with the same counter-based draws (:mod:`spikefa.rng`), written densely:

- forward: thread j of layer l sums, in float64 and in row order, ``W_l[i, j]`` over the
  pre-synaptic units i that spiked (a warp reads consecutive columns of one row), then
  ``V = (1 - tau) V + c (D + b)``, ``sig = sigma(V)``, ``s = [u < sig]``;
- feedback: thread j sums row j of its feedback matrix (B, W_{l+1} or sign W_{l+1}) times
  the float32 signal of the source layer, in float32 and in column order;
- plasticity is written every step (no pending steps): ``W_l[i, j] += kg_j`` for the rows
  of the pre-synaptic spikes, one float32 addition per step, which is bit for bit what the
  reference and the CPU engine's flush write.

One block runs one network for a whole chunk; the phases of a step are separated by
``syncthreads`` (about 4 L of them per step), so a launch needs no grid-wide
synchronisation and runs unchanged on numba-cuda's simulator. V and U are float64 as on
the CPU; the float sums differ from the CPU's only in their order (and in FMA
contraction on a real GPU), see docs/gpu.md.
"""

import numpy as np
from numba import cuda, float32, float64

from ..rng import GOLDEN, INV24, MASK, lowbias32_nb
from ..rules.base import FB_MATRIX, FB_NONE, FB_SIGN, FB_TRANSPOSE
from .activation import tanh_nb
from .network import RENORM_BELOW

# flags[...] of run_chunk: integer switches shared by the K networks of a launch
F_PHI, F_DELAY, F_GATE, F_REWARD, F_MASKED, F_CLASSES, F_HOMEO = range(7)
N_FLAGS = 7
# hyper[k, ...]: values that may differ between the K networks
H_TAU, H_ETA, H_GAMMA, H_HETA, H_HRATE, H_RRATE = range(6)
N_HYPER = 6


# ----- device twins of spikefa.rng (same integer arithmetic) and of spikefa.engine.activation
# the leaf functions are the CPU kernels' own Python source, compiled for the device
lowbias32_d = cuda.jit(device=True)(lowbias32_nb.py_func)


@cuda.jit(device=True)
def step_key_d(key, t):
    lo = np.uint32(np.uint64(t) & np.uint64(MASK))
    hi = np.uint32(np.uint64(t) >> np.uint64(32))
    return lowbias32_d(np.uint32(lowbias32_d(np.uint32(key) ^ lo)) ^ hi)


@cuda.jit(device=True)
def uniform_d(skey, unit):
    """``spikefa.rng.uniforms(key, t, n)[unit]`` for ``skey = step_key(key, t)``."""
    x = np.uint32(np.uint64(skey) + np.uint64(unit) * np.uint64(GOLDEN))
    return float64(lowbias32_d(x) >> np.uint32(8)) * INV24


tanh_d = cuda.jit(device=True)(tanh_nb.py_func)


@cuda.jit(device=True)
def sigmoid_d(v):
    return 0.5 + 0.5 * tanh_d(0.5 * v)


@cuda.jit(device=True)
def phi_d(u, kind):
    if kind == 0:
        return tanh_d(u)
    return 0.5 * tanh_d(0.5 * u)


@cuda.jit
def draws(keys, t, out):
    """out[k, j] = uniform of unit j at step t[k] under keys[k]: the draws, for the twin test."""
    k = cuda.blockIdx.x
    sk = step_key_d(keys[k], t[k])
    for j in range(cuda.threadIdx.x, out.shape[1], cuda.blockDim.x):
        out[k, j] = uniform_d(sk, j)


@cuda.jit
def run_chunk(train, steps, inputs, topology, state, out, record, scratch):
    """Show network k (= block) its ``n_img[k]`` images ``images[k]`` for ``steps`` steps
    each from global step ``t0[k]``. The arrays come in tuples (built by
    :class:`spikefa.engine.cuda_backend.CudaBackend`):

    - ``inputs``: ``(images, labels, n_img, t0, keys)``;
    - ``topology``: ``(n, u_off, w_off, fb_kind, fb_src, fb_off, fb_plastic, flags,
      fb_scale, hyper)``: shared topology, the integer switches ``flags`` (``F_*``), and per
      network the feedback scales (K, L+1) and values ``hyper`` (K, ``H_*``);
    - ``state``: ``(W, b, c, B, B_c, V, U, sig, phi, spikes, R_bar, W_mask, B_mask)``,
      each with the network as its first index and the layout of
      :class:`~spikefa.engine.network.SpikingNetwork` after it (``W`` (K, weights), ``V``
      (K, units), ``phi`` and ``spikes`` (K, 2, units), ...);
    - ``out``: ``(counts, layer_spikes)``, (K, n_img, n_classes) and (K, L+1), added to;
    - ``record``: ``(rec_units, rec_row, rec_spk, tr_units, tr_V, tr_phi)`` as in
      ``kernels.run_images`` with a leading K (zero-size: no recording);
    - ``scratch``: ``(phi32, red)``, (K, max units) float32 and (K, 1) int64.
    """
    images, labels, n_img, t0, keys = inputs
    n, u_off, w_off, fb_kind, fb_src, fb_off, fb_plastic, flags, fb_scale, hyper = topology
    W, b, c, B, B_c, V, U, sig, phi, spikes, R_bar, W_mask, B_mask = state
    counts, layer_spikes = out
    rec_units, rec_row, rec_spk, tr_units, tr_V, tr_phi = record
    k = cuda.blockIdx.x
    tid, nt = cuda.threadIdx.x, cuda.blockDim.x
    L = n.size - 1
    delay = flags[F_DELAY] != 0
    group = n[L] // flags[F_CLASSES]
    decay = 1.0 - hyper[k, H_TAU]
    recording = rec_row.shape[1] > 0
    t = t0[k]
    for img in range(n_img[k]):
        label = labels[k, img]
        rrow = rec_row[k, img] if recording else -1
        for st in range(steps):
            cur = t & 1
            pre = cur ^ 1 if delay else cur
            sk = step_key_d(keys[k, 0], t)
            for j in range(tid, n[0], nt):
                f = uniform_d(sk, j) < images[k, img, j]
                spikes[k, cur, j] = f
                if f:
                    cuda.atomic.add(layer_spikes, (k, 0), 1)
            cuda.syncthreads()

            # forward path, bottom-up
            for l in range(1, L + 1):
                nin, nout, base, ibase, woff = n[l - 1], n[l], u_off[l], u_off[l - 1], w_off[l]
                cl = c[k, l]
                sk = step_key_d(keys[k, l], t)
                for j in range(tid, nout, nt):
                    acc = 0.0
                    for i in range(nin):
                        if spikes[k, pre, ibase + i]:
                            acc += float64(W[k, woff + i * nout + j])
                    v = decay * V[k, base + j] + cl * (acc + float64(b[k, base + j]))
                    V[k, base + j] = v
                    sg = sigmoid_d(v)
                    sig[k, base + j] = sg
                    f = uniform_d(sk, j) < sg
                    spikes[k, cur, base + j] = f
                    if f:
                        cuda.atomic.add(layer_spikes, (k, l), 1)
                        if l == L:
                            cuda.atomic.add(counts, (k, img, j // group), 1)
                cuda.syncthreads()
            if rrow >= 0:
                for q in range(tid, rec_units.size, nt):
                    rec_spk[k, rrow + st, q] = spikes[k, cur, rec_units[q]]
                for q in range(tid, tr_units.size, nt):
                    tr_V[k, rrow + st, q] = V[k, tr_units[q]]
            if train:
                _feedback(k, tid, nt, cur, pre, label, topology, state, scratch)
                if rrow >= 0:
                    for q in range(tid, tr_units.size, nt):
                        tr_phi[k, rrow + st, q] = phi[k, cur, tr_units[q]]
                _plasticity(k, tid, nt, cur, pre, topology, state, scratch)
            t += 1
            cuda.syncthreads()


@cuda.jit(device=True)
def _feedback(k, tid, nt, cur, pre, label, topology, state, scratch):
    """Error units, then the hidden layers top-down. Node perturbation: ``red[k, 0]``
    counts the output units with ``y* != s`` (the reward's squared error)."""
    n, u_off, w_off, fb_kind, fb_src, fb_off, fb_plastic, flags, fb_scale, hyper = topology
    W, b, c, B, B_c, V, U, sig, phi, spikes, R_bar, W_mask, B_mask = state
    phi32, red = scratch
    L = n.size - 1
    phi_kind, gate, reward = flags[F_PHI], flags[F_GATE] != 0, flags[F_REWARD] != 0
    group = n[L] // flags[F_CLASSES]
    decay = 1.0 - hyper[k, H_TAU]
    base = u_off[L]
    for j in range(tid, n[L], nt):
        y = 1.0 if j // group == label else 0.0
        e = y - float64(spikes[k, cur, base + j])
        u = decay * U[k, base + j] + e
        U[k, base + j] = u
        phi[k, cur, base + j] = phi_d(u, phi_kind)
        if reward and e != 0.0:
            cuda.atomic.add(red, (k, 0), 1)       # (y - s)^2 is 0 or 1
    cuda.syncthreads()
    for l in range(L - 1, 0, -1):
        kind, nl, base = fb_kind[l], n[l], u_off[l]
        ns, sbase = n[fb_src[l]], u_off[fb_src[l]]
        for q in range(tid, ns, nt):
            pv = phi[k, pre, sbase + q]
            if gate:    # phi(U) Psi(V) of the source layer (this step's sig: the gate needs no delay)
                sg = sig[k, sbase + q]
                pv = pv * sg * (1.0 - sg)
            phi32[k, q] = float32(pv)
        cuda.syncthreads()
        scale = fb_scale[k, l]
        if kind == FB_MATRIX:
            scale *= B_c[k, l]
        elif kind == FB_TRANSPOSE:
            scale *= c[k, l + 1]
        for j in range(tid, nl, nt):
            d = float32(0.0)
            if kind == FB_MATRIX:
                off = fb_off[l] + j * ns
                for q in range(ns):
                    d += float32(B[k, off + q]) * phi32[k, q]
            elif kind == FB_TRANSPOSE:
                off = w_off[l + 1] + j * ns
                for q in range(ns):
                    d += W[k, off + q] * phi32[k, q]
            elif kind == FB_SIGN:
                off = w_off[l + 1] + j * ns
                for q in range(ns):
                    w = W[k, off + q]
                    d += (float32(w > 0) - float32(w < 0)) * phi32[k, q]
            u = decay * U[k, base + j]
            if kind != FB_NONE:
                u += scale * float64(d)
            U[k, base + j] = u
            phi[k, cur, base + j] = phi_d(u, phi_kind)
        cuda.syncthreads()


@cuda.jit(device=True)
def _plasticity(k, tid, nt, cur, pre, topology, state, scratch):
    """Three-factor plasticity of every layer, written now; decay scales below
    RENORM_BELOW folded back into the stored values (``SpikingNetwork.fold_decay``)."""
    n, u_off, w_off, fb_kind, fb_src, fb_off, fb_plastic, flags, fb_scale, hyper = topology
    W, b, c, B, B_c, V, U, sig, phi, spikes, R_bar, W_mask, B_mask = state
    red = scratch[1]
    L = n.size - 1
    reward, masked, homeo = flags[F_REWARD] != 0, flags[F_MASKED] != 0, flags[F_HOMEO] != 0
    eta, gamma = hyper[k, H_ETA], hyper[k, H_GAMMA]
    h_eta, h_rate, r_rate = hyper[k, H_HETA], hyper[k, H_HRATE], hyper[k, H_RRATE]
    adv = 0.0
    if reward:   # node perturbation: R = -|y* - s_L|^2 / n_L against its running mean
        adv = -float64(red[k, 0]) / n[L] - R_bar[k, 0]
    for l in range(1, L + 1):
        nin, nout, base, ibase, woff = n[l - 1], n[l], u_off[l], u_off[l - 1], w_off[l]
        cl = c[k, l] * (1.0 - gamma)
        kk = eta / cl
        plastic_b = fb_plastic[l - 1] != 0     # Kolen-Pollack: B_{l-1} shares W_l's update and decay
        bc = B_c[k, l - 1] * (1.0 - gamma)
        kb = eta / bc
        for j in range(tid, nout, nt):
            sg = sig[k, base + j]
            if reward:    # REINFORCE: the unit's own sampling noise is the perturbation
                g = adv * (float64(spikes[k, cur, base + j]) - sg)
            else:
                g = phi[k, cur, base + j] * sg * (1.0 - sg)
            kg = float32(kk * g)
            kgb = float32(kb * g)
            for i in range(nin):
                if spikes[k, pre, ibase + i]:
                    q = woff + i * nout + j
                    if not masked or W_mask[k, q] != 0:
                        W[k, q] += kg
                    if plastic_b:
                        qb = fb_off[l - 1] + i * nout + j
                        if not masked or B_mask[k, qb] != 0:
                            B[k, qb] += kgb
            b[k, base + j] += kg
            if homeo and l < L:    # the bias drifts towards the target rate
                b[k, base + j] += float32((h_eta / cl) * (h_rate - float64(spikes[k, cur, base + j])))
        cuda.syncthreads()     # every thread has read c and B_c of layer l
        if cl < RENORM_BELOW:
            for q in range(woff + tid, w_off[l + 1], nt):
                W[k, q] = W[k, q] * cl
            for j in range(tid, nout, nt):
                b[k, base + j] = b[k, base + j] * cl
        if plastic_b and bc < RENORM_BELOW:
            for q in range(fb_off[l - 1] + tid, fb_off[l - 1] + nin * nout, nt):
                B[k, q] = B[k, q] * bc
        if tid == 0:
            c[k, l] = 1.0 if cl < RENORM_BELOW else cl
            if plastic_b:
                B_c[k, l - 1] = 1.0 if bc < RENORM_BELOW else bc
    if tid == 0 and reward:
        R_bar[k, 0] += r_rate * adv
        red[k, 0] = 0


def signatures() -> list:
    """(kernel, argument types) of every kernel the backend launches, for each storage of
    B (float32, int8): what :func:`compile_ptx` compiles without a GPU."""
    from numba import boolean, int8, int64, uint8, uint32
    from numba.types import Tuple

    i1, i2, f2, u2 = int64[::1], int64[:, ::1], float64[:, ::1], uint8[:, ::1]
    f3 = float32[:, :, ::1]
    inputs = Tuple((f3, i2, i1, i1, uint32[:, ::1]))
    topology = Tuple((i1, i1, i1, i1, i1, i1, i1, i1, f2, f2))
    out_ = Tuple((int64[:, :, ::1], i2))
    record = Tuple((i1, i2, uint8[:, :, ::1], i1, f3, f3))
    scratch = Tuple((float32[:, ::1], i2))
    out = [(draws, (uint32[::1], int64[::1], f2))]
    for bt in (float32, int8):
        state = Tuple((float32[:, ::1], float32[:, ::1], f2, bt[:, ::1], f2, f2, f2, f2, float64[:, :, ::1],
                       uint8[:, :, ::1], f2, u2, u2))
        out.append((run_chunk, (boolean, int64, inputs, topology, state, out_, record, scratch)))
    return out


def compile_ptx(entry, cc=(9, 0)) -> tuple:
    """PTX of one ``(kernel, argument types)`` of :func:`signatures` for compute capability
    ``cc``, without a GPU. numba-cuda compiles the device functions a kernel calls for the
    current device's compute capability; here there is no device, so that query answers
    ``cc`` while this compiles."""
    from unittest import mock

    from numba.cuda import dispatcher

    class _Target:
        compute_capability = cc

    kernel, sig = entry
    with mock.patch.object(dispatcher, "get_current_device", lambda: _Target):
        return cuda.compile_ptx(kernel.py_func, sig, cc=cc)
