"""p2pbench: evaluation and benchmarking for paired image-to-image translation (pix2pix)."""

__version__ = "0.1.0"
