"""What one point of a sweep yields: :class:`Sample`, and the helpers with which an
experiment turns its result file into samples (``sweep_samples(results) -> [Sample]``,
defined in each experiment's module beside ``SWEEP_HEADLINE`` and ``SWEEP_ALIASES``)."""

import json
from dataclasses import dataclass, field

import numpy as np

from ..errors import SpikefaError


@dataclass(frozen=True)
class Sample:
    """Metric values of one seed of one condition inside a point.

    ``factors`` are conditions the experiment varies itself (``{"rule": "fa", "depth":
    "deep"}``); the table adds them to the point's axis values.
    """

    factors: dict
    seed: int | None
    values: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"factors": self.factors, "seed": self.seed, "values": self.values}

    @classmethod
    def from_json(cls, d: dict) -> "Sample":
        return cls(dict(d["factors"]), d["seed"], {k: float(v) for k, v in d["values"].items()})


def seeds_of(res: dict) -> list:
    s = json.loads(res["attrs"]["seeds"])
    return list(s["seeds"]) if "seeds" in s else [res["config"]["run"].get("seed")]


def curve(res: dict, name: str) -> np.ndarray:
    if name not in res:
        raise SpikefaError(f"result file has no {name} (the run did not finish?)")
    return np.asarray(res[name], dtype=np.float64)


def per_rule_final(res: dict, metric: str, curve_name: str, conds, factor: str = "rule") -> list:
    """The last value of ``curves/<cond>/<curve_name>`` of every condition and seed."""
    seeds = seeds_of(res)
    out = []
    for cond in conds:
        last = curve(res, f"curves/{cond}/{curve_name}")[:, -1]
        out += [Sample({factor: cond}, s, {metric: float(v)}) for s, v in zip(seeds, last)]
    return out
