"""Lillicrap, Cownden, Tweed & Akerman (2016), Nat. Commun. 7:13276, Fig. 2.

A linear 30-20-10 network learns a fixed linear map: shallow learning, node
perturbation, backprop and feedback alignment; NSE curves and the angle between FA's
and backprop's teaching signals.

Same as ``spikefa run fig2-linear [options]``; options pass through, e.g.

    python experiments/fig2_linear.py --smoke
    python experiments/fig2_linear.py --set run.seeds=20
"""

import sys

from spikefa.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "fig2-linear", *sys.argv[1:]]))
