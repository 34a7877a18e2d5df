"""Feedback alignment [L16]: a fixed random matrix B_l carries the error one layer down."""

from .base import FB_MATRIX, FeedbackRule, LayerFeedback, register, uniform_matrix


@register
class FeedbackAlignment(FeedbackRule):
    name = "fa"
    description = "feedback alignment: fixed random B, layer by layer [L16]"

    def spiking_feedback(self, params, rng):
        n = params.sizes
        return [LayerFeedback(FB_MATRIX, l + 1, uniform_matrix(rng, (n[l], n[l + 1]), params.b_init))
                for l in range(1, params.n_layers)]

    def rate_setup(self, net, rng):
        self.B = self.random_feedback(net, rng)
