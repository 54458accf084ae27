r"""The end-to-end update rule of a depth-``N`` linear network (docs/theory/depth_stacking.md §A2-§A5).

For a balanced network the end-to-end matrix ``W_e`` (shape ``(k, d)``) follows, in discrete
time (arXiv eq. 10, theory §A3) and continuous time (Theorem 1, theory §A2),

.. math::
    W_e \leftarrow (1-\eta\lambda N)W_e - \eta\,\mathcal P_N(W_e)[\nabla L^1(W_e)],\qquad
    \dot W_e = -\eta\lambda N W_e - \eta\,\mathcal P_N(W_e)[\nabla L^1(W_e)],

    \mathcal P_N(W)[G] = \sum_{j=1}^N [WW^\top]^{\frac{j-1}{N}}\,G\,[W^\top W]^{\frac{N-j}{N}} .

Fractional powers of PSD matrices use :math:`M^a = Q\operatorname{diag}(\mu^a)Q^\top` with
``0^a = 0`` for ``a > 0`` and :math:`M^0 = I` **also on the kernel** (theory §A2); getting the
kernel convention wrong breaks the rule for every rank-deficient ``W_e``.

The default path (:func:`end_to_end_direction`) uses one full SVD ``W = U S V^T``:
:math:`\mathcal P_N(W)[G] = U(\Lambda\circ(U^\top G V))V^\top` with the divided difference
:math:`\Lambda_{rr'} = \sum_j \sigma_r^{2(j-1)/N}\sigma_{r'}^{2(N-j)/N}` (theory §A3.1), evaluated
in a cancellation-free form, so ``depth`` may be a traced (vmapped) array. The ``eigh`` path
(:func:`end_to_end_direction_eigh`) sums the ``N`` terms literally and is kept as a reference.
"""

from __future__ import annotations

from typing import Callable, Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import Array, ArrayLike, Float, Int, Scalar

#: A depth ``N >= 1``: a Python int, or a 0-d array (possibly traced, e.g. under ``vmap``).
Depth = Union[int, Int[ArrayLike, ""], Float[ArrayLike, ""]]


# ----------------------------------------------------------------------------- validation
def check_depth(depth, name: str = "depth"):
    """Validate a depth: an integer ``>= 1`` (a concrete value), or a traced array (skipped)."""
    if not V.is_concrete(depth):
        return depth
    if isinstance(depth, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer >= 1, got {depth!r}")
    arr = np.asarray(depth)
    if arr.dtype.kind not in "iuf" or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be an integer >= 1, got {depth!r}")
    if np.any(arr < 1) or np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must be an integer >= 1, got {depth!r}")
    return depth


# ----------------------------------------------------------------------------- fractional powers
def psd_power(M: Float[Array, "n n"], a: float) -> Float[Array, "n n"]:
    r"""Fractional power of a symmetric PSD matrix through ``eigh`` (theory §A2 convention).

    .. math:: M^a = Q\operatorname{diag}(\max(\mu,0)^a)Q^\top \ (a > 0),\qquad M^0 = I .

    Eigenvalues below ``n * eps * max|mu|`` are treated as exact zeros of ``M``.

    Args:
        M: ``(n, n)`` symmetric positive semi-definite matrix.
        a: exponent ``>= 0`` (a Python number).

    Returns:
        ``(n, n)`` matrix ``M^a``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import psd_power
        >>> psd_power(jnp.diag(jnp.array([4.0, 0.0])), 0.5).tolist()
        [[2.0, 0.0], [0.0, 0.0]]
        >>> psd_power(jnp.zeros((2, 2)), 0).tolist()   # M^0 = I, also on the kernel
        [[1.0, 0.0], [0.0, 1.0]]
    """
    if float(a) == 0.0:
        return jnp.eye(M.shape[-1], dtype=M.dtype)
    mu, Q = jnp.linalg.eigh(0.5 * (M + M.T))
    # eigenvalues at rounding level are zeros of M (a fractional power would amplify them)
    cut = M.shape[-1] * jnp.finfo(M.dtype).eps * jnp.max(jnp.abs(mu))
    mu = jnp.where(mu > cut, mu, 0.0)
    return (Q * mu**a) @ Q.T


def _padded_singular_values(W):
    """Full SVD with zero-padded singular values for the left (k) and right (d) bases.

    Singular values below ``max(k, d) * eps * sigma_max`` are rounding noise of exact zeros
    (as in :func:`psd_power`); they are set to 0, since a fractional power such as
    ``sigma^{2/N}`` would amplify them (``(1e-16)^{1/2} = 1e-8`` for ``N = 4``).
    """
    k, d = W.shape[-2:]
    U, s, Vt = jnp.linalg.svd(W, full_matrices=True)
    cut = max(k, d) * jnp.finfo(s.dtype).eps * jnp.max(s, axis=-1, keepdims=True)
    s = jnp.where(s > cut, s, 0.0)
    r = s.shape[-1]
    sl = jnp.concatenate([s, jnp.zeros(s.shape[:-1] + (k - r,), s.dtype)], axis=-1)
    sr = jnp.concatenate([s, jnp.zeros(s.shape[:-1] + (d - r,), s.dtype)], axis=-1)
    return U, sl, sr, Vt


def divided_difference(
    sl: Float[Array, "k"], sr: Float[Array, "d"], depth: Depth,
) -> Float[Array, "k d"]:
    r"""The matrix :math:`\Lambda_{rr'} = \sum_{j=1}^N \sigma_r^{2(j-1)/N}\sigma_{r'}^{2(N-j)/N}`.

    Closed form (theory §A3.1): :math:`(\sigma_r^2-\sigma_{r'}^2)/(\sigma_r^{2/N}-\sigma_{r'}^{2/N})`
    for distinct values, :math:`N\sigma^{2-2/N}` for equal ones, :math:`\sigma^{2-2/N}` when
    exactly one is zero, ``0`` when both are (``1`` for ``N = 1``). It is evaluated as
    :math:`h^{2-2/N}\,\mathrm{expm1}(N\ell)/\mathrm{expm1}(\ell)` with ``h`` the larger value
    and :math:`\ell = \frac2N\log(\text{smaller}/h)`, which has no cancellation for nearly
    equal values and accepts a traced ``depth``.

    Args:
        sl: ``(k,)`` non-negative values (left), sl_r.
        sr: ``(d,)`` non-negative values (right), sr_r'.
        depth: ``N >= 1`` (may be a traced scalar).

    Returns:
        ``(k, d)`` matrix ``Lambda``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import divided_difference
        >>> divided_difference(jnp.array([4.0]), jnp.array([4.0, 0.0]), 2).tolist()  # N s, s
        [[8.0, 4.0]]
    """
    N = jnp.asarray(depth, sl.dtype)
    a, b = sl[..., :, None], sr[..., None, :]
    hi, lo = jnp.maximum(a, b), jnp.minimum(a, b)
    pos = hi > 0
    hs = jnp.where(pos, hi, 1.0)
    ell = (2.0 / N) * jnp.log(lo / hs)  # <= 0, -inf when lo == 0
    small = ell == 0.0
    den = jnp.where(small, -1.0, jnp.expm1(ell))
    ratio = jnp.where(small, N, jnp.expm1(N * ell) / den)
    lam = hs ** (2.0 - 2.0 / N) * ratio
    return jnp.where(pos, lam, jnp.where(N == 1, 1.0, 0.0))


# ----------------------------------------------------------------------------- the operator
def end_to_end_direction(
    W: Float[Array, "k d"], G: Float[Array, "k d"], depth: Depth,
) -> Float[Array, "k d"]:
    r"""The preconditioned gradient :math:`\mathcal P_N(W)[G]` via one SVD (theory §A3.1).

    .. math::
        \sum_{j=1}^N [WW^\top]^{\frac{j-1}{N}} G [W^\top W]^{\frac{N-j}{N}}
        = U\big(\Lambda\circ(U^\top G V)\big)V^\top .

    Args:
        W: ``(k, d)`` end-to-end matrix.
        G: ``(k, d)`` gradient :math:`\nabla L^1(W)`.
        depth: ``N >= 1`` (a Python int or a traced scalar).

    Returns:
        ``(k, d)`` array.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import end_to_end_direction
        >>> W = jnp.array([[2.0, 0.0]]); G = jnp.array([[1.0, 1.0]])
        >>> end_to_end_direction(W, G, 2).tolist()  # ||w|| (g + <g, w^> w^)
        [[4.0, 2.0]]
    """
    U, sl, sr, Vt = _padded_singular_values(W)
    lam = divided_difference(sl, sr, depth)
    return U @ (lam * (U.T @ G @ Vt.T)) @ Vt


def end_to_end_direction_eigh(
    W: Float[Array, "k d"], G: Float[Array, "k d"], depth: int,
) -> Float[Array, "k d"]:
    r"""Reference path: the literal sum of ``N`` terms with ``eigh`` fractional powers (theory §A3).

    .. math:: \sum_{j=1}^N [WW^\top]^{\frac{j-1}{N}}\,G\,[W^\top W]^{\frac{N-j}{N}} .

    ``depth`` must be a Python int. Slower and less accurate for tiny singular values than
    :func:`end_to_end_direction`; kept for cross-checking (theory §A3.1).

    Args:
        W: ``(k, d)`` end-to-end matrix.
        G: ``(k, d)`` gradient.
        depth: ``N >= 1``, a Python int.

    Returns:
        ``(k, d)`` array.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import end_to_end_direction, end_to_end_direction_eigh
        >>> W = jnp.array([[1.0, 0.5], [0.0, 2.0]]); G = jnp.array([[1.0, -1.0], [0.5, 0.0]])
        >>> bool(jnp.allclose(end_to_end_direction_eigh(W, G, 3), end_to_end_direction(W, G, 3)))
        True
    """
    N = int(depth)
    A, B = W @ W.T, W.T @ W
    out = jnp.zeros_like(G)
    for j in range(1, N + 1):
        out = out + psd_power(A, (j - 1) / N) @ G @ psd_power(B, (N - j) / N)
    return out


def single_output_direction(
    w: Float[Array, "*k d"], g: Float[Array, "*k d"], depth: Depth,
) -> Float[Array, "*k d"]:
    r"""Single-output closed form (theory §A5, the paper's Claim 2), ``k = 1``:

    .. math::
        \mathcal P_N(w^\top)[g^\top] = \|w\|^{2-\frac2N}\big(g + (N-1)\langle g,\hat w\rangle
        \hat w\big),\qquad \hat w = w/\|w\|\ (\text{the projection is } 0 \text{ at } w = 0).

    Args:
        w: ``(d,)`` (or ``(1, d)``) end-to-end vector.
        g: gradient of the same shape.
        depth: ``N >= 1`` (may be traced).

    Returns:
        The direction, of the shape of ``w``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import single_output_direction
        >>> single_output_direction(jnp.array([2.0, 0.0]), jnp.array([1.0, 1.0]), 2).tolist()
        [4.0, 2.0]
    """
    N = jnp.asarray(depth, w.dtype)
    n2 = jnp.sum(w * w)
    nrm = jnp.sqrt(n2)
    proj = jnp.sum(g * w) / jnp.where(n2 > 0, n2, 1.0) * w
    return nrm ** (2.0 - 2.0 / N) * (g + (N - 1.0) * proj)


def end_to_end_update(
    W: Float[Array, "k d"], G: Float[Array, "k d"], lr: Scalar, depth: Depth,
    weight_decay: Scalar = 0.0, method: str = "svd",
) -> Float[Array, "k d"]:
    r"""One step of the discrete end-to-end rule (arXiv eq. 10 / ICML eq. 12, theory §A3):

    .. math::
        W^{(t+1)} = (1-\eta\lambda N)W^{(t)} - \eta\,\mathcal P_N(W^{(t)})[G] .

    Args:
        W: ``(k, d)`` current end-to-end matrix.
        G: ``(k, d)`` gradient at ``W``.
        lr: ``eta``. depth: ``N``. weight_decay: ``lambda``.
        method: ``"svd"`` (default), ``"vector"`` (``k = 1`` closed form) or ``"eigh"``.

    Returns:
        ``(k, d)`` matrix ``W^{(t+1)}``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import end_to_end_update
        >>> W = jnp.array([[2.0, 0.0]]); G = jnp.array([[1.0, 1.0]])
        >>> [round(x, 6) for x in end_to_end_update(W, G, 0.1, 2)[0].tolist()]  # W - 0.1 [4, 2]
        [1.6, -0.2]
    """
    return (1.0 - lr * weight_decay * depth) * W - lr * _direction(W, G, depth, method)


def end_to_end_velocity(
    W: Float[Array, "k d"], G: Float[Array, "k d"], lr: Scalar, depth: Depth,
    weight_decay: Scalar = 0.0, method: str = "svd",
) -> Float[Array, "k d"]:
    r"""Right-hand side of Theorem 1 (theory §A2):
    :math:`\dot W_e = -\eta\lambda N W_e - \eta\,\mathcal P_N(W_e)[\nabla L^1(W_e)]`.

    Args:
        W: ``(k, d)`` end-to-end matrix.
        G: ``(k, d)`` gradient :math:`\nabla L^1(W_e)`.
        lr: ``eta``. depth: ``N``. weight_decay: ``lambda``.
        method: as in :func:`end_to_end_update`.

    Returns:
        ``(k, d)`` time derivative :math:`\dot W_e`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import end_to_end_velocity
        >>> W = jnp.array([[2.0, 0.0]]); G = jnp.array([[1.0, 1.0]])
        >>> Wdot = end_to_end_velocity(W, G, 0.1, 2, weight_decay=0.5)  # -0.1 (N lambda W + [4, 2])
        >>> [round(x, 6) for x in Wdot[0].tolist()]
        [-0.6, -0.2]
    """
    return -lr * weight_decay * depth * W - lr * _direction(W, G, depth, method)


def _direction(W, G, depth, method):
    if method == "svd":
        return end_to_end_direction(W, G, depth)
    if method == "vector":
        return single_output_direction(W.reshape(-1), G.reshape(-1), depth).reshape(W.shape)
    if method == "eigh":
        return end_to_end_direction_eigh(W, G, depth)
    raise ValueError(f"method must be 'svd', 'vector' or 'eigh', got {method!r}")


def singular_value_velocity(
    W: Float[Array, "k d"], G: Float[Array, "k d"], lr: Scalar, depth: Depth,
    weight_decay: Scalar = 0.0,
) -> Float[Array, "r"]:
    r"""Predicted singular-value dynamics under Theorem 1 (theory §A4):

    .. math:: \dot\sigma_r = -\eta N\sigma_r^{2-2/N}\langle\nabla L^1(W_e),u_rv_r^\top\rangle
              - \eta\lambda N\sigma_r .

    Args:
        W: ``(k, d)`` end-to-end matrix.
        G: ``(k, d)`` gradient :math:`\nabla L^1(W_e)`.
        lr: ``eta``. depth: ``N``. weight_decay: ``lambda``.

    Returns:
        ``(r,)`` rates, ``r = min(k, d)``, ordered like ``jnp.linalg.svd``'s singular values.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import singular_value_velocity
        >>> W = jnp.array([[2.0, 0.0]]); G = jnp.array([[1.0, 1.0]])
        >>> [round(float(x), 6) for x in singular_value_velocity(W, G, 0.1, 2)]  # -eta N s <g, v>
        [-0.4]
    """
    U, s, Vt = jnp.linalg.svd(W, full_matrices=False)
    proj = jnp.einsum("kr,kd,rd->r", U, G, Vt)
    N = jnp.asarray(depth, W.dtype)
    return -lr * N * s ** (2.0 - 2.0 / N) * proj - lr * weight_decay * N * s


# ----------------------------------------------------------------------------- P as a matrix
def preconditioner_eigenvalues(W: Float[Array, "k d"], depth: Depth) -> Float[Array, "k d"]:
    r"""Eigenvalues of the vectorised preconditioner :math:`P_{W}` (theory §A4).

    With left/right singular vectors ``u_r``, ``v_r'`` completed to bases and zero-padded
    singular values, the eigenvector ``vec(u_r v_{r'}^T) = v_{r'} (x) u_r`` has eigenvalue
    :math:`\lambda_{r,r'} = \sum_j \sigma_r^{2(N-j)/N}\sigma_{r'}^{2(j-1)/N}`.

    Args:
        W: ``(k, d)`` end-to-end matrix.
        depth: ``N >= 1`` (may be traced).

    Returns:
        ``(k, d)`` array; entry ``[r, r']`` belongs to eigenvector ``kron(V[:, r'], U[:, r])``
        of :func:`preconditioner_eigenvectors`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import preconditioner_eigenvalues
        >>> preconditioner_eigenvalues(jnp.array([[4.0, 0.0]]), 2).tolist()  # N s, s^(2-2/N)
        [[8.0, 4.0]]
    """
    _, sl, sr, _ = _padded_singular_values(W)
    return divided_difference(sl, sr, depth)


def preconditioner_eigenvectors(
    W: Float[Array, "k d"],
) -> Tuple[Float[Array, "k k"], Float[Array, "d d"]]:
    """``(U, V)`` full singular bases of ``W``; eigenvector ``(r, r')`` of ``P_W`` is
    ``kron(V[:, r'], U[:, r])`` (column-stacking ``vec``, theory §A4).

    Args:
        W: ``(k, d)`` end-to-end matrix.

    Returns:
        ``U`` of shape ``(k, k)`` and ``V`` of shape ``(d, d)``, both orthogonal; the matching
        eigenvalues are :func:`preconditioner_eigenvalues`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import preconditioner_eigenvectors
        >>> U, V = preconditioner_eigenvectors(jnp.array([[4.0, 0.0]]))
        >>> U.shape, V.shape, bool(jnp.allclose(V.T @ V, jnp.eye(2)))
        ((1, 1), (2, 2), True)
    """
    U, _, Vt = jnp.linalg.svd(W, full_matrices=True)
    return U, Vt.T


def preconditioner_matrix(W: Float[Array, "k d"], depth: int) -> Float[Array, "k*d k*d"]:
    r"""The explicit ``(kd, kd)`` Kronecker form (theory §A4), built with ``eigh`` powers:

    .. math:: P_W = \sum_{j=1}^N (W^\top W)^{\frac{N-j}{N}} \otimes (WW^\top)^{\frac{j-1}{N}},

    so that :math:`\mathrm{vec}(\mathcal P_N(W)[G]) = P_W\,\mathrm{vec}(G)` with column-stacking
    ``vec`` (``G.T.reshape(-1)``). ``depth`` must be a Python int. For small problems only.

    Args:
        W: ``(k, d)`` end-to-end matrix.
        depth: ``N >= 1``, a Python int.

    Returns:
        ``(k*d, k*d)`` symmetric PSD matrix ``P_W``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import preconditioner_matrix, end_to_end_direction
        >>> W = jnp.array([[1.0, 0.5], [0.0, 2.0]]); G = jnp.array([[1.0, -1.0], [0.5, 0.0]])
        >>> P = preconditioner_matrix(W, 3); vec = lambda A: A.T.reshape(-1)
        >>> P.shape, bool(jnp.allclose(P @ vec(G), vec(end_to_end_direction(W, G, 3))))
        ((4, 4), True)
    """
    N = int(depth)
    A, B = W @ W.T, W.T @ W
    k, d = W.shape
    P = jnp.zeros((k * d, k * d), W.dtype)
    for j in range(1, N + 1):
        P = P + jnp.kron(psd_power(B, (N - j) / N), psd_power(A, (j - 1) / N))
    return P


def preconditioner_operator(
    W: Float[Array, "k d"], depth: Depth,
) -> Callable[[Float[Array, "k*d"]], Float[Array, "k*d"]]:
    """``P_W`` as a linear operator on column-stacked vectors of length ``k*d`` (SVD path,
    theory §A4 and §A3.1).

    Args:
        W: ``(k, d)`` end-to-end matrix.
        depth: ``N >= 1`` (may be traced).

    Returns:
        A function ``vec(G) -> vec(P_N(W)[G])`` on vectors of length ``k*d``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import preconditioner_operator
        >>> P = preconditioner_operator(jnp.array([[2.0, 0.0]]), 2)
        >>> P(jnp.array([1.0, 1.0])).tolist()
        [4.0, 2.0]
    """
    k, d = W.shape
    U, sl, sr, Vt = _padded_singular_values(W)
    lam = divided_difference(sl, sr, depth)

    def apply(vec):
        G = vec.reshape(d, k).T
        return (U @ (lam * (U.T @ G @ Vt.T)) @ Vt).T.reshape(-1)

    return apply
