"""Refactors and speed-ups of the engine move no bit: every twin-test case, trained on
the Numba engine and on its NumPy twin, leaves exactly the state recorded in
tests/data/pinned_numerics.json (written by ``python tests/pinned.py --write`` at the
commit it names). Skipped, with the reason, on a platform other than the recorded one:
the Numba kernels sum some floats in SIMD lanes, whose width is the CPU's."""

import json
from pathlib import Path

import numba
import pytest

import pinned
from spikefa.engine.threads import set_threads

PINNED = json.loads((Path(__file__).parent / "data" / "pinned_numerics.json").read_text())


@pytest.mark.parametrize("backend, threads", [("numba", 1), ("numba", 2), ("numpy", 1)])
@pytest.mark.parametrize("rule,kw", pinned.CASES, ids=[pinned.case_id(r, kw) for r, kw in pinned.CASES])
def test_state_after_training_is_pinned(backend, threads, rule, kw):
    """Two Numba threads must give the bits one gives (and that were pinned with one)."""
    if pinned.platform_key() != PINNED["platform"]:
        pytest.skip(f"hashes pinned for {PINNED['platform']}, this is {pinned.platform_key()}")
    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip(f"{threads} threads asked, this machine offers {numba.config.NUMBA_NUM_THREADS}")
    key = f"{backend}:{pinned.case_id(rule, kw)}"
    try:
        got = pinned.run_hash(rule, kw, backend, threads)
    finally:
        set_threads(1)
    assert got == PINNED["hashes"][key], f"{key}, {threads} thread(s): the state after training differs from " \
                                         f"commit {PINNED['commit']}"
