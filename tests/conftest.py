"""Shared test configuration: float64 everywhere and a dtype-keyed tolerance table."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import pytest  # noqa: E402

# One place that says how tight "equal" is for each dtype (neural-tangents style).
TOL = {jnp.dtype("float64"): 1e-12, jnp.dtype("float32"): 1e-5}


def tol(dtype) -> float:
    return TOL[jnp.dtype(dtype)]


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)
