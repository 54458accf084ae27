"""Data models for Monte-Carlo SGD, each with the SE noise model that is exact for it.

Theory: ``docs/theory/sgd_memory.md`` §1 (mini-batch sampling) and §3.1-§3.2 (second moments,
SE noise model (15), the finite-dataset batch factor). Every data model is expressed in
coordinates where ``H = diag(variances)``; targets are noiseless, so only ``w - w*`` matters.

* :func:`gaussian_data` -- ``x ~ N(0, diag(lambda))``: ``tau = (1, -1)`` by Isserlis' theorem.
* :func:`fourier_data` -- translation-invariant random Fourier features on the circle:
  ``tau = (1, 1)`` (derivation in :func:`fourier_data`).
* :func:`finite_data` / :func:`kernel_regression_data` -- a finite dataset of ``N`` points,
  batches of ``b`` points drawn with replacement (batch factor ``1/b``) or without replacement
  (``(N - b) / ((N - 1) b)``, derived in :func:`finite_data`). The SE model is exact only if
  the dataset's fourth moments are, e.g. Fourier features on a uniform grid of the circle.
"""

from __future__ import annotations

from typing import Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._pytree import pytree_dataclass, static_field
from jaxaccel._typing import Array, ArrayLike, Eigenvalues, Float, Int, Scalar
from jaxaccel.moments.dataset import batch_factor
from jaxaccel.spectra.spectrum import Spectrum

__all__ = ["GaussianData", "FourierData", "FiniteData", "gaussian_data", "fourier_data", "fourier_features", "resonance_free_frequencies", "finite_data", "kernel_regression_data", "batch_factor"]



# ----------------------------------------------------------------------------- data models
class _IIDData:
    """Shared part of the data models that draw i.i.d. samples (any batch size, factor ``1/b``)."""

    def check_batch_size(self, batch_size: int) -> None:
        pass

    def batch_factor(self, batch_size: Union[Scalar, Float[ArrayLike, "*B"]]
                     ) -> Union[float, Float[ArrayLike, "*B"]]:
        """``1/b`` (i.i.d. samples)."""
        return 1.0 / batch_size

    def spectrum(self, initial_error: Union[Float[ArrayLike, "d"], Float[ArrayLike, "d outputs"]]
                 ) -> Spectrum:
        """The SE problem: ``lambda = variances``, ``c2 = initial_error**2`` (summed over outputs)."""
        return _spectrum(self.variances, initial_error)


@pytree_dataclass
class GaussianData(_IIDData):
    """Gaussian data ``x ~ N(0, diag(eigenvalues))`` (build with :func:`gaussian_data`)."""

    eigenvalues: jax.Array
    tau = (1.0, -1.0)

    def __init__(self, eigenvalues: Float[Array, "d"]) -> None:
        self.eigenvalues = eigenvalues

    @property
    def variances(self) -> Float[Array, "d"]:
        """``(d,)`` diagonal of ``H`` in the data coordinates."""
        return self.eigenvalues

    def sample(self, key: Array, batch_size: int) -> Float[Array, "b d"]:
        """A batch ``(b, d)``."""
        lam = self.eigenvalues
        return jax.random.normal(key, (batch_size, lam.shape[0]), lam.dtype) * jnp.sqrt(lam)



@pytree_dataclass
class FourierData(_IIDData):
    """Random Fourier features on the circle (build with :func:`fourier_data`)."""

    eigenvalues: jax.Array
    frequencies: jax.Array
    tau = (1.0, 1.0)

    def __init__(self, eigenvalues: Float[Array, "n"], frequencies: Float[Array, "n"]) -> None:
        self.eigenvalues = eigenvalues
        self.frequencies = frequencies

    @property
    def variances(self) -> Float[Array, "2*n"]:
        """``(2n,)``: each eigenvalue twice (cosine block, then sine block)."""
        return jnp.concatenate([self.eigenvalues, self.eigenvalues])

    def sample(self, key: Array, batch_size: int) -> Float[Array, "b 2*n"]:
        """A batch ``(b, 2n)`` of features of uniform angles."""
        lam = self.eigenvalues
        theta = 2.0 * jnp.pi * jax.random.uniform(key, (batch_size,), lam.dtype)
        return fourier_features(theta, lam, self.frequencies)



@pytree_dataclass
class FiniteData:
    """A finite dataset in the eigen-coordinates of its covariance (see :func:`finite_data`).

    Attributes:
        points: ``(N, d)`` the data points, coordinates in which ``H = points^T points / N``
            is ``diag(variances)``.
        variances: ``(d,)`` positive eigenvalues of ``H``.
        basis: ``(p, d)`` orthonormal columns mapping these coordinates back to the original
            feature space (``x_original = basis @ x``).
        replace: sampling with (``True``) or without replacement within a batch (static).
    """

    points: jax.Array
    variances: jax.Array
    basis: jax.Array
    replace: bool = static_field(True)
    tau = None  # SE is exact only for special datasets: pass tau explicitly

    def __init__(self, points: Float[Array, "N d"], variances: Float[Array, "d"],
                 basis: Float[Array, "p d"], replace: bool) -> None:
        self.points = points
        self.variances = variances
        self.basis = basis
        self.replace = replace

    @property
    def size(self) -> int:
        """Number of data points ``N``."""
        return self.points.shape[0]

    def coordinates(self, vector: Union[Float[ArrayLike, "p"], Float[ArrayLike, "p outputs"]]
                    ) -> Union[Float[Array, "d"], Float[Array, "d outputs"]]:
        """Coordinates ``basis^T v`` of a vector (or ``(p, outputs)`` matrix) of the feature space."""
        return self.basis.T @ jnp.asarray(vector, self.basis.dtype)

    def sample(self, key: Array, batch_size: int) -> Float[Array, "b d"]:
        """A batch ``(b, d)`` of data points (distinct points without replacement)."""
        N = self.points.shape[0]
        if self.replace:
            idx = jax.random.randint(key, (batch_size,), 0, N)
        else:
            idx = floyd_subset(key, N, batch_size)
        return self.points[idx]

    def check_batch_size(self, batch_size: int) -> None:
        if not self.replace and batch_size > self.size:
            raise ValueError(
                f"batch_size={batch_size} exceeds the dataset size N={self.size} "
                "(sampling without replacement)"
            )

    def batch_factor(self, batch_size: Union[Scalar, Float[ArrayLike, "*B"]]
                     ) -> Union[float, Float[np.ndarray, "*B"]]:
        """``1/b`` with replacement; ``(N - b) / ((N - 1) b)`` without (exact, theory §3.2)."""
        return batch_factor(self.size, batch_size, self.replace)

    def spectrum(self, initial_error: Union[Float[ArrayLike, "d"], Float[ArrayLike, "d outputs"]]
                 ) -> Spectrum:
        """The SE problem: ``lambda = variances``, ``c2 = initial_error**2`` (summed over outputs)."""
        return _spectrum(self.variances, initial_error)


def _spectrum(variances, initial_error) -> Spectrum:
    e = jnp.asarray(initial_error, variances.dtype)
    if e.shape[:1] != variances.shape:
        raise ValueError(
            f"initial_error must have leading dimension {variances.shape[0]}, got shape {e.shape}"
        )
    c2 = (e * e).reshape(e.shape[0], -1).sum(axis=1)
    return Spectrum(variances, c2)


def floyd_subset(key, N: int, b: int):
    """``b`` distinct indices of ``range(N)``, uniformly among all b-subsets (Floyd's algorithm).

    For ``j = N-b .. N-1`` draw ``r`` uniform in ``[0, j]``; take ``r`` unless already taken,
    else ``j``. Costs ``b`` random integers (not ``N``) and ``O(b^2)`` comparisons.
    """
    top = jnp.arange(N - b, N)
    r = jax.random.randint(key, (b,), 0, top + 1)

    def body(i, idx):
        taken = jnp.any(idx == r[i])
        return idx.at[i].set(jnp.where(taken, top[i], r[i]))

    return jax.lax.fori_loop(0, b, body, jnp.full((b,), -1, r.dtype))


def gaussian_data(eigenvalues: Union[Eigenvalues, Spectrum]) -> GaussianData:
    """Gaussian data ``x ~ N(0, diag(lambda))``; SE with ``tau = (1, -1)`` is exact (theory §3.2).

    Isserlis: :math:`\\mathbb E[\\langle x,Ax\\rangle xx^T] = \\mathrm{Tr}(HA)H + 2HAH`, so
    :math:`\\Sigma(A) = \\mathrm{Tr}(HA)H + HAH`, which is (15) with ``tau1 = 1, tau2 = -1``.

    Args:
        eigenvalues: a :class:`~jaxaccel.Spectrum` with unit weights (the convention of the
            other entry points: the problem first) or ``(N,)`` positive variances (the data
            dimension is ``N``).

    Example:
        >>> import jax, jaxaccel as ja
        >>> data = ja.gaussian_data([1.0, 0.25])
        >>> data.sample(jax.random.PRNGKey(0), 5).shape
        (5, 2)
        >>> ja.gaussian_data(ja.power_law_spectrum(3, nu=1.5, zeta=0.5)).variances.shape
        (3,)
    """
    if isinstance(eigenvalues, Spectrum):
        if not bool(jnp.all(eigenvalues.weights == 1)):
            raise ValueError("eigenvalues: a Spectrum with multiplicities (weights != 1) is not "
                             "a dataset; Gaussian data need one variance per dimension")
        eigenvalues = eigenvalues.eigenvalues
    lam = _positive_vector(eigenvalues, "eigenvalues")
    return GaussianData(lam)


def _positive_vector(x, name):
    x = V.as_float_array(x, name)
    V.check_ndim(x, name, 1)
    if x.shape[0] == 0:
        raise ValueError(f"{name} must not be empty")
    V.check_finite(x, name)
    V.check_positive(x, name)
    return x


def resonance_free_frequencies(n: int) -> np.ndarray:
    """``n`` positive integer frequencies with no resonances among fourth moments.

    ``f_j = 1 + 3 s_j`` where ``s_j`` is the binary expansion of ``j`` read in base 3 (digits
    0/1): ``1, 4, 10, 13, 28, 31, 37, 40, ...``. The set has no three-term arithmetic
    progression (a sum of two numbers with base-3 digits 0/1 has no carries, so
    ``s_j + s_l = 2 s_m`` forces ``j = l = m``), hence ``f_j + f_l != 2 f_m`` for ``j != l``;
    and ``f_j - f_l`` is divisible by 3 while ``2 f_m`` is not. These are the conditions
    :func:`fourier_data` needs.

    Example:
        >>> resonance_free_frequencies(6).tolist()
        [1, 4, 10, 13, 28, 31]
    """
    n = V.check_positive_int(n, "n")
    s = np.array([int(np.base_repr(j, 2), 3) for j in range(n)], dtype=np.int64)
    return 1 + 3 * s


def _check_frequencies(freq) -> None:
    f = np.asarray(freq)
    if f.ndim != 1 or not np.all(f == np.round(f)) or np.any(f < 1):
        raise ValueError("frequencies must be a 1-D array of positive integers")
    f = f.astype(np.int64)
    if np.unique(f).size != f.size:
        raise ValueError("frequencies must be distinct")
    doubled = set((2 * f).tolist())
    j, l = np.triu_indices(f.size, k=1)
    for combo in (f[j] + f[l], np.abs(f[j] - f[l])):
        hit = [int(v) for v in combo if int(v) in doubled]
        if hit:
            raise ValueError(
                "frequencies have a resonance f_j +- f_l = 2 f_m (e.g. "
                f"{hit[0]} = 2 * {hit[0] // 2}): translation-invariant SE would not be exact; "
                "use resonance_free_frequencies(n)"
            )


def fourier_features(
    theta: Float[ArrayLike, "B"],
    eigenvalues: Eigenvalues,
    frequencies: Union[Int[ArrayLike, "N"], Float[ArrayLike, "N"]],
) -> Float[Array, "B 2*N"]:
    """Real Fourier features ``[sqrt(2 mu_k) cos(f_k theta), sqrt(2 mu_k) sin(f_k theta)]``.

    The feature map of :func:`fourier_data` (theory §3.2): ``E_theta[x x^T] = diag(mu, mu)``.

    Args:
        theta: ``(B,)`` angles.
        eigenvalues: ``(N,)`` ``mu_k``.
        frequencies: ``(N,)`` integer frequencies ``f_k``.

    Returns:
        ``(B, 2N)``: cosine block then sine block.

    Example:
        >>> import jax, numpy as np
        >>> from jaxaccel import reference as mc
        >>> ff = jax.jit(mc.fourier_features)      # traceable: one compiled call
        >>> x = ff(np.array([0.0, np.pi / 2]), np.array([0.5, 2.0]), np.array([1, 2]))
        >>> x.shape, np.round(np.asarray(x), 12).tolist()   # [cos f theta, sin f theta] blocks
        ((2, 4), [[1.0, 2.0, 0.0, 0.0], [0.0, -2.0, 1.0, 0.0]])
    """
    lam = jnp.asarray(eigenvalues)
    arg = jnp.asarray(theta)[:, None] * jnp.asarray(frequencies, lam.dtype)[None, :]
    amp = jnp.sqrt(2.0 * lam)
    return jnp.concatenate([amp * jnp.cos(arg), amp * jnp.sin(arg)], axis=1)


def fourier_data(
    eigenvalues: Eigenvalues,
    frequencies: Union[None, Int[ArrayLike, "N"], Float[ArrayLike, "N"]] = None,
) -> FourierData:
    """Translation-invariant data: random Fourier features of a uniform angle on the circle.

    ``x(theta) = (sqrt(2 mu_k) cos(f_k theta), sqrt(2 mu_k) sin(f_k theta))_k`` with ``theta``
    uniform on ``[0, 2 pi)``, so ``H = diag(mu, mu)`` (``2n`` coordinates). The SE noise model
    with ``tau = (1, 1)`` is exact for the loss (theory §3.2). Derivation: the loss and the
    second-moment recursion (12)-(13) only read the coordinate-diagonal of ``Sigma(A)``
    (``S_lambda`` acts coordinate-wise, so diagonal and off-diagonal blocks of ``C_t`` never
    mix). For coordinates ``j, l, m``, ``E[x_j x_l x_m^2]`` is the mean of a trigonometric
    polynomial with frequencies ``+-f_j +- f_l +- 2 f_m`` and ``+-f_j +- f_l``; for ``j != l`` it
    vanishes when the frequencies are *resonance-free* (``f_j +- f_l != 2 f_m`` for
    ``f_j != f_l``; a cosine-sine pair of one frequency gives ``sin * cos`` terms of zero mean).
    For ``j = l``: ``E[x_j^2 x_m^2] = mu_j mu_m`` for different frequencies, ``3 mu^2/2`` for
    ``j = m`` and ``mu^2/2`` for the two coordinates ``m, m'`` of one frequency. Hence

    .. math::  \\Sigma(A)_{mm} = \\mu_m\\mathrm{Tr}(HA) - \\mu_m^2\\,\\frac{A_{mm}+A_{m'm'}}2 .

    Summed over the pair ``(m, m')`` this is :math:`2\\mu\\mathrm{Tr}(HA) - \\mu^2(A_{mm} +
    A_{m'm'})`, exactly (15) with ``tau1 = tau2 = 1``; both coordinates of a pair share
    ``S_lambda`` and the loss reads only pair sums, so SE with ``tau = (1, 1)`` gives the exact
    expected loss (per coordinate or with one node of weight 2). The complex features
    ``sqrt(mu_k) e^{i f_k theta}`` need no resonance condition; real ones do.

    Args:
        eigenvalues: ``(N,)`` positive ``mu_k``.
        frequencies: ``(N,)`` distinct positive integers without resonances (checked);
            default :func:`resonance_free_frequencies`.

    Example:
        >>> import jax, jaxaccel as ja
        >>> data = ja.fourier_data([1.0, 0.5, 0.25])
        >>> data.frequencies.tolist(), data.sample(jax.random.PRNGKey(0), 4).shape
        ([1.0, 4.0, 10.0], (4, 6))
    """
    lam = _positive_vector(eigenvalues, "eigenvalues")
    if frequencies is None:
        frequencies = resonance_free_frequencies(lam.shape[0])
    freq = np.asarray(frequencies)
    if freq.shape != lam.shape:
        raise ValueError(f"frequencies must have shape {lam.shape}, got {freq.shape}")
    _check_frequencies(freq)
    return FourierData(lam, jnp.asarray(freq, lam.dtype))


def finite_data(points: Float[ArrayLike, "N p"], replace: bool = True,
                rtol: float = 1e-12) -> FiniteData:
    """A finite dataset of ``N`` points, batches drawn with or without replacement (theory §3.2).

    The points are rotated into the eigenbasis of ``H = points^T points / N``; directions with
    eigenvalue ``<= rtol * lambda_max`` are dropped (no data point has a component there, so
    they never move and carry no loss). Each step draws a fresh batch; without replacement the
    ``b`` points of a batch are distinct (uniform ``b``-subset), and the expected dynamics are
    the recursion (12)-(13) with ``1/b`` replaced by ``(N - b) / ((N - 1) b)``
    (:func:`batch_factor`). Reshuffled epochs are *not* this model (they correlate steps).

    Args:
        points: ``(N, p)`` feature vectors.
        replace: sample with replacement.
        rtol: relative eigenvalue cut-off.

    Returns:
        :class:`FiniteData`; ``data.coordinates(w0 - w_star)`` maps an initial error.

    Example:
        >>> import numpy as np, jaxaccel as ja
        >>> data = ja.finite_data(np.eye(3) * [1.0, 2.0, 3.0], replace=False)
        >>> np.round(np.asarray(data.variances), 12).tolist(), data.size
        ([3.0, 1.333333333333, 0.333333333333], 3)
    """
    X = np.asarray(points, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"points must be 2-D (N, p) with N >= 1, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("points must be finite")
    if not isinstance(replace, (bool, np.bool_)):
        raise ValueError(f"replace must be a bool, got {replace!r}")
    N = X.shape[0]
    lam, vecs = np.linalg.eigh(X.T @ X / N)
    if lam.max() <= 0:
        raise ValueError("points must not all be zero")
    keep = lam > rtol * lam.max()
    order = np.argsort(-lam[keep])
    basis = vecs[:, keep][:, order]
    return FiniteData(jnp.asarray(X @ basis), jnp.asarray(lam[keep][order]), jnp.asarray(basis),
                      bool(replace))


def kernel_regression_data(
    kernel: Float[ArrayLike, "N N"],
    targets: Union[Float[ArrayLike, "N"], Float[ArrayLike, "N outputs"]],
    replace: bool = False,
    rtol: float = 1e-12,
) -> Tuple[FiniteData, Float[Array, "d *outputs"]]:
    """Kernel regression on ``N`` points as a finite dataset, started from the zero function.

    The linearised network of theory §9 (App. M.2) trained by mini-batch SGD on its training set;
    the batch noise is that of a finite dataset (§3.2, :func:`batch_factor`).

    With ``K / N = U diag(lambda) U^T`` the points get the coordinates ``Z = U sqrt(N lambda)``
    (``Z Z^T = K``, ``Z^T Z / N = diag(lambda)``), and targets ``y = Z w*`` give the initial
    error ``e_k = -(u_k^T y) / sqrt(N lambda_k)``. This is the spectrum of
    :meth:`jaxaccel.Spectrum.from_kernel` (``c_k^2 = e_k^2``), so ``L_0 = |y|^2 / (2N)`` for
    targets in the range of ``K``.

    Args:
        kernel: ``(N, N)`` symmetric PSD Gram matrix.
        targets: ``(N,)`` or ``(N, outputs)``.
        replace: batch sampling with replacement.
        rtol: relative eigenvalue cut-off.

    Returns:
        ``(data, initial_error)`` with ``initial_error`` of shape ``(d,)`` or ``(d, outputs)``
        (``d <= N`` eigenvalues above the cut-off).

    Example:
        >>> import numpy as np
        >>> from jaxaccel import reference as mc
        >>> data, e0 = mc.kernel_regression_data(np.diag([3.0, 6.0, 9.0]), np.ones(3))
        >>> lam = np.asarray(data.variances)
        >>> L0 = 0.5 * np.sum(lam * np.asarray(e0) ** 2)     # = |y|^2 / (2N)
        >>> lam.tolist(), round(float(L0), 12)
        ([3.0, 2.0, 1.0], 0.5)
    """
    K = np.asarray(kernel, dtype=np.float64)
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"kernel must be square 2-D, got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise ValueError("kernel must be finite")
    y = np.asarray(targets, dtype=np.float64)
    if y.shape[:1] != K.shape[:1] or y.ndim not in (1, 2):
        raise ValueError(f"targets must have shape ({K.shape[0]},) or ({K.shape[0]}, outputs), "
                         f"got {y.shape}")
    if not isinstance(replace, (bool, np.bool_)):
        raise ValueError(f"replace must be a bool, got {replace!r}")
    N = K.shape[0]
    lam, U = np.linalg.eigh(0.5 * (K + K.T) / N)
    keep = lam > rtol * lam.max()
    order = np.argsort(-lam[keep])
    lam, U = lam[keep][order], U[:, keep][:, order]
    scale = np.sqrt(N * lam)
    Z = U * scale
    e0 = -(U.T @ y) / (scale if y.ndim == 1 else scale[:, None])
    data = FiniteData(jnp.asarray(Z), jnp.asarray(lam), jnp.asarray(np.eye(lam.size)), bool(replace))
    return data, jnp.asarray(e0)


# ----------------------------------------------------------------------------- the MC kernel
