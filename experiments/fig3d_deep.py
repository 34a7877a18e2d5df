"""Lillicrap, Cownden, Tweed & Akerman (2016), Nat. Commun. 7:13276, Fig. 3d.

30-20-10 against 30-20-10-10 tanh networks fitting a fixed random deeper network,
backprop and FA, with Welch's t-test over seeds.

Same as ``spikefa run fig3d-deep [options]``; options pass through, e.g.

    python experiments/fig3d_deep.py --smoke
    python experiments/fig3d_deep.py --set run.seeds=20
"""

import sys

from spikefa.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "fig3d-deep", *sys.argv[1:]]))
