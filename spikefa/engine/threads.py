"""Threads of the Numba kernels: ``0`` means every core this process may use."""

from ..errors import ConfigError


def resolve_threads(threads: int, where: str = "threads") -> int:
    """The number of Numba threads that ``threads`` asks for: 0 means every core this
    process may use (``NUMBA_NUM_THREADS``); a ConfigError naming ``where`` otherwise."""
    import numba

    top = numba.config.NUMBA_NUM_THREADS
    if isinstance(threads, bool) or not isinstance(threads, int) or not 0 <= threads <= top:
        raise ConfigError(f"{where}: must be 0 (all {top} cores) or an integer in [1, {top}] on this machine, "
                          f"got {threads!r}")
    return threads or top


def set_threads(threads: int) -> int:
    """Threads of the Numba kernels (0: all cores; 1 behaves best on a busy shared
    machine); returns the number set."""
    import numba

    n = resolve_threads(threads)
    numba.set_num_threads(n)
    return n
