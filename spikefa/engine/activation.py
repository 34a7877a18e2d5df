"""The squashing functions of the spiking engine, shared by the NumPy specification and
the Numba kernels.

libm's ``exp`` and ``tanh`` are scalar calls that LLVM cannot vectorise: in the paper
network they cost about 0.2 ms a step (5,500 sigmoids and 5,500 tanhs), a quarter of the
whole step. Here tanh is a rational function (Eigen's float tanh: an odd polynomial of
degree 13 over an even one of degree 6, argument clamped to +-7.9053), which vectorises,
and the logistic function is ``sigma(v) = 1/2 + tanh(v/2)/2``:

- ``|tanh_r(x) - tanh(x)| < 2.7e-7`` for every x (largest at the clamp, where
  tanh_r = 1 - 2.6e-7), relative error below 1.3e-7 near 0;
- ``|sigmoid(v) - 1/(1+exp(-v))| < 1.3e-7``: a spike probability is off by at most that,
  below the float32 resolution of the stored weights.

Both twins evaluate the same Horner scheme in float64, so they agree to rounding.
"""

import numpy as np
from numba import njit

CLAMP = 7.90531110763549805
# odd numerator x (A0 + A1 x^2 + ... + A6 x^12), even denominator B0 + B1 x^2 + ... + B3 x^6
A0, A1, A2, A3 = 4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08
A4, A5, A6 = -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16
B0, B1, B2, B3 = 4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06


def tanh_np(x):
    """Rational tanh (NumPy): the specification of :func:`tanh_nb`."""
    x = np.clip(np.asarray(x, dtype=np.float64), -CLAMP, CLAMP)
    x2 = x * x
    p = ((((((A6 * x2 + A5) * x2 + A4) * x2 + A3) * x2 + A2) * x2 + A1) * x2 + A0) * x
    q = ((B3 * x2 + B2) * x2 + B1) * x2 + B0
    return p / q


def sigmoid_np(v):
    """Logistic function through :func:`tanh_np`."""
    return 0.5 + 0.5 * tanh_np(0.5 * np.asarray(v, dtype=np.float64))


def phi_np(u, kind: str):
    """Output of feedback units: ``tanh(u)`` or ``sigmoid(u) - 1/2`` (= ``tanh(u/2)/2``)."""
    return tanh_np(u) if kind == "tanh" else 0.5 * tanh_np(0.5 * np.asarray(u, dtype=np.float64))


@njit(cache=True, inline="always")
def tanh_nb(x):
    """Rational tanh of a float64 scalar; branch-free, so loops over it vectorise."""
    x = min(max(x, -CLAMP), CLAMP)
    x2 = x * x
    p = ((((((A6 * x2 + A5) * x2 + A4) * x2 + A3) * x2 + A2) * x2 + A1) * x2 + A0) * x
    q = ((B3 * x2 + B2) * x2 + B1) * x2 + B0
    return p / q


@njit(cache=True, inline="always")
def sigmoid_nb(v):
    return 0.5 + 0.5 * tanh_nb(0.5 * v)


@njit(cache=True, inline="always")
def phi_nb(u, kind):
    """``kind`` 0: tanh(u); 1: sigmoid(u) - 1/2."""
    if kind == 0:
        return tanh_nb(u)
    return 0.5 * tanh_nb(0.5 * u)
