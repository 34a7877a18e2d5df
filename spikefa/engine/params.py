"""Parameters of the spiking network of [L16] (docs/engine.md), validated on creation."""

import math
from dataclasses import dataclass, fields

from ..errors import ConfigError

PHI_KINDS = {"tanh": 0, "sigmoid": 1}
FEEDBACK_DTYPES = ("auto", "float32", "int8")
FEEDBACK_GATES = ("none", "psi")
HOMEOSTASIS = ("off", "rate")
FLOAT32_MAX = 3.4028234663852886e38


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_finite(v) -> bool:
    """A real number (not a bool) that a float holds finitely (10**400 does not)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


@dataclass(frozen=True)
class SpikingParams:
    """Everything that defines the spiking network and its learning.

    Attributes
    ----------
    sizes : tuple of int
        Units per layer, input first: ``(784, 1500, 1500, 1500, 1000)`` in [L16].
    n_classes : int
        Classes; the output layer has ``sizes[-1] // n_classes`` units per class.
    tau : float
        Integration constant: ``V(t) = (1 - tau) V(t-1) + drive``; in (0, 1].
    eta, gamma : float
        Learning rate and weight decay of ``dW = eta phi(U) Psi(V) s_pre - gamma W``.
    w_init, b_init : float
        Forward weights start ~ U[-w_init, w_init], feedback weights ~ U[-b_init, b_init].
    steps_per_image, test_steps : int
        Steps each image is shown for in training and at test (N = M = 5).
    input_max : float
        Input unit i spikes with probability ``min(x_i, input_max)``.
    phi : {"tanh", "sigmoid"}
        Output function of feedback units: ``tanh(u)`` or ``sigmoid(u) - 1/2``.
    feedback_gain : float
        Multiplies every feedback input (a scale [L16] leaves open).
    delay : bool
        One-step synaptic delay between layers (forward and feedback), off by default.
    feedback_dtype : {"auto", "float32", "int8"}
        Storage of fixed feedback matrices; int8 keeps B in cache (scale = b_init / 127).
        "auto": int8 when the rule keeps B fixed, float32 when it changes B (Kolen-Pollack,
        weight mirror).
    mirror_every, mirror_samples, mirror_lr : int, int, float
        Weight mirror only: after every ``mirror_every`` training images a mirror phase of
        ``mirror_samples`` noise steps moves B a fraction ``mirror_lr`` towards its
        estimate of W^T (see :mod:`spikefa.rules.weight_mirror`).
    sparsity : float
        Fraction of the elements of every W and every stored B removed by a fixed random
        mask drawn from the weight seed; removed elements stay zero through learning
        ([L16] Fig. 3a removed 50 %). Plasticity is then written every step (K = 1).
    feedback_gate : {"none", "psi"}
        What a feedback layer sends down: ``phi(U)`` ("none", [L16]) or ``phi(U) Psi(V)``
        ("psi"), gated by the derivative of the forward layer beside it, so that with
        B = W^T and small signals the teaching signal is backprop's (docs/rules.md).
        Needs ``delay = false``.
    homeostasis, homeostasis_rate, homeostasis_eta : {"off", "rate"}, float, float
        "rate": intrinsic plasticity of each hidden unit's bias towards a target firing
        rate, ``db_j = homeostasis_eta (homeostasis_rate - s_j)`` every training step
        (the threshold adaptation of Foldiak 1990; docs/rules.md). The output layer,
        whose rates the error units set, is left alone.
    """

    sizes: tuple = (784, 1500, 1500, 1500, 1000)
    n_classes: int = 10
    tau: float = 0.9
    eta: float = 1e-3
    gamma: float = 1e-8
    w_init: float = 0.05
    b_init: float = 0.1
    steps_per_image: int = 5
    test_steps: int = 5
    input_max: float = 0.95
    phi: str = "tanh"
    feedback_gain: float = 1.0
    delay: bool = False
    feedback_dtype: str = "float32"
    mirror_every: int = 20
    mirror_samples: int = 200
    mirror_lr: float = 0.05
    sparsity: float = 0.0
    feedback_gate: str = "none"
    homeostasis: str = "off"
    homeostasis_rate: float = 0.5
    homeostasis_eta: float = 1e-3

    def __post_init__(self):
        try:
            object.__setattr__(self, "sizes", tuple(self.sizes))
        except TypeError:
            raise ConfigError(f"sizes: expected a list of layer sizes, got {self.sizes!r}") from None
        sizes = self.sizes
        if len(sizes) < 2 or not all(_is_int(n) and n > 0 for n in sizes):
            raise ConfigError(f"sizes: need at least 2 layers of positive integer size, got {list(sizes)}")
        for name in ("n_classes", "steps_per_image", "test_steps", "mirror_every", "mirror_samples"):
            if not (_is_int(getattr(self, name)) and getattr(self, name) >= 1):
                raise ConfigError(f"{name}: must be an integer >= 1, got {getattr(self, name)!r}")
        for name in ("tau", "eta", "gamma", "w_init", "b_init", "input_max", "feedback_gain"):
            v = getattr(self, name)
            if not _is_finite(v):
                raise ConfigError(f"{name}: must be a finite number, got {v!r}")
        if sizes[-1] % self.n_classes:
            raise ConfigError(
                f"sizes: the output layer ({sizes[-1]} units) must split evenly into "
                f"n_classes = {self.n_classes} groups")
        if not 0.0 < self.tau <= 1.0:
            raise ConfigError(f"tau: must lie in (0, 1], got {self.tau}")
        for name in ("eta", "gamma", "w_init", "b_init", "feedback_gain"):
            if not getattr(self, name) >= 0.0:
                raise ConfigError(f"{name}: must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.gamma < 1.0:
            raise ConfigError(f"gamma: weight decay per step must lie in [0, 1), got {self.gamma}")
        for name in ("w_init", "b_init"):     # weights are stored as float32
            if getattr(self, name) > FLOAT32_MAX:
                raise ConfigError(f"{name}: must be at most {FLOAT32_MAX:.4g} (weights are float32), "
                                  f"got {getattr(self, name)}")
        if not (_is_finite(self.mirror_lr) and 0.0 <= self.mirror_lr <= 1.0):
            raise ConfigError(f"mirror_lr: must lie in [0, 1], got {self.mirror_lr!r}")
        if not (_is_finite(self.sparsity) and 0.0 <= self.sparsity < 1.0):
            raise ConfigError(f"sparsity: must lie in [0, 1), got {self.sparsity!r}")
        if not 0.0 < self.input_max <= 1.0:
            raise ConfigError(f"input_max: must lie in (0, 1], got {self.input_max}")
        if not isinstance(self.delay, bool):
            raise ConfigError(f"delay: must be true or false, got {self.delay!r}")
        if not isinstance(self.phi, str) or self.phi not in PHI_KINDS:
            raise ConfigError(f"phi: unknown {self.phi!r}, choose one of {sorted(PHI_KINDS)}")
        if not isinstance(self.feedback_dtype, str) or self.feedback_dtype not in FEEDBACK_DTYPES:
            raise ConfigError(f"feedback_dtype: unknown {self.feedback_dtype!r}, choose one of {list(FEEDBACK_DTYPES)}")
        for name, allowed in (("feedback_gate", FEEDBACK_GATES), ("homeostasis", HOMEOSTASIS)):
            v = getattr(self, name)
            if not isinstance(v, str) or v not in allowed:
                raise ConfigError(f"{name}: unknown {v!r}, choose one of {list(allowed)}")
        if self.feedback_gate != "none" and self.delay:
            raise ConfigError("feedback_gate: 'psi' needs delay = false (the gate is this step's Psi(V))")
        if not (_is_finite(self.homeostasis_rate) and 0.0 < self.homeostasis_rate < 1.0):
            raise ConfigError(f"homeostasis_rate: must lie in (0, 1), got {self.homeostasis_rate!r}")
        if not (_is_finite(self.homeostasis_eta) and self.homeostasis_eta >= 0.0):
            raise ConfigError(f"homeostasis_eta: must be a number >= 0, got {self.homeostasis_eta!r}")

    @property
    def n_layers(self) -> int:
        """Number of forward layers with weights (hidden + output)."""
        return len(self.sizes) - 1

    @property
    def group(self) -> int:
        """Output units per class."""
        return self.sizes[-1] // self.n_classes

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}
