"""XOR learned with random feedback.

A 2-16-1 ReLU network with fixed random feedback (fa) and backprop: the fraction of
seeds that reach 100 % accuracy.

Same as ``spikefa run xor [options]``; options pass through, e.g.

    python experiments/xor.py --smoke
    python experiments/xor.py --set run.seeds=20
"""

import sys

from spikefa.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "xor", *sys.argv[1:]]))
