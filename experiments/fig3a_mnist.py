"""Lillicrap, Cownden, Tweed & Akerman (2016), Nat. Commun. 7:13276, Fig. 3a,b.

A 784-1000-10 logistic network on MNIST, online: backprop, feedback alignment,
shallow learning and FA with 50 % of W and B removed; test error and delta angles.

Same as ``spikefa run fig3a-mnist [options]``; options pass through, e.g.

    python experiments/fig3a_mnist.py --smoke
    python experiments/fig3a_mnist.py --set run.seeds=5 --out results/fig3a
"""

import sys

from spikefa.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "fig3a-mnist", *sys.argv[1:]]))
