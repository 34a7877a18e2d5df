#!/usr/bin/env bash
# The GPU check of the cuda backend (docs/gpu.md), in at most 5 minutes, each part under a
# time guard: (1) `spikefa bench --backend cuda` (K = 1, 8, 32), (2) a short run of the
# recipe's network (2,000 MNIST images, then 1,000 test images) on the GPU and on the CPU
# engine, compared at that point, (3) a determinism check: 2 networks in one launch,
# twice, and each alone. Figures go to $OUT/gpu_check.txt.
#
# Needs: numba-cuda in the python on PATH (pip install -e '.[cuda]'), and the MNIST .gz
# files in .device-data/mnist (git-ignored; the device tool carries it:
#   mkdir -p .device-data/mnist && cp "$SPIKEFA_DATA"/mnist/*.gz .device-data/mnist/).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/spikefa-gpu-check}
mkdir -p "$OUT"
F="$OUT/gpu_check.txt"
export SPIKEFA_DATA="$PWD/.device-data"
export NUMBA_CACHE_DIR="$PWD/.device-data/numba-cache"   # the kernels compile once, then load from here
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1; git rev-parse --short HEAD; } | tee "$F"
python -c "import numba_cuda" 2>/dev/null || { echo "numba-cuda missing: pip install -e '.[cuda]'" | tee -a "$F"; exit 1; }

echo "== bench (guard 150 s)" | tee -a "$F"
timeout 150 python -m spikefa bench --backend cuda --images 20 --repeats 3 --data-dir "$SPIKEFA_DATA" 2>&1 | tee -a "$F"

echo "== recipe network, 2000 training images then 1000 test images, GPU vs CPU (guard 100 s)" | tee -a "$F"
timeout 100 python - <<'PY' 2>&1 | tee -a "$F"
import time
import numpy as np
from spikefa import bench, data
from spikefa.engine.network import SpikingNetwork
from spikefa.engine.simulator import Simulator

X, y = data.load("mnist", "train", download=False)
Xt, yt = data.load("mnist", "test", download=False)
params = bench.paper_params()
for backend in ("cuda", "numba"):
    net = SpikingNetwork(params, "fa", seed=0)
    sim = Simulator(net, backend, threads=0)
    t = time.perf_counter()
    for i in range(0, 2000, 500):
        sim.train(X[i:i + 500], y[i:i + 500])
    train_s = time.perf_counter() - t
    counts, _ = sim.test(Xt[:1000])
    err = float(np.mean(counts.argmax(axis=1) != yt[:1000]))
    print(f"{backend:5s}: test error {100 * err:.2f} % on 1000 test images after 2000 images "
          f"({train_s:.1f} s of training, {train_s / 10000 * 1e3:.3f} ms/step incl. compile), W mean {net.W.mean():.6g}")
PY

echo "== determinism: 2 networks in one launch, twice, and each alone (guard 60 s)" | tee -a "$F"
timeout 60 python - <<'PY' 2>&1 | tee -a "$F"
import numpy as np
from spikefa import bench, data
from spikefa.engine.network import SpikingNetwork
from spikefa.engine.simulator import Simulator

X, y = data.load("mnist", "train", download=False)
params = bench.paper_params()
runs = []
for _ in range(2):
    nets = [SpikingNetwork(params, "fa", seed=s) for s in (1, 2)]
    Simulator.train_many([Simulator(n, "cuda") for n in nets], [X[:200]] * 2, [y[:200]] * 2)
    runs.append(nets)
alone = SpikingNetwork(params, "fa", seed=2)
Simulator(alone, "cuda").train(X[:200], y[:200])
same = all(np.array_equal(getattr(a, f), getattr(b, f)) for a, b in zip(*runs) for f in ("W", "V", "U", "spikes"))
print(f"two launches identical: {same}; network 2 in a pair == alone: {np.array_equal(runs[0][1].W, alone.W)}")
PY
echo "done: $F"
