"""Alignment of the spiking engine's teaching signals with backprop's.

In the engine the modulatory signal of hidden layer l is ``m_l = phi(U_l)``, and U_l
integrates ``F_l m_src`` (``F_l`` the rule's feedback matrix, ``src`` the layer above, or
the output for DFA); the error units integrate ``e = y* - s_L``. Plasticity uses the
teaching signal ``delta_l = m_l * Psi(V_l)``. In the linear regime of phi (slope 1 at 0)
and at the steady state of the leak (a factor 1/tau per layer, which no angle sees)::

    rule:      m_L = e,              m_l = F_l m_src,                      delta_l = m_l * Psi_l
    gated:                           m_l = F_l (m_src * Psi_src)           (feedback_gate "psi")
    backprop:  d_L = e * Psi_L,      d_l = (W_{l+1} d_{l+1}) * Psi_l

Backprop's recursion carries the derivative of every layer above; the engine's feedback
path does not (docs/rules.md), so even B = W^T is not exactly backprop and its angle is
above 0, unless the feedback gate puts the derivatives in. ``e`` and ``Psi_l = mean sigma'(V_l)`` are measured on a probe batch: each image
is shown for the test steps with plasticity off (on a copy; the network is untouched) and
the output rates over those steps give ``e``. The angle is averaged over the batch
(:func:`spikefa.metrics.batch_delta_angle`); it is NaN for layers that get no feedback
matrix (shallow, node perturbation).
"""

import functools

import numpy as np
from threadpoolctl import threadpool_limits

from ..metrics import angle, batch_delta_angle
from . import reference


def _one_blas_thread(fn):
    """Run ``fn`` with a single-threaded BLAS: its sums then do not depend on how many
    threads the run uses, and neither do the recorded angles (to the last bit)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)
    return wrapper


def probe_state(work, images, labels) -> tuple:
    """Output error ``e`` (n, n_L) and ``Psi_l`` (n, n_l) per layer from a test-mode pass
    of ``work`` (a settled copy: the pass changes its unit states, never its weights)."""
    p, L = work.params, work.params.n_layers
    x = work.input_prob(images)
    n = len(x)
    psi = [None] + [np.zeros((n, work.sizes[l])) for l in range(1, L + 1)]
    rate = np.zeros((n, work.sizes[L]))
    t = 0
    for i in range(n):
        for _ in range(p.test_steps):
            reference.step(work, x[i], 0, train=False, stream_t=t)
            for l in range(1, L + 1):
                sig = work.unit_view(work.sig, l)
                psi[l][i] += sig * (1.0 - sig)
            rate[i] += work.unit_view(work.spikes[t & 1], L)
            t += 1
    for l in range(1, L + 1):
        psi[l] /= p.test_steps
    target = (np.arange(work.sizes[L])[None, :] // p.group == np.asarray(labels)[:, None]).astype(np.float64)
    return target - rate / p.test_steps, psi


def teaching_signals(net, e, psi) -> tuple:
    """(rule's delta_l, backprop's delta_l) for hidden layers l = 1..L-1 (index 0 None),
    from the output error ``e`` (n, n_L) and ``psi[l]`` (n, n_l)."""
    if net.npend:
        net = net.settled()
    L = net.params.n_layers
    gate = net.params.feedback_gate == "psi"
    m = [None] * (L + 1)
    m[L] = e
    rule = [None] * L
    for l in range(L - 1, 0, -1):
        F = net.feedback_matrix(l)                 # (n_l, n_src)
        src = m[net.fb_src[l]]
        if F is not None and src is not None:
            m[l] = (src * psi[net.fb_src[l]] if gate else src) @ F.T
            rule[l] = m[l] * psi[l]
    bp = [None] * (L + 1)
    bp[L] = e * psi[L]
    for l in range(L - 1, 0, -1):
        bp[l] = (bp[l + 1] @ net.effective_W(l + 1).T) * psi[l]
    return rule, bp[:L]


SATURATED = 0.01   # Psi = sigma'(V) below this (|V| above about 4.6): the unit barely learns


@_one_blas_thread
def probe(net, images, labels) -> dict:
    """One probe pass: ``delta`` (per hidden layer, the batch-averaged angle in degrees
    between the rule's and backprop's teaching signal; NaN where the rule sends none),
    and per layer 1..L ``psi`` (mean Psi = sigma'(V), at most 1/4) and ``saturated`` (the
    fraction of unit-image pairs whose Psi, averaged over the test steps, is below
    ``SATURATED``: units so far from threshold that plasticity, which is scaled by Psi,
    all but stops for them)."""
    work = net.settled()                     # one copy: the probe runs on it, then the angles
    e, psi = probe_state(work, images, labels)
    rule, bp = teaching_signals(work, e, psi)
    L = net.params.n_layers
    return {"delta": [np.nan if rule[l] is None else batch_delta_angle(rule[l], bp[l]) for l in range(1, L)],
            "psi": [float(psi[l].mean()) for l in range(1, L + 1)],
            "saturated": [float((psi[l] < SATURATED).mean()) for l in range(1, L + 1)]}


def delta_angles(net, images, labels) -> list:
    """Batch-averaged angle (degrees) between the rule's and backprop's teaching signal,
    per hidden layer 1..L-1 (NaN where the rule sends none)."""
    return probe(net, images, labels)["delta"]


@_one_blas_thread
def matrix_angles(net) -> list:
    """Angle (degrees) between each hidden layer's feedback matrix and W_{l+1}, layers
    1..L-1 (NaN without a feedback matrix, or when it comes from another layer: DFA)."""
    net = net.settled() if net.npend else net
    out = []
    for l in range(1, net.params.n_layers):
        F, W = net.feedback_matrix(l), net.effective_W(l + 1)
        out.append(angle(F, W) if F is not None and F.shape == W.shape else np.nan)
    return out
