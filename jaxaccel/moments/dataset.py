"""Exact second moments of mini-batch SGD with memory on a finite dataset (no SE assumption).

Theory: ``docs/theory/sgd_memory.md`` §18.1-§18.2. For ``n`` training points ``x_i`` (the rows
of ``points``), ``H = X^T X / n`` and noiseless targets, the batch-averaged second moment
``C_t = E[x_t x_t^T]`` of the state ``x_t = (w_t - w*, u_t)`` obeys the closed recursion (§18.1)

.. math::
    C_{t+1} = S\\,C_t\\,S^T + \\gamma_t\\,\\Sigma(\\bar w^T C_t \\bar w)\\otimes v v^T,\\qquad
    \\Sigma(A) = \\frac1n\\sum_i (x_i^T A x_i)\\,x_i x_i^T - HAH,

with ``gamma_t = 1/b_t`` (batches drawn with replacement) or ``(n - b_t)/((n - 1) b_t)``
(without replacement). :func:`simulate_dataset` runs it on one jitted ``lax.scan`` in the
principal coordinates of the data (``H`` diagonal, directions no point reaches dropped), where
the linear part acts entrywise on the ``r x r`` blocks and ``Sigma`` costs ``O(n r^2)`` per step,
accumulated over chunks of data points so that the extra memory stays ``O(chunk r + r^2)``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional, Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float, Int, Scalar
from jaxaccel.algorithms.base import MemoryAlgorithm, check_algorithm
from jaxaccel.moments.engine import SimulationResult, make_result
from jaxaccel.record import RecordSpec, record_steps

__all__ = ["DatasetCoordinates", "batch_factor", "dataset_coordinates", "simulate_dataset"]


def batch_factor(n_data: int, batch_size: Union[Scalar, Float[ArrayLike, "*B"]],
                 replace: bool = False) -> Union[float, Float[np.ndarray, "*B"]]:
    """Noise factor replacing ``1/b`` for batches of a finite dataset (theory §3.2, §18.1).

    For ``H_B = (1/b) sum_{i in B} x_i x_i^T`` with ``B`` a uniformly random ``b``-subset of the
    ``N`` points, ``P(i in B) = b/N`` and ``P(i, j in B) = b(b-1)/(N(N-1))`` give

    .. math::  \\mathbb E[H_B A H_B] = HAH + \\gamma\\,\\Sigma(A),\\qquad
               \\gamma = \\frac{N-b}{(N-1)\\,b},\\qquad
               \\Sigma(A) = \\tfrac1N\\textstyle\\sum_i \\langle x_i, A x_i\\rangle x_i x_i^T - HAH,

    i.e. the second-moment recursion (12)-(13) with ``1/b`` replaced by ``gamma``. With
    replacement the samples are i.i.d. and the factor is ``1/b``.

    Args:
        n_data: dataset size ``N``.
        batch_size: ``b`` (``1 <= b <= N`` without replacement), a number or an array of
            batch sizes.
        replace: sampling with replacement.

    Returns:
        ``gamma``: a float for a scalar ``batch_size``, else an array of its shape.

    Example:
        >>> batch_factor(10, 10), batch_factor(10, 1), round(batch_factor(64, 16), 6)
        (0.0, 1.0, 0.047619)
    """
    n_data = V.check_positive_int(n_data, "n_data")
    b = np.asarray(batch_size, dtype=np.float64)
    if np.any(b < 1) or not np.all(np.isfinite(b)):
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if replace:
        return 1.0 / b if b.ndim else float(1.0 / b)
    if np.any(b > n_data):
        raise ValueError(f"batch_size={batch_size} exceeds the dataset size N={n_data} "
                         "(batches drawn without replacement)")
    if n_data == 1:
        return np.zeros_like(b) if b.ndim else 0.0
    g = (n_data - b) / ((n_data - 1) * b)
    return g if b.ndim else float(g)


class DatasetCoordinates(NamedTuple):
    """A dataset in its principal coordinates (theory §18.1).

    Attributes:
        points: ``(n, r)`` coordinates ``Z = X V`` of the points, ``Z^T Z / n = diag(lambda)``.
        eigenvalues: ``(r,)`` nonzero eigenvalues of ``H = X^T X / n``, decreasing.
        basis: ``(d, r)`` orthonormal eigenvectors ``V`` (columns).
    """

    points: Float[np.ndarray, "n r"]
    eigenvalues: Float[np.ndarray, "r"]
    basis: Float[np.ndarray, "d r"]


def check_points(points: Float[ArrayLike, "n d"], name: str = "points") -> np.ndarray:
    """A finite ``(n, d)`` float64 array with ``n, d >= 1`` (``ValueError`` naming ``name``)."""
    try:
        X = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric (n, d) array") from err
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must be 2-D (n, d) with n, d >= 1, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} must be finite (got NaN or inf)")
    if not np.any(X):
        raise ValueError(f"{name} must not all be zero")
    return X


def dataset_coordinates(points: Float[ArrayLike, "n d"], rtol: float = 1e-12
                        ) -> DatasetCoordinates:
    """Principal coordinates of a dataset: ``H = X^T X / n = V diag(lambda) V^T`` (theory §18.1).

    Computed from the smaller of the two Gram matrices (``X^T X`` when ``d <= n``, else
    ``X X^T``), in float64. Directions with ``lambda <= rtol * lambda_max`` are dropped: no point
    has a component there, so the error there never moves and carries no loss.

    Args:
        points: ``(n, d)`` data.
        rtol: relative eigenvalue cut-off.

    Returns:
        :class:`DatasetCoordinates`.

    Example:
        >>> import numpy as np
        >>> c = dataset_coordinates(np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
        >>> np.round(c.eigenvalues * 3, 12).tolist(), c.points.shape
        ([4.0, 1.0], (3, 2))
    """
    X = check_points(points)
    if not (np.isfinite(rtol) and 0 <= rtol < 1):
        raise ValueError(f"rtol must be in [0, 1), got {rtol!r}")
    n, d = X.shape
    if d <= n:
        lam, V_ = np.linalg.eigh(X.T @ X / n)
    else:
        lam, U = np.linalg.eigh(X @ X.T / n)
    order = np.argsort(-lam)
    lam = lam[order]
    keep = lam > rtol * lam[0]
    lam = lam[keep]
    if d <= n:
        basis = V_[:, order][:, keep]
    else:
        basis = X.T @ (U[:, order][:, keep] / np.sqrt(n * lam))
    return DatasetCoordinates(X @ basis, lam, basis)


def _initial_block(coords, initial_error):
    e = np.asarray(initial_error, dtype=np.float64)
    d = coords.basis.shape[0]
    if e.ndim not in (1, 2) or e.shape[0] != d:
        raise ValueError(f"initial_error must have shape ({d},) or ({d}, outputs) (the columns of "
                         f"points), got {e.shape}")
    if not np.all(np.isfinite(e)):
        raise ValueError("initial_error must be finite (got NaN or inf)")
    E = coords.basis.T @ e.reshape(d, -1)
    return E @ E.T  # summed over outputs


def _gamma(n, batch_size, replace, steps):
    """``(inverse batch factor array, noisy)``; ``batch_size`` None, a number or ``(T,)``."""
    if batch_size is None:
        return np.zeros(()), False
    b = np.asarray(batch_size, dtype=np.float64)
    if b.ndim > 1 or (b.ndim == 1 and b.shape[0] < steps):
        raise ValueError(f"batch_size must be a number or a ({steps},) schedule, got shape "
                         f"{b.shape}")
    b = b[:steps] if b.ndim else b
    if not np.all(np.isfinite(b)) or np.any(b < 1) or np.any(b != np.round(b)):
        raise ValueError(f"batch_size must be integers >= 1, got {batch_size!r}")
    return np.asarray(batch_factor(n, b, replace)), True


def _noise_chunks(Z, chunk, budget):
    n, r = Z.shape
    if chunk is None:
        chunk = max(1, min(n, int(budget // (8 * 3 * max(r, 1)))))
    chunk = V.check_positive_int(chunk, "chunk")
    chunk = min(chunk, n)
    pad = (-n) % chunk  # zero rows add nothing to the sums
    Zp = np.concatenate([Z, np.zeros((pad, r))]) if pad else Z
    return Zp.reshape(-1, chunk, r)


@functools.partial(jax.jit, static_argnames=("steps", "n_rec", "noisy", "stationary",
                                             "has_shift", "gamma_schedule"))
def _run(lam, Zc, n, alg, gamma, rec, C0, threshold, *, steps, n_rec, noisy, stationary,
         has_shift, gamma_schedule):
    """The recursion of §18.1 on a ``lax.scan``; ``C`` is ``(K, K, r, r)``."""
    K = alg.memory + 1
    parts = alg.transition_parts()
    w_next = None if stationary else jnp.concatenate([parts[2][1:], parts[2][-1:]], axis=0)

    def gradient_moment(C, w):
        return jnp.einsum("p,pqkl,q->kl", w, C, w)

    def observe(C, w):
        L = 0.5 * jnp.sum(lam * jnp.diagonal(C[0, 0]))
        Lg = 0.5 * jnp.sum(lam * jnp.diagonal(gradient_moment(C, w))) if has_shift else L
        return L, Lg

    def sigma(A):
        def add(acc, Z):
            q = jnp.sum((Z @ A) * Z, axis=1)
            return acc + Z.T @ (q[:, None] * Z), None

        F, _ = jax.lax.scan(add, jnp.zeros_like(A), Zc)
        return F / n - lam[:, None] * A * lam[None, :]

    def record(buf, ptr, div_at, t, obs):
        L, Lg = obs
        bad = ~(jnp.isfinite(L) & jnp.isfinite(Lg)) | (jnp.maximum(L, Lg) > threshold)
        div_at = jnp.where((div_at < 0) & bad, t, div_at)
        idx = jnp.where(rec[ptr] == t, ptr, n_rec)
        buf = tuple(b.at[idx].set(x) for b, x in zip(buf, obs))
        return buf, ptr + (rec[ptr] == t).astype(ptr.dtype), div_at

    def body(carry, xs):
        C, obs, buf, ptr, div_at, t = carry
        (S0, v, w), wn = (parts, parts[2]) if stationary else (xs[0], xs[2])
        g = xs[1] if gamma_schedule else gamma
        buf, ptr, div_at = record(buf, ptr, div_at, t, obs)
        S = S0[None] + lam[:, None, None] * (v[:, None] * w[None, :])[None]  # (r, K, K)
        half = jnp.einsum("kip,pqkl->iqkl", S, C)
        new = jnp.einsum("iqkl,ljq->ijkl", half, S)
        if noisy:
            new = new + (g * v[:, None] * v[None, :])[:, :, None, None] * sigma(
                gradient_moment(C, w))[None, None]
        new = 0.5 * (new + jnp.transpose(new, (1, 0, 3, 2)))  # keep C exactly symmetric
        return (new, observe(new, wn), buf, ptr, div_at, t + 1), None

    dtype = lam.dtype
    buf0 = (jnp.zeros(n_rec + 1, dtype), jnp.zeros(n_rec + 1, dtype))
    w0 = parts[2] if stationary else parts[2][0]
    carry0 = (C0, observe(C0, w0), buf0, jnp.int32(0), jnp.int32(-1), jnp.int32(0))
    xs = (None if stationary else parts, gamma if gamma_schedule else None, w_next)
    (C, obs, buf, ptr, div_at, t), _ = jax.lax.scan(body, carry0, xs, length=steps)
    buf, ptr, div_at = record(buf, ptr, div_at, t, obs)
    loss, lossg = buf[0][:n_rec], buf[1][:n_rec]
    diverged = div_at >= 0
    after = diverged & (rec[:n_rec] > div_at)
    loss = jnp.where(after | ~jnp.isfinite(loss), jnp.inf, loss)
    lossg = jnp.where(after | ~jnp.isfinite(lossg), jnp.inf, lossg)
    return loss, lossg, diverged, div_at, C


def simulate_dataset(
    points: Float[ArrayLike, "n d"],
    algorithm: MemoryAlgorithm,
    initial_error: Union[Float[ArrayLike, "d"], Float[ArrayLike, "d outputs"]],
    steps: int,
    batch_size: Union[None, int, Int[ArrayLike, "T"]] = None,
    replace: bool = True,
    record: RecordSpec = "all",
    *,
    rtol: float = 1e-12,
    chunk: Optional[int] = None,
    memory_budget: float = 2.0**27,
    divergence_threshold: float = 1e10,
    divergence_growth: Optional[float] = 100.0,
    return_moments: bool = False,
) -> Union[SimulationResult, Tuple[SimulationResult, Float[np.ndarray, "K K r r"]]]:
    """Exact batch-averaged loss of mini-batch SGD with memory on a finite dataset (theory §18.1).

    No SE assumption: the full second moment of ``(w - w*, u)`` is evolved by

    .. math::
        C_{t+1} = S C_t S^T + \\gamma_t\\,\\Sigma(\\bar w^T C_t\\bar w)\\otimes vv^T,\\qquad
        \\Sigma(A) = \\tfrac1n\\textstyle\\sum_i (x_i^TAx_i)\\,x_ix_i^T - HAH,

    with ``gamma_t = 1/b_t`` (batches of ``b_t`` points drawn with replacement) or
    ``(n - b_t)/((n - 1) b_t)`` (distinct points), averaged exactly over all batches; targets are
    noiseless (``y_i = x_i^T w*``), so only the error ``w_0 - w*`` enters. Costs
    ``O(n r^2 + (M+1)^3 r^2)`` per step and ``(M+1)^2 r^2`` floats of state (``r <= min(n, d)``
    the rank of the data); ``Sigma`` is accumulated over chunks of points, so the extra memory
    is ``O(chunk r)``. Float64, one jitted ``lax.scan``; ``L_t`` as in :func:`jaxaccel.simulate`.

    Args:
        points: ``(n, d)`` data ``X`` (rows are points).
        algorithm: :class:`~jaxaccel.algorithms.MemoryAlgorithm` (any memory, stationary or a
            schedule covering ``steps``).
        initial_error: ``w_0 - w*``, ``(d,)`` or ``(d, outputs)`` (losses summed over outputs);
            ``u_0 = 0``.
        steps: number of steps ``T``.
        batch_size: ``None`` (full batch), an int ``b`` or a ``(T,)`` integer schedule ``b_t``.
        replace: batches drawn with replacement (i.i.d. indices); ``False``: ``b_t`` distinct
            points (requires ``b_t <= n``).
        record: as in :func:`jaxaccel.simulate`.
        rtol: eigenvalue cut-off of :func:`dataset_coordinates`.
        chunk: data points per chunk of the ``Sigma`` sum (default from ``memory_budget``).
        memory_budget: bytes for the chunk temporaries (default 128 MiB).
        divergence_threshold, divergence_growth: as in :func:`jaxaccel.simulate`.
        return_moments: also return the final ``C_T`` as a ``(K, K, r, r)`` array in the
            principal coordinates (:func:`dataset_coordinates`).

    Returns:
        :class:`~jaxaccel.SimulationResult` (``state`` is ``None``), and ``C_T`` when
        ``return_moments``.

    Example:
        >>> import numpy as np, jaxaccel as ja
        >>> X = np.random.default_rng(0).standard_t(3, size=(40, 3))
        >>> r = ja.simulate_dataset(X, ja.heavy_ball(0.1, 0.5), np.ones(3), 50, batch_size=4)
        >>> r.loss.shape, bool(r.loss[-1] < r.loss[0]), bool(r.diverged)
        ((51,), True, False)
    """
    coords = dataset_coordinates(points, rtol)
    check_algorithm(algorithm)
    steps = V.check_positive_int(steps, "steps")
    if not isinstance(replace, (bool, np.bool_)):
        raise ValueError(f"replace must be a bool, got {replace!r}")
    Z, lam = coords.points, coords.eigenvalues
    n, r = Z.shape
    C00 = _initial_block(coords, initial_error)
    gamma, noisy = _gamma(n, batch_size, bool(replace), steps)
    if not (np.isfinite(divergence_threshold) and divergence_threshold > 0):
        raise ValueError("divergence_threshold must be finite and > 0")
    if divergence_growth is not None and not (np.isfinite(divergence_growth)
                                              and divergence_growth > 1):
        raise ValueError(f"divergence_growth must be > 1 or None, got {divergence_growth!r}")
    alg = algorithm.astype(jnp.float64).truncate(steps)
    K = alg.memory + 1
    C0 = np.zeros((K, K, r, r))
    C0[0, 0] = C00
    L0 = 0.5 * float(np.sum(lam * np.diag(C00)))
    rec = record_steps(record, steps)
    rec_arr = jnp.asarray(np.append(rec, -1), dtype=jnp.int32)
    has_shift = bool(np.any(np.asarray(alg.a) != 0))
    threshold = divergence_threshold * max(L0, np.finfo(np.float64).tiny)
    loss, lossg, diverged, div_at, C = _run(
        jnp.asarray(lam), jnp.asarray(_noise_chunks(Z, chunk, memory_budget)), float(n),
        alg.with_shift_terms(), jnp.asarray(gamma), rec_arr, jnp.asarray(C0),
        jnp.asarray(threshold), steps=steps, n_rec=rec.shape[0], noisy=noisy,
        stationary=alg.is_stationary, has_shift=has_shift, gamma_schedule=gamma.ndim > 0)
    res = make_result(rec, loss, lossg, diverged, div_at, None, growth_factor=divergence_growth)
    return (res, np.asarray(C)) if return_moments else res
