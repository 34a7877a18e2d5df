"""The state of a spiking network, declared once.

Every array a network carries from step to step is one :class:`Field` of ``STATE``. The
network allocates its arrays from this list (:meth:`SpikingNetwork._allocate_state`),
checkpoints save and load exactly these fields, ``nbytes`` counts them, and the
checkpoint test round-trips each one. Adding a state array is one line here (and its use
in the kernels that read it).

Shapes are written in the network's sizes: ``units`` is the total number of units of all
layers (flat, layer l at ``u_off[l]``), ``layers`` is L + 1, ``pending`` the number of
plasticity steps the engine keeps pending, ``weights`` and ``feedback`` the flat lengths
of all forward weights and of all stored feedback matrices.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str
    dtype: str
    shape: tuple          # of the names above, or integers
    fill: float | None    # initial value; None: drawn by the network (weights, feedback matrices)
    doc: str


STATE = (
    Field("W", "float32", ("weights",), None, "stored forward weights of every layer, pre-major; effective c[l] * W_l"),
    Field("b", "float32", ("units",), 0.0, "stored biases; effective c[l] * b_l"),
    Field("c", "float64", ("layers",), 1.0, "weight-decay scale of each layer's W and b"),
    Field("B", "feedback", ("feedback",), None, "stored feedback matrices (float32, or int8 when fixed)"),
    Field("B_c", "float64", ("layers",), 1.0, "decay scale of each plastic feedback matrix (Kolen-Pollack)"),
    Field("V", "float64", ("units",), 0.0, "potentials of the forward units"),
    Field("U", "float64", ("units",), 0.0, "potentials of the feedback units"),
    Field("sig", "float64", ("units",), 0.5, "sigma(V), the spike probability of each forward unit"),
    Field("phi", "float64", (2, "units"), 0.0, "phi_delta(U) of the last two steps"),
    Field("spikes", "uint8", (2, "units"), 0, "spikes of the last two steps"),
    Field("pend_spk", "uint8", ("pending", "units"), 0, "pre-synaptic spikes of each pending plasticity step"),
    Field("pend_kg", "float32", ("pending", "units"), 0.0, "per-unit increment of each pending step (W and b)"),
    Field("pend_kgb", "float32", ("pending", "units"), 0.0, "per-unit increment of each pending step (plastic B)"),
    Field("R_bar", "float64", (1,), 0.0, "running mean of the reward (node perturbation)"),
)
# beside the arrays, a checkpoint saves two scalars: ``t``, the global step (the position
# of every random stream), and ``npend``, the number of pending plasticity steps


def names() -> tuple:
    return tuple(f.name for f in STATE)


def shape_of(field: Field, dims: dict) -> tuple:
    return tuple(dims[s] if isinstance(s, str) else s for s in field.shape)
