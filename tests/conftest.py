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


# --- issue 20: one loader for the sims' scripts (tests import them by path)
def load_sim(rel):
    """The module of ``sims/<rel>.py`` (e.g. ``load_sim("sgd_memory/rivals")``)."""
    import importlib.util
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location("sim_" + rel.replace("/", "_"),
                                                  os.path.join(root, "sims", rel + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
