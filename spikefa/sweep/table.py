"""The sweep's table: mean, s.d. and n per condition and metric, Welch's t-tests between
conditions that differ in one factor, and the summary as Markdown.

A condition is the point's axis values without the seed, plus the factors an experiment
varies inside one run (the rule of a rate experiment, the depth of fig3d-deep). Values
that are NaN (an XOR seed that never solved) are counted as ``missing`` and left out of
mean, s.d. and the tests.
"""

import csv
import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Row:
    """Mean, s.d. (ddof = 1; NaN for n < 2), s.e.m. and n of one condition and metric."""

    condition: dict
    metric: str
    values: np.ndarray

    @property
    def finite(self) -> np.ndarray:
        return self.values[np.isfinite(self.values)]

    @property
    def n(self) -> int:
        return int(self.finite.size)

    @property
    def missing(self) -> int:
        return int(self.values.size - self.finite.size)

    @property
    def mean(self) -> float:
        return float(self.finite.mean()) if self.n else math.nan

    @property
    def sd(self) -> float:
        return float(self.finite.std(ddof=1)) if self.n > 1 else math.nan

    @property
    def sem(self) -> float:
        return self.sd / math.sqrt(self.n) if self.n > 1 else math.nan


@dataclass
class Test:
    """Welch's two-sided t-test of ``metric`` between conditions ``a`` and ``b`` that differ
    only in ``factor`` (the others fixed at ``where``)."""

    metric: str
    factor: str
    a: Row
    b: Row
    where: dict
    t: float
    p: float


def long_rows(done: list) -> tuple:
    """``[(point, [Sample, ...]), ...]`` -> (factor names in order, one dict per sample and metric)."""
    factors, rows = [], []
    for point, samples in done:
        for s in samples:
            cond = {**point.condition, **s.factors}
            for k in cond:
                if k not in factors:
                    factors.append(k)
            for metric, v in s.values.items():
                rows.append({"point": point.name, "condition": cond, "seed": s.seed, "metric": metric, "value": v})
    return factors, rows


def aggregate(factors: list, rows: list) -> list:
    """One :class:`Row` per (condition, metric), in order of first appearance."""
    groups: dict = {}
    for r in rows:
        key = (tuple(r["condition"].get(f, "") for f in factors), r["metric"])
        groups.setdefault(key, []).append(r["value"])
    return [Row(dict(zip(factors, cond)), metric, np.asarray(vals, dtype=np.float64))
            for (cond, metric), vals in groups.items()]


def welch_tests(factors: list, table: list, metrics) -> list:
    """Welch's t-test for every pair of conditions that differ in exactly one factor, for
    each metric in ``metrics``; both sides need n >= 2. No correction for multiple tests."""
    from scipy import stats

    out = []
    for metric in metrics:
        rows = [r for r in table if r.metric == metric]
        for i, a in enumerate(rows):
            for b in rows[i + 1:]:
                diff = [f for f in factors if a.condition.get(f) != b.condition.get(f)]
                if len(diff) != 1 or a.n < 2 or b.n < 2:
                    continue
                if a.sd == 0 and b.sd == 0:      # no spread: t is undefined (scipy warns)
                    t, p = (math.nan, math.nan) if a.mean == b.mean else (math.copysign(math.inf, a.mean - b.mean), 0.0)
                else:
                    res = stats.ttest_ind(a.finite, b.finite, equal_var=False)
                    t, p = float(res.statistic), float(res.pvalue)
                where = {f: v for f, v in a.condition.items() if f != diff[0]}
                out.append(Test(metric, diff[0], a, b, where, t, p))
    return out


def fmt(x, digits: int = 4) -> str:
    if isinstance(x, (int, np.integer)):
        return str(x)
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan" if x is not None else ""
    return f"{x:.{digits}g}"


def write_csv(path, header: list, rows: list) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def write_table_csv(path, factors: list, table: list) -> None:
    write_csv(path, [*factors, "metric", "n", "mean", "sd", "sem", "missing"],
              [[*(r.condition.get(f, "") for f in factors), r.metric, r.n, repr(r.mean), repr(r.sd), repr(r.sem),
                r.missing] for r in table])


def write_samples_csv(path, factors: list, rows: list) -> None:
    write_csv(path, ["point", *factors, "seed", "metric", "value"],
              [[r["point"], *(r["condition"].get(f, "") for f in factors), "" if r["seed"] is None else r["seed"],
                r["metric"], repr(float(r["value"]))] for r in rows])


def write_tests_csv(path, tests: list) -> None:
    write_csv(path, ["metric", "factor", "a", "b", "where", "n_a", "mean_a", "n_b", "mean_b", "t", "p"],
              [[t.metric, t.factor, t.a.condition[t.factor], t.b.condition[t.factor],
                " ".join(f"{k}={v}" for k, v in t.where.items()), t.a.n, repr(t.a.mean), t.b.n, repr(t.b.mean),
                repr(t.t), repr(t.p)] for t in tests])


def markdown(header: list, rows: list) -> str:
    """A Markdown table with columns padded to line up in a terminal."""
    cells = [[str(c).replace("|", "\\|") for c in r] for r in [header, *rows]]
    width = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, width)) + " |"

    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in width) + "|", *map(line, cells[1:])])


def summary_markdown(title: str, factors: list, table: list, tests: list, metrics, failed: list,
                     counts: dict) -> str:
    """The readable summary: the table of the headline metrics, the tests, the failures."""
    parts = [f"# {title}", "",
             (f"{counts['points']} points: {counts['done']} done ({counts['skipped']} finished earlier), "
              f"{counts['failed']} failed."), ""]
    shown = [r for r in table if r.metric in metrics] or table
    missing = any(r.missing for r in shown)
    header = [*factors, "metric", "n", "mean", "s.d."] + (["missing"] if missing else [])
    parts += [markdown(header, [[*(r.condition.get(f, "") for f in factors), r.metric, r.n, fmt(r.mean),
                                 fmt(r.sd)] + ([r.missing] if missing else []) for r in shown]), ""]
    if missing:
        parts += ["`missing`: NaN values (left out of n, mean and s.d.).", ""]
    if tests:
        parts += [("Welch's t-test (two-sided) between conditions that differ in one factor "
                   "(no correction for multiple tests):"), "",
                  markdown(["metric", "factor", "a", "b", "where", "mean a", "mean b", "t", "p"],
                           [[t.metric, t.factor, t.a.condition[t.factor], t.b.condition[t.factor],
                             " ".join(f"{k}={v}" for k, v in t.where.items()) or "-", fmt(t.a.mean), fmt(t.b.mean),
                             fmt(t.t, 3), fmt(t.p, 2)] for t in tests]), ""]
    if failed:
        parts += [f"Failed points ({len(failed)}), each after every retry:", "",
                  markdown(["point", "attempts", "last error"],
                           [[name, attempts, err] for name, attempts, err in failed]), ""]
    return "\n".join(parts)
