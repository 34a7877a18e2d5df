"""The NumPy specification of one time step (the model of [L16], docs/engine.md). Readable, dense, slow.

The Numba kernels in :mod:`spikefa.engine.kernels` compute the same thing event by event;
``tests/test_engine_twin.py`` runs both on the same random draws and compares them.

One step t, all layers, forward and feedback paths in the same step::

    s0_i      = [u < min(x_i, 0.95)]                                   input spikes
    V_l       = (1 - tau) V_l + c_l (W_l^T s_{l-1} + b_l)              l = 1..L, bottom-up
    s_l       = [u < sigma(V_l)]
    U_L       = (1 - tau) U_L + (y* - s_L)                             error units
    U_l       = (1 - tau) U_l + B_l phi(U_src)                         l = L-1..1, top-down
                                                   (the product in float32)
                (feedback_gate "psi": B_l (phi(U_src) Psi(V_src)), Psi = sigma')
    W_l      += eta phi(U_l) sigma'(V_l) s_{l-1}^T - gamma W_l         plasticity (training)
    b_l      += eta phi(U_l) sigma'(V_l)           - gamma b_l
                                                   (increments rounded to float32)
    b_l      += eta_h (rho - s_l)                                      homeostasis "rate", hidden l

With ``delay`` the forward and feedback inputs of a layer are those of step t-1.
sigma and tanh are the rational forms of :mod:`.activation` (within 2.7e-7 of the exact
functions), which the kernels vectorise.

Node perturbation (rules whose ``modulator`` is ``MOD_REWARD``) replaces the modulatory factor of every
layer by ``(R - R_bar) (s_l - sigma(V_l))`` with the reward ``R = -|y* - s_L|^2 / n_L``
and its running mean ``R_bar += reward_rate (R - R_bar)``.
"""

import numpy as np

from .. import rng as crng
from ..rules.base import FB_NONE
from .activation import phi_np, sigmoid_np


def step(net, x_prob: np.ndarray, label: int, train: bool = True, stream_t: int | None = None) -> np.ndarray:
    """Advance ``net`` by one step in place; return the output spike count of each class.

    Parameters
    ----------
    net : SpikingNetwork
    x_prob : ndarray (n_0,)
        Input spike probabilities, already clipped to ``input_max``.
    label : int
        Class shown (used by the error units in training).
    train : bool
        Feedback and plasticity on. At test only the forward path runs, with the test
        random stream at step ``stream_t`` and without advancing ``net.t``.
    """
    p, L = net.params, net.params.n_layers
    if net.npend:  # state left by the lazy Numba engine
        net.flush()
    t = net.t if train else stream_t
    keys = net.keys if train else net.test_keys
    cur, prv = t & 1, (t & 1) ^ 1
    pre = prv if p.delay else cur
    view = net.unit_view
    decay = 1.0 - p.tau

    s = view(net.spikes[cur], 0)
    s[:] = crng.uniforms(int(keys[0]), t, net.sizes[0]) < x_prob
    for l in range(1, L + 1):
        s_pre = view(net.spikes[pre], l - 1).astype(np.float64)
        drive = net.c[l] * (s_pre @ net.W_layer(l).astype(np.float64) + view(net.b, l))
        V = view(net.V, l)
        V[:] = decay * V + drive
        sig = view(net.sig, l)
        sig[:] = sigmoid_np(V)
        view(net.spikes[cur], l)[:] = crng.uniforms(int(keys[l]), t, net.sizes[l]) < sig
    out = view(net.spikes[cur], L).reshape(p.n_classes, p.group).sum(axis=1).astype(np.int64)
    if not train:
        return out

    y = (np.arange(net.sizes[L]) // p.group == label).astype(np.float64)
    U = view(net.U, L)
    U[:] = decay * U + (y - view(net.spikes[cur], L))
    view(net.phi[cur], L)[:] = phi_np(U, p.phi)
    adv = 0.0
    if net.reward_mode:  # node perturbation: reward relative to its running mean
        R = -np.sum((y - view(net.spikes[cur], L)) ** 2) / net.sizes[L]
        adv = R - net.R_bar[0]
        net.R_bar[0] += net.reward_rate * adv
    gate = p.feedback_gate == "psi"
    for l in range(L - 1, 0, -1):
        U = view(net.U, l)
        U *= decay
        if net.fb_kind[l] != FB_NONE:
            phi_src = view(net.phi[pre], net.fb_src[l])
            if gate:    # what the source layer sends: phi(U) Psi(V) of this step
                sig_src = view(net.sig, net.fb_src[l])
                phi_src = phi_src * sig_src * (1.0 - sig_src)
            phi_src = phi_src.astype(np.float32)
            stored, scale = net.feedback_parts(l)
            U += scale * (stored.astype(np.float32) @ phi_src).astype(np.float64)
        view(net.phi[cur], l)[:] = phi_np(U, p.phi)

    for l in range(1, L + 1):
        net.c[l] *= 1.0 - p.gamma
        sig = view(net.sig, l)
        if net.reward_mode:  # REINFORCE: the unit's own sampling noise is the perturbation
            g = adv * (view(net.spikes[cur], l) - sig)
        else:
            g = view(net.phi[cur], l) * sig * (1.0 - sig)
        kg = ((p.eta / net.c[l]) * g).astype(np.float32)
        rows = view(net.spikes[pre], l - 1).astype(bool)
        net.add_to_W(l, rows, kg)   # removed elements get nothing
        view(net.b, l)[:] += kg
        if p.homeostasis == "rate" and l < L:   # the bias drifts towards the target rate
            s_l = view(net.spikes[cur], l)
            view(net.b, l)[:] += ((p.homeostasis_eta / net.c[l]) * (p.homeostasis_rate - s_l)).astype(np.float32)
        if net.fb_plastic[l - 1]:  # Kolen-Pollack: B_{l-1} gets W_l's update and decay
            net.B_c[l - 1] *= 1.0 - p.gamma
            net.add_to_B(l - 1, rows, ((p.eta / net.B_c[l - 1]) * g).astype(np.float32))
        net.fold_decay(l)
    net.t += 1
    return out
