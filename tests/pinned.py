"""Pinned numerics: a hash of everything a short training run leaves in a network, for
every case of the twin tests, on the Numba engine and its NumPy twin.

Refactors of the engine must not move a bit. ``python tests/pinned.py --write FILE``
records the hashes (with the platform they hold for); tests/test_pinned_numerics.py
compares the code of today against them.
"""

import hashlib
import json
import platform
import sys
from pathlib import Path

import numpy as np

SIZES, N_IMG, STEPS = (30, 40, 30, 20), 60, 5      # the twin tests' network (tests/twins.py)


def make_net(rule, seed=3, **kw):
    from spikefa.engine.network import SpikingNetwork
    from spikefa.engine.params import SpikingParams

    kw.setdefault("eta", 0.05)
    return SpikingNetwork(SpikingParams(sizes=SIZES, n_classes=2, steps_per_image=STEPS, **kw), rule, seed=seed)


def make_data(n=N_IMG, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((n, SIZES[0])).astype(np.float32), rng.integers(0, 2, n)

STATE = ("W", "b", "c", "B", "B_c", "V", "U", "sig", "phi", "spikes", "pend_spk", "pend_kg", "pend_kgb", "R_bar")
CASES = [
    ("fa", {}), ("bp", {}), ("dfa", {}), ("fa", {"delay": True}), ("fa", {"phi": "sigmoid"}),
    ("fa", {"feedback_dtype": "int8"}), ("dfa", {"feedback_dtype": "int8", "delay": True}),
    ("fa", {"gamma": 0.01}), ("bp", {"gamma": 0.01}), ("kp", {}), ("kp", {"gamma": 0.01}), ("ss", {}),
    ("shallow", {}), ("np", {"eta": 0.01}), ("wm", {"mirror_every": 7, "mirror_samples": 50}),
    ("fa", {"w_init": 1.0}), ("kp", {"w_init": 1.0}), ("fa", {"w_init": 1.0, "gamma": 0.01}),
    ("fa", {"sparsity": 0.5}), ("kp", {"sparsity": 0.5, "w_init": 1.0}),
]


def case_id(rule, kw) -> str:
    return rule + "".join(f"-{k}={v}" for k, v in sorted(kw.items()))


def platform_key() -> str:
    """What the hashes hold for: the Numba kernels sum some floats in SIMD lanes, so their
    last bits depend on the vector width the CPU offers and on the LLVM of Numba."""
    import numba

    try:
        flags = Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0].split()
    except (OSError, IndexError):
        flags = []
    simd = "avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
    return f"{platform.machine()} {simd} numba {'.'.join(numba.__version__.split('.')[:2])}"


def run_hash(rule, kw, backend, threads: int = 1) -> str:
    from spikefa.engine.simulator import Simulator

    net = make_net(rule, **kw)
    x, y = make_data()
    sim = Simulator(net, backend=backend, threads=threads)
    h = hashlib.sha256()
    for part in (slice(0, N_IMG // 3), slice(N_IMG // 3, N_IMG)):     # two calls: state carries over
        counts, layer = sim.train(x[part], y[part])
        h.update(np.ascontiguousarray(counts).tobytes() + np.ascontiguousarray(layer).tobytes())
    counts, _ = sim.test(x[:10])
    h.update(np.ascontiguousarray(counts).tobytes())
    for k in STATE:
        h.update(np.ascontiguousarray(getattr(net, k)).tobytes())
    h.update(np.int64(net.t).tobytes() + np.int64(net.npend).tobytes())
    return h.hexdigest()[:16]


def all_hashes() -> dict:
    return {f"{backend}:{case_id(r, kw)}": run_hash(r, kw, backend) for backend in ("numba", "numpy")
            for r, kw in CASES}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        import subprocess

        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        doc = {"platform": platform_key(), "commit": commit, "hashes": all_hashes()}
        Path(sys.argv[2]).write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {sys.argv[2]}: {len(doc['hashes'])} hashes for {doc['platform']} at {commit}")
    else:
        print(__doc__)
