"""Weight mirror [A19]: B learns W^T in a separate mirror mode driven by noise.

Rate networks: after every engaged (learning) step, a mirror step: each hidden layer l
fires noise ``x ~ N(0, noise^2)`` (``mirror_batch`` samples, by default as many as the
training batch), layer l+1 responds linearly ``y = x @ W_{l+1}``, and
``B_l += fb_lr (x^T y / (mirror_batch noise^2) - B_l)``. Since E[x^T x] = noise^2 I, the
bracket's mean is ``W_{l+1} - B_l``: B_l is a running average of noisy estimates of
W_{l+1}, forgetting at rate fb_lr (the decay of [A19] with lambda = 1). Its angle to
W_{l+1} is set by the samples it averages, about ``mirror_batch / fb_lr``: the relative
error of the estimate is about sqrt(n_l fb_lr / mirror_batch).

Spiking engine (new): engaged mode is ordinary training with B_l as fixed feedback
(``FB_MATRIX``). After every ``mirror_every`` training images the network enters mirror
mode for ``mirror_samples`` noise steps: the units of each hidden layer l fire at random
(``s_l ~ Bernoulli(1/2)``), and each unit j of layer l+1 integrates them through its
forward weights, ``V_j = c sum_i s_l,i W'_ij`` (its membrane drive, which is linear in the
input). Since ``Cov(s_l,i, V_j) = c W'_ij / 4``, the estimate
``C_ij = 4 mean((s_l,i - 1/2)(V_j - E V_j))`` of W_{l+1}, with ``E V_j = c/2 sum_i W'_ij``
the drive's mean over the noise (its resting level), is built from local pre- and
post-synaptic quantities alone, exactly unbiased whatever the units' operating point, with
variance ``c^2 sum_{k != i} W'_kj^2 / mirror_samples`` per element (tests/test_weight_mirror.py).
Then ``B_l <- (1 - mirror_lr) B_l + mirror_lr C`` (decay towards the new estimate). The
samples of a phase are drawn as one batch from a generator seeded by (spike seed, image
count, layer): reproducible and independent of chunking. Pending plasticity is written
before each phase. An earlier estimator used the post-synaptic spikes and divided by the
mean sigma'(V_j); trained units saturate, that mean fell towards 0, and B drifted 88
degrees from W^T.
"""

import numpy as np

from .base import FeedbackRule, random_feedback_layers, register


@register
class WeightMirror(FeedbackRule):
    name = "wm"
    description = "weight mirror: B learned from noise in mirror mode, alternating with learning [A19]"
    changes_feedback = True

    # ----- spiking -----
    def spiking_feedback(self, params, rng):
        return random_feedback_layers(params, rng)

    def phase_every(self, params) -> int:
        return params.mirror_every

    def phase(self, net, images_done: int) -> None:
        """One mirror phase after ``images_done`` training images (see the module doc)."""
        p = net.params
        net.flush()
        for l in range(1, p.n_layers):
            rng = np.random.default_rng([net.seed_spikes, 0x3177, images_done, l])
            s = rng.random((p.mirror_samples, net.sizes[l])) < 0.5
            W = net.W_layer(l + 1)
            c = net.c[l + 1]
            V = c * (s.astype(np.float32) @ W).astype(np.float64)
            # centred on its mean over the noise, c/2 sum_i W_ij (not the sample mean, which
            # would shrink C by (N - 1)/N and make it 0 for a single sample)
            C = 4.0 * (s - 0.5).T @ (V - 0.5 * c * W.sum(axis=0, dtype=np.float64)) / p.mirror_samples
            B = net.B_layer(l)
            scale = net.fb_scale[l] * net.B_c[l]
            B[:] = ((1.0 - p.mirror_lr) * scale * B + p.mirror_lr * C) / scale
            if net.masked:
                B *= net.B_mask_layer(l)

    # ----- rate-based -----
    def rate_setup(self, net, rng):
        self.B = self.random_feedback(net, rng, like_forward=True)
        self.rng = rng

    def rate_after_update(self, net, a, h, deltas):
        p = net.params
        batch = p.mirror_batch or len(h[0])
        for l in range(1, net.L):
            x = self.rng.normal(0.0, p.noise, (batch, net.params.sizes[l]))
            y = x @ net.W[l + 1]
            self.B[l] += p.fb_lr * (x.T @ y / (batch * p.noise**2) - self.B[l])
            self.keep_removed_like_forward(net, l)
