"""Test problems for stagewise training: quadratics in parameter space and deep linear residual nets.

Theory: ``docs/theory/depth_stacking.md`` §B1.4 (where the ill-conditioning lives), §B4.3 (residual model),
§B5 E-B1 (synthetic defaults).

Geometry. For an additive ensemble of learners that are linear in a feature map,
``f_t(x) = theta_t^T phi(x)``, the ensemble is ``F_T = Theta_T^T phi`` with
``Theta_T = sum_t theta_t``, and for the squared loss

.. math:: \\mathcal L(\\Theta) = \\tfrac12 (\\Theta-\\Theta^*)^\\top H (\\Theta-\\Theta^*) + \\mathcal L^*,
   \\qquad H = \\mathbb E[\\phi\\phi^\\top] + \\lambda I .

The condition number ``kappa`` used throughout is ``cond(H)`` -- the conditioning of the
learners' parametrisation (§B1.4), with step ``eta = 1/L``, ``L = lambda_max(H)``.
A kernel learner is the linear learner with features ``Phi = K^{1/2}`` (see
:func:`kernel_features`): gradient steps on ``theta`` then move the predictions on the training set
by ``-eta K (F - y) / n``, the kernel-projected functional gradient step.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple, Union

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import Array, ArrayLike, Float, Scalar
from jaxaccel.stacking import _checks as C


# ----------------------------------------------------------------------------- quadratics
class Quadratic(NamedTuple):
    """Squared loss of a linear-in-parameters learner, ``L(Theta) = 1/2 e^T H e + L*``, ``e = Theta - Theta*``.

    Attributes:
        hessian: ``(p, p)`` symmetric positive semi-definite ``H``.
        minimizer: ``(p,)`` or ``(p, c)`` ``Theta*`` (``c`` outputs share ``H``).
        start: same shape as ``minimizer``; the initial ensemble ``Theta_0`` (``F_0``).
        smoothness: ``()`` ``L = lambda_max(H)``.
        strong_convexity: ``()`` ``mu = lambda_min(H)`` (0 when ``H`` is singular).
    """

    hessian: jax.Array
    minimizer: jax.Array
    start: jax.Array
    smoothness: jax.Array
    strong_convexity: jax.Array

    @property
    def kappa(self) -> Float[Array, ""]:
        """Condition number ``L / mu`` (``inf`` when ``mu = 0``)."""
        return self.smoothness / self.strong_convexity

    def grad(self, theta: Float[ArrayLike, "p *c"]) -> Float[Array, "p *c"]:
        """``nabla L(Theta) = H (Theta - Theta*)``, shape of ``theta``."""
        return self.hessian @ (theta - self.minimizer)

    def gap(self, theta: Float[ArrayLike, "p *c"]) -> Float[Array, ""]:
        """Suboptimality ``L(Theta) - L* = 1/2 tr(e^T H e)`` (no cancellation: computed from ``e``)."""
        e = theta - self.minimizer
        return 0.5 * jnp.sum(e * (self.hessian @ e))


def _orthogonal(key, d, dtype):
    q, r = jnp.linalg.qr(jax.random.normal(key, (d, d), dtype))
    return q * jnp.sign(jnp.diagonal(r))


def geometric_spectrum(kappa: Scalar, dim: int) -> Float[Array, "dim"]:
    """``(dim,)`` eigenvalues ``geomspace(1/kappa, 1, dim)`` (traceable in ``kappa``; §B5 E-B1).

    The spectrum of the synthetic quadratics and residual covariances (§B5 E-B1), increasing
    from ``mu = 1/kappa`` to ``L = 1``.

    Args:
        kappa: ``()`` condition number ``>= 1``.
        dim: number of eigenvalues.

    Returns:
        ``(dim,)`` eigenvalues in increasing order.

    Example:
        >>> from jaxaccel.stacking import geometric_spectrum
        >>> [round(float(v), 12) for v in geometric_spectrum(100.0, 3)]
        [0.01, 0.1, 1.0]
    """
    kappa = jnp.asarray(kappa, dtype=jnp.result_type(float))
    frac = jnp.arange(dim, dtype=kappa.dtype) / max(dim - 1, 1)
    return jnp.exp(-jnp.log(kappa) * (1.0 - frac))


def quadratic_problem(kappa: Scalar, dim: int, key: Array, error: str = "equal_gap",
                      gap0: Scalar = 1.0) -> Quadratic:
    """Ill-conditioned synthetic quadratic with ``H = Q diag(geomspace(1/kappa, 1, dim)) Q^T`` (§B5).

    ``Theta_0 = 0``; the initial error ``e_0 = -Theta*`` is written in the eigenbasis of ``H``:

    * ``error="equal_gap"``: every eigen-direction carries the same share ``gap0 / dim`` of the
      initial gap (random signs). Then the slowest mode starts with a ``kappa``-independent weight,
      so the number of stages needed to reduce the gap by a fixed factor scales cleanly as a power
      of ``kappa`` (the worst-case-like start used for the acceptance exponents).
    * ``error="isotropic"``: a Gaussian direction, rescaled so the initial gap is ``gap0``. The
      slow modes then start with weight ``~1/kappa`` and stage counts carry a ``log kappa``
      correction.

    Args:
        kappa: ``()`` condition number ``>= 1`` (may be traced: the problem is vmappable over it).
        dim: number of parameters ``p``.
        key: PRNG key (rotation ``Q`` and signs / direction).
        error: ``"equal_gap"`` or ``"isotropic"``.
        gap0: ``()`` initial suboptimality ``L(Theta_0) - L* > 0``.

    Returns:
        A :class:`Quadratic` with ``smoothness = 1`` and ``strong_convexity = 1/kappa``.

    Example:
        >>> import jax
        >>> from jaxaccel.stacking import quadratic_problem
        >>> q = quadratic_problem(100.0, 10, jax.random.PRNGKey(0))
        >>> round(float(q.kappa), 6), round(float(q.gap(q.start)), 12)
        (100.0, 1.0)
    """
    dim = V.check_positive_int(dim, "dim")
    kappa = C.scalar(kappa, "kappa")
    if V.is_concrete(kappa) and float(kappa) < 1:
        raise ValueError(f"kappa must be >= 1, got {float(kappa)!r}")
    gap0 = C.scalar(gap0, "gap0", positive=True)
    C.check_choice(error, "error", ("equal_gap", "isotropic"))
    return _quadratic_problem(kappa, gap0, key, dim, error)


@partial(jax.jit, static_argnames=("dim", "error"))
def _quadratic_problem(kappa, gap0, key, dim, error):
    dtype = jnp.result_type(float)
    lam = geometric_spectrum(kappa, dim)
    kq, ks = jax.random.split(key)
    q = _orthogonal(kq, dim, dtype)
    if error == "equal_gap":
        signs = jnp.where(jax.random.bernoulli(ks, 0.5, (dim,)), 1.0, -1.0)
        c = signs * jnp.sqrt(2.0 * gap0 / (dim * lam))
    else:
        z = jax.random.normal(ks, (dim,), dtype)
        c = z * jnp.sqrt(2.0 * gap0 / jnp.sum(lam * z * z))
    hess = (q * lam) @ q.T
    hess = 0.5 * (hess + hess.T)
    e0 = q @ c
    return Quadratic(hess, -e0, jnp.zeros(dim, dtype), lam[-1], lam[0])


def quadratic_from_data(
    features: Float[ArrayLike, "n p"],
    targets: Union[Float[ArrayLike, "n"], Float[ArrayLike, "n c"]],
    ridge: Scalar = 0.0,
    start: Union[None, Float[ArrayLike, "p"], Float[ArrayLike, "p c"]] = None,
) -> Quadratic:
    """Squared loss ``1/(2n) ||Phi Theta - Y||^2 + ridge/2 ||Theta||^2`` of a linear-in-features learner.

    .. math:: H = \\Phi^\\top\\Phi / n + \\lambda I,\\qquad H\\Theta^* = \\Phi^\\top Y / n

    (minimum-norm ``Theta*`` when ``H`` is singular). ``kappa = cond(H)`` (§B1.4).

    Args:
        features: ``(n, p)`` feature matrix ``Phi`` (linear, random-feature or kernel features).
        targets: ``(n,)`` or ``(n, c)`` targets ``Y``.
        ridge: ``() >= 0`` ridge ``lambda``.
        start: optional initial ensemble ``Theta_0`` with the shape of ``Theta*`` (default 0).

    Example:
        >>> import numpy as np
        >>> from jaxaccel.stacking import quadratic_from_data
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(50, 3)); y = X @ np.array([1.0, -2.0, 0.5])
        >>> q = quadratic_from_data(X, y)
        >>> np.allclose(q.minimizer, [1.0, -2.0, 0.5]), float(q.gap(q.minimizer))
        (True, 0.0)
    """
    phi = C.finite_array(features, "features", 2)
    y = C.finite_array(targets, "targets", (1, 2))
    if y.shape[0] != phi.shape[0]:
        raise ValueError(f"targets must have {phi.shape[0]} rows (one per row of features), "
                         f"got shape {y.shape}")
    ridge = C.scalar(ridge, "ridge", nonneg=True)
    if start is not None:
        start = C.finite_array(start, "start", y.ndim)
        expect = (phi.shape[1],) + y.shape[1:]
        if start.shape != expect:
            raise ValueError(f"start must have shape {expect}, got {start.shape}")
    return _from_data(phi, y, ridge, start)


@jax.jit
def _from_data(phi, y, ridge, start):
    n, p = phi.shape
    hess = phi.T @ phi / n + ridge * jnp.eye(p, dtype=phi.dtype)
    hess = 0.5 * (hess + hess.T)
    lam, q = jnp.linalg.eigh(hess)
    tol = jnp.finfo(phi.dtype).eps * p * lam[-1]
    inv = jnp.where(lam > tol, 1.0 / jnp.where(lam > tol, lam, 1.0), 0.0)
    b = phi.T @ y / n
    theta_star = q @ ((inv if y.ndim == 1 else inv[:, None]) * (q.T @ b))
    if start is None:
        start = jnp.zeros_like(theta_star)
    mu = jnp.where(lam[0] > tol, lam[0], 0.0)
    return Quadratic(hess, theta_star, start, lam[-1], mu)


# ----------------------------------------------------------------------------- features
def rbf_kernel(x: Float[ArrayLike, "n d"], z: Float[ArrayLike, "m d"],
               bandwidth: Scalar) -> Float[Array, "n m"]:
    """Gaussian kernel ``exp(-||x - z||^2 / (2 bandwidth^2))``, ``(n, d), (m, d) -> (n, m)``.

    The kernel learner of §B1.4 / §B5 E-B1 (turned into features by :func:`kernel_features`,
    approximated by :func:`random_fourier_features`).

    Args:
        x: ``(n, d)`` inputs.
        z: ``(m, d)`` inputs.
        bandwidth: ``() > 0`` length scale.

    Returns:
        ``(n, m)`` Gram matrix ``K(x_i, z_j)``.

    Example:
        >>> from jaxaccel.stacking import rbf_kernel
        >>> K = rbf_kernel([[0.0], [1.0]], [[0.0]], 1.0)
        >>> K.shape, [round(float(v), 6) for v in K[:, 0]]     # exp(0), exp(-1/2)
        ((2, 1), [1.0, 0.606531])
    """
    x = C.finite_array(x, "x", 2)
    z = C.finite_array(z, "z", 2)
    if x.shape[1] != z.shape[1]:
        raise ValueError(f"z must have {x.shape[1]} columns like x, got shape {z.shape}")
    return _rbf(x, z, C.scalar(bandwidth, "bandwidth", positive=True))


@jax.jit
def _rbf(x, z, bw):
    sq = (jnp.sum(x * x, 1)[:, None] + jnp.sum(z * z, 1)[None, :] - 2.0 * x @ z.T)
    return jnp.exp(-jnp.maximum(sq, 0.0) / (2.0 * bw * bw))


def kernel_features(gram: Float[ArrayLike, "n n"]) -> Float[Array, "n n"]:
    """Features ``Phi = U diag(sqrt(lambda))`` with ``Phi Phi^T = K`` for a PSD Gram matrix ``K``.

    A linear learner on these features is the kernel learner on the training set: a gradient
    step ``theta -= eta Phi^T (Phi Theta - y) / n`` moves the predictions ``F = Phi Theta`` by
    ``-eta K (F - y) / n`` (§B1.4, kernel-projected functional gradient).

    Args:
        gram: ``(n, n)`` symmetric PSD kernel matrix (tiny negative eigenvalues are clipped).

    Returns:
        ``(n, n)`` features.

    Example:
        >>> import numpy as np
        >>> from jaxaccel.stacking import kernel_features, rbf_kernel
        >>> x = np.linspace(0, 1, 6)[:, None]
        >>> K = rbf_kernel(x, x, 0.5); Phi = kernel_features(K)
        >>> bool(np.allclose(Phi @ Phi.T, K, atol=1e-12))
        True
    """
    k = C.finite_array(gram, "gram", 2)
    if k.shape[0] != k.shape[1]:
        raise ValueError(f"gram must be square, got shape {k.shape}")
    return _kernel_features(k)


@jax.jit
def _kernel_features(k):
    lam, u = jnp.linalg.eigh(0.5 * (k + k.T))
    return u * jnp.sqrt(jnp.maximum(lam, 0.0))


def random_fourier_features(x: Float[ArrayLike, "n d"], num_features: int, bandwidth: Scalar,
                            key: Array) -> Float[Array, "n D"]:
    """Random Fourier features ``sqrt(2/D) cos(x W + b)`` approximating :func:`rbf_kernel` (§B5 E-B1).

    Args:
        x: ``(n, d)`` inputs.
        num_features: ``D``.
        bandwidth: ``() > 0``; ``W ~ N(0, bandwidth^-2)``, ``b ~ U[0, 2 pi)``.
        key: PRNG key.

    Returns:
        ``(n, D)`` features with ``E[Phi Phi^T] = K``.

    Example:
        >>> import jax, numpy as np
        >>> from jaxaccel.stacking import random_fourier_features
        >>> random_fourier_features(np.zeros((4, 2)), 16, 1.0, jax.random.PRNGKey(0)).shape
        (4, 16)
    """
    x = C.finite_array(x, "x", 2)
    D = V.check_positive_int(num_features, "num_features")
    return _rff(x, C.scalar(bandwidth, "bandwidth", positive=True), key, D)


@partial(jax.jit, static_argnames=("D",))
def _rff(x, bw, key, D):
    kw, kb = jax.random.split(key)
    w = jax.random.normal(kw, (x.shape[1], D), x.dtype) / bw
    b = jax.random.uniform(kb, (D,), x.dtype, 0.0, 2.0 * np.pi)
    return jnp.sqrt(2.0 / D) * jnp.cos(x @ w + b)


# ----------------------------------------------------------------------------- residual nets
class ResidualProblem(NamedTuple):
    """Population square loss of a linear map, ``L(F) = 1/2 tr((F - F*) Sigma (F - F*)^T)`` (§B4.3).

    Attributes:
        covariance: ``(d, d)`` input covariance ``Sigma`` (SPD).
        target: ``(d, d)`` target map ``F*``.
        smoothness: ``()`` ``L = lambda_max(Sigma)``.
        strong_convexity: ``()`` ``mu = lambda_min(Sigma)``.

    The stagewise model starts at ``F_0 = I`` and grows ``F_t = (I + W_t) F_{t-1}``.
    """

    covariance: jax.Array
    target: jax.Array
    smoothness: jax.Array
    strong_convexity: jax.Array

    @property
    def kappa(self) -> Float[Array, ""]:
        """Condition number ``L / mu`` of ``Sigma``."""
        return self.smoothness / self.strong_convexity

    @property
    def start(self) -> Float[Array, "d d"]:
        """``F_0 = I``."""
        return jnp.eye(self.target.shape[-1], dtype=self.target.dtype)

    def grad(self, f: Float[ArrayLike, "d d"]) -> Float[Array, "d d"]:
        """``nabla L(F) = (F - F*) Sigma``."""
        return (f - self.target) @ self.covariance

    def gap(self, f: Float[ArrayLike, "d d"]) -> Float[Array, ""]:
        """``L(F) - L* = 1/2 tr(E Sigma E^T)``, ``E = F - F*`` (``L* = 0``)."""
        e = f - self.target
        return 0.5 * jnp.sum((e @ self.covariance) * e)


def residual_problem(kappa: Scalar, dim: int, distance: Scalar, key: Array) -> ResidualProblem:
    """Deep-linear-residual test problem of §B4.4/§B5: ``Sigma = Q diag(geomspace(1/kappa, 1, d)) Q^T``,
    ``F* = I + distance * R / ||R||_2`` with Gaussian ``R``.

    Args:
        kappa: ``() >= 1`` condition number of ``Sigma`` (traceable).
        dim: ``d``.
        distance: ``() >= 0`` ``||F* - I||_2`` (near-identity targets: small values).
        key: PRNG key.

    Example:
        >>> import jax, numpy as np
        >>> from jaxaccel.stacking import residual_problem
        >>> p = residual_problem(100.0, 6, 0.3, jax.random.PRNGKey(1))
        >>> round(float(np.linalg.norm(p.target - np.eye(6), 2)), 12), round(float(p.kappa), 6)
        (0.3, 100.0)
    """
    dim = V.check_positive_int(dim, "dim")
    kappa = C.scalar(kappa, "kappa")
    if V.is_concrete(kappa) and float(kappa) < 1:
        raise ValueError(f"kappa must be >= 1, got {float(kappa)!r}")
    distance = C.scalar(distance, "distance", nonneg=True)
    return _residual_problem(kappa, distance, key, dim)


@partial(jax.jit, static_argnames=("dim",))
def _residual_problem(kappa, distance, key, dim):
    dtype = jnp.result_type(float)
    lam = geometric_spectrum(kappa, dim)
    kq, kr = jax.random.split(key)
    q = _orthogonal(kq, dim, dtype)
    cov = (q * lam) @ q.T
    cov = 0.5 * (cov + cov.T)
    r = jax.random.normal(kr, (dim, dim), dtype)
    r = r / jnp.linalg.norm(r, 2)
    return ResidualProblem(cov, jnp.eye(dim, dtype=dtype) + distance * r, lam[-1], lam[0])
