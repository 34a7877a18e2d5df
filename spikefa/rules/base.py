"""The registry of feedback-path rules.

A rule is one class in one file, registered with :func:`register`. For the spiking engine
it says, for every hidden layer, where that layer's feedback comes from
(:class:`LayerFeedback`): a matrix of its own (FA, DFA), the transposed forward weights of
the layer above (BP), their signs (sign symmetry), or nothing (shallow). The engine
compiles those few primitives; a new rule composes them and touches no engine code.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

# Feedback primitives understood by the engine's kernels.
FB_MATRIX = 0      # U_l += scale * B_l phi(U_src), B_l a matrix of the rule's own
FB_TRANSPOSE = 1   # U_l += scale * W_{l+1}^T phi(U_{l+1})      (weight transport)
FB_SIGN = 2        # U_l += scale * sign(W_{l+1})^T phi(U_{l+1})
FB_NONE = 3        # no feedback: the layer does not learn

# Modulatory factor of the three-factor rule, a capability a rule declares (``modulator``):
MOD_FEEDBACK = 0   # phi(U_l) * Psi(V_l): the feedback units' signal times the local derivative
MOD_REWARD = 1     # (R - R_bar) (s_l - sigma(V_l)): a scalar reward against its running mean (REINFORCE)


@dataclass
class LayerFeedback:
    """Where hidden layer l gets its feedback from.

    Attributes
    ----------
    kind : int
        One of ``FB_MATRIX, FB_TRANSPOSE, FB_SIGN, FB_NONE``.
    src : int
        Layer whose feedback units drive this one (``l + 1``; the output layer for DFA).
    matrix : ndarray (n_l, n_src) or None
        The rule's own feedback matrix for ``FB_MATRIX``.
    scale : float
        Multiplies the feedback input.
    plastic : bool
        Kolen-Pollack: the matrix receives the same update and decay as ``W_{l+1}``.
    """

    kind: int
    src: int
    matrix: np.ndarray | None = None
    scale: float = 1.0
    plastic: bool = False


class FeedbackRule:
    """Base class: subclasses set ``name``, ``description`` and override the hooks.

    Spiking engine: :meth:`spiking_feedback`. Rate-based networks
    (:class:`spikefa.rate.network.RateNetwork`): the rule instance owns its feedback
    matrices ``self.B[l]`` (``(n_l, n_src)``, made in :meth:`rate_setup`), and the
    default :meth:`rate_deltas` sends ``delta_l = (delta_src @ B_l^T) * f'(a_l)``.
    """

    name = ""
    description = ""
    # ----- capabilities in the spiking engine, declared here and read in one place
    # (SpikingNetwork); the engine implements each, and no engine code names a rule -----
    modulator = MOD_FEEDBACK     # MOD_FEEDBACK or MOD_REWARD
    baseline_rate = 0.0          # MOD_REWARD: rate of the running mean R_bar of the reward
    changes_feedback = False     # changes its feedback matrices between images (phase): B stays float32
    # Rate networks: online steps may run many at a time in Numba (spikefa.rate.online)
    # when the rule keeps the default rate_deltas and rate_after_update and its
    # rate_feedback returns W[l+1] itself or its own fixed B[l] (or None).
    rate_fusable = False

    def spiking_feedback(self, params, rng: np.random.Generator) -> list:
        """One :class:`LayerFeedback` per hidden layer 1..L-1 (index 0 is layer 1)."""
        raise ConfigError(f"rule '{self.name}' has no spiking form yet")

    def phase_every(self, params) -> int:
        """Training images between two calls of :meth:`phase` (0: the rule has no phases)."""
        return 0

    def phase(self, net, images_done: int) -> None:
        """Work of the rule between training images, after ``images_done`` of them in the
        whole run (weight mirror: a mirror phase). Runs on every backend, from the
        simulator, at the same images however the run is cut into calls."""

    # ----- rate-based networks -----
    def rate_setup(self, net, rng: np.random.Generator) -> None:
        """Make the rule's own feedback matrices (default: none)."""
        self.B = [None] * (net.L + 1)

    def rate_source(self, net, l: int) -> int:
        """Layer whose teaching signal reaches hidden layer l (default: the one above)."""
        return l + 1

    def rate_feedback(self, net, l: int):
        """Feedback matrix of hidden layer l, ``(n_l, n_src)``, or None (layer does not learn)."""
        return self.B[l]

    def rate_deltas(self, net, x, a, h, y) -> list:
        """Teaching signals ``delta_l`` for l = 1..L (index 0 None; None = no update)."""
        d = [None] * (net.L + 1)
        d[net.L] = net.output_delta(a[net.L], h[net.L], y)
        for l in range(net.L - 1, 0, -1):
            B = self.rate_feedback(net, l)
            if B is not None:
                d[l] = (d[self.rate_source(net, l)] @ B.T) * net.f[l][1](a[l], h[l])
        return d

    def rate_after_update(self, net, a, h, deltas) -> None:
        """Change the feedback matrices after a forward update (default: fixed)."""

    def keep_removed_like_forward(self, net, l) -> None:
        """Zero the elements of B_l whose connection W_{l+1} lost (sparsity): for a B that
        learns W_{l+1}^T (Kolen-Pollack, weight mirror)."""
        if net.W_mask[l + 1] is not None:
            self.B[l] *= net.W_mask[l + 1]

    def random_feedback(self, net, rng, src_of=None, like_forward=False) -> list:
        """Fixed random matrices ~ U[-b_init, b_init] for every hidden layer, sparsified:
        by a mask of their own, or (``like_forward``, for a B that learns W_{l+1}^T) by
        W_{l+1}'s, so that B and W lose the same connections."""
        n, L = net.params.sizes, net.L
        B = [None] * (L + 1)
        for l in range(1, L):
            src = self.rate_source(net, l)
            B[l] = rng.uniform(-net.params.b_init, net.params.b_init, (n[l], n[src]))
            m = net.W_mask[l + 1] if like_forward else net.mask(B[l].shape)
            if m is not None:
                B[l] *= m
        return B


_REGISTRY: dict = {}


def register(cls):
    """Class decorator: make a rule known to the CLI, the configs and the contract tests."""
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"rule name {cls.name!r} is empty or registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def rule_names() -> list:
    return sorted(_REGISTRY)


def get_rule(name: str) -> FeedbackRule:
    """An instance of the rule called ``name``; an unknown name lists the known ones."""
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise ConfigError(f"rule: unknown '{name}', known rules: {', '.join(rule_names())}") from None


def uniform_matrix(rng, shape, half_width):
    """A fixed random feedback matrix ~ U[-half_width, half_width], float32."""
    return rng.uniform(-half_width, half_width, size=shape).astype(np.float32)


def random_feedback_layers(params, rng, top=False, plastic=False) -> list:
    """One fixed-random ``FB_MATRIX`` per hidden layer, ~ U[-b_init, b_init]: from the
    layer above (feedback alignment and its learned variants) or, with ``top``, straight
    from the output layer (direct feedback alignment)."""
    n, L = params.sizes, params.n_layers
    return [LayerFeedback(FB_MATRIX, L if top else l + 1,
                          uniform_matrix(rng, (n[l], n[L if top else l + 1]), params.b_init), plastic=plastic)
            for l in range(1, L)]
