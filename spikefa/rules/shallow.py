"""Shallow learning: only the output layer learns; hidden layers keep their random weights."""

from .base import FB_NONE, FeedbackRule, LayerFeedback, register


@register
class Shallow(FeedbackRule):
    name = "shallow"
    description = "shallow: no feedback, only the output layer learns"
    rate_fusable = True

    def spiking_feedback(self, params, rng):
        return [LayerFeedback(FB_NONE, l + 1) for l in range(1, params.n_layers)]
