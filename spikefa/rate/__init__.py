"""Rate-based (non-spiking) networks for the papers' smaller experiments."""
