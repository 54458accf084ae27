"""Continuum power-law spectra: a few thousand weighted nodes standing for ~1e8 eigenvalues.

Every quantity of the SE dynamics is a sum over eigenvalues of a function that is smooth in
``k`` away from the top of the spectrum: ``sum_k F_t(lambda_k, c_k^2)``. :func:`power_law_continuum`
keeps the head ``k <= n_head`` exact and replaces the tail sum by its Euler–Maclaurin integral

.. math::  \\sum_{k=n_0+1}^{n_{\\max}} f(k) \\approx \\int_{n_0+1/2}^{n_{\\max}+1/2} f(x)\\,dx
           = \\int f(e^s)\\,e^s\\,ds,

evaluated with Gauss–Legendre panels uniform in ``s = log x``. A quadrature node at ``x_j``
with weight ``w_j`` becomes a spectrum node with ``lambda_j = Lambda x_j^-nu``, multiplicity
``weights_j = w_j x_j`` and ``c2_j = weights_j c^2(x_j)``: since the dynamics are linear in the
blocks of equal eigenvalues, this aggregation is exact for the nodes, and the only error is the
quadrature error, which falls quickly with the panel density.
:func:`jaxaccel.continuum_error_estimate` measures it by comparing two resolutions.
"""


from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import jax.numpy as jnp
from jax.typing import DTypeLike

from jaxaccel import _validation as V
from jaxaccel.spectra.spectrum import PowerLaw, Spectrum, power_law_spectrum


def log_panel_nodes(n_head: int, n_max: float, panels_per_decade: int,
                    order: int) -> Tuple[np.ndarray, np.ndarray]:
    """Quadrature of the tail ``sum_{k=n_head+1}^{n_max} f(k)``: nodes ``x_j`` and
    multiplicities ``w_j x_j`` of Gauss-Legendre panels uniform in ``log x`` over
    ``[n_head + 1/2, n_max + 1/2]`` (the Euler-Maclaurin integral of the module docstring).

    Example:
        >>> x, mult = log_panel_nodes(10, 1e4, 8, 4)
        >>> round(float(mult.sum()))          # stands for the 9990 indices 11..10000
        9990
    """
    lo, hi = np.log(n_head + 0.5), np.log(n_max + 0.5)
    n_panels = max(1, int(np.ceil(panels_per_decade * (hi - lo) / np.log(10.0))))
    edges = np.linspace(lo, hi, n_panels + 1)
    gx, gw = np.polynomial.legendre.leggauss(order)
    half = 0.5 * np.diff(edges)
    mid = 0.5 * (edges[1:] + edges[:-1])
    s = (mid[:, None] + half[:, None] * gx[None, :]).ravel()
    ws = (half[:, None] * gw[None, :]).ravel()
    x = np.exp(s)
    return x, ws * x  # the nodes and the number of indices each stands for


def power_law_continuum(
    nu: float,
    zeta: float,
    n_max: float = 1e8,
    *,
    n_head: int = 1000,
    panels_per_decade: int = 24,
    order: int = 4,
    Lambda: float = 1.0,
    Q: Optional[float] = None,
    dtype: Optional[DTypeLike] = None,
) -> Spectrum:
    """The power-law problem of :func:`~jaxaccel.spectra.power_law_spectrum` truncated at
    ``n_max``, with the tail ``k > n_head`` represented by weighted quadrature nodes.

    Args:
        nu, zeta, Lambda, Q: as in :func:`power_law_spectrum`.
        n_max: number of eigenvalues represented (may be huge, e.g. 1e8 or 1e12).
        n_head: eigenvalues kept exactly (``k = 1..n_head``).
        panels_per_decade: Gauss–Legendre panels per decade of ``k`` in the tail.
        order: nodes per panel.
        dtype: floating dtype of the nodes (default float64).

    Returns:
        a :class:`Spectrum` with ``weights`` (about ``n_head + order * panels_per_decade *
        log10(n_max / n_head)`` nodes).

    Example:
        >>> s = power_law_continuum(1.5, 0.5, n_max=1e8)
        >>> s.size, round(float(s.weights.sum()))
        (1480, 100000000)
    """
    n_head = V.check_positive_int(n_head, "n_head")
    panels_per_decade = V.check_positive_int(panels_per_decade, "panels_per_decade")
    order = V.check_positive_int(order, "order")
    if not (np.isfinite(n_max) and n_max >= n_head):
        raise ValueError(f"n_max must be finite and >= n_head={n_head}, got {n_max!r}")
    head = power_law_spectrum(n_head, nu, zeta, Lambda=Lambda, Q=Q, dtype=jnp.float64)
    pl = head.power_law
    if n_max == n_head:
        return head if dtype is None else head.astype(dtype)
    kappa = zeta * nu
    A = pl.Q * kappa * Lambda**zeta
    x, mult = log_panel_nodes(n_head, n_max, panels_per_decade, order)
    lam = Lambda * x**-nu
    c2 = mult * (A / Lambda) * x ** (nu - 1.0 - kappa)
    dt = jnp.result_type(float) if dtype is None else dtype
    return Spectrum(
        jnp.asarray(np.concatenate([np.asarray(head.eigenvalues), lam]), dt),
        jnp.asarray(np.concatenate([np.asarray(head.c2), c2]), dt),
        weights=jnp.asarray(np.concatenate([np.ones(n_head), mult]), dt),
        power_law=PowerLaw(pl.nu, pl.zeta, pl.Lambda, pl.Q),
    )
