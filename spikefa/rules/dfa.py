"""Direct feedback alignment [N16]: fixed random B_l straight from the output error."""

from .base import FB_MATRIX, FeedbackRule, LayerFeedback, register, uniform_matrix


@register
class DirectFeedbackAlignment(FeedbackRule):
    name = "dfa"
    description = "direct feedback alignment: fixed random B_l from the output error to every hidden layer [N16]"

    def spiking_feedback(self, params, rng):
        n, top = params.sizes, params.n_layers
        return [LayerFeedback(FB_MATRIX, top, uniform_matrix(rng, (n[l], n[top]), params.b_init))
                for l in range(1, top)]

    def rate_source(self, net, l):
        return net.L

    def rate_setup(self, net, rng):
        self.B = self.random_feedback(net, rng)
