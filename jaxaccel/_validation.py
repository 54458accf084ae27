"""Eager input validation used at the public boundary (never inside jitted kernels).

Every check raises ``ValueError`` naming the offending argument. Values that are JAX tracers
(the function is being traced under ``jit``/``vmap``/``grad``) are only checked for shape,
because their values are not known; the public constructors are expected to be called with
concrete values at least once, where the value checks run.
"""

from __future__ import annotations

import numpy as np
import jax
import jax.numpy as jnp


def is_concrete(x) -> bool:
    """True when ``x`` holds concrete values (not a tracer)."""
    return not isinstance(x, jax.core.Tracer)


def as_float_array(x, name: str, dtype=None):
    """Convert to a floating JAX array, rejecting non-numeric input."""
    try:
        arr = jnp.asarray(x)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric array-like, got {type(x).__name__}") from err
    if arr.dtype == jnp.bool_ or not (
        jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)
    ):
        raise ValueError(f"{name} must have a real numeric dtype, got {arr.dtype}")
    if dtype is None:
        dtype = arr.dtype if jnp.issubdtype(arr.dtype, jnp.floating) else jnp.result_type(float)
    return arr.astype(dtype)


def check_finite(x, name: str) -> None:
    if is_concrete(x) and not bool(np.all(np.isfinite(np.asarray(x)))):
        raise ValueError(f"{name} must be finite (got NaN or inf)")


def check_positive(x, name: str, strict: bool = True) -> None:
    if not is_concrete(x):
        return
    arr = np.asarray(x)
    bad = arr <= 0 if strict else arr < 0
    if np.any(bad):
        rel = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be {rel} everywhere (min {arr.min()!r})")


def check_ndim(x, name: str, ndims) -> None:
    ndims = (ndims,) if isinstance(ndims, int) else tuple(ndims)
    if jnp.ndim(x) not in ndims:
        raise ValueError(f"{name} must have ndim in {ndims}, got shape {jnp.shape(x)}")


def check_positive_int(x, name: str) -> int:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        if isinstance(x, (float, np.floating)) and float(x).is_integer():
            x = int(x)
        else:
            raise ValueError(f"{name} must be a positive integer, got {x!r}")
    if x <= 0:
        raise ValueError(f"{name} must be a positive integer, got {x!r}")
    return int(x)


def finite_array(x, name: str, dtype=None):
    """A floating JAX array, finite when concrete (``ValueError`` naming ``name``)."""
    x = as_float_array(x, name, dtype)
    check_finite(x, name)
    return x


def finite_scalar(x, name: str, dtype=None):
    """A floating scalar (possibly traced), finite when concrete."""
    x = finite_array(x, name, dtype)
    if x.ndim != 0:
        raise ValueError(f"{name} must be a scalar (vmap over values instead), got shape {x.shape}")
    return x


def check_real_number(x, name: str) -> None:
    """``x`` must be one real number (a Python or NumPy scalar, or a 0-d array), not a string,
    a bool or an array of several values."""
    if isinstance(x, (str, bytes, bool, np.bool_)) or np.ndim(x) != 0:
        raise ValueError(f"{name} must be a real number, got {x!r}")
    try:
        float(x)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a real number, got {x!r}") from err


def variance(x, name: str) -> float:
    """One real number that is finite and ``>= 0`` (a variance, e.g. label noise), as a float."""
    check_real_number(x, name)
    x = float(x)
    if not (np.isfinite(x) and x >= 0):
        raise ValueError(f"{name} must be finite and >= 0 (a variance), got {x}")
    return x
