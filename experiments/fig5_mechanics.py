"""Lillicrap, Cownden, Tweed & Akerman (2016), Nat. Commun. 7:13276, Fig. 5.

A 20-1000-20 tanh network on a quadratic task: the angle between W and B^T (whole
matrix and per unit) and the three-phase experiment.

Same as ``spikefa run fig5-mechanics [options]``; options pass through, e.g.

    python experiments/fig5_mechanics.py --smoke
"""

import sys

from spikefa.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "fig5-mechanics", *sys.argv[1:]]))
