"""Shared by the command-line tests: the MNIST folder (or skip), and ``spikefa`` in-process."""

import os
from pathlib import Path

import pytest

from spikefa import cli, data

MNIST_FILES = [f["file"] for f in data.DATASETS["mnist"]["files"].values()]


def mnist_dir() -> str:
    """The folder holding the MNIST IDX files under $SPIKEFA_DATA; skip the test when absent."""
    root = Path(os.environ.get("SPIKEFA_DATA") or "/work/shared/data").resolve()   # absolute: subprocesses run elsewhere
    for d in (root / "mnist", root):
        if all((d / f).is_file() for f in MNIST_FILES):
            return str(d)
    pytest.skip("MNIST IDX files not found (set SPIKEFA_DATA)")


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr) of ``spikefa ARGV`` run in-process."""
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as e:        # argparse errors
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err
