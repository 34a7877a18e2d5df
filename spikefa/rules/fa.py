"""Feedback alignment [L16]: a fixed random matrix B_l carries the error one layer down."""

from .base import FeedbackRule, random_feedback_layers, register


@register
class FeedbackAlignment(FeedbackRule):
    name = "fa"
    description = "feedback alignment: fixed random B, layer by layer [L16]"
    rate_fusable = True

    def spiking_feedback(self, params, rng):
        return random_feedback_layers(params, rng)

    def rate_setup(self, net, rng):
        self.B = self.random_feedback(net, rng)
