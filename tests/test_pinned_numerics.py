"""Refactors and speed-ups of the engine move no bit: every twin-test case, trained on
the Numba engine and on its NumPy twin, leaves exactly the state recorded in
tests/data/pinned_numerics.json (written by ``python tests/pinned.py --write`` at the
commit it names). Skipped, with the reason, on a platform other than the recorded one:
the Numba kernels sum some floats in SIMD lanes, whose width is the CPU's."""

import json
from pathlib import Path

import pytest

import pinned

PINNED = json.loads((Path(__file__).parent / "data" / "pinned_numerics.json").read_text())


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("rule,kw", pinned.CASES, ids=[pinned.case_id(r, kw) for r, kw in pinned.CASES])
def test_state_after_training_is_pinned(backend, rule, kw):
    if pinned.platform_key() != PINNED["platform"]:
        pytest.skip(f"hashes pinned for {PINNED['platform']}, this is {pinned.platform_key()}")
    key = f"{backend}:{pinned.case_id(rule, kw)}"
    assert pinned.run_hash(rule, kw, backend) == PINNED["hashes"][key], \
        f"{key}: the state after training differs from commit {PINNED['commit']}"
