"""Constants of the raster file format (docs/hdf5-format.md), shared by the writer and
the reader so that neither imports the other for them."""

FORMAT = "spikefa-raster"
FORMAT_VERSION = 1
BITORDER = "little"      # unit q of a row is bit q % 8 of byte q // 8
