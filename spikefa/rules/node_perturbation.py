"""Node perturbation: a scalar reward from perturbed activity estimates every gradient.

Rate networks: a clean and a perturbed forward pass (``xi_l ~ N(0, noise^2)`` added to
every layer's pre-activation); with ``dL = L(perturbed) - L(clean)`` per sample, the
teaching signal of every layer, output included, is ``delta_l = dL / noise^2 * xi_l``,
an unbiased estimate of dL/da_l to first order. No feedback weights at all.

Spiking engine: stochastic binary units perturb themselves, so the sampling noise is the
perturbation (REINFORCE for Bernoulli units). Every step the reward is
``R = -|y* - s_L|^2 / n_L``; its running mean ``R_bar`` (rate ``baseline_rate``) is the
baseline, and every layer, output included, updates
``dW_l = eta (R - R_bar) (s_l - sigma(V_l)) s_{l-1}^T - gamma W_l`` in place of the
feedback-driven ``phi(U_l) sigma'(V_l)``. There is no feedback pathway.
"""

from .base import FB_NONE, MOD_REWARD, FeedbackRule, LayerFeedback, register


@register
class NodePerturbation(FeedbackRule):
    name = "np"
    description = "node perturbation: scalar reward from perturbed activity, no feedback weights"
    modulator = MOD_REWARD
    baseline_rate = 0.01

    def spiking_feedback(self, params, rng):
        return [LayerFeedback(FB_NONE, l + 1) for l in range(1, params.n_layers)]

    def rate_setup(self, net, rng):
        self.B = [None] * (net.L + 1)
        self.rng = rng

    def rate_deltas(self, net, x, a, h, y):
        sd = net.params.noise
        xi = [None] + [self.rng.normal(0.0, sd, al.shape) for al in a[1:]]
        _, hn = net.forward(x, noise=xi)
        dL = net.loss(hn[-1], y) - net.loss(h[-1], y)
        return [None] + [dL[:, None] / sd**2 * xi[l] for l in range(1, net.L + 1)]
