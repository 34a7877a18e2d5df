"""Kolen-Pollack [KP94, A19]: B receives the transposed forward update and the same decay.

Rate networks: after each step, ``B_l -= lr (h_l^T delta_{l+1} / batch + lam B_l)`` while
``W_{l+1}`` gets the same increment and the same extra decay ``lam = fb_decay``, so
``B_l - W_{l+1}`` shrinks by ``(1 - lr lam)`` every step and B converges to W^T.
Spiking engine: B_l (stored like W_{l+1}, pre-major) receives exactly W_{l+1}'s
three-factor increment on the same rows and the same decay gamma, so
``B_l - W_{l+1}`` decays by ``(1 - gamma)`` per step.
"""

from .base import FeedbackRule, random_feedback_layers, register


@register
class KolenPollack(FeedbackRule):
    name = "kp"
    description = "Kolen-Pollack: B gets the transposed forward update plus the same weight decay [KP94, A19]"

    def spiking_feedback(self, params, rng):
        return random_feedback_layers(params, rng, plastic=True)

    def rate_setup(self, net, rng):
        self.B = self.random_feedback(net, rng, like_forward=True)

    def rate_after_update(self, net, a, h, deltas):
        p = net.params
        for l in range(1, net.L):
            d = deltas[l + 1]
            if d is None:
                continue
            self.B[l] -= p.lr * (h[l].T @ d / len(d) + (p.weight_decay + p.fb_decay) * self.B[l])
            self.keep_removed_like_forward(net, l)
            net.W[l + 1] -= p.lr * p.fb_decay * net.W[l + 1]
