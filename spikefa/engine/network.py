"""The state of a spiking network, stored flat so that Numba kernels and NumPy share it.

Layer 0 is the input, layers 1..L carry forward weights; layer L is the output, whose
feedback units are the error units. Every per-unit array covers all layers and is indexed
``u_off[l] + j``; ``W`` holds ``W_l`` pre-major (row i = outgoing weights of unit i of
layer l-1) at ``w_off[l]``. Weight decay lives in the per-layer scale ``c``:
the effective weights are ``c[l] * W_l`` and ``c[l] * b_l`` (float32 cannot represent
``1 - 1e-8``, so a dense ``W -= gamma W`` would do nothing).
"""

import copy

import numpy as np

from .. import rng as crng
from ..errors import ConfigError
from ..rules import get_rule
from ..rules.base import FB_MATRIX, FB_NONE, FB_SIGN, FB_TRANSPOSE, MOD_REWARD
from .params import SpikingParams
from .state import STATE, shape_of

RENORM_BELOW = 0.5  # fold a decay scale back into the stored weights when it falls below this


LAZY_K = 16  # plasticity steps the engine keeps pending before writing the weights (see kernels.run_images)


def derive_spike_seed(seed: int) -> int:
    """Default spike-sampling seed, distinct from the weight seed it derives from."""
    return crng.lowbias32(seed ^ 0x5EED5EED)


class SpikingNetwork:
    """Weights, feedback matrices and unit states of one spiking network.

    Parameters
    ----------
    params : SpikingParams
    rule : str
        Name of a registered feedback rule.
    seed : int
        Seed of the weights and feedback matrices (``seed_weights``).
    spike_seed : int, optional
        Seed of spike sampling (``seed_spikes``); derived from ``seed`` when omitted.
    """

    def __init__(self, params: SpikingParams, rule: str = "fa", seed: int = 0, spike_seed: int | None = None):
        self.params = params
        self.rule_name = rule
        self.rule = get_rule(rule)
        self.seed_weights = int(seed)
        self.seed_spikes = int(derive_spike_seed(seed) if spike_seed is None else spike_seed)
        for name, s in (("seed", self.seed_weights), ("spike_seed", self.seed_spikes)):
            if not 0 <= s < 2**32:
                raise ConfigError(f"{name}: must be an integer in [0, 2**32), got {s}")
        n = np.array(params.sizes, dtype=np.int64)
        L = params.n_layers
        self.sizes = n
        self.u_off = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
        self.w_off = np.zeros(L + 2, dtype=np.int64)
        for l in range(1, L + 1):
            self.w_off[l + 1] = self.w_off[l] + n[l - 1] * n[l]
        total = int(self.u_off[-1])

        rng = np.random.default_rng(self.seed_weights)
        self.W = np.concatenate([rng.uniform(-params.w_init, params.w_init, n[l - 1] * n[l]).astype(np.float32)
                                 for l in range(1, L + 1)])
        self._init_feedback(self.rule.spiking_feedback(params, rng))
        self._init_masks()
        # pending plasticity of the lazy Numba engine; sign(W) feedback cannot account
        # for pending increments, nor can the drive account for removed elements, so
        # such networks write every step (K = 1)
        k = 1 if (self.fb_kind == FB_SIGN).any() or self.masked else LAZY_K
        self._allocate_state({"units": total, "layers": L + 1, "pending": k})
        self.t = 0
        self.npend = 0
        # the rule's declared capabilities, read here and nowhere else: the modulatory
        # factor (feedback, or a reward against its running mean R_bar) and phases between images
        self.reward_mode = self.rule.modulator == MOD_REWARD
        self.reward_rate = float(self.rule.baseline_rate)
        self.phase_every = int(self.rule.phase_every(params))
        if self.rule.changes_feedback and not (self.fb_scale[1:L] > 0).all():
            raise ConfigError(f"feedback_gain: rule '{rule}' keeps B as the stored matrix times "
                              f"feedback_gain, so it must be > 0, got {params.feedback_gain}")
        if self.rule.changes_feedback and params.feedback_dtype == "int8":
            raise ConfigError(f"feedback_dtype: int8 storage needs fixed feedback matrices; "
                              f"rule '{rule}' changes them (use float32)")
        self.keys = crng.layer_keys(self.seed_spikes, crng.STREAM_TRAIN, L + 1)
        self.test_keys = crng.layer_keys(self.seed_spikes, crng.STREAM_TEST, L + 1)

    def _allocate_state(self, dims: dict) -> None:
        """Every array of ``state.STATE`` that the network does not draw, at its initial value."""
        for f in STATE:
            if f.fill is not None:
                setattr(self, f.name, np.full(shape_of(f, dims), f.fill, dtype=f.dtype))

    def _init_feedback(self, specs):
        p, L = self.params, self.params.n_layers
        if len(specs) != L - 1:
            raise ConfigError(f"rule '{self.rule_name}' gave {len(specs)} feedback layers for {L - 1} hidden layers")
        self.fb_kind = np.full(L + 1, FB_NONE, dtype=np.int64)
        self.fb_src = np.zeros(L + 1, dtype=np.int64)
        self.fb_off = np.zeros(L + 1, dtype=np.int64)
        self.fb_scale = np.zeros(L + 1)
        self.fb_plastic = np.zeros(L + 1, dtype=np.int64)
        changes_b = any(spec.plastic for spec in specs) or self.rule.changes_feedback
        int8 = p.feedback_dtype == "int8" or (p.feedback_dtype == "auto" and not changes_b)
        blocks, off = [], 0
        for l, spec in enumerate(specs, start=1):
            n_l = self.sizes[l]
            if spec.kind in (FB_TRANSPOSE, FB_SIGN) and spec.src != l + 1:
                raise ConfigError(f"rule '{self.rule_name}': transposed feedback of layer {l} must come from layer {l + 1}")
            if not l < spec.src <= L:
                raise ConfigError(f"rule '{self.rule_name}': layer {l} takes feedback from layer {spec.src}, not above it")
            self.fb_kind[l], self.fb_src[l], self.fb_plastic[l] = spec.kind, spec.src, int(spec.plastic)
            self.fb_scale[l] = spec.scale * p.feedback_gain
            if spec.kind == FB_MATRIX:
                shape = (n_l, self.sizes[spec.src])
                if spec.matrix is None or spec.matrix.shape != shape:
                    got = None if spec.matrix is None else spec.matrix.shape
                    raise ConfigError(f"rule '{self.rule_name}': feedback matrix of layer {l} must be {shape}, got {got}")
                m = spec.matrix
                if int8:
                    if spec.plastic:
                        raise ConfigError("feedback_dtype: int8 storage needs fixed feedback matrices; "
                                          f"rule '{self.rule_name}' changes them (use float32)")
                    q = float(np.abs(m).max()) / 127.0 or 1.0
                    m = np.clip(np.rint(m / q), -127, 127).astype(np.int8)
                    self.fb_scale[l] *= q
                self.fb_off[l] = off
                blocks.append(np.ascontiguousarray(m).ravel())
                off += m.size
        dtype = np.int8 if int8 else np.float32
        self.B = np.concatenate(blocks).astype(dtype) if blocks else np.zeros(1, dtype=dtype)

    def _init_masks(self):
        """Fixed masks (uint8, the layout of W and B) removing ``params.sparsity`` of their
        elements, drawn from their own stream of the weight seed; all ones (size 1) when
        nothing is removed."""
        p = self.params
        self.masked = p.sparsity > 0.0
        if not self.masked:
            self.W_mask = self.B_mask = np.ones(1, dtype=np.uint8)
            return
        rng = np.random.default_rng([self.seed_weights, 0x5BA45E])
        self.W_mask = (rng.random(self.W.size) >= p.sparsity).astype(np.uint8)
        self.B_mask = (rng.random(self.B.size) >= p.sparsity).astype(np.uint8)
        # a B that learns W_{l+1}^T (Kolen-Pollack, weight mirror) loses the same connections
        learns = self.rule.changes_feedback
        for l in range(1, p.n_layers):
            if self.fb_kind[l] == FB_MATRIX and (self.fb_plastic[l] or learns) and self.fb_src[l] == l + 1:
                self._B_view(self.B_mask, l)[:] = self.W_mask_layer(l + 1)
        self.W[self.W_mask == 0] = 0
        self.B[self.B_mask == 0] = 0

    # ----- per-layer views (write through to the flat arrays) -----
    def W_layer(self, l: int) -> np.ndarray:
        """Stored forward weights of layer l, shape (n_{l-1}, n_l); effective = c[l] * this."""
        n = self.sizes
        return self.W[self.w_off[l]:self.w_off[l + 1]].reshape(n[l - 1], n[l])

    def unit_view(self, arr: np.ndarray, l: int) -> np.ndarray:
        return arr[..., self.u_off[l]:self.u_off[l + 1]]

    def B_layer(self, l: int) -> np.ndarray:
        """Stored feedback matrix of hidden layer l (FB_MATRIX only), shape (n_l, n_src)."""
        return self._B_view(self.B, l)

    def _B_view(self, arr, l):
        shape = (self.sizes[l], self.sizes[self.fb_src[l]])
        return arr[self.fb_off[l]:self.fb_off[l] + shape[0] * shape[1]].reshape(shape)

    def W_mask_layer(self, l: int) -> np.ndarray:
        """Mask of layer l's forward weights (1: kept), (n_{l-1}, n_l); all ones when unmasked."""
        if not self.masked:
            return np.ones((self.sizes[l - 1], self.sizes[l]), dtype=np.uint8)
        return self.W_mask[self.w_off[l]:self.w_off[l + 1]].reshape(self.sizes[l - 1], self.sizes[l])

    def B_mask_layer(self, l: int) -> np.ndarray:
        """Mask of hidden layer l's stored feedback matrix (1: kept); all ones when unmasked."""
        if not self.masked:
            return np.ones((self.sizes[l], self.sizes[self.fb_src[l]]), dtype=np.uint8)
        return self._B_view(self.B_mask, l)

    def add_to_W(self, l: int, rows: np.ndarray, inc: np.ndarray) -> None:
        """``W_l[rows] += inc`` (one float32 addition), except at removed elements of a sparse network."""
        self.W_layer(l)[rows] += inc * self.W_mask_layer(l)[rows] if self.masked else inc

    def add_to_B(self, l: int, rows: np.ndarray, inc: np.ndarray) -> None:
        """``B_l[rows] += inc`` for a plastic feedback matrix, except at removed elements."""
        self.B_layer(l)[rows] += inc * self.B_mask_layer(l)[rows] if self.masked else inc

    def fold_decay(self, l: int) -> None:
        """Fold a decay scale that fell below ``RENORM_BELOW`` back into the stored values:
        ``c[l]`` into W_l and b_l and, for a plastic feedback matrix (Kolen-Pollack),
        ``B_c[l - 1]`` into B_{l-1}. The effective weights stay as they are."""
        if self.c[l] < RENORM_BELOW:
            W, b = self.W_layer(l), self.unit_view(self.b, l)
            W[:] = (W * self.c[l]).astype(np.float32)
            b[:] = (b * self.c[l]).astype(np.float32)
            self.c[l] = 1.0
        if self.fb_plastic[l - 1] and self.B_c[l - 1] < RENORM_BELOW:
            B = self.B_layer(l - 1)
            B[:] = (B * self.B_c[l - 1]).astype(np.float32)
            self.B_c[l - 1] = 1.0

    def flush(self) -> None:
        """Write the pending plasticity steps into W (and B): the NumPy spec of the kernel's.

        Row i of W_l receives the increment of layer l of every pending step in which
        unit i of layer l-1 spiked, one float32 addition at a time in step order.
        """
        for tau in range(self.npend):
            for l in range(1, self.params.n_layers + 1):
                rows = self.unit_view(self.pend_spk[tau], l - 1).astype(bool)
                inc = self.unit_view(self.pend_kg[tau], l)
                self.add_to_W(l, rows, inc)
                if self.fb_plastic[l - 1]:
                    self.add_to_B(l - 1, rows, self.unit_view(self.pend_kgb[tau], l))
        self.npend = 0

    def settled(self) -> "SpikingNetwork":
        """A copy with every pending plasticity step written (self is left as it is)."""
        net = self.copy()
        net.flush()
        return net

    def effective_W(self, l: int) -> np.ndarray:
        """Forward weights c[l] * W_l (pending steps included) as float64, (n_{l-1}, n_l)."""
        net = self.settled() if self.npend else self
        return net.c[l] * net.W_layer(l).astype(np.float64)

    def feedback_parts(self, l: int) -> tuple:
        """(stored matrix (n_l, n_src), scale) of hidden layer l: effective = scale * stored."""
        net = self.settled() if self.npend else self
        kind, scale = net.fb_kind[l], net.fb_scale[l]
        if kind == FB_MATRIX:
            return net.B_layer(l), scale * net.B_c[l]
        if kind == FB_TRANSPOSE:
            return net.W_layer(l + 1), scale * net.c[l + 1]
        if kind == FB_SIGN:
            return np.sign(net.W_layer(l + 1)), scale
        return None, 0.0

    def feedback_matrix(self, l: int) -> np.ndarray | None:
        """Effective feedback matrix of hidden layer l, float64 (n_l, n_src), or None."""
        stored, scale = self.feedback_parts(l)
        return None if stored is None else scale * stored.astype(np.float64)

    def input_prob(self, images) -> np.ndarray:
        """Spike probabilities of the input units for ``images`` in [0, 1]: min(x, input_max), float32."""
        return np.minimum(np.asarray(images, dtype=np.float32), np.float32(self.params.input_max))

    def copy(self) -> "SpikingNetwork":
        return copy.deepcopy(self)

    @property
    def nbytes(self) -> int:
        """Bytes of the state arrays and the sparsity masks."""
        return sum(getattr(self, f.name).nbytes for f in STATE) + self.W_mask.nbytes + self.B_mask.nbytes
