"""Cost of recording: training ms/step with and without the recorder, in one process.

Trains the paper network (784-1500-1500-1500-1000 by default) with the Numba engine and
alternates chunks of images trained without recording and chunks trained while
recording every step with the paper's default selection (50 random units of each hidden
layer, all 1,000 output units, V and phi(U) of 2 units per layer), including packing the
bits, compressing and flushing each chunk to an HDF5 file. Recording every step is the
worst case: a real run records only inside its windows (by default 3 x 20 images).
Alternating the two modes cancels slow drifts of a shared machine's load; the printed
ratio is the median of the per-pair ratios.

    python benchmarks/bench_recording.py [--threads 1] [--images 100] [--pairs 9] [--sizes 784,1500,...]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from spikefa import config, data
from spikefa.engine.network import SpikingNetwork
from spikefa.engine.params import SpikingParams
from spikefa.engine.simulator import Simulator
from spikefa.errors import DataError
from spikefa.recording import RasterWriter, Window, select


def images(n):
    try:
        X, y = data.load("mnist", "train", download=False)
        return X[:n], y[:n], "MNIST training images"
    except DataError:
        rng = np.random.default_rng(0)
        X = (rng.random((n, 784)) < 0.19).astype(np.float32)
        return X, rng.integers(0, 10, n), "synthetic images (MNIST not found; set SPIKEFA_DATA)"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--images", type=int, default=100, help="images per timed chunk (5 steps each)")
    ap.add_argument("--pairs", type=int, default=9, help="(without, with) pairs of chunks")
    ap.add_argument("--sizes", help="layer sizes, comma-separated (default: the paper network)")
    args = ap.parse_args(argv)

    defaults = config.load_toml(config.MODELS_DIR / "lillicrap2016.toml")
    net_cfg = dict(defaults["network"])
    if args.sizes:
        net_cfg["sizes"] = [int(s) for s in args.sizes.split(",")]
    params = SpikingParams(**net_cfg)
    k = args.images
    X, y, source = images(k * (2 * args.pairs + 2))
    net = SpikingNetwork(params, "fa", seed=0)
    sim = Simulator(net, "numba", args.threads)
    rec_cfg = dict(defaults["record"], enabled=True)
    sel = select(rec_cfg, net.sizes, 0)
    print(f"network {list(params.sizes)}, {source}, threads {args.threads}; recording "
          f"{sum(len(u) for u in sel.units)} units ({', '.join(f'{n} {len(u)}' for n, u in zip(sel.names, sel.units))}) "
          f"and {len(sel.traces)} traces at every step")

    with tempfile.TemporaryDirectory() as tmp:
        total = len(X)
        # chunks of one default window (20 images = 100 steps), as a real run writes them
        w = RasterWriter(Path(tmp) / "rasters.h5", net, sel, [Window("all", 0, total)],
                         {"experiment": "bench", "config": {}, "seeds": {}},
                         chunk_rows=rec_cfg["window_images"] * params.steps_per_image)
        pos = 0

        def chunk(record):
            nonlocal pos
            sl = slice(pos, pos + k)
            t = time.perf_counter()
            cap = w.capture(net.t, pos, X[sl], y[sl], np.arange(pos, pos + k)) if record else None
            sim.train(X[sl], y[sl], capture=cap)
            if record:
                w.write(cap)
            pos += k
            return (time.perf_counter() - t) / (k * params.steps_per_image) * 1e3

        chunk(False)   # compile (or load from the cache) and settle the rates
        chunk(True)
        plain, recorded = [], []
        for i in range(args.pairs):
            order = (False, True) if i % 2 == 0 else (True, False)
            res = {m: chunk(m) for m in order}
            plain.append(res[False])
            recorded.append(res[True])
        size = Path(w.path).stat().st_size
        rows = w.rows
        w.close()
    plain, recorded = np.array(plain), np.array(recorded)
    ratio = np.median(recorded / plain)
    print(f"without recording: {np.median(plain):.3f} ms/step (median; min {plain.min():.3f}, max {plain.max():.3f})")
    print(f"with recording   : {np.median(recorded):.3f} ms/step (median; min {recorded.min():.3f}, "
          f"max {recorded.max():.3f})")
    print(f"ratio (median of {args.pairs} pairs of {k * params.steps_per_image} steps): {ratio:.3f} "
          f"({100 * (ratio - 1):+.1f} %)")
    print(f"file: {size / rows:.0f} bytes per recorded step ({rows} steps, {size / 1e6:.2f} MB)")
    return ratio


if __name__ == "__main__":
    main()
