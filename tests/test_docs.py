"""The documentation runs as written: every code block of docs/tutorial.md, in order, in
one fresh folder (except its install line, which tests/test_packaging.py covers by
installing a wheel), and the Python example of README.md. About a minute."""

import os
import re
import subprocess
import sys
from pathlib import Path


from clihelp import mnist_dir

REPO = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.S | re.M)


def blocks(path):
    """[(language, code)] of a Markdown file, consecutive blocks of one language merged;
    blocks marked ``install`` (```bash install) are left out."""
    out = []
    for lang, info, code in FENCE.findall(Path(path).read_text()):
        if "install" in info.split():
            continue
        if out and out[-1][0] == lang:
            out[-1] = (lang, out[-1][1] + "\n" + code)
        else:
            out.append((lang, code))
    return out


def run(lang, code, cwd):
    env = dict(os.environ, SPIKEFA_DATA=mnist_dir(), MPLBACKEND="Agg",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    cmd = ["bash", "-e", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, f"{lang} block failed:\n{code}\n--- stdout\n{p.stdout[-3000:]}\n--- stderr\n{p.stderr[-3000:]}"
    return p.stdout


def test_tutorial_runs_as_written(tmp_path):
    parts = blocks(REPO / "docs" / "tutorial.md")
    assert [lang for lang, _ in parts] == ["bash", "python"]
    out = run(*parts[0], tmp_path)
    assert "epoch 1: test error 17.90 %" in out                # the figure the tutorial quotes
    assert (tmp_path / "runs" / "rec" / "fig4.png").is_file() and (tmp_path / "runs" / "rec" / "rasters.nwb").is_file()
    out = run(*parts[1], tmp_path)
    lines = out.splitlines()
    fa = float(next(x for x in lines if x.startswith("fa: ")).split()[1])
    mine = float(next(x for x in lines if x.startswith("gauss-fa: ")).split()[1])
    assert 10 < fa < 26 and 10 < mine < 26                    # near the quoted 17.90 %: both learn
    assert any(x.startswith("runs/gauss-fa: lillicrap2016-spiking") for x in lines)


def test_readme_python_example_runs(tmp_path):
    parts = [code for lang, code in blocks(REPO / "README.md") if lang == "python"]
    assert len(parts) == 1
    out = run("python", parts[0], tmp_path)
    assert "raster (50, 50)" in out
    err = float(out.split("test error")[1])
    assert 0 < err < 0.5
