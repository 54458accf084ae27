"""Spectra of real data: the ReLU neural tangent kernel and fitted power-law exponents.

Theory: ``docs/theory/sgd_memory.md`` §9 (the paper's MNIST experiment: a one-hidden-layer ReLU
network with quadratic loss on one-hot targets; NTK exponents ``nu ~ 1.3``, ``zeta ~ 0.25``).

* :func:`relu_ntk` -- the infinite-width neural tangent kernel of the network of
  :func:`jaxaccel.ntk_mlp_init`; :meth:`jaxaccel.Spectrum.from_kernel` turns it into the
  problem's spectrum and :func:`fit_spectrum_exponents` measures ``nu`` and ``zeta`` of (1).
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple

import numpy as np

from jaxaccel._typing import ArrayLike, Float
from jaxaccel.fitting import PowerLawFit, fit_power_law
from jaxaccel.spectra.spectrum import PowerLaw, Spectrum, check_spectrum


def relu_ntk(X: Float[ArrayLike, "n d"], bias: float = 1.0) -> Float[np.ndarray, "n n"]:
    """Neural tangent kernel of the one-hidden-layer ReLU network of :func:`mlp_apply` (theory §9).

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

    @property
    def power_law(self) -> PowerLaw:
        """The fitted :class:`~jaxaccel.PowerLaw` ``(nu, zeta, Lambda, Q)`` (constants from the
        fits), to attach with :meth:`jaxaccel.Spectrum.with_power_law`."""
        return PowerLaw(float(self.nu), float(self.zeta), float(self.nu_fit.constant),
                        float(self.zeta_fit.constant))


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
    check_spectrum(spectrum)
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
