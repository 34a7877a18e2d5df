"""Backprop-like control: feedback through the transposed forward weights (weight transport)."""

from .base import FB_TRANSPOSE, FeedbackRule, LayerFeedback, register


@register
class Backprop(FeedbackRule):
    name = "bp"
    description = "backprop: weight transport, B_l = W_{l+1}^T at every step"
    rate_fusable = True

    def spiking_feedback(self, params, rng):
        return [LayerFeedback(FB_TRANSPOSE, l + 1) for l in range(1, params.n_layers)]

    def rate_feedback(self, net, l):
        return net.W[l + 1]
