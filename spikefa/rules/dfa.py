"""Direct feedback alignment [N16]: fixed random B_l straight from the output error."""

from .base import FeedbackRule, random_feedback_layers, register


@register
class DirectFeedbackAlignment(FeedbackRule):
    name = "dfa"
    description = "direct feedback alignment: fixed random B_l from the output error to every hidden layer [N16]"
    rate_fusable = True

    def spiking_feedback(self, params, rng):
        return random_feedback_layers(params, rng, top=True)

    def rate_source(self, net, l):
        return net.L

    def rate_setup(self, net, rng):
        self.B = self.random_feedback(net, rng)
