"""Numba kernels of the spiking engine: whole image presentations in one JIT call.

Event-driven: input and hidden spikes are binary, so a layer's forward drive is the sum
of the weight rows of the pre-synaptic units that spiked, and plasticity touches only
those rows. The specification is :func:`spikefa.engine.reference.step`; the kernels
compute the same quantities in the same order, except that sums of several terms are
accumulated in float64 in another order (differences ~1e-16, below float32 resolution).

Threads split the active pre-synaptic rows into ``NCHUNK`` fixed parts, each summed into
its own buffer and then added in a fixed order, so results do not depend on the thread
count; feedback rows and plasticity rows are independent per thread.
"""

import numpy as np
from numba import njit, prange

from ..rng import step_key_nb, uniform_nb
from ..rules.base import FB_MATRIX, FB_NONE, FB_TRANSPOSE
from .activation import phi_nb, sigmoid_nb
from .network import RENORM_BELOW

NCHUNK = 2
_FAST = {"reassoc", "nsz", "arcp"}  # lets LLVM vectorise the float reductions below


# Kernels take local slices: with them LLVM sees contiguous, non-aliased rows and
# vectorises (6x faster than indexing the flat arrays with offsets). Not inlined at the
# Numba level, so that their fastmath flags stay theirs.
# Feedback sums are float32 (8 SIMD lanes, 2x faster than float64); a teaching signal
# needs no more precision than that.
@njit(cache=True, fastmath=_FAST)
def _dot(M, start, n, v):
    """sum_k M[start + k] * v[k] in float32; v float32 (n,)."""
    a = M[start:start + n]
    acc = np.float32(0.0)
    for k in range(n):
        acc += np.float32(a[k]) * v[k]
    return acc


@njit(cache=True, fastmath=_FAST)
def _signdot(M, start, n, v):
    """sum_k sign(M[start + k]) * v[k] in float32."""
    a = M[start:start + n]
    acc = np.float32(0.0)
    for k in range(n):
        acc += (np.float32(a[k] > 0) - np.float32(a[k] < 0)) * v[k]
    return acc


# Per-unit passes, each a loop LLVM vectorises: no libm call (see .activation), no branch
# (the spike list grows by ``m += s``), and error_model="numpy" so the division in the
# rational tanh does not need a zero check.
@njit(cache=True, error_model="numpy")
def _membrane(V, D, a0, b, sig, decay, cl):
    """V = decay V + c (D + a0 + b); sig = sigma(V)."""
    for j in range(V.size):
        v = decay * V[j] + cl * ((D[j] + a0[j]) + b[j])
        V[j] = v
        sig[j] = sigmoid_nb(v)


@njit(cache=True, error_model="numpy")
def _sample(sk, p, spk, act, u):
    """spk[j] = [uniform(sk, j) < p[j]]; act[:m] lists the units that spiked; returns m."""
    n = p.size
    for j in range(n):
        u[j] = uniform_nb(sk, j)
    m = 0
    for j in range(n):
        f = u[j] < p[j]
        spk[j] = f
        act[m] = j
        m += f
    return m


@njit(cache=True, error_model="numpy")
def _feedback_units(U, d, phi, decay, scale, kind):
    """U = decay U + scale d; phi = phi(U)."""
    for j in range(U.size):
        u = decay * U[j] + scale * np.float64(d[j])
        U[j] = u
        phi[j] = phi_nb(u, kind)


@njit(cache=True, error_model="numpy")
def _error_units(U, spk, phi, decay, lo, hi, kind):
    """U = decay U + (y* - s) with y* one on units lo..hi-1; phi = phi(U)."""
    for j in range(U.size):
        y = 1.0 if lo <= j < hi else 0.0
        u = decay * U[j] + (y - spk[j])
        U[j] = u
        phi[j] = phi_nb(u, kind)


@njit(cache=True)
def _overlap(a, b):
    """Units set in both of two 0/1 uint8 vectors: how many rows just read had a spike
    at a pending step (a vectorised pass, not a gather through the active list)."""
    s = 0
    for k in range(a.size):
        s += a[k] & b[k]
    return s


@njit(cache=True, inline="always")
def _row(M, woff, nout, i):
    return M[woff + i * nout:woff + (i + 1) * nout]


@njit(cache=True)
def _add_rows(W, woff, nout, rows, lo, hi, sign, acc):
    """acc[:nout] += sign * (sum of the rows rows[lo:hi] of the (., nout) block of W at woff).

    Eight rows at a time: eight memory streams in flight and one accumulator pass per
    eight rows (the rows are scattered, so the bus waits on latency; one row at a time
    was 3.9x slower once W overflows the cache, four at a time 1.3x).
    """
    q = lo
    while q + 8 <= hi:
        r0, r1 = _row(W, woff, nout, rows[q]), _row(W, woff, nout, rows[q + 1])
        r2, r3 = _row(W, woff, nout, rows[q + 2]), _row(W, woff, nout, rows[q + 3])
        r4, r5 = _row(W, woff, nout, rows[q + 4]), _row(W, woff, nout, rows[q + 5])
        r6, r7 = _row(W, woff, nout, rows[q + 6]), _row(W, woff, nout, rows[q + 7])
        for j in range(nout):
            acc[j] += sign * ((((np.float64(r0[j]) + np.float64(r1[j])) + (np.float64(r2[j]) + np.float64(r3[j])))
                              + ((np.float64(r4[j]) + np.float64(r5[j])) + (np.float64(r6[j]) + np.float64(r7[j])))))
        q += 8
    while q < hi:
        r0 = _row(W, woff, nout, rows[q])
        for j in range(nout):
            acc[j] += sign * np.float64(r0[j])
        q += 1


@njit(cache=True)
def _flush_rows(M, woff, nout, lo, hi, flags, fbase, pend, pbase, npend, sel, sbase, track, dacc, mask, masked):
    """Apply pending plasticity to rows lo..hi-1 of the (., nout) block of M at woff.

    With ``masked``, elements whose ``mask`` (the layout of M) is 0 receive nothing.

    Row i receives ``pend[tau, pbase:pbase+nout]`` for every pending step tau in which
    ``flags[tau, fbase + i]`` (its pre-synaptic unit spiked), one float32 addition at a
    time in step order: bit for bit what per-step updates would have written. Four steps
    go into one pass over the row (``((row + i0) + i1) + i2) + i3``, the same additions in
    the same order), so a row is loaded and stored once per four increments, not once per
    increment: the row pass was bound by its stores. With ``track``, the change of every
    row with ``sel[sbase + i]`` (its unit active now) is added to ``dacc`` in float64: what
    the incremental drive of those rows must follow.
    """
    taus = np.empty(npend, np.int64)
    for i in range(lo, hi):
        row = M[woff + i * nout:woff + (i + 1) * nout]
        tr = track and sel[sbase + i] != 0
        if tr:
            for j in range(nout):
                dacc[j] -= row[j]
        m = 0
        for tau in range(npend):
            if flags[tau, fbase + i]:
                taus[m] = tau
                m += 1
        if masked:
            msk = mask[woff + i * nout:woff + (i + 1) * nout]
            for q in range(m):
                inc = pend[taus[q], pbase:pbase + nout]
                for j in range(nout):
                    row[j] += inc[j] if msk[j] != 0 else np.float32(0.0)
        else:
            q = 0
            while q + 4 <= m:
                i0, i1 = pend[taus[q], pbase:pbase + nout], pend[taus[q + 1], pbase:pbase + nout]
                i2, i3 = pend[taus[q + 2], pbase:pbase + nout], pend[taus[q + 3], pbase:pbase + nout]
                for j in range(nout):
                    row[j] = (((row[j] + i0[j]) + i1[j]) + i2[j]) + i3[j]
                q += 4
            if m - q == 3:     # the rest in one pass too
                i0, i1, i2 = (pend[taus[q], pbase:pbase + nout], pend[taus[q + 1], pbase:pbase + nout],
                              pend[taus[q + 2], pbase:pbase + nout])
                for j in range(nout):
                    row[j] = ((row[j] + i0[j]) + i1[j]) + i2[j]
            elif m - q == 2:
                i0, i1 = pend[taus[q], pbase:pbase + nout], pend[taus[q + 1], pbase:pbase + nout]
                for j in range(nout):
                    row[j] = (row[j] + i0[j]) + i1[j]
            elif m - q == 1:
                i0 = pend[taus[q], pbase:pbase + nout]
                for j in range(nout):
                    row[j] += i0[j]
        if tr:
            for j in range(nout):
                dacc[j] += row[j]


@njit(cache=True, parallel=True, nogil=True)
def _flush(n, u_off, w_off, fb_off, fb_plastic, W, B, pend_spk, pend_kg, pend_kgb, npend, sel, D, dvalid, acc,
           W_mask, B_mask, masked):
    """Write every pending plasticity step into W (and into B for Kolen-Pollack); the
    incremental drives ``D_l`` (where ``dvalid[l]``) follow the rows of units with ``sel``."""
    L = n.size - 1
    for l in range(1, L + 1):
        nin, nout = n[l - 1], n[l]
        for ch in prange(NCHUNK):
            lo, hi = ch * nin // NCHUNK, (ch + 1) * nin // NCHUNK
            a = acc[ch, :nout]
            a[:] = 0.0
            _flush_rows(W, w_off[l], nout, lo, hi, pend_spk, u_off[l - 1], pend_kg, u_off[l], npend,
                        sel, u_off[l - 1], dvalid[l], a, W_mask, masked)
            if fb_plastic[l - 1]:
                _flush_rows(B, fb_off[l - 1], nout, lo, hi, pend_spk, u_off[l - 1], pend_kgb, u_off[l], npend,
                            sel, u_off[l - 1], False, a, B_mask, masked)
        if dvalid[l]:
            for ch in range(NCHUNK):
                for j in range(nout):
                    D[u_off[l] + j] += acc[ch, j]


@njit(cache=True, parallel=True, nogil=True)
def run_images(images, labels, train, t0, steps, keys, topology, state, npend, hyper, counts, layer_spikes,
               record, reward, masks, incremental=True):
    """Show each image for ``steps`` steps, from global step ``t0``.

    The arrays come packed in tuples (unpacked below), built by
    :class:`spikefa.engine.numba_backend.NumbaBackend`:

    - ``topology``: ``(n, u_off, w_off, fb_kind, fb_src, fb_off, fb_scale, fb_plastic)``;
    - ``state``: the network's state arrays in the order of :data:`spikefa.engine.state.STATE`;
    - ``hyper``: ``(tau, eta, gamma, phi_kind, delay, n_classes, gate, h_eta, h_rate)``: with
      ``gate`` a feedback layer sends ``phi(U) Psi(V)`` of its source layer, with ``h_eta``
      > 0 every hidden bias moves by ``h_eta (h_rate - s)`` per training step;
    - ``record``: ``(rec_units, rec_row, rec_spk, tr_units, tr_V, tr_phi)``;
    - ``reward``: ``(reward_mode, reward_rate)``; ``masks``: ``(W_mask, B_mask, masked)``.

    Returns ``(t, npend)``: the next global step and the number of pending plasticity
    steps now held in ``pend_*``.

    ``images`` (n_img, n_0) float32 spike probabilities; ``counts`` (n_img, n_classes)
    int64 receives the output spikes per class group; ``layer_spikes`` (L+1,) int64
    accumulates the spikes of each layer. All network arrays are updated in place (see
    :class:`spikefa.engine.network.SpikingNetwork` for their layout).

    Plasticity is lazy: the increments of up to K = ``pend_kg.shape[0]`` steps are kept
    (one float32 vector per layer and the pre-synaptic spike flags per step) and written
    in one pass over the rows, so each row crosses the memory bus once per K steps
    instead of twice per step. Meanwhile the forward drive adds
    ``overlap(s_t, s_tau) * kg_tau`` and transposed feedback adds
    ``s_tau[j] * (kg_tau . phi)``: in exact arithmetic the same as reading updated
    weights. The pending steps are part of the network's state and carry over between
    calls, so where a run is cut into calls does not change its results.

    Incremental forward drive (``incremental``, without ``delay``): ``D_l``, the sum of
    the stored rows of the pre-synaptic units active at the previous step, is kept, and a
    step adds the rows of the units that turned on and subtracts those that turned off
    whenever they are fewer than the active units; a flush adds the written increments of
    those units (``overlap * kg``). Once trained, hidden units fire near 0 or 1 within an
    image, so about 12-16 % of them change from step to step while 50 % are active: 3-4x
    fewer rows cross the bus. ``D_l`` is rebuilt from the active rows at the start of each
    call and after a renormalisation; sums are float64, so it differs from a full gather
    only by float64 rounding (~1e-16 of the drive; none at all in the twin tests), and
    where a run is cut into calls can change V only at that level.

    Recording (see :mod:`spikefa.recording`; zero-size arrays turn it off): image ``img``
    is recorded when ``rec_row[img] >= 0``; its step ``k`` goes to buffer row
    ``rec_row[img] + k``. Each recorded step copies the spikes of the flat units
    ``rec_units`` (R,) into ``rec_spk`` (rows, R) uint8, and ``V`` and ``phi`` (this
    step's ``phi_delta(U)``, training only) of the flat units ``tr_units`` (T,) into
    ``tr_V`` and ``tr_phi`` (rows, T) float32. Recording only reads the state.
    """
    n, u_off, w_off, fb_kind, fb_src, fb_off, fb_scale, fb_plastic = topology
    W, b, c, B, B_c, V, U, sig, phi, spikes, pend_spk, pend_kg, pend_kgb, R_bar = state
    tau, eta, gamma, phi_kind, delay, n_classes, gate, h_eta, h_rate = hyper
    rec_units, rec_row, rec_spk, tr_units, tr_V, tr_phi = record
    reward_mode, reward_rate = reward
    W_mask, B_mask, masked = masks
    L = n.size - 1
    total = u_off[L + 1]
    nmax = 0
    for l in range(L + 1):
        nmax = max(nmax, n[l])
    act = np.empty((2, total), np.int64)
    nact = np.zeros((2, L + 1), np.int64)
    acc = np.empty((NCHUNK, nmax))
    g = np.empty(nmax)
    phi32 = np.empty(nmax, np.float32)
    dfb = np.empty(nmax, np.float32)      # feedback input of each unit
    ubuf = np.empty(nmax)                 # this step's uniform draws of one layer
    lazy_k = pend_kg.shape[0]
    ev = np.empty(lazy_k, np.float32)
    group = n[L] // n_classes
    D = np.zeros(total)                   # incremental forward drive, per layer at u_off[l]
    dvalid = np.zeros(L + 1, np.bool_)
    incr = incremental and not delay
    on = np.empty(nmax, np.int64)
    off = np.empty(nmax, np.int64)
    decay = 1.0 - tau

    prev = (t0 & 1) ^ 1  # active lists of the step before t0, from the stored flags
    for l in range(L + 1):
        m = 0
        for j in range(n[l]):
            if spikes[prev, u_off[l] + j]:
                act[prev, u_off[l] + m] = j
                m += 1
        nact[prev, l] = m

    t = t0
    for img in range(images.shape[0]):
        x = images[img]
        label = labels[img]
        rrow = rec_row[img] if rec_row.size > 0 else -1
        for k_ in range(steps):
            row = rrow + k_ if rrow >= 0 else -1
            cur = t & 1
            pre = cur ^ 1 if delay else cur
            sk = step_key_nb(keys[0], t)
            m = _sample(sk, x, spikes[cur, :n[0]], act[cur, :n[0]], ubuf[:n[0]])
            nact[cur, 0] = m
            layer_spikes[0] += m

            # forward path, bottom-up
            for l in range(1, L + 1):
                na, nout, base, ibase = nact[pre, l - 1], n[l], u_off[l], u_off[l - 1]
                act_in = act[pre, ibase:]
                Dl = D[base:base + nout]
                non = noff = 0
                if incr and dvalid[l]:   # the units of layer l-1 that changed since the last step
                    s_now, s_was = spikes[cur, ibase:ibase + n[l - 1]], spikes[cur ^ 1, ibase:ibase + n[l - 1]]
                    for i in range(n[l - 1]):   # branch-free: the lists grow by 0 or 1
                        now, was = np.int64(s_now[i]), np.int64(s_was[i])
                        on[non] = i
                        non += now & (1 - was)
                        off[noff] = i
                        noff += was & (1 - now)
                if incr and dvalid[l] and non + noff < na:
                    for ch in prange(NCHUNK):
                        a = acc[ch, :nout]
                        a[:] = 0.0
                        _add_rows(W, w_off[l], nout, on, ch * non // NCHUNK, (ch + 1) * non // NCHUNK, 1.0, a)
                        _add_rows(W, w_off[l], nout, off, ch * noff // NCHUNK, (ch + 1) * noff // NCHUNK, -1.0, a)
                    for ch in range(NCHUNK):
                        for j in range(nout):
                            Dl[j] += acc[ch, j]
                else:
                    for ch in prange(NCHUNK):
                        a = acc[ch, :nout]
                        a[:] = 0.0
                        _add_rows(W, w_off[l], nout, act_in, ch * na // NCHUNK, (ch + 1) * na // NCHUNK, 1.0, a)
                    for j in range(nout):
                        Dl[j] = acc[0, j]
                    for ch in range(1, NCHUNK):
                        for j in range(nout):
                            Dl[j] += acc[ch, j]
                    dvalid[l] = incr
                a0 = acc[0, :nout]
                a0[:] = 0.0
                sp_in = spikes[pre, ibase:ibase + n[l - 1]]
                for tau_ in range(npend):  # pending plasticity of the rows just read
                    ov = _overlap(sp_in, pend_spk[tau_, ibase:ibase + n[l - 1]])
                    if ov:
                        inc = pend_kg[tau_, base:base + nout]
                        for j in range(nout):
                            a0[j] += ov * np.float64(inc[j])
                _membrane(V[base:base + nout], Dl, a0, b[base:base + nout], sig[base:base + nout], decay, c[l])
                m = _sample(step_key_nb(keys[l], t), sig[base:base + nout], spikes[cur, base:base + nout],
                            act[cur, base:base + nout], ubuf[:nout])
                nact[cur, l] = m
                layer_spikes[l] += m
            for q in range(nact[cur, L]):
                counts[img, act[cur, u_off[L] + q] // group] += 1
            if row >= 0:
                for q in range(rec_units.size):
                    rec_spk[row, q] = spikes[cur, rec_units[q]]
                for q in range(tr_units.size):
                    tr_V[row, q] = V[tr_units[q]]
            t += 1
            if not train:
                continue

            # error units, then the feedback path top-down
            base = u_off[L]
            _error_units(U[base:base + n[L]], spikes[cur, base:base + n[L]], phi[cur, base:base + n[L]], decay,
                         label * group, (label + 1) * group, phi_kind)
            adv = 0.0
            if reward_mode:  # node perturbation: reward relative to its running mean
                R = 0.0
                for j in range(n[L]):
                    y = 1.0 if j // group == label else 0.0
                    R -= (y - spikes[cur, base + j]) ** 2
                R /= n[L]
                adv = R - R_bar[0]
                R_bar[0] += reward_rate * adv
            phi_in = phi[pre]
            phi_out = phi[cur]
            for l in range(L - 1, 0, -1):
                kind, nl, base = fb_kind[l], n[l], u_off[l]
                ns, sbase = n[fb_src[l]], u_off[fb_src[l]]
                if gate:   # phi(U) Psi(V) of the source layer (gate needs no delay: sig is this step's)
                    for k in range(ns):
                        sg = sig[sbase + k]
                        phi32[k] = phi_in[sbase + k] * sg * (1.0 - sg)
                else:
                    for k in range(ns):
                        phi32[k] = phi_in[sbase + k]
                scale = fb_scale[l]
                if kind == FB_MATRIX:
                    scale *= B_c[l]
                elif kind == FB_TRANSPOSE:
                    scale *= c[l + 1]
                # pending updates of the matrix read here: row j gets s_tau[j] * (kg_tau . phi)
                lazy = kind == FB_TRANSPOSE or (kind == FB_MATRIX and fb_plastic[l])
                for tau_ in range(npend if lazy else 0):
                    pk = pend_kg if kind == FB_TRANSPOSE else pend_kgb
                    ev[tau_] = _dot(pk[tau_], sbase, ns, phi32)
                for j in prange(nl):
                    d = np.float32(0.0)
                    if kind == FB_MATRIX:
                        d = _dot(B, fb_off[l] + j * ns, ns, phi32)
                    elif kind == FB_TRANSPOSE:
                        d = _dot(W, w_off[l + 1] + j * ns, ns, phi32)
                    elif kind != FB_NONE:
                        d = _signdot(W, w_off[l + 1] + j * ns, ns, phi32)
                    if lazy:
                        for tau_ in range(npend):
                            if pend_spk[tau_, base + j]:
                                d += ev[tau_]
                    dfb[j] = d
                _feedback_units(U[base:base + nl], dfb[:nl], phi_out[base:base + nl], decay,
                                scale if kind != FB_NONE else 0.0, phi_kind)
            if row >= 0:
                for q in range(tr_units.size):
                    tr_phi[row, q] = phi_out[tr_units[q]]

            # three-factor plasticity, kept pending for the rows of pre-synaptic spikes
            sp = spikes[pre]
            for k in range(total):
                pend_spk[npend, k] = sp[k]
            renorm = False
            for l in range(1, L + 1):
                nout, base = n[l], u_off[l]
                c[l] *= 1.0 - gamma
                k = eta / c[l]
                pk = pend_kg[npend, base:base + nout]
                for j in range(nout):
                    s = sig[base + j]
                    if reward_mode:  # REINFORCE: the unit's own sampling noise is the perturbation
                        g[j] = adv * (spikes[cur, base + j] - s)
                    else:
                        g[j] = phi_out[base + j] * s * (1.0 - s)
                    pk[j] = k * g[j]
                    b[base + j] += pk[j]
                if h_eta != 0.0 and l < L:   # homeostasis: the bias drifts towards the target rate
                    kh = h_eta / c[l]
                    for j in range(nout):
                        b[base + j] += np.float32(kh * (h_rate - spikes[cur, base + j]))
                if fb_plastic[l - 1]:  # Kolen-Pollack: B_{l-1} shares W_l's update and decay
                    B_c[l - 1] *= 1.0 - gamma
                    kb = eta / B_c[l - 1]
                    pb = pend_kgb[npend, base:base + nout]
                    for j in range(nout):
                        pb[j] = kb * g[j]
                    renorm = renorm or B_c[l - 1] < RENORM_BELOW
                renorm = renorm or c[l] < RENORM_BELOW
            npend += 1
            if npend == lazy_k or renorm:
                _flush(n, u_off, w_off, fb_off, fb_plastic, W, B, pend_spk, pend_kg, pend_kgb, npend,
                       spikes[pre], D, dvalid, acc, W_mask, B_mask, masked)
                npend = 0
            if renorm:
                dvalid[:] = False
                for l in range(1, L + 1):
                    if c[l] < RENORM_BELOW:
                        for q in range(w_off[l], w_off[l + 1]):
                            W[q] = W[q] * c[l]
                        for j in range(n[l]):
                            b[u_off[l] + j] = b[u_off[l] + j] * c[l]
                        c[l] = 1.0
                    if fb_plastic[l - 1] and B_c[l - 1] < RENORM_BELOW:
                        for q in range(fb_off[l - 1], fb_off[l - 1] + n[l - 1] * n[l]):
                            B[q] = B[q] * B_c[l - 1]
                        B_c[l - 1] = 1.0
    return t, npend
