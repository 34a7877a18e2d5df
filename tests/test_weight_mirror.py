"""The spiking weight mirror's estimate of W: unbiased, with the variance theory gives,
also where the post-synaptic units saturate.

In a mirror phase, layer l fires s ~ Bernoulli(1/2) and the estimate of the effective
W_{l+1} is C = 4 mean((s_i - 1/2)(V_j - mean V_j)) with V = c s W. Per sample,
(s_i - 1/2)(V_j - E V_j) = W_ij / 4 + sum_{k != i} (s_i - 1/2)(s_k - 1/2) W_kj, whose variance
is sum_{k != i} W_kj^2 / 16; so over N samples C_ij has mean W_ij and variance
sum_{k != i} W_kj^2 / N.

The first version divided a spike covariance by the mean sigma'(V_j); once training drove
units into saturation that mean fell to 1e-3, B grew 60-fold and stayed 88 degrees from
W^T (spiking compare: test error at chance). This test saturates every unit of layer 2.
"""

import numpy as np

from spikefa.engine.network import SpikingNetwork
from spikefa.engine.params import SpikingParams
from spikefa.metrics import angle


def test_mirror_estimate_is_unbiased_with_the_predicted_variance_under_saturation():
    n_samples, phases = 1000, 100
    # mirror_lr 1: B becomes one phase's estimate C; each phase draws new noise
    p = SpikingParams(sizes=(30, 40, 30, 20), n_classes=2, mirror_samples=n_samples, mirror_lr=1.0)
    net = SpikingNetwork(p, "wm", seed=3)
    W = net.W_layer(2)
    W[:] = np.random.default_rng(0).uniform(-0.05, 0.05, W.shape).astype(np.float32) + 0.3
    # V_j = s W_:j has mean 40 * 0.5 * 0.3 = 6: sigma'(V) ~ 2.5e-3, every unit saturated
    C = []
    for k in range(phases):
        net.rule.mirror_phase(net, images_done=20 * (k + 1))
        C.append(net.feedback_matrix(1).copy())
    C, Weff = np.array(C), net.effective_W(2)
    var = ((Weff**2).sum(axis=0, keepdims=True) - Weff**2) / n_samples
    z = (C.mean(axis=0) - Weff) / np.sqrt(var / phases)
    # 1200 elements, each the mean of 100 phases: no element beyond 5.5 s.e. (the
    # largest of 1200 normals is ~3.4), and no common bias (elements of a column share V_j,
    # so their mean's s.e. exceeds 1/sqrt(1200); 0.5 is still a tenth of one element's)
    assert np.abs(z).max() < 5.5, np.abs(z).max()
    assert abs(z.mean()) < 0.5, z.mean()
    # variance per element over 100 phases: relative s.e. sqrt(2 / 99) = 0.14 each,
    # averaged over 1200 elements; measured 0.99 with 200 phases of 4000 samples
    ratio = (C.var(axis=0, ddof=1) / var).mean()
    assert 0.9 < ratio < 1.1, ratio
    # one phase: noise sqrt(39 * 0.3^2 / 1000) = 0.06 per element against elements ~ 0.3,
    # about arctan(0.06 / 0.3) = 11 degrees from W (the first version: 88)
    assert angle(C[0], Weff) < 16.0
