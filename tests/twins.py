"""Shared by the engine tests: the small twin-test network, random images, MNIST or skip."""

import os
from pathlib import Path

import numpy as np
import pytest

from spikefa import data
from spikefa.engine.network import SpikingNetwork
from spikefa.engine.params import SpikingParams

SIZES = (30, 40, 30, 20)
N_IMG, STEPS = 60, 5          # 300 steps: more than LAZY_K, so lazy flushes happen many times


def make_net(rule="fa", seed=3, **kw):
    kw.setdefault("eta", 0.05)
    p = SpikingParams(sizes=kw.pop("sizes", SIZES), n_classes=kw.pop("n_classes", 2), steps_per_image=STEPS, **kw)
    return SpikingNetwork(p, rule, seed=seed)


def make_data(n=N_IMG, n_in=SIZES[0], n_classes=2, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((n, n_in)).astype(np.float32), rng.integers(0, n_classes, n)


def mnist_or_skip(n_train, n_test):
    """The first MNIST training and test images from $SPIKEFA_DATA; skip when absent."""
    root = os.environ.get("SPIKEFA_DATA") or "/work/shared/data"
    files = [f["file"] for f in data.DATASETS["mnist"]["files"].values()]
    if not any(all((Path(root) / sub / f).is_file() for f in files) for sub in ("mnist", "")):
        pytest.skip("MNIST IDX files not found (set SPIKEFA_DATA)")
    X, y = data.load("mnist", "train", data_dir=root, download=False)
    Xt, yt = data.load("mnist", "test", data_dir=root, download=False)
    return X[:n_train], y[:n_train], Xt[:n_test], yt[:n_test]
