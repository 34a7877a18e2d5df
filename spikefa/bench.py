"""`spikefa bench`: ms per training step of the paper network, Numba engine vs dense NumPy.

Both run in the same process on the same network, so the printed speed-up is a ratio
measured under the same machine load. The memory-bandwidth bound is the bytes an
event-driven step must move at the measured firing rates divided by a streaming-read
bandwidth measured here too. ``spikefa bench --backend brian2``
(:func:`run_beside`) times another registered backend beside the Numba engine instead.
"""

import time

import numpy as np

from . import config, data
from .engine import backends
from .engine.network import SpikingNetwork
from .engine.params import SpikingParams
from .engine.simulator import Simulator
from .engine.threads import set_threads
from .errors import ConfigError, DataError
from .rules.base import FB_MATRIX, FB_NONE


def _images(n, data_dir=None):
    try:
        X, y = data.load("mnist", "test", data_dir=data_dir, download=False)
        return X[:n], y[:n], "MNIST test images"
    except DataError:
        rng = np.random.default_rng(0)  # MNIST-like: ~19 % of pixels on
        X = (rng.random((n, 784)) < 0.19).astype(np.float32) * rng.uniform(0.5, 1, (n, 784)).astype(np.float32)
        return X, rng.integers(0, 10, n), "synthetic images (MNIST not found)"


def dense_copies(net) -> None:
    """float32 copies of ``net``'s state that :func:`dense_numpy_step` trains."""
    n = len(net.sizes)
    net.W32 = {l: net.effective_W(l).astype(np.float32) for l in range(1, n)}
    net.F32 = {l: net.feedback_matrix(l).astype(np.float32) for l in range(1, n - 1) if net.fb_kind[l] != FB_NONE}
    net.V32, net.U32, net.b32 = (a.astype(np.float32) for a in (net.V, net.U, net.b))
    net.M32 = {l: net.W_mask_layer(l).astype(np.float32) for l in range(1, n)} if net.masked else {}


def dense_numpy_step(net, x, label, rng):
    """One training step written densely in NumPy float32 (matvecs and np.outer updates)."""
    p, L, view = net.params, net.params.n_layers, net.unit_view
    s = [(rng.random(784, dtype=np.float32) < x).astype(np.float32)]
    sig = [None]
    for l in range(1, L + 1):
        V = view(net.V32, l)
        V *= 1 - p.tau
        V += s[l - 1] @ net.W32[l] + view(net.b32, l)
        sg = 1 / (1 + np.exp(-V))
        sig.append(sg)
        s.append((rng.random(len(V), dtype=np.float32) < sg).astype(np.float32))
    phi = [None] * (L + 1)
    U = view(net.U32, L)
    U *= 1 - p.tau
    U += (np.arange(len(U)) // p.group == label) - s[L]
    phi[L] = np.tanh(U)
    for l in range(L - 1, 0, -1):
        U = view(net.U32, l)
        U *= 1 - p.tau
        U += net.F32[l] @ phi[net.fb_src[l]]
        phi[l] = np.tanh(U)
    for l in range(1, L + 1):
        g = p.eta * phi[l] * sig[l] * (1 - sig[l])
        net.W32[l] *= np.float32(1 - p.gamma)
        dW = np.outer(s[l - 1], g)
        if net.masked:      # removed elements get nothing (network.sparsity)
            dW *= net.M32[l]
        net.W32[l] += dW


def _bandwidth(threads: int) -> float:
    """Streaming-read bandwidth in bytes/s (numba, the engine's thread count)."""
    from numba import njit, prange

    @njit(parallel=True, fastmath=True)
    def total(a):
        s = 0.0
        for i in prange(a.size):
            s += a[i]
        return s

    a = np.ones(64 * 2**20, dtype=np.float32)  # 256 MiB, far beyond the L3 cache
    total(a)
    best = min(_timed(lambda: total(a)) for _ in range(5))
    return a.nbytes / best


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bytes_per_step(net, rates, changed=None) -> float:
    """Bytes a lazy event-driven training step must move: the rows of the active units
    read once for the forward drive (or, incrementally, those of the units that changed,
    where fewer), every row read and written once per flush of K pending steps (a row with
    no spike in K steps is skipped, probability (1 - rate)^K), and every feedback matrix
    read once."""
    n, total, k = net.sizes, 0.0, net.pend_kg.shape[0]
    for l in range(1, len(n)):
        touched = 1.0 - (1.0 - rates[l - 1]) ** k
        read = rates[l - 1] if changed is None else min(rates[l - 1], changed[l - 1])
        total += (read + 2 * touched / k) * n[l - 1] * n[l] * 4 + feedback_bytes(net, l)
    return total


def feedback_bytes(net, l: int) -> int:
    """Bytes of the feedback matrix that layer l reads once a step (its own B, or W_{l+1})."""
    n, kind = net.sizes, net.fb_kind[l]
    if kind == FB_MATRIX:
        return int(n[l] * n[net.fb_src[l]] * net.B.itemsize)
    if kind != FB_NONE and l < len(n) - 1:
        return int(n[l] * n[l + 1] * 4)
    return 0


def changed_fraction(net, X, y, steps: int = 40) -> np.ndarray:
    """Per layer, the fraction of units whose spike differs from the step before, over
    ``steps`` training steps of the NumPy specification on a copy of ``net``."""
    from .engine import reference

    work, p = net.settled(), net.params
    x = work.input_prob(X)
    frac, prev = np.zeros(len(net.sizes)), None
    for k in range(steps + 1):
        i = k // p.steps_per_image % len(x)
        reference.step(work, x[i], int(y[i]), train=True)
        cur = work.spikes[(work.t - 1) & 1].copy()
        if prev is not None:
            frac += [np.mean(work.unit_view(cur, l) != work.unit_view(prev, l)) for l in range(len(net.sizes))]
        prev = cur
    return frac / steps


def trained_network(params, rule, path) -> SpikingNetwork:
    """The network of ``params`` and ``rule`` in the state of a checkpoint of the paper
    network (``spikefa run lillicrap2016-spiking`` writes one); its feedback matrices
    (``B``, int8 or of another rule) stay its own."""
    from . import checkpoint

    net = SpikingNetwork(params, rule, seed=0)
    checkpoint.load(net, path, keep_own=("B", "B_c", "pend_kgb"))
    return net


def paper_params(feedback_dtype=None, overrides=None) -> SpikingParams:
    """The paper network of models/lillicrap2016.toml with ``--set`` overrides applied."""
    cfg = config.build({"network": config.load_toml(config.MODELS_DIR / "lillicrap2016.toml")["network"]},
                       overrides=overrides)
    if feedback_dtype:
        cfg["network"]["feedback_dtype"] = feedback_dtype
    return SpikingParams(**cfg["network"])


def run(threads: int = 0, images: int = 40, repeats: int = 7, dense_steps: int = 30, rule: str = "fa",
        feedback_dtype: str | None = None, data_dir=None, overrides=None, checkpoint=None, out=print) -> dict:
    """Time the Numba engine and the dense NumPy step on the paper network, from its
    initial weights or (``checkpoint``) from a trained state. The engine is timed with
    the full gather and with the incremental forward drive, alternating, so their ratio
    is measured under the same load."""
    params = paper_params(feedback_dtype, overrides)
    need = images * (2 * repeats + 1)
    X, y, source = _images(need, data_dir)
    if len(X) < need:
        raise ConfigError(f"--images {images} x (2 x --repeats {repeats} + 1) = {need} images, "
                          f"more than the {len(X)} test images: lower --images or --repeats")
    net = trained_network(params, rule, checkpoint) if checkpoint else SpikingNetwork(params, rule, seed=0)
    sim = Simulator(net, backends.DEFAULT, threads)
    threads = sim.threads   # 0 resolved to all cores
    state = f"trained state of {checkpoint} (step {net.t})" if checkpoint else "initial weights"
    out(f"network {list(params.sizes)}, rule {rule}, B {net.B.dtype}, threads {threads}, {source}, {state}")
    sim.train(X[:images], y[:images])  # compile (or load from cache) and settle the rates
    steps = images * params.steps_per_image

    # the dense step trains float32 copies of the same state; its steps are interleaved
    # with the engine's runs, so that both are timed under the same load
    dense_copies(net)
    rng = np.random.default_rng(0)
    set_threads(threads)
    dense_numpy_step(net, X[0], y[0], rng)
    dense, per_round = [], max(3, -(-dense_steps // repeats))

    def dense_round():
        for _ in range(per_round):
            k = len(dense)
            t = time.perf_counter()
            dense_numpy_step(net, X[k % len(X)], y[k % len(y)], rng)
            dense.append((time.perf_counter() - t) * 1e3)

    full, ms, rates = _train_alternating(sim, X, y, images, repeats, between=dense_round)
    changed = changed_fraction(net, X, y)
    dense = np.array(dense)
    bw = _bandwidth(threads)
    bound = bytes_per_step(net, rates, changed) / bw * 1e3
    speedup = np.median(dense) / np.median(ms)
    out("firing rates per layer: " + ", ".join(f"{x:.3f}" for x in rates))
    out("units changed per step: " + ", ".join(f"{x:.3f}" for x in changed) + " (the incremental drive reads these)")
    out(f"numba, full gather : {np.median(full):7.3f} ms/step (median; min {full.min():.3f}, max {full.max():.3f}; "
        f"{repeats} runs of {steps} steps)")
    out(f"numba incremental  : {np.median(ms):7.3f} ms/step (median; min {ms.min():.3f}, max {ms.max():.3f}; "
        f"{repeats} runs of {steps} steps, alternating with the above)")
    out(f"dense numpy float32: {np.median(dense):7.3f} ms/step (median; min {dense.min():.3f}, max {dense.max():.3f}; "
        f"{len(dense)} steps, {per_round} after each pair of the above)")
    out(f"speed-up           : {speedup:7.1f} x")
    out(f"bandwidth bound    : {bound:7.3f} ms/step ({bytes_per_step(net, rates, changed) / 1e6:.1f} MB per step "
        f"at {bw / 1e9:.1f} GB/s measured with {threads} thread(s))")
    return {"numba_ms": ms, "full_ms": full, "dense_ms": dense, "rates": rates, "changed": changed,
            "speedup": speedup, "bound_ms": bound}


def _train_timed(sim, X, y, images, repeats):
    """(ms/step of each of ``repeats`` training calls of ``images`` images, spikes per layer)."""
    steps = images * sim.net.params.steps_per_image
    times, spikes = [], np.zeros(len(sim.net.sizes))
    for r in range(1, repeats + 1):
        sl = slice(r * images, (r + 1) * images)
        t = time.perf_counter()
        _, ls = sim.train(X[sl], y[sl])
        times.append((time.perf_counter() - t) / steps * 1e3)
        spikes += ls
    return np.array(times), spikes / (repeats * steps) / sim.net.sizes


def _train_alternating(sim, X, y, images, repeats, between=None):
    """ms/step of ``repeats`` training calls of ``images`` images each with the full
    gather and with the incremental drive, alternating (``between()`` after each pair);
    and the spikes per layer."""
    steps = images * sim.net.params.steps_per_image
    times, spikes = {False: [], True: []}, np.zeros(len(sim.net.sizes))
    k = 1
    for _ in range(repeats):
        for inc in (False, True):
            sl = slice(k * images, (k + 1) * images)
            k += 1
            sim.incremental = inc
            t = time.perf_counter()
            _, ls = sim.train(X[sl], y[sl])
            times[inc].append((time.perf_counter() - t) / steps * 1e3)
            spikes += ls
        if between is not None:
            between()
    return np.array(times[False]), np.array(times[True]), spikes / (2 * repeats * steps) / sim.net.sizes


def run_beside(backend: str = "brian2", threads: int = 0, images: int = 40, repeats: int = 3, rule: str = "fa",
               feedback_dtype: str | None = None, data_dir=None, overrides=None, out=print) -> dict:
    """ms/step of another registered backend and of the Numba engine on the same network.

    Both start from the same weights (seed 0) and train on the same images in this
    process, one after the other, so they see the same machine load. The other backend is
    built first (so a missing optional one says how to install it before anything is
    timed); its first call (Brian2: code generation and compilation, about a minute on a
    cold cache) is timed apart, and each later call of ``images`` images is one call,
    whose fixed cost (Brian2: about 0.1-0.4 s) is included in its ms/step and also
    estimated on its own.
    """
    params = paper_params(feedback_dtype, overrides)
    X, y, source = _images(images * (repeats + 1), data_dir)
    net0 = SpikingNetwork(params, rule, seed=0)
    t = time.perf_counter()
    other = Simulator(net0.copy(), backend)
    build_s = time.perf_counter() - t
    sim = Simulator(net0.copy(), backends.DEFAULT, threads)
    threads = sim.threads   # 0 resolved to all cores
    out(f"network {list(params.sizes)}, rule {rule}, B {net0.B.dtype}, numba threads {threads}, {source}")
    sim.train(X[:images], y[:images])          # compile (or load from cache)
    nb_ms, nb_rates = _train_timed(sim, X, y, images, repeats)

    t = time.perf_counter()
    other.train(X[:images], y[:images])         # Brian2: code generation and compilation
    first_s = time.perf_counter() - t
    ot_ms, ot_rates = _train_timed(other, X, y, images, repeats)
    t = time.perf_counter()
    other.train(X[:1], y[:1])
    call_s = time.perf_counter() - t - np.median(ot_ms) * params.steps_per_image / 1e3

    ratio = np.median(ot_ms) / np.median(nb_ms)
    name = f"{backend:<7s}"
    out("firing rates, numba  : " + ", ".join(f"{r:.3f}" for r in nb_rates))
    out(f"firing rates, {name}: " + ", ".join(f"{r:.3f}" for r in ot_rates))
    out(f"numba event-driven   : {np.median(nb_ms):8.3f} ms/step (median; min {nb_ms.min():.3f}, "
        f"max {nb_ms.max():.3f}; {repeats} runs of {images * params.steps_per_image} steps)")
    out(f"{name}              : {np.median(ot_ms):8.3f} ms/step (median; min {ot_ms.min():.3f}, "
        f"max {ot_ms.max():.3f}; {repeats} runs of {images * params.steps_per_image} steps, one call each)")
    out(f"{name} / numba      : {ratio:8.1f} x")
    out(f"{name} fixed costs  : build {build_s:.1f} s, first call {first_s:.1f} s, each later call about "
        f"{max(call_s, 0.0):.2f} s")
    return {"numba_ms": nb_ms, "other_ms": ot_ms, "numba_rates": nb_rates, "other_rates": ot_rates,
            "ratio": ratio, "build_s": build_s, "first_call_s": first_s, "call_s": call_s}


def gpu_bytes_per_step(net, rates) -> float:
    """Bytes one step of the CUDA kernel must move per network: the rows of the active
    pre-synaptic units read for the drive and read and written by plasticity (written
    every step: no pending steps), and every feedback matrix read once."""
    n, total = net.sizes, 0.0
    for l in range(1, len(n)):
        total += 3 * rates[l - 1] * n[l - 1] * n[l] * 4 + feedback_bytes(net, l)
    return total


def _device_bandwidth() -> float:
    """Device-to-device copy bandwidth in bytes/s (bytes read plus bytes written)."""
    from numba import cuda

    a = cuda.device_array(256 * 2**20, dtype=np.float32)       # 1 GiB
    b = cuda.device_array_like(a)
    b.copy_to_device(a)
    cuda.synchronize()
    best = min(_timed(lambda: (b.copy_to_device(a), cuda.synchronize())) for _ in range(5))
    return 2 * a.nbytes / best


def cpu_name() -> str:
    """The CPU's model name and core count (the label of the CPU engine's figures)."""
    import os
    import platform

    name = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{name}, {os.cpu_count()} cores"


def run_many_beside(backend: str = "cuda", ks=(1, 8, 32), threads: int = 0, images: int = 20, repeats: int = 3,
                    rule: str = "fa", feedback_dtype: str | None = None, data_dir=None, overrides=None,
                    out=print) -> dict:
    """ms/step per network of a backend that advances K networks per launch, at each K of
    ``ks``, beside the Numba engine on one network (same images, same process), and the
    bound: bytes one step moves per network ÷ bandwidth measured on the device. Without
    the device it prints one line saying so and returns {}."""
    import os

    why = backends.unavailable(backend)
    if not why and os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        why = "NUMBA_ENABLE_CUDASIM is set: kernels would run on numba-cuda's simulator, not a GPU"
    if why:
        out(f"no measurement: {why}")
        return {}
    from numba import cuda
    params = paper_params(feedback_dtype, overrides)
    X, y, source = _images(images * (repeats + 1), data_dir)
    cpu = Simulator(SpikingNetwork(params, rule, seed=0), backends.DEFAULT, threads)
    gpu = cuda.get_current_device().name
    gpu = gpu.decode() if isinstance(gpu, bytes) else str(gpu)
    out(f"network {list(params.sizes)}, rule {rule}, B {cpu.net.B.dtype}, {source}, GPU {gpu}")
    cpu.train(X[:images], y[:images])
    cpu_ms, rates = _train_timed(cpu, X, y, images, repeats)
    steps = images * params.steps_per_image
    res = {"cpu_ms": float(np.median(cpu_ms)), "cpu": f"{cpu_name()}, numba threads {cpu.threads}", "gpu": gpu,
           "k": {}}
    out(f"numba (CPU: {res['cpu']}): {res['cpu_ms']:.3f} ms/step")
    bw = _device_bandwidth()
    bound = gpu_bytes_per_step(cpu.net, rates) / bw * 1e3
    for K in ks:
        sims = [Simulator(SpikingNetwork(params, rule, seed=s), backend) for s in range(K)]
        t = time.perf_counter()
        Simulator.train_many(sims, [X[:images]] * K, [y[:images]] * K)       # compile (first K) and settle
        first = time.perf_counter() - t
        times = []
        for r in range(1, repeats + 1):
            sl = slice(r * images, (r + 1) * images)
            t = time.perf_counter()
            Simulator.train_many(sims, [X[sl]] * K, [y[sl]] * K)
            times.append((time.perf_counter() - t) / steps / K * 1e3)
        ms = float(np.median(times))
        res["k"][K] = {"ms": ms, "first_s": first, "ratio_cpu": res["cpu_ms"] / ms, "ratio_bound": ms / bound}
        out(f"{backend} K={K:<3d}: {ms:8.4f} ms/step per network (median of {repeats} calls of {steps} steps; "
            f"first call {first:.1f} s), {res['cpu_ms'] / ms:6.1f} x the CPU engine, {ms / bound:5.2f} x the bound")
    res.update(bound_ms=bound, bandwidth=bw)
    out(f"bound: {gpu_bytes_per_step(cpu.net, rates) / 1e6:.1f} MB per step per network at {bw / 1e9:.0f} GB/s "
        f"(device copy bandwidth) = {bound:.4f} ms/step per network")
    return res
