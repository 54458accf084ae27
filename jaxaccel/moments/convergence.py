"""Quadrature error of a continuum spectrum, measured on the loss curve itself.

:func:`continuum_error_estimate` simulates one algorithm on two resolutions of
:func:`~jaxaccel.power_law_continuum` and reports their relative difference (theory §1; the
quadrature is described in :mod:`jaxaccel.spectra.continuum`).
"""

from __future__ import annotations

from typing import Any, Optional, Tuple, Union

import jax.numpy as jnp

from jaxaccel._typing import Scalar
from jaxaccel.algorithms.base import MemoryAlgorithm
from jaxaccel.moments.simulate import simulate
from jaxaccel.noise import NoiseModel
from jaxaccel.record import RecordSpec
from jaxaccel.moments.engine import SimulationResult
from jaxaccel.spectra.continuum import power_law_continuum


def continuum_error_estimate(
    algorithm: MemoryAlgorithm,
    steps: int,
    *,
    nu: float,
    zeta: float,
    n_max: float = 1e8,
    batch_size: Union[None, Scalar, NoiseModel] = None,
    tau: Optional[Tuple[Scalar, Scalar]] = None,
    record: RecordSpec = "log",
    n_head: int = 1000,
    panels_per_decade: int = 24,
    order: int = 4,
    **simulate_kwargs: Any,
) -> Tuple[SimulationResult, float]:
    """Relative discretisation error of :func:`power_law_continuum` for a given run.

    Simulates (:func:`~jaxaccel.simulate`, Algorithm A of theory §3.4) with the
    requested resolution and with half the panel density and returns
    ``(result, max_t |L_fine - L_coarse| / L_fine)``; because Gauss–Legendre converges fast,
    the difference bounds the error of the coarser, hence also of the finer, representation.

    Args:
        algorithm: the algorithm to simulate.
        steps, batch_size, tau, record: as in :func:`~jaxaccel.simulate`.
        nu, zeta, n_max, n_head, panels_per_decade, order: the finer continuum spectrum
            (:func:`power_law_continuum`); the coarse one uses ``panels_per_decade // 2``.
        **simulate_kwargs: forwarded to :func:`~jaxaccel.simulate`.

    Returns:
        ``(result of the fine run, relative error estimate)``.

    Example:
        >>> import jaxaccel as ja
        >>> res, err = continuum_error_estimate(ja.gd(1.0), 100, nu=1.5, zeta=0.5, n_head=100,
        ...                                     panels_per_decade=8)
        >>> bool(err < 1e-3), bool(res.diverged)
        (True, False)
    """

    kw = dict(nu=nu, zeta=zeta, n_max=n_max, n_head=n_head, order=order)
    fine = simulate(power_law_continuum(panels_per_decade=panels_per_decade, **kw), algorithm,
                    steps, batch_size, tau, record, **simulate_kwargs)
    coarse = simulate(power_law_continuum(panels_per_decade=max(1, panels_per_decade // 2), **kw),
                      algorithm, steps, batch_size, tau, record, **simulate_kwargs)
    err = float(jnp.max(jnp.abs(fine.loss - coarse.loss) / fine.loss))
    return fine, err
