"""spikefa: deep learning without weight transport, spiking and rate-based.

See README.md; the model's equations are in docs/engine.md.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
