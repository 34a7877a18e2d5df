"""Rate-based (non-spiking) networks with a pluggable feedback path ([L16], Figs. 2, 3 and 5).

Layer l computes ``a_l = h_{l-1} @ W_l + b_l`` and ``h_l = f_l(a_l)`` for a batch of rows;
``W_l`` is ``(n_{l-1}, n_l)``, the layout of the spiking engine. The teaching signal of a
hidden layer is ``delta_l = (delta_src @ B_l^T) * f'(a_l)``, with ``B_l`` ``(n_l, n_src)``
chosen by the feedback rule (``B_l = W_{l+1}`` is backprop). Updates::

    W_l  = (1 - lr weight_decay) W_l - lr h_{l-1}^T delta_l / batch
    b_l += -lr  mean(delta_l)
"""

from dataclasses import dataclass, fields

import numpy as np
from scipy.linalg.blas import dgemm

from ..errors import ConfigError
from ..rules import get_rule
from . import activations
from .lazy_input import LazyInputLayer

LOSSES = ("mse", "ce")


def step(W, h, d, scale, keep):
    """``W <- keep W - scale h^T d`` in one pass over W: BLAS's ``C <- alpha A B + beta C``
    on W^T (Fortran order), with no full-size temporary. Decay, gradient and subtraction
    as separate NumPy operations took 1.06-1.41 ms for 784x500 at batch 20; this took
    0.57-0.80 ms (same run, OPENBLAS_NUM_THREADS=1, two other jobs on the 2 cores)."""
    if not W.flags.writeable:              # f2py would write into it regardless
        raise ValueError("step: W is read-only")
    out = dgemm(alpha=-scale, a=d, b=h, trans_a=1, beta=keep, c=W.T, overwrite_c=1)
    if not np.may_share_memory(out, W):    # W was not C-contiguous float64: BLAS wrote a copy
        W[...] = out.T


@dataclass(frozen=True)
class RateParams:
    """A rate-based network and its learning.

    Attributes
    ----------
    sizes : tuple of int
        Units per layer, input first.
    hidden, output : str
        Activations ("logistic", "tanh", "linear", "relu") of hidden and output layers.
    loss : {"mse", "ce"}
        "mse": squared error, ``delta_L = e * f'(a_L)``; "ce": cross-entropy with
        logistic outputs, ``delta_L = e``; ``e = y - y*``.
    lr, weight_decay : float
    w_init, b_init : float
        W ~ U[-w_init, w_init]; feedback matrices ~ U[-b_init, b_init].
    sparsity : float
        Fraction of the elements of every W and B removed (held at zero), in [0, 1).
    fb_lr, fb_decay : float
        Learning rate and decay of learned feedback (weight mirror, Kolen-Pollack).
    noise : float
        Standard deviation of the perturbations of node perturbation and weight mirror.
    mirror_batch : int
        Noise samples per weight-mirror step (0: as many as the training batch). The
        mirror's estimate of W^T averages about ``mirror_batch / fb_lr`` samples.
    """

    sizes: tuple = (784, 1000, 10)
    hidden: str = "logistic"
    output: str = "logistic"
    loss: str = "ce"
    lr: float = 1e-3
    weight_decay: float = 0.0
    w_init: float = 0.05
    b_init: float = 0.05
    sparsity: float = 0.0
    fb_lr: float = 1e-3
    fb_decay: float = 1e-3
    noise: float = 0.1
    mirror_batch: int = 0

    def __post_init__(self):
        object.__setattr__(self, "sizes", tuple(self.sizes))
        if len(self.sizes) < 2 or not all(isinstance(n, int) and n > 0 for n in self.sizes):
            raise ConfigError(f"sizes: need at least 2 layers of positive integer size, got {list(self.sizes)}")
        activations.get(self.hidden)
        activations.get(self.output)
        if self.loss not in LOSSES:
            raise ConfigError(f"loss: unknown '{self.loss}', choose one of {', '.join(LOSSES)}")
        for name in ("lr", "weight_decay", "w_init", "b_init", "fb_lr", "fb_decay", "noise"):
            if not getattr(self, name) >= 0.0:
                raise ConfigError(f"{name}: must be >= 0, got {getattr(self, name)}")
        if isinstance(self.mirror_batch, bool) or not isinstance(self.mirror_batch, (int, np.integer)) \
                or self.mirror_batch < 0:
            raise ConfigError(f"mirror_batch: must be an integer >= 0, got {self.mirror_batch!r}")
        if not 0.0 <= self.sparsity < 1.0:
            raise ConfigError(f"sparsity: must lie in [0, 1), got {self.sparsity}")

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}


class RateNetwork:
    """Weights of a rate network plus its feedback rule (which owns its feedback weights).

    Index 0 of the per-layer lists is unused so that ``W[l]`` is layer l's.
    """

    def __init__(self, params: RateParams, rule: str = "fa", seed: int = 0):
        self.params, self.rule_name, self.seed = params, rule, int(seed)
        self.rng = np.random.default_rng(self.seed)
        n, w = params.sizes, params.w_init
        self.W = [None] + [self.rng.uniform(-w, w, (n[l - 1], n[l])) for l in range(1, len(n))]
        self.b = [None] + [np.zeros(n[l]) for l in range(1, len(n))]
        self.W_mask = [None] + [self.mask((n[l - 1], n[l])) for l in range(1, len(n))]
        for l in range(1, len(n)):
            if self.W_mask[l] is not None:
                self.W[l] *= self.W_mask[l]
        self.f = [None] + [activations.get(params.output if l == len(n) - 1 else params.hidden)
                           for l in range(1, len(n))]
        self.rule = get_rule(rule)
        self.rule.rate_setup(self, self.rng)
        self.lazy = LazyInputLayer(n[0], 1.0 - params.lr * params.weight_decay)

    def sync(self) -> None:
        """Apply layer 1's deferred weight decay (see :mod:`.lazy_input`): after this,
        ``W[1]`` is exactly what the dense update would hold. Online steps defer it."""
        self.lazy.sync(self.W[1])

    @property
    def L(self) -> int:
        return self.params.n_layers

    def mask(self, shape):
        """A fixed mask removing a fraction ``sparsity`` of the elements, or None."""
        if self.params.sparsity == 0.0:
            return None
        return (self.rng.random(shape) >= self.params.sparsity).astype(np.float64)

    def forward(self, x, noise=None):
        """Pre-activations and activations of every layer for a batch x (batch, n_0).

        ``noise[l]`` (batch, n_l), if given, is added to a_l (node perturbation).
        """
        a, h = [None], [np.asarray(x, dtype=np.float64)]
        online = len(h[0]) == 1
        if not online:
            self.sync()
        for l in range(1, self.L + 1):
            if l == 1 and online:
                al = self.lazy.forward(self.W[1], h[0][0])[None, :] + self.b[1]
            else:
                al = h[-1] @ self.W[l] + self.b[l]
            if noise is not None and noise[l] is not None:
                al = al + noise[l]
            a.append(al)
            h.append(self.f[l][0](al))
        return a, h

    def loss(self, h_out, y) -> np.ndarray:
        """Per-sample loss: half squared error, or cross-entropy for logistic outputs."""
        if self.params.loss == "mse":
            return 0.5 * np.sum((h_out - y) ** 2, axis=1)
        p = np.clip(h_out, 1e-12, 1 - 1e-12)
        return -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p), axis=1)

    def output_delta(self, a_out, h_out, y):
        e = h_out - y
        return e if self.params.loss == "ce" else e * self.f[self.L][1](a_out, h_out)

    def backprop_deltas(self, a, h, y) -> list:
        """The teaching signals backprop would send, ``delta_l``, l = 1..L (index 0 None)."""
        d = [None] * (self.L + 1)
        d[self.L] = self.output_delta(a[self.L], h[self.L], y)
        for l in range(self.L - 1, 0, -1):
            d[l] = (d[l + 1] @ self.W[l + 1].T) * self.f[l][1](a[l], h[l])
        return d

    def apply(self, h, deltas, lr=None, layers=None) -> None:
        """Gradient-like step from the teaching signals; ``layers`` limits which learn.

        In place, one pass over each matrix (:func:`step`): these matrices are the whole
        cost of a step. An online step of layer 1 at the configured
        rate touches only the rows of non-zero inputs and defers their decay.
        """
        p = self.params
        lr = p.lr if lr is None else lr
        for l in (range(1, self.L + 1) if layers is None else layers):
            d = deltas[l]
            if d is None:
                continue
            if l == 1:
                if len(d) == 1 and lr == p.lr:
                    self.lazy.update(self.W[1], h[0][0], d[0], lr, self.W_mask[1])
                    self.b[1] -= lr * d[0]
                    continue
                self.sync()
            step(self.W[l], h[l - 1], d, lr / len(d), 1.0 - lr * p.weight_decay)
            if self.W_mask[l] is not None:
                self.W[l] *= self.W_mask[l]
            self.b[l] -= lr * d.mean(axis=0)

    def train_step(self, x, y, layers=None) -> None:
        """One update on a batch (x, y); ``layers`` limits which layers learn."""
        a, h = self.forward(x)
        deltas = self.rule.rate_deltas(self, x, a, h, y)
        self.apply(h, deltas, layers=layers)
        self.rule.rate_after_update(self, a, h, deltas)

    def predict(self, x):
        return self.forward(x)[1][-1]
