"""Bytes per unit-step of two ways to store spikes: packed bits vs event lists.

Packed bits: one bit per unit and step (``np.packbits`` along units), what spikefa
stores. Event lists: one (uint32 step, uint32 unit) pair per spike, the SONATA/NWB-like
alternative. Both raw and gzip-compressed (zlib level 1, the level spikefa writes with,
and 6), on Bernoulli spikes at the given rates and, if a raster file is given, on its
recorded layers. docs/hdf5-format.md quotes the output.

    python benchmarks/raster_size.py [results/run/rasters.h5] [--steps 10000] [--units 1000]
"""

import argparse
import zlib

import numpy as np


def sizes(spikes: np.ndarray) -> dict:
    """Bytes per unit-step of ``spikes`` (steps, units) bool in each layout."""
    n = spikes.size
    bits = np.packbits(spikes, axis=1, bitorder="little").tobytes()
    st, un = np.nonzero(spikes)
    ev = np.stack([st.astype(np.uint32), un.astype(np.uint32)], axis=1).tobytes()
    return {"bits": len(bits) / n, "bits_gz1": len(zlib.compress(bits, 1)) / n,
            "bits_gz6": len(zlib.compress(bits, 6)) / n,
            "events": len(ev) / n, "events_gz1": len(zlib.compress(ev, 1)) / n,
            "events_gz6": len(zlib.compress(ev, 6)) / n}


def row(name, rate, s):
    return (f"| {name:24s} | {rate:5.3f} | {s['bits']:.3f} | {s['bits_gz1']:.3f} | {s['bits_gz6']:.3f} | "
            f"{s['events']:.3f} | {s['events_gz1']:.3f} | {s['events_gz6']:.3f} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", help="a rasters.h5 to measure too")
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--units", type=int, default=1000)
    args = ap.parse_args(argv)
    print("bytes per unit-step")
    print("| spikes                   | rate  | bits  | bits gz1 | bits gz6 | events | events gz1 | events gz6 |")
    print("|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for p in (0.5, 0.1, 0.05, 0.016, 0.01):
        spikes = rng.random((args.steps, args.units)) < p
        print(row(f"Bernoulli {args.units} units", spikes.mean(), sizes(spikes)))
    if args.file:
        from spikefa.recording import RasterFile

        with RasterFile(args.file) as rf:
            for name in rf.layers:
                _, spikes = rf.raster(name)
                print(row(f"{name} ({spikes.shape[1]} units)", spikes.mean(), sizes(spikes)))
                for w in rf.windows:
                    _, sw = rf.raster(name, w["name"])
                    if name == "output" and len(sw):
                        print(row(f"  output, {w['name']}", sw.mean(), sizes(sw)))


if __name__ == "__main__":
    main()
