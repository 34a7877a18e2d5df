"""Rate-based training loop vs the same loop written in plain NumPy, in one process.

    python benchmarks/bench_rate.py [--steps 300] [--batch 1 32]

Network 784-1000-10 logistic (Fig. 3a), rule fa, cross-entropy, inputs 19 % non-zero
like MNIST's; every loop does a forward pass, the FA teaching signal and the weight
updates with weight decay. Prints ms per update of each and their ratio (spikefa /
plain; <= 1 means spikefa is not slower). At batch 1 it also times the fused online loop
(spikefa.rate.online) that ``spikefa.rate.train.train`` runs for rules that allow it.
"""

import argparse
import time

import numpy as np

from spikefa.rate.network import RateNetwork, RateParams
from spikefa.rate.online import train_online


def plain_numpy(X, Y, steps, batch, lr=1e-3, wd=1e-6, seed=0):
    rng = np.random.default_rng(seed)
    W1 = rng.uniform(-0.05, 0.05, (784, 1000))
    W2 = rng.uniform(-0.05, 0.05, (1000, 10))
    b1, b2 = np.zeros(1000), np.zeros(10)
    B = rng.uniform(-0.05, 0.05, (1000, 10))
    t = time.perf_counter()
    for k in range(steps):
        x, y = X[k * batch:(k + 1) * batch], Y[k * batch:(k + 1) * batch]
        h1 = 1 / (1 + np.exp(-(x @ W1 + b1)))
        h2 = 1 / (1 + np.exp(-(h1 @ W2 + b2)))
        d2 = h2 - y
        d1 = (d2 @ B.T) * h1 * (1 - h1)
        W2 -= lr * (h1.T @ d2 / batch + wd * W2)
        b2 -= lr * d2.mean(0)
        W1 -= lr * (x.T @ d1 / batch + wd * W1)
        b1 -= lr * d1.mean(0)
    return (time.perf_counter() - t) / steps * 1e3


def spikefa_loop(X, Y, steps, batch, seed=0, fused=False):
    net = RateNetwork(RateParams(sizes=(784, 1000, 10), lr=1e-3, weight_decay=1e-6), "fa", seed=seed)
    t = time.perf_counter()
    if fused:
        train_online(net, X, Y, np.arange(steps))
    else:
        for k in range(steps):
            net.train_step(X[k * batch:(k + 1) * batch], Y[k * batch:(k + 1) * batch])
    return (time.perf_counter() - t) / steps * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    for batch in a.batch:
        X = rng.random((a.steps * batch, 784)) * (rng.random((a.steps * batch, 784)) < 0.19)
        Y = np.eye(10)[rng.integers(0, 10, a.steps * batch)]
        spikefa_loop(X, Y, 5, batch)
        spikefa_loop(X, Y, 5, batch, fused=batch == 1)
        plain_numpy(X, Y, 5, batch)
        ours, fused, plain = [], [], []
        for _ in range(a.repeats):   # interleaved, so load changes hit all alike
            ours.append(spikefa_loop(X, Y, a.steps, batch))
            if batch == 1:
                fused.append(spikefa_loop(X, Y, a.steps, batch, fused=True))
            plain.append(plain_numpy(X, Y, a.steps, batch))
        line = (f"batch {batch:3d}: spikefa {np.median(ours):7.3f} ms/update, plain numpy {np.median(plain):7.3f} "
                f"ms/update, ratio {np.median(ours) / np.median(plain):.2f}")
        if fused:
            line += f"; fused online loop {np.median(fused):7.3f} ms/update, ratio {np.median(fused) / np.median(plain):.2f}"
        print(line + f" (median of {a.repeats})")


if __name__ == "__main__":
    main()
