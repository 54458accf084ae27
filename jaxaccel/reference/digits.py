"""Real data without downloads: the handwritten digits bundled with scikit-learn, and the
one-hidden-layer network of the paper's MNIST experiment (theory §9).

* :func:`load_digits` -- normalised images and one-hot targets (the 8x8 digits, 1797 images,
  stand in for MNIST);
* :func:`ntk_mlp_init` / :func:`ntk_mlp_apply` -- the network (NTK parametrisation,
  antisymmetric initialisation so that ``f_0 = 0``) whose infinite-width kernel is
  :func:`jaxaccel.relu_ntk`.

The linearised model (kernel regression with this kernel) is a finite dataset for Monte-Carlo
SGD: :func:`jaxaccel.kernel_regression_data`.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import Array, ArrayLike, Float


def digit_images() -> Tuple[Float[np.ndarray, "1797 64"], np.ndarray]:
    """The raw scikit-learn digits: pixel values ``(1797, 64)`` in ``[0, 16]`` (float64) and the
    ``(1797,)`` int labels; the one loader behind :func:`load_digits` and
    :func:`jaxaccel.stacking.digits_split` (no download: the data ship with scikit-learn).

    Example:
        >>> x, y = digit_images()
        >>> x.shape, int(y.max())
        ((1797, 64), 9)
    """
    try:
        from sklearn.datasets import load_digits as _sk_digits
    except ModuleNotFoundError as err:  # scikit-learn is an optional dependency
        raise ModuleNotFoundError("the digits data need scikit-learn: pip install "
                                  "'jaxaccel[data]' (or scikit-learn)") from err
    raw = _sk_digits()
    return raw.data.astype(np.float64), raw.target.astype(np.int64)


def load_digits(n: Optional[int] = None
                ) -> Tuple[Float[np.ndarray, "n 64"], Float[np.ndarray, "n 10"]]:
    """The scikit-learn digits (theory §9): images ``(n, 64)``, one-hot targets ``(n, 10)``, float64.

    Pixels are scaled to ``[0, 1]``, centred by the mean image and scaled so that the mean
    squared norm of an image is 1. No download (the data ship with scikit-learn).

    Args:
        n: keep the first ``n`` images (default all 1797).

    Example:
        >>> X, Y = load_digits()
        >>> X.shape, Y.shape, round(float((X ** 2).sum(1).mean()), 12)
        ((1797, 64), (1797, 10), 1.0)
    """
    X, y = digit_images()
    X = X / 16.0
    if n is not None:
        n = V.check_positive_int(n, "n")
        if n > X.shape[0]:
            raise ValueError(f"n={n} exceeds the number of digits {X.shape[0]}")
        X, y = X[:n], y[:n]
    X = X - X.mean(axis=0)
    X = X / np.sqrt((X**2).sum(axis=1).mean())
    return X, np.eye(10)[y]



def ntk_mlp_init(key: Array, d_in: int, width: int, d_out: int, bias: float = 1.0
             ) -> Dict[str, Float[Array, "..."]]:
    """Parameters of the one-hidden-layer ReLU network (NTK parametrisation, theory §9).

    Antisymmetric initialisation: the ``width / 2`` hidden units are duplicated with the output
    weights negated, so ``f_0 = 0`` (up to rounding) while the kernel at initialisation is an unbiased
    sample of :func:`relu_ntk`. Training from ``f_0 = 0`` makes the initial error the target.

    Args:
        key: PRNG key.
        d_in: input dimension.
        width: hidden width ``m`` (even).
        d_out: number of outputs.
        bias: ``beta``, scale of the hidden-layer bias input.

    Returns:
        ``{"W": (d_in, m), "c": (m,), "a": (m, d_out)}`` (float64); the hidden pre-activation
        is ``x W + beta c``.

    Example:
        >>> import jax
        >>> p = ntk_mlp_init(jax.random.PRNGKey(0), 64, 1000, 10)
        >>> p["W"].shape, p["a"].shape
        ((64, 1000), (1000, 10))
    """
    d_in = V.check_positive_int(d_in, "d_in")
    width = V.check_positive_int(width, "width")
    d_out = V.check_positive_int(d_out, "d_out")
    if width % 2:
        raise ValueError(f"width must be even (antisymmetric initialisation), got {width}")
    if not (np.isfinite(bias) and bias >= 0):
        raise ValueError(f"bias must be finite and >= 0, got {bias!r}")
    h = width // 2
    # one draw for all three blocks: a single sampler to compile, whatever the shapes
    z = jax.random.normal(key, (h * (d_in + 1 + d_out),))
    W = z[: d_in * h].reshape(d_in, h)
    c = z[d_in * h : (d_in + 1) * h]
    a = z[(d_in + 1) * h :].reshape(h, d_out)
    return {
        "W": jnp.concatenate([W, W], axis=1),
        "c": jnp.concatenate([c, c]) * bias,
        "a": jnp.concatenate([a, -a], axis=0),
    }


def ntk_mlp_apply(params: Dict[str, Float[ArrayLike, "..."]], X: Float[ArrayLike, "n d_in"]
              ) -> Float[Array, "n d_out"]:
    """``f(X) = relu(X W + c) a / sqrt(m)``; ``X`` of shape ``(n, d_in)``, output ``(n, d_out)``.

    The one-hidden-layer network of theory §9 (App. M.2) in NTK parametrisation; its
    infinite-width kernel is :func:`relu_ntk`.

    Args:
        params: ``{"W": (d_in, m), "c": (m,), "a": (m, d_out)}`` from :func:`ntk_mlp_init`.
        X: ``(n, d_in)`` inputs.

    Returns:
        ``(n, d_out)`` outputs.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> p = ntk_mlp_init(jax.random.PRNGKey(0), 3, 10, 2)
        >>> bool(jnp.abs(ntk_mlp_apply(p, jnp.ones((4, 3)))).max() < 1e-15)   # f_0 = 0 (rounding)
        True
    """
    m = params["a"].shape[0]
    return jax.nn.relu(X @ params["W"] + params["c"]) @ params["a"] / jnp.sqrt(m)


# --- issue 21: the empirical NTK of the network (theory §9, §18.4)
def empirical_ntk(params: Dict[str, Float[ArrayLike, "..."]], X: Float[ArrayLike, "n d_in"],
                  X2: Optional[Float[ArrayLike, "n2 d_in"]] = None
                  ) -> Float[np.ndarray, "n n2"]:
    """Empirical neural tangent kernel of :func:`ntk_mlp_apply` at ``params``, averaged over outputs.

    With ``h = x W + c``, ``phi = relu(h) / sqrt(m)`` and ``psi = 1(h > 0) abar / sqrt(m)``
    (``abar_j^2`` the mean over outputs of ``a_jo^2``), the derivatives with respect to ``a``,
    ``W`` and ``c`` give (theory §9, §18.4)

    .. math::  \\Theta(x, x') = \\phi(x)^T\\phi(x') + (x^Tx' + 1)\\,\\psi(x)^T\\psi(x'),

    the per-output kernel ``sum_theta d f_o/d theta (x) d f_o/d theta (x')`` averaged over the
    outputs ``o`` (cross-output terms are dropped; they vanish at infinite width, where
    ``Theta`` becomes :func:`jaxaccel.relu_ntk` with ``bias = 1``). Float64; ``O((n + n2) m)``
    memory besides the result, so blocks of rows (``X`` a slice) serve the blocked spectra of
    :func:`jaxaccel.blocked_kernel_spectrum`.

    Args:
        params: ``{"W", "c", "a"}`` from :func:`ntk_mlp_init` (or trained).
        X: ``(n, d_in)`` inputs (rows of the kernel).
        X2: ``(n2, d_in)`` inputs of the columns (default ``X``).

    Returns:
        ``(n, n2)`` float64 kernel.

    Example:
        >>> import jax, numpy as np
        >>> p = ntk_mlp_init(jax.random.PRNGKey(0), 3, 2000, 2)
        >>> X = np.eye(3)
        >>> K = empirical_ntk(p, X)
        >>> from jaxaccel.spectra import relu_ntk           # the width -> infinity limit
        >>> K.shape, bool(np.allclose(K, K.T)), bool(np.abs(K - relu_ntk(X)).max() < 0.3)
        ((3, 3), True, True)
    """
    W = np.asarray(params["W"], dtype=np.float64)
    c = np.asarray(params["c"], dtype=np.float64)
    a = np.asarray(params["a"], dtype=np.float64)
    m = W.shape[1]

    def features(Z, name):
        Z = np.asarray(Z, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[1] != W.shape[0]:
            raise ValueError(f"{name} must have shape (n, {W.shape[0]}), got {Z.shape}")
        if not np.all(np.isfinite(Z)):
            raise ValueError(f"{name} must be finite (got NaN or inf)")
        h = Z @ W + c
        abar = np.sqrt(np.mean(a * a, axis=1))
        return Z, np.maximum(h, 0.0) / np.sqrt(m), (h > 0) * abar / np.sqrt(m)

    Z1, phi1, psi1 = features(X, "X")
    Z2, phi2, psi2 = (Z1, phi1, psi1) if X2 is None else features(X2, "X2")
    return phi1 @ phi2.T + (Z1 @ Z2.T + 1.0) * (psi1 @ psi2.T)
