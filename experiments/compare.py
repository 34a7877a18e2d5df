"""Every feedback rule side by side on MNIST (the comparison of issue #3).

A 784-500-10 sigmoid MLP (the size of makrout's public weight-mirror code) and the
spiking 784-500x3-1000 network, each trained by every registered rule; a table of test
error (mean +- s.d. over seeds), matrix and teaching-signal angles per layer and wall
time, with bar and angle plots.

Same as ``spikefa run compare [options]``; options pass through, e.g.

    python experiments/compare.py --smoke
    python experiments/compare.py --set run.seeds=3 --out results/compare
"""

import sys

from spikefa.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "compare", *sys.argv[1:]]))
