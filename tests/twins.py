"""Shared by the engine tests: the small twin-test network, random images, MNIST or skip."""

import numpy as np

from spikefa import data
from spikefa.engine.network import SpikingNetwork
from spikefa.engine.params import SpikingParams

from clihelp import mnist_dir

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
    root = mnist_dir()
    X, y = data.load("mnist", "train", data_dir=root, download=False)
    Xt, yt = data.load("mnist", "test", data_dir=root, download=False)
    return X[:n_train], y[:n_train], Xt[:n_test], yt[:n_test]
