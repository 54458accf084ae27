"""Spectra of quadratic problems: eigenvalues of H and the initial-error coefficients.

Theory: ``docs/theory/sgd_memory.md`` §1. A quadratic problem

.. math::  L(w) = \\tfrac12 \\langle w - w^*, H (w - w^*) \\rangle,\\qquad H e_k = \\lambda_k e_k

is described, for every algorithm of this package, by the pairs :math:`(\\lambda_k, c_k^2)` with
:math:`c_k = \\langle e_k, w_0 - w^* \\rangle`. A :class:`Spectrum` may also carry *weights*
(multiplicities): node ``k`` then stands for ``weights[k]`` eigenvalues equal to
``eigenvalues[k]`` whose squared coefficients add up to ``c2[k]``. The SE dynamics are exact
under this aggregation, which is what lets a few thousand nodes represent a huge spectrum.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
import jax
import jax.numpy as jnp
from jax.typing import DTypeLike

from jaxaccel import _validation as V
from jaxaccel._pytree import pytree_dataclass, replace, static_field
from jaxaccel._typing import ArrayLike, Coefficients, Eigenvalues, Float

__all__ = ["PowerLaw", "Spectrum", "power_law_spectrum"]


class PowerLaw(NamedTuple):
    """Exponents and constants of the power-law assumptions (1) of the spec.

    ``lambda_k = Lambda k^-nu`` and ``sum_{lambda_k < lambda} lambda_k c_k^2 = Q lambda^zeta``.
    """

    nu: float
    zeta: float
    Lambda: float
    Q: float


@pytree_dataclass
class Spectrum:
    """Eigenvalues of ``H`` with the squared initial-error coefficients (a JAX pytree).

    Args:
        eigenvalues: ``(N,)`` float, strictly positive and finite.
        c2: ``(N,)`` float, ``c2[k] = <e_k, w_0 - w*>^2`` (summed over the node's multiplicity),
            non-negative and finite.
        weights: optional ``(N,)`` float multiplicities (default all ones), strictly positive.
        power_law: optional :class:`PowerLaw` metadata (static), set by
            :func:`power_law_spectrum`; used by the asymptotic predictions.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.Spectrum([1.0, 0.5], [1.0, 2.0])
        >>> float(s.initial_loss)   # 1/2 sum lambda_k c2_k
        1.0
    """

    eigenvalues: jax.Array
    c2: jax.Array
    weights: jax.Array
    power_law: Optional[PowerLaw] = static_field(None)

    def __init__(self, eigenvalues: Eigenvalues, c2: Coefficients,
                 weights: Optional[Float[ArrayLike, "N"]] = None,
                 power_law: Optional[PowerLaw] = None):
        lam = V.as_float_array(eigenvalues, "eigenvalues")
        V.check_ndim(lam, "eigenvalues", 1)
        if lam.shape[0] == 0:
            raise ValueError("eigenvalues must not be empty")
        c2 = V.as_float_array(c2, "c2", dtype=lam.dtype)
        if c2.shape != lam.shape:
            raise ValueError(f"c2 must have the shape of eigenvalues {lam.shape}, got {c2.shape}")
        V.check_finite(lam, "eigenvalues")
        V.check_positive(lam, "eigenvalues")
        V.check_finite(c2, "c2")
        V.check_positive(c2, "c2", strict=False)
        if weights is None:
            weights = jnp.ones_like(lam)
        else:
            weights = V.as_float_array(weights, "weights", dtype=lam.dtype)
            if weights.shape != lam.shape:
                raise ValueError(
                    f"weights must have the shape of eigenvalues {lam.shape}, got {weights.shape}"
                )
            V.check_finite(weights, "weights")
            V.check_positive(weights, "weights")
        if power_law is not None and not isinstance(power_law, PowerLaw):
            raise ValueError("power_law must be a PowerLaw or None")
        self.eigenvalues = lam
        self.c2 = c2
        self.weights = weights
        self.power_law = power_law

    # -- derived quantities --
    @property
    def size(self) -> int:
        """Number of nodes ``N``."""
        return self.eigenvalues.shape[-1]

    @property
    def dtype(self):
        return self.eigenvalues.dtype

    @property
    def lambda_max(self):
        return jnp.max(self.eigenvalues, axis=-1)

    @property
    def initial_loss(self):
        """:math:`L_0 = \\tfrac12\\sum_k \\lambda_k c_k^2` (theory §1)."""
        return 0.5 * jnp.sum(self.eigenvalues * self.c2, axis=-1)

    def astype(self, dtype) -> "Spectrum":
        """The same spectrum in another floating dtype (e.g. ``jnp.float32``)."""
        return replace(self, eigenvalues=self.eigenvalues.astype(dtype),
                       c2=self.c2.astype(dtype), weights=self.weights.astype(dtype))

    def with_power_law(self, power_law: Optional["PowerLaw"]) -> "Spectrum":
        """The same spectrum with power-law metadata attached (e.g. the fitted
        ``fit_spectrum_exponents(s).power_law`` of a kernel spectrum), so that the phase, the
        loss exponent and the constants of the asymptotic theory apply to it.

        Example:
            >>> import jaxaccel as ja
            >>> s = ja.Spectrum([1.0, 0.5], [1.0, 1.0]).with_power_law(ja.PowerLaw(2.0, 0.5, 1.0, 1.0))
            >>> s.power_law.nu
            2.0
        """
        if power_law is not None and not isinstance(power_law, PowerLaw):
            raise ValueError("power_law must be a PowerLaw or None")
        if power_law is not None:
            for name, x in zip(("nu", "zeta", "Lambda", "Q"), power_law):
                V.check_real_number(x, f"power_law.{name}")
                if not (np.isfinite(x) and x > 0):
                    raise ValueError(f"power_law.{name} must be finite and > 0, got {x!r}")
        return replace(self, power_law=power_law)

    def __repr__(self) -> str:
        pl = f", power_law={self.power_law}" if self.power_law is not None else ""
        return f"Spectrum(N={self.size}, dtype={self.dtype}{pl})"

    # -- constructors for real data --
    @classmethod
    def from_covariance(cls, matrix: Float[ArrayLike, "d d"], w_star: Float[ArrayLike, "d"],
                        w0: Optional[Float[ArrayLike, "d"]] = None,
                        rtol: float = 1e-12) -> "Spectrum":
        """Spectrum of a data covariance ``H`` (or any symmetric PSD matrix) and a target.

        ``c_k = <e_k, w0 - w_star>`` (``w0 = 0`` by default). Eigen-directions with
        ``lambda_k <= rtol * lambda_max`` are dropped: they never move and carry no loss.

        Args:
            matrix: ``(d, d)`` symmetric positive semi-definite.
            w_star: ``(d,)`` target weights.
            w0: optional ``(d,)`` initial weights.
        """
        H = _symmetric(matrix, "matrix")
        ws = np.asarray(w_star, dtype=np.float64)
        if ws.shape != (H.shape[0],):
            raise ValueError(f"w_star must have shape ({H.shape[0]},), got {ws.shape}")
        w0 = np.zeros_like(ws) if w0 is None else np.asarray(w0, dtype=np.float64)
        if w0.shape != ws.shape:
            raise ValueError(f"w0 must have shape {ws.shape}, got {w0.shape}")
        lam, vecs = np.linalg.eigh(H)
        _check_psd(lam, "matrix")
        keep = lam > rtol * lam.max()
        c = vecs.T @ (w0 - ws)
        order = np.argsort(-lam[keep])
        return cls(lam[keep][order], (c[keep] ** 2)[order])

    @classmethod
    def from_kernel(cls, kernel: Float[ArrayLike, "n n"], targets: Float[ArrayLike, "n"],
                    rtol: float = 1e-12) -> "Spectrum":
        """Spectrum of kernel regression on ``n`` points, started from the zero function.

        With the Gram matrix ``K = Phi Phi^T`` of features ``Phi`` (``n x p``), the feature
        covariance ``H = Phi^T Phi / n`` has the non-zero eigenvalues of ``K / n``; for targets
        ``y = Phi w*`` the coefficients are ``c_k^2 = (u_k^T y)^2 / (n lambda_k)`` (summed over
        output columns), so that ``L_0 = |y|^2 / (2n)``.

        Args:
            kernel: ``(n, n)`` symmetric PSD Gram matrix (same tolerances as
                :meth:`from_covariance`: ``ValueError`` saying what was found otherwise).
            targets: ``(n,)`` or ``(n, outputs)``.
        """
        K = _symmetric(kernel, "kernel")
        y = np.asarray(targets, dtype=np.float64)
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[0] != K.shape[0]:
            raise ValueError(f"targets must have {K.shape[0]} rows, got shape {y.shape}")
        n = K.shape[0]
        lam, U = np.linalg.eigh(K / n)
        _check_psd(lam, "kernel")
        keep = lam > rtol * lam.max()
        proj2 = ((U.T @ y) ** 2).sum(axis=1)
        order = np.argsort(-lam[keep])
        lam_k = lam[keep][order]
        return cls(lam_k, proj2[keep][order] / (n * lam_k))


#: tolerances of the real-data constructors: symmetric to ``rtol 1e-10`` (``atol 1e-12 max|A|``),
#: eigenvalues above ``-1e-8 lambda_max`` (smaller negative ones are rounding and are dropped)
SYMMETRY_RTOL, PSD_RTOL = 1e-10, 1e-8


def _symmetric(matrix, name):
    """A finite square float64 matrix, symmetric within the tolerance (then symmetrised, so
    that rounding-level asymmetry cannot make ``eigh`` read one triangle only)."""
    A = np.asarray(matrix, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"{name} must be square 2-D, got shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} must be finite")
    scale = max(np.abs(A).max(), 1e-300)
    if not np.allclose(A, A.T, rtol=SYMMETRY_RTOL, atol=1e-12 * scale):
        raise ValueError(f"{name} must be symmetric (max |A - A^T| = {np.abs(A - A.T).max():.3g}, "
                         f"max |A| = {scale:.3g})")
    return 0.5 * (A + A.T)


def _check_psd(lam, name):
    if lam.min() < -PSD_RTOL * max(lam.max(), 1e-300):
        raise ValueError(f"{name} must be positive semi-definite (min eigenvalue {lam.min():.3g}, "
                         f"max {lam.max():.3g})")


def check_spectrum(spectrum, name: str = "spectrum") -> Spectrum:
    """Validate a :class:`Spectrum` argument (``ValueError`` naming ``name``)."""
    if not isinstance(spectrum, Spectrum):
        raise ValueError(f"{name} must be a Spectrum, got {type(spectrum).__name__}")
    return spectrum


def power_law_spectrum(
    n: int,
    nu: float,
    zeta: float,
    Lambda: float = 1.0,
    Q: Optional[float] = None,
    dtype: Optional[DTypeLike] = None,
) -> Spectrum:
    """The "ideal" power-law problem of theory §1 (App. M.1 of the paper).

    .. math::  \\lambda_k = \\Lambda k^{-\\nu},\\qquad \\lambda_k c_k^2 = A\\,k^{-\\zeta\\nu-1},
               \\qquad Q = \\frac{A}{\\zeta\\nu\\,\\Lambda^{\\zeta}},\\qquad k = 1..n,

    so that assumption (1) holds with exponents ``(nu, zeta)`` and constants ``(Lambda, Q)``.
    By default ``A = Lambda``, i.e. ``c_k^2 = k^{nu - 1 - zeta nu}`` (the ideal choice).

    Args:
        n: number of eigenvalues (positive int).
        nu: spectral exponent, ``nu > 1/2`` (``nu > 1`` for the asymptotic theory).
        zeta: target exponent, ``zeta > 0``.
        Lambda: eigenvalue scale, ``> 0``.
        Q: target constant of (1), ``> 0``; ``None`` for ``A = Lambda``.
        dtype: floating dtype (default float64).

    Example:
        >>> s = power_law_spectrum(1000, nu=1.5, zeta=0.5)
        >>> float(s.eigenvalues[1])  # 2 ** -1.5
        0.3535533905932738
    """
    n = V.check_positive_int(n, "n")
    for name, val in (("nu", nu), ("zeta", zeta), ("Lambda", Lambda)):
        V.check_real_number(val, name)
        if not np.isfinite(val) or val <= 0:
            raise ValueError(f"{name} must be finite and > 0, got {val!r}")
    if dtype is not None and not jnp.issubdtype(jnp.dtype(dtype), jnp.floating):
        raise ValueError(f"dtype must be a floating dtype, got {jnp.dtype(dtype)}")
    if nu <= 0.5:
        raise ValueError(f"nu must be > 1/2 (sum of lambda_k^2 must converge), got {nu!r}")
    kappa = zeta * nu
    if Q is None:
        A = float(Lambda)
        Q = A / (kappa * Lambda**zeta)
    else:
        V.check_real_number(Q, "Q")
        if not np.isfinite(Q) or Q <= 0:
            raise ValueError(f"Q must be finite and > 0, got {Q!r}")
        A = Q * kappa * Lambda**zeta
    k = np.arange(1, n + 1, dtype=np.float64)
    lam = Lambda * k**-nu
    c2 = (A / Lambda) * k ** (nu - 1.0 - kappa)
    dtype = jnp.result_type(float) if dtype is None else dtype
    return Spectrum(
        jnp.asarray(lam, dtype=dtype),
        jnp.asarray(c2, dtype=dtype),
        power_law=PowerLaw(float(nu), float(zeta), float(Lambda), float(Q)),
    )
