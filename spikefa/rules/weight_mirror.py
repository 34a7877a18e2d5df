"""Weight mirror [A19]: B learns W^T in a separate mirror mode driven by noise.

Rate networks: after every engaged (learning) step, a mirror step: each hidden layer l
fires noise ``x ~ N(0, noise^2)`` (a batch as large as the training batch), layer l+1
responds linearly ``y = x @ W_{l+1}``, and
``B_l += fb_lr (x^T y / (batch noise^2) - B_l)``. Since E[x^T x] = noise^2 I, the
bracket's mean is ``W_{l+1} - B_l``: B_l is a running average of noisy estimates of
W_{l+1}, forgetting at rate fb_lr (the decay of [A19] with lambda = 1).
"""

import numpy as np

from .base import FeedbackRule, register


@register
class WeightMirror(FeedbackRule):
    name = "wm"
    description = "weight mirror: B learned from noise in mirror mode, alternating with learning [A19]"

    def rate_setup(self, net, rng):
        self.B = self.random_feedback(net, rng)
        self.rng = rng

    def rate_after_update(self, net, a, h, deltas):
        p = net.params
        batch = len(h[0])
        for l in range(1, net.L):
            x = self.rng.normal(0.0, p.noise, (batch, net.params.sizes[l]))
            y = x @ net.W[l + 1]
            self.B[l] += p.fb_lr * (x.T @ y / (batch * p.noise**2) - self.B[l])
