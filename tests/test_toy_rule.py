"""A new rule is one class: a toy rule defined here, in this one file, trains in the Numba
engine and in its NumPy twin (the same spikes, draw for draw) without any engine change.

The toy: feedback alignment whose fixed matrices hold only signs, B = (b_init / 2) sign(U),
U ~ U[-1, 1] (the mean magnitude of FA's uniform B).
"""

import numpy as np
import pytest

from spikefa.engine.simulator import Simulator
from spikefa.rules import FeedbackRule, LayerFeedback, base, register
from spikefa.rules.base import FB_MATRIX

from twins import make_data, make_net


class SignFeedback(FeedbackRule):
    name = "toy-sign-fa"
    description = "feedback alignment with B = (b_init / 2) sign(U[-1, 1]) (a test's toy rule)"

    def spiking_feedback(self, params, rng):
        n, L = params.sizes, params.n_layers
        return [LayerFeedback(FB_MATRIX, l + 1,
                              (params.b_init / 2 * np.sign(rng.uniform(-1, 1, (n[l], n[l + 1])))).astype(np.float32))
                for l in range(1, L)]


@pytest.fixture
def toy_rule(monkeypatch):
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))   # registered for this test only
    register(SignFeedback)
    return SignFeedback.name


def test_a_rule_in_one_file_trains_in_both_engines(toy_rule):
    a, b = make_net(toy_rule), make_net(toy_rule)
    assert set(np.unique(np.abs(a.B_layer(1)))) == {np.float32(0.05)}      # b_init / 2, signs only
    x, y = make_data()
    ca, la = Simulator(a, "numba").train(x, y)
    cb, lb = Simulator(b, "numpy").train(x, y)
    np.testing.assert_array_equal(ca, cb)                # same spikes, draw for draw
    np.testing.assert_array_equal(la, lb)
    a.flush()
    np.testing.assert_allclose(a.W, b.W, rtol=0, atol=1e-6)
    assert np.abs(a.W - make_net(toy_rule).W).max() > 1e-4          # it learned
