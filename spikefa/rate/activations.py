"""Unit activation functions of rate-based networks: value and derivative."""

import numpy as np

from ..errors import ConfigError


def _logistic(a):
    return 1.0 / (1.0 + np.exp(-a))


ACTIVATIONS = {
    # name: (f(a), f'(a) given (a, f(a)))
    "logistic": (_logistic, lambda a, h: h * (1.0 - h)),
    "tanh": (np.tanh, lambda a, h: 1.0 - h * h),
    "linear": (lambda a: a, lambda a, h: np.ones_like(a)),
    "relu": (lambda a: np.maximum(a, 0.0), lambda a, h: (a > 0).astype(a.dtype)),
}


def get(name: str):
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ConfigError(f"activation: unknown '{name}', choose one of {', '.join(ACTIVATIONS)}") from None
