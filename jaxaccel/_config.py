"""Numerical configuration.

jaxaccel is an exact engine, so JAX's 64-bit mode is switched on when the package is imported:
every array built by jaxaccel is float64 unless a float32 ``dtype`` is asked for explicitly
(``simulate(..., dtype=jnp.float32)``). Set the environment variable ``JAXACCEL_X64=0`` before
importing to leave JAX's global setting untouched (everything then runs in float32).
"""

import os

import jax

X64 = os.environ.get("JAXACCEL_X64", "1") not in ("0", "false", "False", "no")
if X64:
    jax.config.update("jax_enable_x64", True)
