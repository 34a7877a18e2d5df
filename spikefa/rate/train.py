"""Training loop of rate-based networks with alignment metrics recorded along the way."""

import time

import numpy as np

from ..errors import NumericalError
from ..metrics import angle, batch_delta_angle
from .online import fusable, train_online


def alignment(net, x, y) -> dict:
    """Per hidden layer l: angle(delta_rule, delta_BP) over the batch (x, y), and the
    angle between B_l and W_{l+1} (NaN where the shapes differ, e.g. DFA, or no B)."""
    a, h = net.forward(x)
    rule_d = net.rule.rate_deltas(net, x, a, h, y)
    bp_d = net.backprop_deltas(a, h, y)
    d_ang, m_ang = [], []
    for l in range(1, net.L):
        d_ang.append(np.nan if rule_d[l] is None else batch_delta_angle(rule_d[l], bp_d[l]))
        B = net.rule.rate_feedback(net, l)
        m_ang.append(angle(B, net.W[l + 1]) if B is not None and B.shape == net.W[l + 1].shape else np.nan)
    return {"delta_angle": d_ang, "matrix_angle": m_ang}


def train(net, X, Y, n_examples: int, batch: int = 1, record_every: int = 1000, evaluate=None,
          probe=None, layers=None, order_rng=None, progress=None) -> dict:
    """Train on ``n_examples`` examples drawn in order (cycling, reshuffled each pass).

    Parameters
    ----------
    X, Y : ndarray (n, n_in), (n, n_out)
    batch : int
        Examples per update (1: online).
    record_every : int
        Examples between records of ``evaluate(net) -> dict of floats`` and alignment on
        the ``probe = (x, y)`` batch.
    layers : list of int, optional
        Only these layers learn (the three-phase experiment of Fig. 5c).

    Returns
    -------
    dict of arrays: ``examples``, ``seconds``, every key of ``evaluate``, and
    ``delta_angle`` / ``matrix_angle`` of shape (records, L-1) when a probe is given.
    """
    rec: dict = {"examples": [], "seconds": []}
    order_rng = order_rng or np.random.default_rng(0)
    n = len(X)
    perm, pos = order_rng.permutation(n), 0
    t0, seen = time.perf_counter(), 0

    def record():
        net.sync()
        rec["examples"].append(seen)
        rec["seconds"].append(time.perf_counter() - t0)
        for k, v in (evaluate(net) if evaluate else {}).items():
            rec.setdefault(k, []).append(v)
        if probe is not None:
            for k, v in alignment(net, *probe).items():
                rec.setdefault(k, []).append(v)

    record()
    fused = batch == 1 and fusable(net, layers)
    while seen < n_examples:
        if pos + batch > n:
            perm, pos = order_rng.permutation(n), 0
        if fused:   # up to the next record in one Numba call: the same steps (spikefa.rate.online)
            k = min(n - pos, record_every - seen % record_every, n_examples - seen)
            train_online(net, X, Y, perm[pos:pos + k])
            pos += k
            seen += k
        else:
            idx = perm[pos:pos + batch]
            pos += batch
            net.train_step(X[idx], Y[idx], layers=layers)
            seen += batch
        if seen % record_every < batch:
            net.sync()
            if not all(np.isfinite(W).all() for W in net.W[1:]):
                raise NumericalError(f"non-finite weights after {seen} examples (rule {net.rule_name}): "
                                     "lower the learning rate")
            record()
            if progress is not None:
                progress(seen)
    return {k: np.asarray(v, dtype=np.float64) for k, v in rec.items()}
