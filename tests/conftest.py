"""Run the CUDA simulator suite beside the rest of the tests.

``test_cuda_backend.py::test_suite_on_the_simulator`` runs a subprocess of about six
minutes on one core. When it is selected, the subprocess starts as soon as the tests are
collected and the test itself runs last and waits for it, so that the subprocess uses
the second core while the other tests run, instead of the whole run waiting for it.
"""

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

SIM_TEST = "test_cuda_backend.py::test_suite_on_the_simulator"
ROOT = Path(__file__).resolve().parent.parent


SIM_COMMAND = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
               "tests/test_cuda_backend.py", "tests/test_backend_conformance.py", "-k", "cuda"]


def start_simulator_suite():
    """The subprocess, its output going to a temporary file (a pipe could fill and block it)."""
    out = tempfile.TemporaryFile(mode="w+")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.Popen(SIM_COMMAND, cwd=ROOT, env=env, stdout=out,
                            stderr=subprocess.STDOUT, text=True)
    return proc, out


@pytest.hookimpl(trylast=True)       # after -m and -k have deselected what they deselect
def pytest_collection_modifyitems(session, config, items):
    sim = [it for it in items if it.nodeid.endswith(SIM_TEST)]
    if not sim or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" or config.option.collectonly:
        return
    items[:] = [it for it in items if it not in sim] + sim        # it waits, so it goes last
    if importlib.util.find_spec("numba_cuda") is not None:
        config._spikefa_simulator = start_simulator_suite()


def pytest_unconfigure(config):
    started = getattr(config, "_spikefa_simulator", None)
    if started is not None and started[0].poll() is None:       # the run stopped before its test
        started[0].kill()
        started[0].wait()
