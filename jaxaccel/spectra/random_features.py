"""Power-law random features (PLRF): the exact spectrum of a sampled embedding and its
deterministic equivalent (theory §17).

The model: data ``x in R^v`` with covariance ``D = diag(j^-2 alpha)``, target ``y = <x, b>`` with
``b_j = j^-beta`` (plus optional label noise), a random embedding ``W in R^{v x d}`` with
i.i.d. ``N(0, 1/d)`` entries and the linear model ``f(x) = <W^T x, theta>``. The features
``z = W^T x`` are Gaussian with covariance ``K = W^T D W``, and the residual of the best model
``y - <z, theta*>`` is Gaussian and independent of ``z``. So SGD on ``theta`` is exactly the SE
dynamics (``tau = (1, -1)``) on the spectrum of ``K`` with label noise
``sigma2 = 2 P_inf(d) + sigma2_labels`` (theory §3.5), where ``P_inf(d)`` is the approximation
(irreducible) risk of the embedding.

* :func:`power_law_features`: a sampled ``W`` (float64 NumPy; eigendecomposition of the
  ``d x d`` matrix ``K``, ``d`` up to a few thousand on a CPU).
* :func:`power_law_features_equivalent`: the deterministic equivalent for large ``v, d``: the
  eigenvalue density of ``K`` and the spectral measure of the target from the fixed point
  (theory §17.2, eq. (RF1)), discretised into a :class:`~jaxaccel.spectra.Spectrum` with
  multiplicities.

Risks are in the convention of the engine: ``P(theta) = 1/2 E[(y - f(x))^2]``.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple, Optional, Tuple

import numpy as np
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel.spectra.continuum import log_panel_nodes
from jaxaccel.spectra.spectrum import Spectrum

__all__ = ["RandomFeatures", "power_law_features", "power_law_features_equivalent",
           "power_law_population"]


class RandomFeatures(NamedTuple):
    """A power-law random-features problem in the eigenbasis of ``K = W^T D W``.

    Attributes:
        spectrum: eigenvalues of ``K`` with ``c2`` the squared coefficients of ``theta*``
            (``theta_0 = 0``); multiplicities for the deterministic equivalent.
        irreducible: ``P_inf(d) = 1/2 min_theta E[(<x, b> - <W^T x, theta>)^2]``.
        initial_risk: ``1/2 E[<x, b>^2]`` (the risk at ``theta = 0``, without label noise).
        alpha, beta: the exponents; v, d: data dimension and model size.
        embedding: the sampled ``W`` (``None`` for the deterministic equivalent or when not
            kept).
    """

    spectrum: Spectrum
    irreducible: float
    initial_risk: float
    alpha: float
    beta: float
    v: int
    d: int
    embedding: Optional[np.ndarray] = None

    def label_noise(self, sigma2: float = 0.0) -> float:
        """The ``sigma2`` of the SE noise model for SGD on ``theta``: ``2 P_inf + sigma2``
        (the approximation residual acts as label noise, theory §17.1)."""
        return 2.0 * self.irreducible + V.variance(sigma2, "sigma2")


def _check_exponents(alpha, beta):
    for name, x in (("alpha", alpha), ("beta", beta)):
        V.check_real_number(x, name)
        if not np.isfinite(float(x)):
            raise ValueError(f"{name} must be finite, got {x!r}")
    alpha, beta = float(alpha), float(beta)
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    return alpha, beta


def _check_size(x, name, minimum=1):
    if isinstance(x, (bool, np.bool_)) or not np.isfinite(float(x)) or float(x) != int(x):
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {x!r}")
    if int(x) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {int(x)}")
    return int(x)


def power_law_features(alpha: float, beta: float, v: int, d: int, *, seed: int = 0,
                       keep_embedding: bool = False) -> RandomFeatures:
    """Sample ``W`` and return the exact spectrum of ``K = W^T D W`` and the target
    coefficients (theory §17.1).

    ``theta* = K^+ W^T D b``; ``c2_k = <u_k, theta*>^2`` for the eigenvectors ``u_k`` of ``K``;
    ``P_inf = 1/2 (b^T D b - q^T K^+ q)``, ``q = W^T D b``. With ``v < d``, ``K`` has rank
    ``v`` and its null directions (no signal, no gradient) are dropped.

    Example:
        >>> rf = power_law_features(1.0, 0.8, v=400, d=100, seed=1)
        >>> rf.spectrum.size, bool(0 < rf.irreducible < rf.initial_risk)
        (100, True)
        >>> bool(abs(float(rf.spectrum.initial_loss) + rf.irreducible - rf.initial_risk) < 1e-12)
        True
    """
    alpha, beta = _check_exponents(alpha, beta)
    v, d = _check_size(v, "v"), _check_size(d, "d")
    rng = np.random.default_rng(seed)
    j = np.arange(1, v + 1, dtype=np.float64)
    D, b = j ** (-2.0 * alpha), j ** (-beta)
    W = rng.standard_normal((v, d)) / np.sqrt(d)
    K = W.T @ (D[:, None] * W)
    K = 0.5 * (K + K.T)
    q = W.T @ (D * b)
    mu, U = np.linalg.eigh(K)
    keep = mu > 1e-12 * max(mu.max(), np.finfo(np.float64).tiny) * max(v, d)
    mu, U = mu[keep], U[:, keep]
    p = U.T @ q
    c2 = p**2 / mu**2
    total = 0.5 * float(np.sum(D * b * b))
    explained = 0.5 * float(np.sum(p**2 / mu))
    order = np.argsort(mu)[::-1]
    spec = Spectrum(jnp.asarray(mu[order]), jnp.asarray(c2[order]))
    return RandomFeatures(spec, max(total - explained, 0.0), total, alpha, beta, v, d,
                          W if keep_embedding else None)


def power_law_population(alpha: float, beta: float, v: float, *, n_head: int = 2000,
                         panels_per_decade: int = 48, order: int = 4
                         ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes ``(D_l, b_l^2, multiplicity)`` of the data covariance ``D = diag(j^-2 alpha)`` and
    target ``b_j^2 = j^-2 beta`` for ``j <= v``: the first ``n_head`` exactly, the tail by
    Gauss-Legendre panels in ``log j`` (as :func:`~jaxaccel.power_law_continuum`), so ``v`` may
    be huge (1e8 or more).

    Example:
        >>> D, b2, m = power_law_population(1.0, 1.0, 1e6, n_head=100)
        >>> round(float(m.sum())), bool(abs(float((m * D).sum()) - 1.6449331) < 1e-5)
        (1000000, True)
    """
    alpha, beta = _check_exponents(alpha, beta)
    if not (np.isfinite(v) and v >= 1):
        raise ValueError(f"v must be finite and >= 1, got {v!r}")
    n_head = min(V.check_positive_int(n_head, "n_head"), int(v))
    j = np.arange(1, n_head + 1, dtype=np.float64)
    x, mult = log_panel_nodes(n_head, float(v), panels_per_decade, order)
    j = np.concatenate([j, x])
    m = np.concatenate([np.ones(n_head), mult])
    return j ** (-2.0 * alpha), j ** (-2.0 * beta), m


def _stieltjes(z, D, m, d, iters=60):
    """Solve ``mz = -1 / (z - (1/d) sum_l m_l D_l / (1 + D_l mz))`` (eq. (RF1)) on the upper
    half plane for an array ``z = x + i eta``, by continuation from ``eta = x`` down to the
    given ``eta`` and Newton steps on ``mz (z - s(mz)) + 1 = 0`` (a step that leaves the half
    plane is replaced by one step of the contracting fixed-point map)."""
    x = z.real
    rel = z.imag / x
    mz = -1.0 / (x + 1j * x)
    mD, mD2 = m * D / d, m * D * D / d
    for r in np.geomspace(1.0, rel.min(), 16):
        zz = x + 1j * x * np.maximum(r, rel)
        act = np.arange(z.size)  # points still moving; converged ones are left alone
        for _ in range(iters):
            mm, zc = mz[act], zz[act]
            # t = 1 / (1 + mz D) in real arithmetic (much faster than complex division)
            a = 1.0 + np.multiply.outer(mm.real, D)
            b = np.multiply.outer(mm.imag, D)
            den = a * a + b * b
            tr, ti = a / den, -b / den
            sv = tr @ mD + 1j * (ti @ mD)
            t2 = (tr * tr - ti * ti) @ mD2 + 2j * ((tr * ti) @ mD2)
            F = mm * (zc - sv) + 1.0
            dF = zc - sv + mm * t2
            new = mm - F / dF
            bad = ~(new.imag > 0) | ~np.isfinite(new)
            new = np.where(bad, -1.0 / (zc - sv), new)
            moving = np.abs(new - mm) > 1e-13 * np.abs(mm)
            mz[act] = new
            act = act[moving]
            if act.size == 0:
                break
    return mz


def power_law_features_equivalent(alpha: float, beta: float, v: float, d: int, *,
                                  n_nodes: int = 400, resolution: float = 1e-8,
                                  n_head: int = 200, panels_per_decade: int = 24
                                  ) -> RandomFeatures:
    """Deterministic-equivalent spectrum of ``K = W^T D W`` and target measure for large
    ``v, d`` (theory §17.2), as a :class:`~jaxaccel.spectra.Spectrum` with multiplicities.

    With the Stieltjes transform ``mz`` of the eigenvalue distribution of ``K`` solving the
    Silverstein fixed point (RF1)
    ``mz(z) = -1 / (z - (1/d) sum_j D_j / (1 + D_j mz(z)))``, the eigenvalue density is
    ``d Im mz(x + i0) / pi``, the target's spectral measure ``sum_k mu_k c2_k delta_{mu_k}`` has
    the transform ``(F(z) - F(0)) / z`` with
    ``F(z) = sum_j D_j b_j^2 mz D_j / (1 + mz D_j)`` (RF2), and
    ``P_inf = 1/2 sum_j D_j b_j^2 / (1 + mz(0) D_j)`` (RF3). The measures are evaluated at
    ``Im z = resolution * x`` on ``n_nodes`` log cells (3 Gauss points each); each cell becomes
    a node at its mean eigenvalue. Requires ``v > d`` (else ``K`` has an atom at 0).

    Example:
        >>> eq = power_law_features_equivalent(1.0, 0.8, v=4000, d=200, n_nodes=400)
        >>> round(float(eq.spectrum.weights.sum()))
        200
    """
    alpha, beta = _check_exponents(alpha, beta)
    d = _check_size(d, "d")
    if not (np.isfinite(v) and v > d):
        raise ValueError(f"v must be finite and > d={d} for the deterministic equivalent "
                         f"(v <= d puts an atom at 0), got {v!r}")
    n_nodes = V.check_positive_int(n_nodes, "n_nodes")
    if not (np.isfinite(resolution) and 1e-14 <= resolution < 1e-2):
        raise ValueError(f"resolution must lie in [1e-14, 1e-2), got {resolution!r}")
    D, b2, m = power_law_population(alpha, beta, v, n_head=n_head,
                                    panels_per_decade=panels_per_decade)
    # m(0): (1/d) sum m D mz / (1 + D mz) = 1 (real, v > d), by bisection on log mz
    lo, hi = 1e-300, 1.0
    g = lambda mm: (m * D * mm / (1.0 + D * mm)).sum() / d - 1.0  # noqa: E731
    while g(hi) < 0:
        hi *= 10.0
    for _ in range(200):
        mid = np.sqrt(lo * hi)
        lo, hi = (mid, hi) if g(mid) < 0 else (lo, mid)
    m0 = np.sqrt(lo * hi)
    irreducible = 0.5 * float((m * D * b2 / (1.0 + m0 * D)).sum())
    explained = float((m * D * b2 * m0 * D / (1.0 + m0 * D)).sum())
    total = 0.5 * float((m * D * b2).sum())
    # grid of the support: from below the bulk's lower edge to above the top eigenvalue
    tail = float((m * D)[1:].sum()) / d
    x_max = 2.0 * (D.max() + tail) * (1.0 + 1.0 / np.sqrt(d)) ** 2
    x_min = 1e-3 * max(D.min(), float((m * D * (np.cumsum(m) > d)).sum()) / d)
    # each log-cell is integrated with 3 Gauss-Legendre points in log x; its node sits at the
    # cell's mean eigenvalue (so the node keeps the cell's mass and first moment)
    edges = np.log(np.geomspace(x_min, x_max, n_nodes + 1))
    gx, gw = np.polynomial.legendre.leggauss(3)
    half, mid = 0.5 * np.diff(edges), 0.5 * (edges[1:] + edges[:-1])
    xs = np.exp(mid[:, None] + half[:, None] * gx[None, :])          # (n_nodes, 3)
    ws = half[:, None] * gw[None, :] * xs                               # dx of each point
    z = (xs * (1.0 + 1j * resolution)).ravel()
    mz = _stieltjes(z, D, m, d)
    dens = (d * mz.imag / np.pi).reshape(xs.shape)                      # eigenvalues per unit x
    F = (m * D * b2 * np.multiply.outer(mz, D) / (1.0 + np.multiply.outer(mz, D))).sum(-1)
    nu_dens = (((F - explained) / z).imag / np.pi).reshape(xs.shape)    # target measure per x
    cell = np.maximum(dens * ws, 0.0)
    mult = cell.sum(1)
    x = (cell * xs).sum(1) / np.where(mult > 0, mult, 1.0)
    lam_c2 = np.maximum(nu_dens * ws, 0.0).sum(1)
    keep = mult > 1e-12 * mult.sum()
    x, mult, lam_c2 = x[keep], mult[keep], lam_c2[keep]
    mass, sig = mult.sum(), lam_c2.sum()
    if abs(mass / d - 1.0) > 1e-2 or abs(sig / explained - 1.0) > 1e-2:
        warnings.warn(f"power_law_features_equivalent: the grid holds {mass / d:.4f} of the "
                      f"eigenvalues and {sig / explained:.4f} of the target measure; raise "
                      "n_nodes", RuntimeWarning, stacklevel=2)
    mult, lam_c2 = mult * (d / mass), lam_c2 * (explained / sig)
    order = np.argsort(x)[::-1]
    spec = Spectrum(jnp.asarray(x[order]), jnp.asarray((lam_c2 / x)[order]),
                    weights=jnp.asarray(mult[order]))
    return RandomFeatures(spec, irreducible, total, alpha, beta, int(v) if v < 2**62 else v, d)
