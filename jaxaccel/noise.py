"""The SE noise model of mini-batch SGD: batch size ``b`` and the pair ``(tau1, tau2)``.

Theory: ``docs/theory/sgd_memory.md`` §3.2, eq. (15). Under the spectrally expressible (SE)
approximation the covariance of the mini-batch gradient noise at a point ``w`` is

.. math::  \\Sigma(w) = \\frac1b\\Big(\\tau_1\\,\\langle w - w^*, H(w-w^*)\\rangle H
           - \\tau_2\\, H (w - w^*)(w-w^*)^T H\\Big), \\tag{15}

exact for Gaussian data with ``(tau1, tau2) = (1, -1)`` and for translation-invariant data with
``(1, 1)``. ``b = None`` means full batch (no noise: ``1/b = 0``); ``b`` may also be a per-step
schedule ``b_t`` (where a function accepts one).

**Label noise** (theory §3.5): with labels ``y = <x, w*> + eps``, ``eps`` independent of ``x``
with mean 0 and variance ``sigma2``, the mini-batch gradient noise gains ``(sigma2 / b) H``
(exactly, for any data distribution), so the injection of the moment recursion becomes
``lambda_k (tau1 G_t + sigma2 - tau2 lambda_k g_k) / b``. The loss the engine reports stays the
*excess* risk ``1/2 <w - w*, H (w - w*)>``; the *total* risk adds the irreducible ``sigma2 / 2``
(:meth:`NoiseModel.irreducible_risk`).

Every public function that takes ``batch_size`` and ``tau`` also accepts a :class:`NoiseModel`
as ``batch_size`` (then ``tau`` is left out), and all of them validate through
:func:`as_noise_model`, so the rules (positive finite ``b``, finite pair ``tau``) live here only.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._pytree import pytree_dataclass
from jaxaccel._typing import ArrayLike, Float, Scalar

#: default ``(tau1, tau2)``: exact for Gaussian data
GAUSSIAN_TAU = (1.0, -1.0)


@pytree_dataclass
class NoiseModel:
    """Mini-batch noise of the SE approximation (15): ``b`` (or ``b_t``), ``tau1``, ``tau2``,
    and the label-noise variance ``sigma2`` (theory §3.5).

    Args:
        batch_size: ``None`` (full batch, no noise), a positive number, or a ``(T,)`` array
            of per-step batch sizes (only where a schedule is accepted, e.g. ``simulate``).
        tau1, tau2: the SE coefficients; ``(1, -1)`` Gaussian data, ``(1, 1)``
            translation-invariant data.
        sigma2: variance of the additive label noise (``>= 0``; ``0`` means noiseless labels).
            It acts only through mini-batch noise: a full-batch run ignores it.

    Example:
        >>> nm = NoiseModel(10.0, 1.0, 1.0)
        >>> float(nm.inverse_batch()), nm.is_full_batch
        (0.1, False)
        >>> NoiseModel(None).is_full_batch
        True
        >>> float(NoiseModel(10.0, sigma2=0.5).irreducible_risk())
        0.25
    """

    batch_size: Optional[jax.Array]
    tau1: jax.Array
    tau2: jax.Array
    sigma2: jax.Array

    def __init__(self, batch_size: Union[None, Scalar, Float[ArrayLike, "T"]] = None,
                 tau1: Scalar = GAUSSIAN_TAU[0], tau2: Scalar = GAUSSIAN_TAU[1],
                 sigma2: Scalar = 0.0):
        if batch_size is not None:
            batch_size = V.as_float_array(batch_size, "batch_size")
            V.check_ndim(batch_size, "batch_size", (0, 1))
            V.check_finite(batch_size, "batch_size")
            V.check_positive(batch_size, "batch_size")
        for name, x in (("tau1", tau1), ("tau2", tau2)):
            x = V.as_float_array(x, name)
            if x.ndim != 0:
                raise ValueError(f"{name} must be a scalar, got shape {x.shape}")
            V.check_finite(x, name)
        s2 = V.finite_scalar(sigma2, "sigma2")
        if V.is_concrete(s2) and float(s2) < 0:
            raise ValueError(f"sigma2 must be >= 0 (a variance), got {float(s2)}")
        self.batch_size = batch_size
        self.tau1 = V.as_float_array(tau1, "tau1")
        self.tau2 = V.as_float_array(tau2, "tau2")
        self.sigma2 = s2

    @property
    def is_full_batch(self) -> bool:
        """``True`` for ``batch_size=None`` (no gradient noise)."""
        return self.batch_size is None

    @property
    def is_schedule(self) -> bool:
        """``True`` when the batch size is a per-step array ``b_t``."""
        return self.batch_size is not None and jnp.ndim(self.batch_size) == 1

    def tau(self, dtype=None) -> jax.Array:
        """``(tau1, tau2)`` as a ``(2,)`` array."""
        return jnp.stack([self.tau1, self.tau2]).astype(dtype or jnp.result_type(float))

    @property
    def has_label_noise(self) -> bool:
        """Whether ``sigma2`` may be nonzero (a traced value counts as nonzero)."""
        return not (V.is_concrete(self.sigma2) and float(self.sigma2) == 0.0)

    def coefficients(self, dtype=None) -> jax.Array:
        """``(tau1, tau2, sigma2)`` as a ``(3,)`` array: what the moment kernels read."""
        return jnp.stack([self.tau1, self.tau2, self.sigma2]).astype(
            dtype or jnp.result_type(float))

    def irreducible_risk(self) -> jax.Array:
        """``sigma2 / 2``: the total risk is the excess risk (the engine's loss) plus this."""
        return 0.5 * self.sigma2

    def inverse_batch(self, dtype=None, steps: Optional[int] = None) -> jax.Array:
        """``1/b`` (``0`` for full batch); a ``(steps,)`` array for a batch schedule.

        ``steps``: length of the run; a schedule must have at least that many entries and is
        cut to it (``ValueError`` otherwise).
        """
        dtype = dtype or jnp.result_type(float)
        if self.batch_size is None:
            return jnp.zeros((), dtype)
        bs = self.batch_size.astype(dtype)
        if bs.ndim == 1:
            if steps is None:
                raise ValueError("batch_size must be a scalar here, got a schedule of shape "
                                 f"{bs.shape}")
            if bs.shape[0] < steps:
                raise ValueError(f"batch_size schedule has {bs.shape[0]} entries, "
                                 f"need >= steps={steps}")
            bs = bs[:steps]
        return 1.0 / bs


def as_noise_model(batch_size: Union[None, Scalar, Float[ArrayLike, "T"], NoiseModel],
                   tau: Optional[Tuple[Scalar, Scalar]] = None, *, schedule: bool = False,
                   required: bool = False) -> NoiseModel:
    """Resolve ``(batch_size, tau)`` (or a :class:`NoiseModel` given as ``batch_size``) into a
    validated :class:`NoiseModel`; the one place where the noise arguments are checked.

    Args:
        batch_size: ``None``, a positive number, a ``(T,)`` schedule (``schedule=True`` only)
            or a :class:`NoiseModel`.
        tau: ``(tau1, tau2)``; ``None`` means ``(1, -1)``. Must be ``None`` with a
            :class:`NoiseModel`.
        schedule: accept a per-step batch size.
        required: reject ``batch_size=None`` (functions that need a finite batch).

    Example:
        >>> nm = as_noise_model(4.0, (1.0, 0.0))
        >>> float(nm.tau2), float(nm.inverse_batch())
        (0.0, 0.25)
    """
    if isinstance(batch_size, NoiseModel):
        if tau is not None:
            raise ValueError("tau must be left out when batch_size is a NoiseModel "
                             "(the model carries tau1, tau2)")
        nm = batch_size
    else:
        if tau is None:
            tau = GAUSSIAN_TAU
        t = V.as_float_array(tau, "tau")
        if t.shape != (2,):
            raise ValueError(f"tau must be a pair (tau1, tau2), got shape {t.shape}")
        V.check_finite(t, "tau")
        if batch_size is not None:
            bs = V.as_float_array(batch_size, "batch_size")
            if not schedule and bs.ndim != 0:
                raise ValueError(f"batch_size must be a scalar (vmap over values instead), "
                                 f"got shape {bs.shape}")
        nm = NoiseModel(batch_size, t[0], t[1])
    if nm.is_schedule and not schedule:
        raise ValueError(f"batch_size must be a scalar here, got a schedule of shape "
                         f"{jnp.shape(nm.batch_size)}")
    if required and nm.is_full_batch:
        raise ValueError("batch_size must be a positive number here (got None: full batch)")
    return nm


def tau2_is_zero(noise: NoiseModel) -> bool:
    """Whether ``tau2 = 0`` is known eagerly (a concrete zero); traced values count as nonzero."""
    return V.is_concrete(noise.tau2) and float(noise.tau2) == 0.0


def reject_label_noise(noise: NoiseModel, where: str) -> None:
    """``ValueError`` when ``noise`` carries label noise that ``where`` does not model."""
    if noise.has_label_noise:
        raise ValueError(f"sigma2 (label noise) is not supported by {where}; use simulate, "
                         "loss_curve or predict_loss")


__all__ = ["NoiseModel", "as_noise_model", "GAUSSIAN_TAU"]
