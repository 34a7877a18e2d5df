"""The wheel carries everything a run needs: built here, installed in a fresh venv, run
from another folder. About 30 s (the build fetches setuptools into its isolated
environment from the package registry; the fresh venv borrows this one's dependencies)."""

import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from clihelp import mnist_dir

REPO = Path(__file__).resolve().parents[1]


def sh(*cmd, cwd, env=None, timeout=600):
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{cmd}: {p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    return p.stdout


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    root = tmp_path_factory.mktemp("wheel")
    try:
        sh(sys.executable, "-m", "pip", "wheel", REPO, "--no-deps", "-q", "-w", root / "dist", cwd=root)
    except AssertionError as e:
        if "Could not find a version" in str(e) or "No matching distribution" in str(e):
            pytest.skip("cannot build the wheel here: no package registry for its build backend")
        raise
    wheel = next((root / "dist").glob("spikefa-*.whl"))
    venv = root / "venv"
    sh(sys.executable, "-m", "venv", venv, cwd=root)
    py = venv / "bin" / "python"
    purelib = sh(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=root).strip()
    # the dependencies (numpy, numba, h5py, ...) come from this venv; spikefa only from the wheel
    deps = [p for p in {sysconfig.get_paths()["purelib"], *site.getsitepackages()} if Path(p).is_dir()]
    Path(purelib, "borrowed-deps.pth").write_text("\n".join(deps) + "\n")
    sh(py, "-m", "pip", "install", "--no-deps", "-q", wheel, cwd=root)
    return venv, root


def test_wheel_lists_and_runs_from_another_folder(fresh):
    venv, root = fresh
    work = root / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    where = sh(venv / "bin" / "python", "-c", "import spikefa.config as c; print(c.__file__, c.MODELS_DIR)", cwd=work, env=env)
    assert str(venv) in where.split()[0] and str(venv) in where.split()[1], where   # not the checkout
    out = sh(venv / "bin" / "spikefa", "list", cwd=work, env=env)
    assert "lillicrap2016-spiking" in out and "xor" in out
    out = sh(venv / "bin" / "spikefa", "run", "xor", "--smoke", "--quiet", "--out", work / "xor", cwd=work, env=env)
    assert "xor:" in out and (work / "xor" / "results.h5").is_file()
    env["SPIKEFA_DATA"] = mnist_dir()
    out = sh(venv / "bin" / "spikefa", "run", "lillicrap2016-spiking", "--preset", "paper", "--smoke", "--threads", "1",
             "--quiet", "--out", work / "l16", cwd=work, env=env)
    assert "eta 0.001 (epoch 1), B float32" in out
