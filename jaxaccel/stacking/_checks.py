"""Boundary checks shared by the stacking entry points (``docs/theory/depth_stacking.md`` §B2, §C6.1).

Each check raises ``ValueError`` naming the argument. Values that are JAX tracers (the public
function is being traced under ``jit``/``vmap``) are checked for shape only; their values are
checked whenever the caller passes concrete arrays.
"""

from __future__ import annotations

import numpy as np
import jax.numpy as jnp

from jaxaccel import _validation as V

INITS = ("zero", "random", "stack", "nesterov")


def check_init(init: str, allowed=INITS) -> str:
    if not isinstance(init, str) or init not in allowed:
        raise ValueError(f"init must be one of {allowed}, got {init!r}")
    return init


def check_choice(value, name: str, allowed) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")
    return value


def scalar(x, name: str, *, positive: bool = False, nonneg: bool = False):
    """A finite float scalar (0-d array); optional sign check."""
    arr = V.as_float_array(x, name)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {arr.shape}")
    V.check_finite(arr, name)
    if positive:
        V.check_positive(arr, name)
    elif nonneg:
        V.check_positive(arr, name, strict=False)
    return arr


def beta_schedule(beta, stages: int, allow_any_beta: bool):
    """``beta`` as a ``(stages,)`` array: a scalar is broadcast, a schedule must have length ``stages``.

    ``beta`` must lie in ``[0, 1]`` unless ``allow_any_beta=True`` (the theory of §B2 needs
    ``0 <= beta < 1``; ``beta = 1`` is plain copying).
    """
    arr = V.as_float_array(beta, "beta")
    if arr.ndim not in (0, 1) or (arr.ndim == 1 and arr.shape[0] != stages):
        raise ValueError(f"beta must be a scalar or have shape ({stages},) (one per stage), "
                         f"got shape {arr.shape}")
    V.check_finite(arr, "beta")
    if not allow_any_beta and V.is_concrete(arr):
        a = np.asarray(arr)
        if np.any(a < 0) or np.any(a > 1):
            raise ValueError(f"beta must lie in [0, 1] (got min {a.min()!r}, max {a.max()!r}); "
                             "pass allow_any_beta=True to override")
    return jnp.broadcast_to(arr, (stages,))


def divergence_threshold(x) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise ValueError(f"divergence_threshold must be a number, got {x!r}")
    if not (np.isfinite(x) and x > 0):
        raise ValueError(f"divergence_threshold must be finite and > 0, got {x!r}")
    return float(x)


def init_hyperparameters(init: str, beta, sigma0, key, stages: int, allow_any_beta: bool,
                         default_beta):
    """Resolve ``(beta schedule, sigma0)`` for an initialisation policy (§B2).

    ``zero`` and ``random`` take no ``beta``; only ``random`` takes ``sigma0`` (and needs ``key``);
    ``stack`` / ``nesterov`` default ``beta`` to ``default_beta`` (``beta*`` of the problem).
    """
    if init in ("zero", "random") and beta is not None:
        raise ValueError(f"beta is only used with init='stack' or 'nesterov', not init={init!r}")
    if init != "random" and sigma0 is not None:
        raise ValueError(f"sigma0 is only used with init='random', not init={init!r}")
    if init == "random":
        if sigma0 is None:
            raise ValueError("sigma0 is required with init='random'")
        sigma0 = scalar(sigma0, "sigma0", positive=True)
        if key is None:
            raise ValueError("key is required with init='random'")
    else:
        sigma0 = jnp.zeros(())
    if init in ("zero", "random"):
        betas = jnp.zeros((stages,))
    else:
        betas = beta_schedule(default_beta if beta is None else beta, stages, allow_any_beta)
    return betas, sigma0


def finite_array(x, name: str, ndims):
    arr = V.as_float_array(x, name)
    V.check_ndim(arr, name, ndims)
    V.check_finite(arr, name)
    return arr
