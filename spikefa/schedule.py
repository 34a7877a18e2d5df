"""Step schedules of the learning rate: ``[[epoch, eta], ...]`` pairs.

``run.eta_schedule = [[18, 1e-3], [30, 1e-4]]`` trains epochs 1-17 at ``network.eta``,
epochs 18-29 at 1e-3 and epoch 30 on at 1e-4 (epochs count from 1). A schedule may be
extended or changed on ``--resume`` as long as no epoch already begun changes its rate.
"""

import math

from .errors import ConfigError


def check(schedule, where: str = "run.eta_schedule") -> list:
    """The schedule as a list of ``(epoch, eta)``; a ConfigError names the bad entry."""
    out = []
    for i, entry in enumerate(schedule):
        if (not isinstance(entry, (list, tuple)) or len(entry) != 2 or isinstance(entry[0], bool)
                or not isinstance(entry[0], int) or isinstance(entry[1], bool)
                or not isinstance(entry[1], (int, float))):
            raise ConfigError(f"{where}[{i}]: expected [epoch, eta] (an integer and a number), got {entry!r}")
        epoch, eta = int(entry[0]), float(entry[1])
        if epoch < 1:
            raise ConfigError(f"{where}[{i}]: epochs count from 1, got {epoch}")
        if not (math.isfinite(eta) and eta > 0):
            raise ConfigError(f"{where}[{i}]: eta must be a positive finite number, got {entry[1]!r}")
        if out and epoch <= out[-1][0]:
            raise ConfigError(f"{where}[{i}]: epochs must increase, got {epoch} after {out[-1][0]}")
        out.append((epoch, eta))
    return out


def eta_at(epoch: int, base: float, schedule) -> float:
    """The learning rate of ``epoch`` (counted from 1)."""
    eta = base
    for start, value in check(schedule):
        if epoch >= start:
            eta = value
    return eta


def check_unchanged_before(epochs_begun: int, base: float, old, new, out) -> None:
    """Refuse a resumed schedule that changes the rate of an epoch already begun (``base``,
    ``network.eta``, cannot change on resume)."""
    for e in range(1, epochs_begun + 1):
        was, now = eta_at(e, base, old), eta_at(e, base, new)
        if was != now:
            raise ConfigError(f"--resume: run.eta_schedule gives epoch {e} eta {now:g} but the run in {out} "
                              f"trained it at {was:g}; change only epochs after {epochs_begun}")


def unused(schedule, epochs: int) -> list:
    """The entries of a schedule that start after the last epoch: they never act."""
    return [(e, eta) for e, eta in check(schedule) if e > epochs]


def describe(base: float, schedule, epochs: int) -> str:
    """The rates of a run of ``epochs`` epochs, e.g. ``"eta 0.01 (epochs 1-19), 0.001 (20-26)"``."""
    spans: list = []   # [first epoch, last epoch, eta]
    for e in range(1, epochs + 1):
        eta = eta_at(e, base, schedule)
        if spans and spans[-1][2] == eta:
            spans[-1][1] = e
        else:
            spans.append([e, e, eta])
    text = [f"{eta:g} ({a}-{b})" if a != b else f"{eta:g} ({a})" for a, b, eta in spans]
    text[0] = text[0].replace("(", "(epochs " if spans[0][0] != spans[0][1] else "(epoch ", 1)
    return "eta " + ", ".join(text)
