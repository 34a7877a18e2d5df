"""The feedback gate (``network.feedback_gate = "psi"``): the teaching signal that the
engine itself simulates, against backprop's from the same step.

Setting: a small network with tau = 1 (the leak keeps no memory, so U_l is this step's
feedback input alone), eta = 0 (the weights the feedback reads are the ones backprop
uses), one step per image, and a small feedback gain, so that phi = tanh of the hidden
feedback units works in its linear regime. After each step we read what the kernel wrote:
the teaching signal of layer l is ``phi(U_l) * Psi(V_l)`` (the factor that multiplies the
pre-synaptic spikes in the plasticity), with ``Psi = sig (1 - sig)`` of that step.
Backprop's from the same step's potentials: ``d_L = phi(U_L) Psi(V_L)`` (the engine's own
output signal) and ``d_l = (c_{l+1} W_{l+1} d_{l+1}) * Psi(V_l)``.

With the gate and B = W^T the two differ only by tanh's curvature (U of order 1e-2 here:
relative 1e-4) and float32 feedback sums, so the angle is a fraction of a degree (the
issue asks for 5). Without the gate the feedback omits Psi(V_{l+1}), which varies from
unit to unit when the potentials spread (w_init = 1: Psi from 0.25 down to about 0.05),
so the angle is tens of degrees (measured 34-62 degrees, asserted > 10).
"""

import numpy as np
import pytest

from spikefa.engine.network import SpikingNetwork
from spikefa.engine.params import SpikingParams
from spikefa.engine.simulator import Simulator
from spikefa.errors import ConfigError
from spikefa.metrics import batch_delta_angle

SIZES = (40, 60, 50, 40, 20)
N_STEPS = 200


def teaching_angles(gate: str, backend: str = "numba", rule: str = "bp", w_init: float = 1.0) -> list:
    """Mean angle (degrees) over N_STEPS steps between the engine's teaching signal and
    backprop's, per hidden layer 1..L-1."""
    p = SpikingParams(sizes=SIZES, n_classes=2, tau=1.0, eta=0.0, gamma=0.0, w_init=w_init,
                      feedback_gain=0.1, steps_per_image=1, feedback_gate=gate)
    net = SpikingNetwork(p, rule, seed=5)
    sim = Simulator(net, backend, threads=1)
    rng = np.random.default_rng(2)
    x, y = rng.random((N_STEPS, SIZES[0])).astype(np.float32), rng.integers(0, 2, N_STEPS)
    L, view = p.n_layers, net.unit_view
    engine = [[] for _ in range(L + 1)]
    bp = [[] for _ in range(L + 1)]
    for i in range(N_STEPS):
        sim.train(x[i:i + 1], y[i:i + 1])
        cur = (net.t - 1) & 1
        psi = [None] + [view(net.sig, l) * (1.0 - view(net.sig, l)) for l in range(1, L + 1)]
        d = view(net.phi[cur], L) * psi[L]
        for l in range(L - 1, 0, -1):
            engine[l].append(view(net.phi[cur], l) * psi[l])
            d = (net.effective_W(l + 1) @ d) * psi[l]
            bp[l].append(d)
    return [batch_delta_angle(np.array(engine[l]), np.array(bp[l])) for l in range(1, L)]


def test_gated_transport_is_backprop_and_ungated_is_not():
    """Seed 5, 200 steps, 3 hidden layers: with the gate every layer within 5 degrees of
    backprop (measured 0.014); without it clearly further (measured 34-62)."""
    gated, plain = teaching_angles("psi"), teaching_angles("none")
    print(f"\nteaching-signal angle to backprop, hidden layers 1-3: gate psi {np.round(gated, 3)}, "
          f"gate none {np.round(plain, 1)} degrees")
    assert all(a < 5.0 for a in gated), gated
    assert all(a > 10.0 for a in plain[:-1]), plain   # the top hidden layer misses one Psi only
    assert all(p > g + 5.0 for p, g in zip(plain, gated)), (plain, gated)


def test_numpy_twin_gives_the_same_signals():
    """The NumPy specification draws the same spikes: the same angles to 1e-6."""
    np.testing.assert_allclose(teaching_angles("psi", "numpy"), teaching_angles("psi"), atol=1e-6)


def test_gate_on_random_feedback_changes_the_signal_but_not_its_orthogonality():
    """FA with the gate: B is random, so its signal stays far from backprop's (above 45
    degrees in every layer at the start); the gate changes what it sends, not that."""
    assert all(a > 45.0 for a in teaching_angles("psi", rule="fa"))


@pytest.mark.parametrize("kw, words", [
    ({"feedback_gate": "yes"}, "feedback_gate: unknown 'yes', choose one of ['none', 'psi']"),
    ({"feedback_gate": "psi", "delay": True}, "feedback_gate: 'psi' needs delay = false"),
    ({"homeostasis": "on"}, "homeostasis: unknown 'on', choose one of ['off', 'rate']"),
    ({"homeostasis_rate": 1.0}, "homeostasis_rate: must lie in (0, 1)"),
    ({"homeostasis_eta": -1.0}, "homeostasis_eta: must be a number >= 0"),
])
def test_bad_values_are_one_line_errors(kw, words):
    with pytest.raises(ConfigError) as err:
        SpikingParams(**kw)
    assert str(err.value).startswith(words) and "\n" not in str(err.value)
