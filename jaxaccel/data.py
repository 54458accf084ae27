"""Real data without downloads: the handwritten digits bundled with scikit-learn.

Spec: ``sgd_memory.md`` §9 (App. M.2: MNIST, a one-hidden-layer ReLU network with quadratic
loss on one-hot targets; NTK exponents ``nu ~ 1.3``, ``zeta ~ 0.25`` for MNIST). The 8x8
digits (1797 images) stand in for MNIST.

* :func:`load_digits` -- normalised images and one-hot targets.
* :func:`relu_ntk` -- the infinite-width neural tangent kernel of the network of
  :func:`mlp_init` / :func:`mlp_apply`; :meth:`jaxaccel.Spectrum.from_kernel` turns it into the
  problem's spectrum and :func:`fit_spectrum_exponents` measures ``nu`` and ``zeta`` (1).
* :func:`mlp_init` / :func:`mlp_apply` -- the one-hidden-layer network itself (NTK
  parametrisation, antisymmetric initialisation so that ``f_0 = 0``).

The linearised model (kernel regression with this kernel) is a finite dataset for Monte-Carlo
SGD: :func:`jaxaccel.montecarlo.kernel_regression_data`.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Optional, Tuple

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import Array, ArrayLike, Float
from jaxaccel.asymptotics import PowerLawFit, fit_power_law
from jaxaccel.spectra import Spectrum

__all__ = [
    "load_digits",
    "relu_ntk",
    "mlp_init",
    "mlp_apply",
    "SpectrumExponents",
    "fit_spectrum_exponents",
]


def load_digits(n: Optional[int] = None
                ) -> Tuple[Float[np.ndarray, "n 64"], Float[np.ndarray, "n 10"]]:
    """The scikit-learn digits (spec §9): images ``(n, 64)``, one-hot targets ``(n, 10)``, float64.

    Pixels are scaled to ``[0, 1]``, centred by the mean image and scaled so that the mean
    squared norm of an image is 1. No download (the data ship with scikit-learn).

    Args:
        n: keep the first ``n`` images (default all 1797).

    Example:
        >>> X, Y = load_digits()
        >>> X.shape, Y.shape, round(float((X ** 2).sum(1).mean()), 12)
        ((1797, 64), (1797, 10), 1.0)
    """
    from sklearn.datasets import load_digits as _sk_digits

    raw = _sk_digits()
    X = raw.data.astype(np.float64) / 16.0
    y = raw.target.astype(np.int64)
    if n is not None:
        n = V.check_positive_int(n, "n")
        if n > X.shape[0]:
            raise ValueError(f"n={n} exceeds the number of digits {X.shape[0]}")
        X, y = X[:n], y[:n]
    X = X - X.mean(axis=0)
    X = X / np.sqrt((X**2).sum(axis=1).mean())
    return X, np.eye(10)[y]


def relu_ntk(X: Float[ArrayLike, "n d"], bias: float = 1.0) -> Float[np.ndarray, "n n"]:
    """Neural tangent kernel of the one-hidden-layer ReLU network of :func:`mlp_apply` (spec §9).

    For :math:`f(x) = m^{-1/2}\\sum_i a_i\\,\\mathrm{relu}(w_i^T \\tilde x)` with
    :math:`\\tilde x = (x, \\beta)` (``beta = bias``), :math:`w_i \\sim N(0, I)`,
    :math:`a_i \\sim N(0, I)`, the infinite-width kernel (the same for every output) is

    .. math::
        \\Theta(x, x') = \\kappa_1(\\tilde x, \\tilde x') + \\langle\\tilde x, \\tilde x'\\rangle
        \\kappa_0(\\tilde x, \\tilde x'),\\qquad
        \\kappa_0 = \\frac{\\pi-\\varphi}{2\\pi},\\quad
        \\kappa_1 = |\\tilde x||\\tilde x'|\\,\\frac{\\sin\\varphi + (\\pi-\\varphi)\\cos\\varphi}{2\\pi},

    with :math:`\\varphi` the angle between :math:`\\tilde x, \\tilde x'` (arc-cosine kernels:
    :math:`\\kappa_1 = E[\\mathrm{relu}(w^T\\tilde x)\\mathrm{relu}(w^T\\tilde x')]` from the output
    layer, :math:`\\kappa_0 = E[\\mathbb 1(w^T\\tilde x>0)\\mathbb 1(w^T\\tilde x'>0)]` from the
    hidden layer).

    Args:
        X: ``(n, d)`` inputs.
        bias: ``beta >= 0``, the constant appended to every input.

    Returns:
        ``(n, n)`` float64 kernel.

    Example:
        >>> import numpy as np
        >>> K = relu_ntk(np.array([[1.0, 0.0], [0.0, 1.0]]), bias=0.0)
        >>> float(K[0, 0]), round(float(K[0, 1]), 12)   # |x|^2 ; orthogonal: 1/(2 pi)
        (1.0, 0.159154943092)
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n, d), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X must be finite")
    if not (np.isfinite(bias) and bias >= 0):
        raise ValueError(f"bias must be finite and >= 0, got {bias!r}")
    Xt = np.concatenate([X, np.full((X.shape[0], 1), float(bias))], axis=1)
    G = Xt @ Xt.T
    norm = np.sqrt((Xt**2).sum(axis=1))
    if np.any(norm == 0):
        raise ValueError("X must not contain zero inputs when bias = 0")
    # angle from chord lengths, accurate to rounding also for nearly parallel inputs (arccos of
    # the cosine would lose half the digits there): phi = 2 atan2(|u - v|, |u + v|), u, v unit
    U = Xt / norm[:, None]
    phi = np.empty_like(G)
    for s in range(0, U.shape[0], 32):
        blk = U[s : s + 32, None, :]
        phi[s : s + 32] = 2.0 * np.arctan2(
            np.linalg.norm(blk - U[None], axis=-1), np.linalg.norm(blk + U[None], axis=-1)
        )
    k0 = (np.pi - phi) / (2 * np.pi)
    k1 = (np.outer(norm, norm) * np.sin(phi) + (np.pi - phi) * G) / (2 * np.pi)
    return k1 + G * k0


def mlp_init(key: Array, d_in: int, width: int, d_out: int, bias: float = 1.0
             ) -> Dict[str, Float[Array, "..."]]:
    """Parameters of the one-hidden-layer ReLU network (NTK parametrisation, spec §9).

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
        >>> p = mlp_init(jax.random.PRNGKey(0), 64, 1000, 10)
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


def mlp_apply(params: Dict[str, Float[ArrayLike, "..."]], X: Float[ArrayLike, "n d_in"]
              ) -> Float[Array, "n d_out"]:
    """``f(X) = relu(X W + c) a / sqrt(m)``; ``X`` of shape ``(n, d_in)``, output ``(n, d_out)``.

    The one-hidden-layer network of spec §9 (App. M.2) in NTK parametrisation; its
    infinite-width kernel is :func:`relu_ntk`.

    Args:
        params: ``{"W": (d_in, m), "c": (m,), "a": (m, d_out)}`` from :func:`mlp_init`.
        X: ``(n, d_in)`` inputs.

    Returns:
        ``(n, d_out)`` outputs.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> p = mlp_init(jax.random.PRNGKey(0), 3, 10, 2)
        >>> bool(jnp.abs(mlp_apply(p, jnp.ones((4, 3)))).max() < 1e-15)   # f_0 = 0 (rounding)
        True
    """
    m = params["a"].shape[0]
    return jax.nn.relu(X @ params["W"] + params["c"]) @ params["a"] / jnp.sqrt(m)


class SpectrumExponents(NamedTuple):
    """Fitted exponents of assumption (1) for a :class:`~jaxaccel.Spectrum`.

    Attributes:
        nu: ``lambda_k ~ Lambda k^-nu``.
        zeta: ``sum_{lambda_j <= lambda_k} lambda_j c_j^2 ~ Q lambda_k^zeta``.
        nu_fit: the :class:`~jaxaccel.PowerLawFit` of ``lambda_k`` against ``k``.
        zeta_fit: the fit of the tail sums against ``lambda_k``.
        k_range: the index window ``(k_min, k_max)`` (1-based) used by both fits.
    """

    nu: float
    zeta: float
    nu_fit: PowerLawFit
    zeta_fit: PowerLawFit
    k_range: Tuple[int, int]


def fit_spectrum_exponents(spectrum: Spectrum, k_range: Optional[Tuple[int, int]] = None
                           ) -> SpectrumExponents:
    """Fit ``nu`` and ``zeta`` of the power-law assumptions (1) over an index window.

    ``nu`` is minus the log-log slope of ``lambda_k`` against ``k``; ``zeta`` is the log-log
    slope of the tail sums :math:`S_k = \\sum_{j \\ge k}\\lambda_j c_j^2` against
    ``lambda_k`` (eigenvalues sorted decreasingly), both by :func:`jaxaccel.fit_power_law` over
    ``k in [k_min, k_max]``. For a finite spectrum keep ``k_max`` well below ``N`` (the tail sum
    is truncated at ``N``).

    Args:
        spectrum: a :class:`~jaxaccel.Spectrum` with unit weights.
        k_range: 1-based inclusive ``(k_min, k_max)``; default ``(10, N // 10)``.

    Example:
        >>> import jaxaccel as ja
        >>> fit = fit_spectrum_exponents(ja.power_law_spectrum(10**6, nu=1.5, zeta=0.5),
        ...                              k_range=(100, 1000))
        >>> round(fit.nu, 10), round(fit.zeta, 2)
        (1.5, 0.5)
    """
    if not isinstance(spectrum, Spectrum):
        raise ValueError(f"spectrum must be a Spectrum, got {type(spectrum).__name__}")
    if not np.all(np.asarray(spectrum.weights) == 1):
        raise ValueError("spectrum.weights must all be 1 (one eigenvalue per node)")
    lam = np.asarray(spectrum.eigenvalues, dtype=np.float64)
    c2 = np.asarray(spectrum.c2, dtype=np.float64)
    order = np.argsort(-lam, kind="stable")
    lam, c2 = lam[order], c2[order]
    N = lam.size
    if k_range is None:
        k_range = (10, N // 10)
    k_lo, k_hi = (int(k) for k in k_range)
    if not (1 <= k_lo < k_hi <= N) or k_hi - k_lo < 2:
        raise ValueError(f"k_range must satisfy 1 <= k_min < k_max <= N={N} with >= 3 points, "
                         f"got {k_range}")
    k = np.arange(1, N + 1, dtype=np.float64)
    nu_fit = fit_power_law(k, lam, window=(k_lo, k_hi))
    tail = np.cumsum((lam * c2)[::-1])[::-1]
    sel = slice(k_lo - 1, k_hi)
    if np.any(tail[sel] <= 0):
        raise ValueError("the target has no weight in the k_range window (tail sums vanish)")
    zeta_fit = fit_power_law(lam[sel], tail[sel], window=(lam[k_hi - 1], lam[k_lo - 1]))
    return SpectrumExponents(-nu_fit.exponent, zeta_fit.exponent, nu_fit, zeta_fit, (k_lo, k_hi))
