"""Exceptions that carry a one-line message meant for the user.

The command line prints ``str(err)`` of a :class:`SpikefaError` without a traceback, so
each message names what is wrong and how to fix it.
"""


class SpikefaError(Exception):
    """Base class of every error the command line reports as one line."""


class ConfigError(SpikefaError, ValueError):
    """A configuration field is unknown, of the wrong type or out of range."""


class DataError(SpikefaError, OSError):
    """A data file is missing, corrupt or truncated."""


class NumericalError(SpikefaError, FloatingPointError):
    """NaN or infinity appeared in potentials or weights."""


class StorageError(SpikefaError, OSError):
    """An output file cannot be written (full disk, read-only folder); earlier files are intact."""
