"""Where a training step of the paper network spends its time, by part of the kernel.

    python benchmarks/profile_step.py [--threads 1] [--checkpoint RUN/checkpoint.npz] [--images 240]

Samples the process with Linux ``perf`` while the Numba engine trains the paper network
(rule fa, B int8), and maps every sample to the compiled function it fell in: the
forward drive (``_add_rows`` and its parallel loop), the lazy plasticity flush
(``_flush_rows`` and its loop), the feedback path (the parallel loop over feedback rows),
the per-unit passes (``_membrane``, ``_sample``, feedback and error units) and the rest of
``run_images`` (serial bookkeeping). It compiles the kernels afresh into a temporary
cache, because functions loaded from Numba's cache carry no symbols (about a minute).
Needs ``perf`` (``/proc/sys/kernel/perf_event_paranoid`` <= 2). Set
``SPIKEFA_DATA`` as for ``spikefa run``.
"""

import argparse
import bisect
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PARTS = (("_add_rows", "forward drive"), ("_flush_rows", "plasticity flush"), ("_flush", "plasticity flush"),
         ("_membrane", "per-unit passes"), ("_sample", "per-unit passes"), ("_feedback_units", "per-unit passes"),
         ("_error_units", "per-unit passes"), ("_overlap", "run_images, serial"),
         ("run_images", "run_images, serial"))


def _symbols(dispatcher):
    """(address, part) of every function compiled into ``dispatcher``'s library; a parallel
    loop is named by the kernel it calls (forward, flush) or else is the feedback path."""
    out = []
    for cres in dispatcher.overloads.values():
        lib = cres.library
        for f in lib._final_module.functions:
            if f.is_declaration:
                continue
            addr = lib.get_pointer_to_function(f.name)
            if not addr:
                continue
            if "parfor_gufunc" in f.name:
                body = str(f)
                part = ("forward drive" if "_add_rows" in body else "plasticity flush" if "_flush_rows" in body
                        else "feedback path")
            else:
                part = next((p for key, p in PARTS if key + "B" in f.name), "other JIT")
            out.append((addr, part))
    return sorted(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoint", help="profile a trained network (checkpoint.npz of a lillicrap2016-spiking run)")
    ap.add_argument("--images", type=int, default=240, help="images trained while sampling (5 steps each)")
    args = ap.parse_args(argv)
    if shutil.which("perf") is None:
        sys.exit("profile_step: needs Linux perf on the PATH")
    if "SPIKEFA_PROFILE_TMP" not in os.environ:   # a fresh compile, so that the functions have symbols
        os.environ["NUMBA_CACHE_DIR"] = os.environ["SPIKEFA_PROFILE_TMP"] = tempfile.mkdtemp(prefix="spikefa-prof-")
        os.execv(sys.executable, [sys.executable, *sys.argv])
    try:
        profile(args)
    finally:
        if os.environ.get("SPIKEFA_PROFILE_TMP"):
            shutil.rmtree(os.environ["SPIKEFA_PROFILE_TMP"], ignore_errors=True)


def profile(args):
    """Train while perf samples this process; print the share of samples per part."""
    from spikefa import bench
    from spikefa.engine import backends, kernels
    from spikefa.engine.network import SpikingNetwork
    from spikefa.engine.simulator import Simulator

    params = bench.paper_params()
    X, y, source = bench._images(args.images + 40)
    net = (bench.trained_network(params, "fa", args.checkpoint) if args.checkpoint
           else SpikingNetwork(params, "fa", seed=0))
    sim = Simulator(net, backends.DEFAULT, args.threads)
    print(f"network {list(params.sizes)}, rule fa, B {net.B.dtype}, threads {sim.threads}, "
          f"{'trained: ' + args.checkpoint if args.checkpoint else 'initial weights'}; compiling ...")
    sim.train(X[:40], y[:40])
    syms = _symbols(kernels.run_images)
    addrs = [a for a, _ in syms]
    data = os.path.join(os.environ["NUMBA_CACHE_DIR"], "perf.data")
    perf = subprocess.Popen(["perf", "record", "-F", "1999", "--all-user", "-o", data, "-p", str(os.getpid())],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    t = time.perf_counter()
    sim.train(X[40:40 + args.images], y[40:40 + args.images])
    elapsed = time.perf_counter() - t
    perf.send_signal(signal.SIGINT)
    perf.wait()
    script = subprocess.run(["perf", "script", "-i", data, "-F", "ip,sym"], capture_output=True, text=True).stdout
    count = collections.Counter()
    for line in script.splitlines():
        fields = line.split(None, 1)
        try:
            ip = int(fields[0], 16)
        except (ValueError, IndexError):
            continue
        k = bisect.bisect_right(addrs, ip) - 1
        named = len(fields) > 1 and "unknown" not in fields[1]
        count[syms[k][1] if k >= 0 and not named else "outside the JIT code"] += 1
    total = sum(count.values())
    print(f"{elapsed / (args.images * params.steps_per_image) * 1e3:.3f} ms/step over {args.images} images "
          f"({total} samples)")
    for part, n in count.most_common():
        print(f"{100 * n / total:5.1f} %  {part}")


if __name__ == "__main__":
    main()
