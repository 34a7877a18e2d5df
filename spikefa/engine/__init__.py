"""The spiking engine of [L16] Fig. 4: a NumPy specification and a Numba twin."""
