"""Score a saved run with other test settings: ``spikefa eval RUN_DIR --test-steps 20``.

The network of ``RUN_DIR/checkpoint.npz`` (configured by ``RUN_DIR/results.h5``) is shown
the test set with plasticity off, as at the end of every epoch, but with ``test_steps``
steps per image instead of the run's. With the run's own settings it gives the run's last
test error exactly. Each evaluation is appended to ``RUN_DIR/eval.json``, which
``spikefa export summary`` carries into the summaries behind docs/results.md.
"""

import json
import time
from pathlib import Path

from . import checkpoint, data
from .engine import backends
from .errors import ConfigError, SpikefaError
from .fsutil import atomic_write
from .results import read_results
from .training import error_rate

EVAL_FILE = "eval.json"


def evaluate(run_dir, test_steps: int | None = None, test_images: int | None = None, threads: int = 0,
             data_dir=None, record: bool = True) -> dict:
    """The test error of the run in ``run_dir`` at its checkpoint.

    Returns ``{"test_error", "test_steps", "test_images", "epoch", "image", "step",
    "seconds"}``: ``epoch`` epochs done and ``image`` images into the next (0 at the end
    of an epoch), ``step`` the network's step count.
    """
    from .experiments import lillicrap2016_spiking as l16

    run_dir = Path(run_dir)
    res_path, ckpt = run_dir / "results.h5", run_dir / "checkpoint.npz"
    for f in (res_path, ckpt):
        if not f.is_file():
            raise SpikefaError(f"{run_dir}: no {f.name}; eval needs a folder written by `spikefa run {l16.NAME}`")
    res = read_results(res_path)
    if res["attrs"].get("experiment") != l16.NAME:
        raise SpikefaError(f"{res_path}: eval scores {l16.NAME} runs, this is {res['attrs'].get('experiment')!r}")
    cfg = res["config"]
    for name, val in (("--test-steps", test_steps), ("--test-images", test_images)):
        if val is not None and (isinstance(val, bool) or not isinstance(val, int) or val < 1):
            raise ConfigError(f"{name}: must be a whole number >= 1, got {val!r}")
    cfg["network"]["test_steps"] = test_steps or cfg["network"]["test_steps"]
    cfg["run"].update(threads=threads, backend=backends.DEFAULT)
    net, sim = l16.build(cfg)
    state = checkpoint.load(net, ckpt)
    r = cfg["run"]
    Xt, yt = data.load(r["dataset"], "test", data_dir=data_dir or r["data_dir"] or None)
    n = min(test_images or r["test_images"], len(Xt))
    t0 = time.perf_counter()
    err = error_rate(sim.test(Xt[:n])[0], yt[:n])
    out = {"test_error": err, "test_steps": cfg["network"]["test_steps"], "test_images": n,
           "epoch": int(state["epoch"]), "image": int(state["pos"]), "step": int(net.t),
           "seconds": round(time.perf_counter() - t0, 2)}
    if record:
        _append(run_dir / EVAL_FILE, out)
    return out


def read_evals(run_dir) -> list:
    """The evaluations recorded in ``run_dir`` (empty when none)."""
    path = Path(run_dir) / EVAL_FILE
    if not path.exists():
        return []
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SpikefaError(f"{path}: unreadable ({e}); delete it and run spikefa eval again") from None


def _append(path: Path, row: dict) -> None:
    rows = [r for r in read_evals(path.parent)
            if (r["test_steps"], r["test_images"], r["step"]) != (row["test_steps"], row["test_images"], row["step"])]
    text = json.dumps(rows + [row], indent=1)

    def write(tmp):
        Path(tmp).write_text(text)

    atomic_write(path, write, "evaluation file")
