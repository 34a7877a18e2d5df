"""Sweeps over seeds, rules and parameters (``spikefa sweep``): local worker processes by
default, an existing dask.distributed cluster with ``--scheduler``.

``spikefa sweep xor --seeds 20 --set rule=fa,bp`` expands a grid (every ``--set`` with
comma-separated values is an axis, ``--seeds N`` one more; the points are their
product), runs each point as ``spikefa run`` would into its own folder, and writes one
table: mean, s.d. and n per condition, with Welch's t-tests between conditions that
differ in one factor. Finished points are skipped on ``--resume``; a failed point is
retried ``--retries`` times and then reported with its error. With a backend that runs
many networks per launch (``--backend cuda``) the points train together in one process,
K networks per launch (:func:`.runner.packs`, :func:`.worker.run_pack`). See docs/sweeps.md.

Modules: :mod:`.grid` (axes and points), :mod:`.adapters` (what a sweep asks of each
experiment: its samples, headline metrics, seed field and aliases), :mod:`.worker` (one point, on any
worker), :mod:`.executors` (local processes, dask), :mod:`.table` (statistics, CSV,
Markdown), :mod:`.runner` (the loop: resume, retries, progress).
"""

from .adapters import Sample
from .grid import Axis, Point, expand, parse_sets, split_values
from .runner import SweepResult, plan, run_sweep

__all__ = ["Axis", "Point", "Sample", "SweepResult", "expand", "parse_sets", "plan",
           "run_sweep", "split_values"]
