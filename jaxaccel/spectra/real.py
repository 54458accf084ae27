"""Spectra of real data: the ReLU neural tangent kernel and fitted power-law exponents.

Theory: ``docs/theory/sgd_memory.md`` §9 (the paper's MNIST experiment: a one-hidden-layer ReLU
network with quadratic loss on one-hot targets; NTK exponents ``nu ~ 1.3``, ``zeta ~ 0.25``).

* :func:`relu_ntk` -- the infinite-width neural tangent kernel of the network of
  :func:`jaxaccel.ntk_mlp_init`; :meth:`jaxaccel.Spectrum.from_kernel` turns it into the
  problem's spectrum and :func:`fit_spectrum_exponents` measures ``nu`` and ``zeta`` of (1).
"""

from __future__ import annotations

import tracemalloc
from typing import Callable, NamedTuple, Optional, Tuple

import numpy as np

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float
from jaxaccel.fitting import PowerLawFit, fit_power_law
from jaxaccel.spectra.spectrum import PowerLaw, Spectrum, check_spectrum


def _augmented(X, bias, name):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, d), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} must be finite")
    Xt = np.concatenate([X, np.full((X.shape[0], 1), float(bias))], axis=1)
    norm = np.sqrt((Xt**2).sum(axis=1))
    if np.any(norm == 0):
        raise ValueError(f"{name} must not contain zero inputs when bias = 0")
    return Xt, norm


def relu_ntk(X: Float[ArrayLike, "n d"], bias: float = 1.0,
             X2: Optional[Float[ArrayLike, "n2 d"]] = None) -> Float[np.ndarray, "n n2"]:
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
    hidden layer). The angle is ``arccos`` of the cosine, except for nearly parallel or
    antiparallel pairs (``|cos| > 1 - 1e-6``), where ``arccos`` loses half the digits; there it
    is ``2 atan2(|u - v|, |u + v|)`` of the unit vectors (accurate to rounding). With ``X2`` the
    cross kernel ``Theta(X, X2)``: blocks of rows for :func:`blocked_kernel_spectrum` (theory
    §18.4).

    Args:
        X: ``(n, d)`` inputs.
        bias: ``beta >= 0``, the constant appended to every input.
        X2: ``(n2, d)`` inputs of the columns (default ``X``).

    Returns:
        ``(n, n2)`` float64 kernel.

    Example:
        >>> import numpy as np
        >>> K = relu_ntk(np.array([[1.0, 0.0], [0.0, 1.0]]), bias=0.0)
        >>> float(K[0, 0]), round(float(K[0, 1]), 12)   # |x|^2 ; orthogonal: 1/(2 pi)
        (1.0, 0.159154943092)
    """
    if not (np.isfinite(bias) and bias >= 0):
        raise ValueError(f"bias must be finite and >= 0, got {bias!r}")
    Xt, norm = _augmented(X, bias, "X")
    if X2 is None:
        Xt2, norm2 = Xt, norm
    else:
        Xt2, norm2 = _augmented(X2, bias, "X2")
        if Xt2.shape[1] != Xt.shape[1]:
            raise ValueError(f"X2 must have {Xt.shape[1] - 1} columns, got {Xt2.shape[1] - 1}")
    G = Xt @ Xt2.T
    nn = np.outer(norm, norm2)
    cos = G / nn
    phi = np.arccos(np.clip(cos, -1.0, 1.0))
    i, j = np.nonzero(np.abs(cos) > 1.0 - 1e-6)
    if i.size:
        u, v = Xt[i] / norm[i, None], Xt2[j] / norm2[j, None]
        phi[i, j] = 2.0 * np.arctan2(np.linalg.norm(u - v, axis=1), np.linalg.norm(u + v, axis=1))
    k0 = (np.pi - phi) / (2 * np.pi)
    k1 = (nn * np.sin(phi) + (np.pi - phi) * G) / (2 * np.pi)
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


# --- issue 21: kernel spectra at scale (theory §18.4)
class KernelSpectrum(NamedTuple):
    """Leading eigenpairs of a kernel computed block by block (:func:`blocked_kernel_spectrum`).

    Attributes:
        spectrum: the kernel-regression problem on the ``k`` leading directions
            (:class:`~jaxaccel.Spectrum`: ``lambda_j = mu_j / n``, ``c_j^2`` of the targets, as
            :meth:`jaxaccel.Spectrum.from_kernel`), with ``tail=True`` plus one last node that
            lumps the ``n - k`` discarded directions: the mean discarded eigenvalue
            ``(Tr K / n - sum_j lambda_j) / (n - k)`` carrying the target mass outside the span,
            so that ``sum lambda c^2 = |y|^2 / n`` and tail sums (``zeta``) stay right.
        eigenvectors: ``(n, k)`` orthonormal eigenvectors ``u_j`` of ``K``.
        target_fraction: share of ``|y|^2`` in the span of the ``u_j`` (the rest lies in the
            discarded tail of the spectrum).
        peak_bytes: peak memory of the NumPy arrays allocated during the computation
            (``tracemalloc``), to compare with the ``8 n^2`` bytes of the full kernel.
        kernel_passes: number of passes over the kernel (each evaluates every block once).
    """

    spectrum: Spectrum
    eigenvectors: Float[np.ndarray, "n k"]
    target_fraction: float
    peak_bytes: int
    kernel_passes: int


def blocked_kernel_spectrum(
    kernel_rows: Callable[[int, int], Float[np.ndarray, "b n"]],
    n: int,
    targets: Float[ArrayLike, "n *outputs"],
    k: int,
    *,
    block: int = 1024,
    oversample: Optional[int] = None,
    power_iterations: int = 3,
    seed: int = 0,
    tail: bool = True,
) -> KernelSpectrum:
    """The ``k`` leading eigenpairs of an ``n x n`` PSD kernel without ever holding it (theory §18.4).

    Randomised subspace iteration: ``Q`` spans ``K^(q+1) Omega`` for a Gaussian ``(n, l)``
    ``Omega`` (``l = k + oversample``, orthonormalised after every product), then the
    Rayleigh-Ritz problem ``Q^T K Q`` gives the eigenpairs. Every product ``K Q`` is accumulated
    over blocks of rows ``kernel_rows(start, stop)`` (``(stop - start, n)`` arrays), so the memory
    is ``O(n l + block n)`` instead of ``8 n^2`` bytes; the cost is ``q + 2`` kernel passes and
    ``O(n^2 l)`` flops per pass. The eigenvalue error of the ``j``-th pair decays like
    ``(mu_{l+1} / mu_j)^(2q+1)``.

    Args:
        kernel_rows: ``(start, stop) -> K[start:stop, :]``, e.g.
            ``lambda s, e: relu_ntk(X[s:e], X2=X)``.
        n: number of points.
        targets: ``(n,)`` or ``(n, outputs)`` targets ``y`` (for ``c_j^2``).
        k: number of leading eigenpairs kept.
        block: rows per block.
        oversample: extra directions (default ``max(20, k // 2)``).
        power_iterations: ``q``.
        seed: seed of ``Omega``.
        tail: append the node lumping the discarded directions (see :class:`KernelSpectrum`).

    Returns:
        :class:`KernelSpectrum`.

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(300, 5))
        >>> K = relu_ntk(X)
        >>> ks = blocked_kernel_spectrum(lambda s, e: relu_ntk(X[s:e], X2=X), 300, X[:, 0], 20,
        ...                              block=64)
        >>> top = np.sort(np.linalg.eigvalsh(K))[::-1][:10] / 300
        >>> bool(np.allclose(ks.spectrum.eigenvalues[:10], top, rtol=1e-8)), ks.kernel_passes
        (True, 5)
        >>> bool(np.isclose(ks.spectrum.initial_loss, 0.5 * np.mean(X[:, 0] ** 2)))  # tail node
        True
    """
    n = V.check_positive_int(n, "n")
    k = V.check_positive_int(k, "k")
    block = V.check_positive_int(block, "block")
    y = np.asarray(targets, dtype=np.float64)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(f"targets must have shape ({n},) or ({n}, outputs), got {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("targets must be finite (got NaN or inf)")
    y = y.reshape(n, -1)
    p = max(20, k // 2) if oversample is None else int(oversample)
    if p < 0:
        raise ValueError(f"oversample must be >= 0, got {oversample!r}")
    l = min(n, k + p)
    if k > l:
        raise ValueError(f"k={k} exceeds n={n}")
    if int(power_iterations) < 0:
        raise ValueError(f"power_iterations must be >= 0, got {power_iterations!r}")

    diag = np.zeros(n)

    def times(Q):
        out = np.empty_like(Q)
        for s in range(0, n, block):
            rows = np.asarray(kernel_rows(s, min(n, s + block)), dtype=np.float64)
            if rows.shape != (min(n, s + block) - s, n):
                raise ValueError(f"kernel_rows({s}, {min(n, s + block)}) returned shape "
                                 f"{rows.shape}, expected ({min(n, s + block) - s}, {n})")
            if not np.all(np.isfinite(rows)):
                raise ValueError("kernel_rows returned NaN or inf")
            out[s : s + rows.shape[0]] = rows @ Q
            diag[s : s + rows.shape[0]] = np.diagonal(rows[:, s : s + rows.shape[0]])
        return out

    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    try:
        Q = np.random.default_rng(seed).normal(size=(n, l))
        passes = 0
        for _ in range(int(power_iterations) + 1):
            Q, _ = np.linalg.qr(times(Q))
            passes += 1
        KQ = times(Q)
        passes += 1
        mu, W = np.linalg.eigh(Q.T @ KQ)
        order = np.argsort(-mu)[:k]
        mu, U = mu[order], Q @ W[:, order]
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if not tracing:
            tracemalloc.stop()
    if np.any(mu <= 0):
        raise ValueError("kernel_rows: the kernel is not positive definite on the leading "
                         f"{k} directions (eigenvalue {mu.min():.3g}); reduce k")
    proj = U.T @ y  # (k, outputs)
    lam = mu / n
    c2 = (proj**2).sum(axis=1) / (n * lam)
    y2 = (y**2).sum()
    frac = float((proj**2).sum() / max(y2, np.finfo(np.float64).tiny))
    rest = diag.sum() / n - lam.sum()
    if tail and k < n and rest > 0:
        lam_tail = rest / (n - k)
        lam = np.append(lam, lam_tail)
        c2 = np.append(c2, max(y2 - (proj**2).sum(), 0.0) / (n * lam_tail))
    return KernelSpectrum(Spectrum(lam, c2), U, frac, int(peak), passes)
