"""Lillicrap, Cownden, Tweed & Akerman (2016), Nat. Commun. 7:13276, Fig. 4.

The spiking 784-1500-1500-1500-1000 network with feedback alignment, trained online on
MNIST. Same as ``spikefa run lillicrap2016-spiking [options]``; options pass through, e.g.

    python experiments/lillicrap2016_spiking.py --smoke
    python experiments/lillicrap2016_spiking.py --epochs 20 --threads 2 --out results/l16
"""

import sys

from spikefa.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "lillicrap2016-spiking", *sys.argv[1:]]))
