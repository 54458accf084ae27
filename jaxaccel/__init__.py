"""jaxaccel: a JAX simulation engine for the theory of accelerated first-order optimization."""

from jaxaccel import _config  # noqa: F401  (float64 by default; see _config.py)

__version__ = "0.1.0"
