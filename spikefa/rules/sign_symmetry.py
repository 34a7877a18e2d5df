"""Sign symmetry [X18]: feedback is sign(W^T), scaled; signs but no magnitudes travel back.

Scale: rate networks use the mean |W_{l+1}| (so feedback and forward magnitudes match);
the spiking engine uses b_init / 2, the mean magnitude of FA's U[-b_init, b_init].
"""

import numpy as np

from .base import FB_SIGN, FeedbackRule, LayerFeedback, register


@register
class SignSymmetry(FeedbackRule):
    name = "ss"
    description = "sign symmetry: B_l = sign(W_{l+1}^T) times a scale [X18]"

    def spiking_feedback(self, params, rng):
        return [LayerFeedback(FB_SIGN, l + 1, scale=params.b_init / 2) for l in range(1, params.n_layers)]

    def rate_feedback(self, net, l):
        W = net.W[l + 1]
        return np.sign(W) * np.abs(W).mean()
