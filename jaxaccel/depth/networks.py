"""Deep linear networks ``W_e = W_N ... W_1`` (docs/theory/depth_stacking.md §A1).

A network is a tuple of layer matrices ``(W_1, ..., W_N)`` (a pytree), ``W_j`` of shape
``(n_j, n_{j-1})`` with ``n_0 = d`` (inputs) and ``n_N = k`` (outputs); there are no biases.
A network's architecture is its ``widths = (n_0, n_1, ..., n_N)``; its depth is
``len(widths) - 1``.

Initialisations (theory §A1.4): :func:`init_balanced` (the balanced recipe, exact emulation by the
end-to-end rule), :func:`init_gaussian` (i.i.d. near-zero), :func:`init_identity` (linear
residual start), :func:`init_orthogonal` (semi-orthogonal layers, *not* balanced when shapes
differ). All are pure functions of a PRNG key, so they ``vmap`` over seeds.
"""

from __future__ import annotations

import functools
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp
from jax.typing import DTypeLike
from jaxtyping import PRNGKeyArray

from jaxaccel import _validation as V
from jaxaccel._typing import Array, ArrayLike, Float, Scalar

#: A network ``(W_1, ..., W_N)``, ``W_j`` of shape ``(n_j, n_{j-1})`` (the ``_``-prefixed
#: dimension names differ from layer to layer).
Layers = Tuple[Float[Array, "_n_out _n_in"], ...]
#: A network as accepted by the public functions (any sequence of matrices; validated).
LayersLike = Sequence[Float[ArrayLike, "_n_out _n_in"]]


# ----------------------------------------------------------------------------- architecture
def make_widths(
    in_dim: int, out_dim: int, depth: int, width: Union[None, int, Sequence[int]] = None,
) -> Tuple[int, ...]:
    """``(d, n_1, ..., n_{N-1}, k)`` for a depth-``N`` network with equal hidden widths
    (the architecture of theory §A1.1: ``n_0 = d``, ``n_N = k``).

    Args:
        in_dim: ``d >= 1``.
        out_dim: ``k >= 1``.
        depth: ``N >= 1`` (``N = 1`` is the linear model itself).
        width: hidden width (an int), or a sequence of ``N - 1`` widths; default
            ``max(d, k)``.

    Returns:
        ``widths``, a tuple of ``N + 1`` ints.

    Example:
        >>> from jaxaccel.depth import make_widths
        >>> make_widths(5, 3, depth=3, width=4)
        (5, 4, 4, 3)
    """
    in_dim = V.check_positive_int(in_dim, "in_dim")
    out_dim = V.check_positive_int(out_dim, "out_dim")
    if isinstance(depth, (bool, np.bool_)) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"depth must be an integer >= 1, got {depth!r}")
    depth = int(depth)
    if width is None:
        hidden = [max(in_dim, out_dim)] * (depth - 1)
    elif isinstance(width, (int, np.integer)) and not isinstance(width, (bool, np.bool_)):
        hidden = [V.check_positive_int(width, "width")] * (depth - 1)
    else:
        hidden = list(width)
        if len(hidden) != depth - 1:
            raise ValueError(
                f"width must be an int or a sequence of depth - 1 = {depth - 1} hidden widths, "
                f"got {len(hidden)}"
            )
        hidden = [V.check_positive_int(h, "width") for h in hidden]
    return (in_dim, *hidden, out_dim)


def check_widths(widths) -> Tuple[int, ...]:
    """Validate ``widths = (n_0, ..., n_N)``: at least two positive integers (depth >= 1)."""
    try:
        ws = tuple(widths)
    except TypeError as err:
        raise ValueError(f"widths must be a sequence of positive integers, got {widths!r}") from err
    if len(ws) < 2:
        raise ValueError(
            f"widths must list (n_0, ..., n_N) with at least 2 entries (depth >= 1), got {ws!r}"
        )
    for w in ws:
        if isinstance(w, (bool, np.bool_)) or not isinstance(w, (int, np.integer)) or w < 1:
            raise ValueError(f"widths must be positive integers, got {ws!r}")
    return tuple(int(w) for w in ws)


def check_layers(layers, name: str = "layers") -> Layers:
    """Validate a network: a non-empty sequence of 2-D matrices whose shapes chain."""
    if isinstance(layers, (jax.Array, np.ndarray)) or not isinstance(layers, (tuple, list)):
        raise ValueError(f"{name} must be a tuple of layer matrices (W_1, ..., W_N)")
    if len(layers) == 0:
        raise ValueError(f"{name} must hold at least one layer (depth >= 1)")
    out = []
    for j, W in enumerate(layers):
        W = V.as_float_array(W, f"{name}[{j}]")
        V.check_ndim(W, f"{name}[{j}]", 2)
        V.check_finite(W, f"{name}[{j}]")
        if j and W.shape[1] != out[-1].shape[0]:
            raise ValueError(
                f"{name} have incompatible widths: {name}[{j}] has shape {W.shape} but "
                f"{name}[{j - 1}] outputs {out[-1].shape[0]} features"
            )
        out.append(W)
    dt = jnp.result_type(*out)
    return tuple(W.astype(dt) for W in out)


def widths_of(layers: LayersLike) -> Tuple[int, ...]:
    """``(n_0, ..., n_N)`` of a network (theory §A1.1; leading batch axes are ignored).

    Args:
        layers: ``(W_1, ..., W_N)``, ``W_j`` of shape ``(..., n_j, n_{j-1})``.

    Returns:
        The widths, a tuple of ``N + 1`` ints.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import widths_of
        >>> widths_of((jnp.zeros((4, 3)), jnp.zeros((2, 4))))
        (3, 4, 2)
    """
    return (layers[0].shape[-1],) + tuple(W.shape[-2] for W in layers)


# ----------------------------------------------------------------------------- products
def end_to_end_matrix(layers: LayersLike) -> Float[Array, "k d"]:
    r"""The end-to-end matrix :math:`W_e = W_N W_{N-1}\cdots W_1` (theory §A1.1).

    Args:
        layers: ``(W_1, ..., W_N)``, ``W_j`` of shape ``(n_j, n_{j-1})``.

    Returns:
        ``W_e`` of shape ``(n_N, n_0)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import end_to_end_matrix
        >>> end_to_end_matrix((jnp.ones((2, 3)), jnp.ones((1, 2)))).tolist()
        [[2.0, 2.0, 2.0]]
    """
    k, d = layers[-1].shape[0], layers[0].shape[1]
    if k < d:  # few outputs: multiply from the output side (row-vector products for k = 1)
        W = layers[-1]
        for Wj in layers[-2::-1]:
            W = W @ Wj
        return W
    W = layers[0]
    for Wj in layers[1:]:
        W = Wj @ W
    return W


def layer_gradients(layers: LayersLike, grad_e: Float[Array, "k d"]) -> Layers:
    r"""Layer gradients by the chain rule (theory §A1.1):

    .. math::
        \frac{\partial L^N}{\partial W_j}
        = (W_N\cdots W_{j+1})^\top\,\nabla L^1(W_e)\,(W_{j-1}\cdots W_1)^\top ,

    with empty products equal to identities. ``O(N)`` matrix products (prefix and suffix
    products are shared); with fewer outputs than inputs (``k < d``) the products are taken in
    the order that keeps them ``k``-wide.

    Args:
        layers: ``(W_1, ..., W_N)``.
        grad_e: ``nabla L^1(W_e)``, shape ``(n_N, n_0)``.

    Returns:
        The tuple of ``dL^N/dW_j``, each of the shape of ``W_j``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import layer_gradients
        >>> g = layer_gradients((2.0 * jnp.ones((1, 1)), 3.0 * jnp.ones((1, 1))), jnp.ones((1, 1)))
        >>> [float(x[0, 0]) for x in g]   # d(w2 w1)/dw1 = w2, d/dw2 = w1
        [3.0, 2.0]
    """
    N = len(layers)
    k, d = grad_e.shape
    if k < d:  # few outputs: grad_j = U_j^T (G P_j^T) with U_j = W_N...W_{j+1} (k x n_j) and
        # P_j = W_{j-1}...W_1, both chains of k-column products (O(N n^2 k) instead of O(N n^2 d))
        U = [None] * N
        for j in range(N - 1, -1, -1):
            U[j] = None if j == N - 1 else (layers[j + 1] if U[j + 1] is None else U[j + 1] @ layers[j + 1])
        grads = [None] * N
        B = grad_e  # G P_j^T, (k, n_{j-1})
        for j in range(N):
            grads[j] = B if U[j] is None else U[j].T @ B
            B = B @ layers[j].T
        return tuple(grads)
    # left[j] = W_N ... W_{j+1} applied to G from the left: A_j = (W_N...W_{j+1})^T G
    A = [None] * N
    A[N - 1] = grad_e
    for j in range(N - 2, -1, -1):
        A[j] = layers[j + 1].T @ A[j + 1]
    grads = [None] * N
    P = None  # W_{j-1} ... W_1
    for j in range(N):
        grads[j] = A[j] if P is None else A[j] @ P.T
        P = layers[j] if P is None else layers[j] @ P
    return tuple(grads)


def imbalance(layers: LayersLike, relative: bool = False) -> Float[Array, "N-1"]:
    r"""Imbalance :math:`\|W_{j+1}^\top W_{j+1} - W_j W_j^\top\|_F`, ``j = 1..N-1`` (spec eq. 7).

    With ``relative=True`` each entry is divided by :math:`\|W_e\|_2^{2/N}` (the scale the
    end-to-end dynamics need it to be small against, theory §A1.4).

    Args:
        layers: ``(W_1, ..., W_N)``.
        relative: divide by :math:`\|W_e\|_2^{2/N}`.

    Returns:
        Array of shape ``(N - 1,)`` (empty for ``N = 1``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import imbalance
        >>> imbalance((jnp.array([[1.0]]), jnp.array([[2.0]]))).tolist()   # |2^2 - 1^2|
        [3.0]
    """
    return _imbalance(tuple(layers), relative=bool(relative))


@functools.partial(jax.jit, static_argnames=("relative",))
def _imbalance(layers, *, relative):
    N = len(layers)
    d = [
        jnp.linalg.norm(layers[j + 1].T @ layers[j + 1] - layers[j] @ layers[j].T)
        for j in range(N - 1)
    ]
    out = jnp.stack(d) if d else jnp.zeros((0,), layers[0].dtype)
    if relative and N > 1:
        s = jnp.linalg.norm(end_to_end_matrix(layers), ord=2)
        out = out / s ** (2.0 / N)
    return out


def layer_velocity(
    layers: LayersLike, grad_e: Float[Array, "k d"], lr: Scalar, weight_decay: Scalar = 0.0,
) -> Layers:
    r"""Right-hand side of the layer ODE (spec eq. 6, §A1.3):
    :math:`\dot W_j = -\eta\lambda W_j - \eta\,\partial L^N/\partial W_j`.

    Args:
        layers: ``(W_1, ..., W_N)``.
        grad_e: ``nabla L^1(W_e)``, shape ``(n_N, n_0)``.
        lr: ``eta``.
        weight_decay: ``lambda``.

    Returns:
        The tuple of ``dW_j/dt``, each of the shape of ``W_j``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import layer_velocity
        >>> layers = (2.0 * jnp.ones((1, 1)), 3.0 * jnp.ones((1, 1)))
        >>> v = layer_velocity(layers, jnp.ones((1, 1)), 0.1)
        >>> [round(float(x[0, 0]), 4) for x in v]   # -eta * (w2, w1)
        [-0.3, -0.2]
    """
    g = layer_gradients(layers, grad_e)
    return tuple(-lr * weight_decay * W - lr * gj for W, gj in zip(layers, g))


# ----------------------------------------------------------------------------- initialisations
def _normals(key, shapes, dtype):
    """Independent standard Gaussian arrays of the given shapes from ONE draw (a single
    random-bits kernel to compile, whatever the depth)."""
    sizes = [int(np.prod(sh)) for sh in shapes]
    flat = jax.random.normal(key, (sum(sizes),), dtype)
    out, start = [], 0
    for sh, n in zip(shapes, sizes):
        out.append(flat[start:start + n].reshape(sh))
        start += n
    return out


def _orthonormalize(Z):
    """Orthonormal columns spanning those of ``Z`` (QR, signs fixed so the map is unique)."""
    q, rr = jnp.linalg.qr(Z)
    return q * jnp.where(jnp.diag(rr) < 0, -1.0, 1.0).astype(Z.dtype)


def _check_scale(scale, name="scale"):
    if V.is_concrete(scale):
        s = np.asarray(scale)
        if s.ndim != 0 or not np.isfinite(s) or s <= 0:
            raise ValueError(f"{name} must be a finite positive scalar, got {scale!r}")


def init_balanced(
    key: PRNGKeyArray, widths: Sequence[int], scale: Optional[Scalar] = 1e-2,
    target: Optional[Float[ArrayLike, "k d"]] = None, dtype: DTypeLike = jnp.float64,
) -> Layers:
    r"""Balanced initialisation with a prescribed end-to-end matrix (theory §A1.4, the recipe).

    Draw ``A = scale * Z / ||Z||_2`` (``Z`` Gaussian) or take ``A = target``; with the thin SVD
    ``A = U Sigma V^T`` (``r = min(k, d)``) and orthonormal frames ``O_j`` of shape
    ``(n_j, r)``:

    .. math::
        W_1 = O_1\Sigma^{1/N}V^\top,\quad W_j = O_j\Sigma^{1/N}O_{j-1}^\top,\quad
        W_N = U\Sigma^{1/N}O_{N-1}^\top ,

    so that ``W_N ... W_1 = A`` and every :math:`W_{j+1}^\top W_{j+1} = W_j W_j^\top`.
    Hidden widths above ``r`` then have no effect at all on the trajectory of ``W_e``.

    Args:
        key: PRNG key.
        widths: ``(d, n_1, ..., n_{N-1}, k)``; every hidden width must be ``>= min(d, k)``.
        scale: spectral norm of the random target (ignored, and may be ``None``, when
            ``target`` is given).
        target: optional ``(k, d)`` end-to-end matrix to factor.
        dtype: floating dtype.

    Returns:
        ``(W_1, ..., W_N)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxaccel.depth import init_balanced, end_to_end_matrix, imbalance
        >>> layers = init_balanced(jax.random.PRNGKey(0), (5, 4, 7, 3), scale=0.5)
        >>> round(float(jnp.linalg.norm(end_to_end_matrix(layers), ord=2)), 12)
        0.5
        >>> bool(jnp.all(imbalance(layers) < 1e-14))
        True
    """
    ws = check_widths(widths)
    d, k, N = ws[0], ws[-1], len(ws) - 1
    r = min(d, k)
    if any(n < r for n in ws[1:-1]):
        raise ValueError(
            f"widths: the balanced recipe needs every hidden width >= min(d, k) = {r}, got {ws}"
        )
    if target is None:
        _check_scale(scale)
        A = None
    else:
        A = V.as_float_array(target, "target", dtype=dtype)
        if A.shape != (k, d):
            raise ValueError(f"target must have shape (k, d) = {(k, d)}, got {A.shape}")
        V.check_finite(A, "target")
    scale = 1.0 if scale is None else scale
    return _balanced(key, jnp.asarray(scale, dtype), A, widths=ws, dtype=jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnames=("widths", "dtype"))
def _balanced(key, scale, A, *, widths, dtype):
    """Jitted core of :func:`init_balanced` (one compilation per architecture)."""
    d, k, N = widths[0], widths[-1], len(widths) - 1
    r = min(d, k)
    Z, *F = _normals(key, [(k, d)] + [(widths[j + 1], r) for j in range(N - 1)], dtype)
    if A is None:
        A = scale * Z / jnp.linalg.norm(Z, ord=2)
    if N == 1:
        return (A,)
    U, s, Vt = jnp.linalg.svd(A, full_matrices=False)
    root = s ** (1.0 / N)
    O = [_orthonormalize(Fj) for Fj in F]
    layers = [(O[0] * root) @ Vt]
    for j in range(1, N - 1):
        layers.append((O[j] * root) @ O[j - 1].T)
    layers.append((U * root) @ O[N - 2].T)
    return tuple(layers)


def init_gaussian(
    key: PRNGKeyArray, widths: Sequence[int], scale: Scalar = 1e-2, dtype: DTypeLike = jnp.float64,
) -> Layers:
    """I.i.d. ``N(0, scale^2)`` entries in every layer (the "near-zero" init, theory §A1.4).

    Args:
        key: PRNG key.
        widths: ``(d, n_1, ..., n_{N-1}, k)``.
        scale: standard deviation ``> 0``.
        dtype: floating dtype.

    Returns:
        ``(W_1, ..., W_N)``.

    Example:
        >>> import jax
        >>> from jaxaccel.depth import init_gaussian
        >>> [W.shape for W in init_gaussian(jax.random.PRNGKey(0), (3, 4, 2))]
        [(4, 3), (2, 4)]
    """
    ws = check_widths(widths)
    _check_scale(scale)
    return _gaussian(key, jnp.asarray(scale, dtype), widths=ws, dtype=jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnames=("widths", "dtype"))
def _gaussian(key, scale, *, widths, dtype):
    shapes = [(widths[j + 1], widths[j]) for j in range(len(widths) - 1)]
    return tuple(scale * Z for Z in _normals(key, shapes, dtype))


def init_identity(
    widths: Sequence[int], scale: Scalar = 1.0, dtype: DTypeLike = jnp.float64,
) -> Layers:
    """Identity / linear-residual start (theory §A9.2 E6).

    Every layer but the last is the rectangular identity ``eye(n_j, n_{j-1})``; the last is
    ``scale * eye(k, n_{N-1})``. Hidden layers must be square (all hidden widths equal).

    Args:
        widths: ``(d, n_1, ..., n_{N-1}, k)`` with equal hidden widths.
        scale: factor ``> 0`` of the last layer.
        dtype: floating dtype.

    Returns:
        ``(W_1, ..., W_N)``.

    Example:
        >>> from jaxaccel.depth import init_identity
        >>> [W.tolist() for W in init_identity((2, 2, 1), scale=0.5)]
        [[[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.0]]]
    """
    ws = check_widths(widths)
    if len(set(ws[1:-1])) > 1:
        raise ValueError(f"widths: identity init needs equal (square) hidden widths, got {ws}")
    _check_scale(scale)
    N = len(ws) - 1
    layers = [jnp.eye(ws[j + 1], ws[j], dtype=dtype) for j in range(N)]
    layers[-1] = scale * layers[-1]
    return tuple(layers)


def init_orthogonal(
    key: PRNGKeyArray, widths: Sequence[int], scale: Scalar = 1.0, dtype: DTypeLike = jnp.float64,
) -> Layers:
    """(Semi-)orthogonal layers times ``scale`` (orthonormal rows or columns, whichever fit).

    Not balanced when consecutive shapes differ (theory §A10, item 4; inits of §C6.2).

    Args:
        key: PRNG key.
        widths: ``(d, n_1, ..., n_{N-1}, k)``.
        scale: factor ``> 0`` of every layer.
        dtype: floating dtype.

    Returns:
        ``(W_1, ..., W_N)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxaccel.depth import init_orthogonal
        >>> (W,) = init_orthogonal(jax.random.PRNGKey(0), (3, 2))   # orthonormal rows
        >>> W.shape, bool(jnp.allclose(W @ W.T, jnp.eye(2)))
        ((2, 3), True)
    """
    ws = check_widths(widths)
    _check_scale(scale)
    return _orthogonal(key, jnp.asarray(scale, dtype), widths=ws, dtype=jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnames=("widths", "dtype"))
def _orthogonal(key, scale, *, widths, dtype):
    pairs = [(widths[j + 1], widths[j]) for j in range(len(widths) - 1)]
    Zs = _normals(key, [(max(a, b), min(a, b)) for a, b in pairs], dtype)
    out = []
    for (n_out, n_in), Z in zip(pairs, Zs):
        F = _orthonormalize(Z)
        out.append(scale * (F if n_out >= n_in else F.T))
    return tuple(out)


_INITS = ("balanced", "gaussian", "identity", "orthogonal")


def init_network(
    key: PRNGKeyArray, widths: Sequence[int], method: str = "balanced",
    scale: Optional[Scalar] = 1e-2, target: Optional[Float[ArrayLike, "k d"]] = None,
    dtype: DTypeLike = jnp.float64,
) -> Layers:
    """Dispatch to one of the initialisations by name (``balanced``, ``gaussian``,
    ``identity``, ``orthogonal``); ``target`` is only used by ``balanced`` (theory §A1.4, §C6.2).

    Args:
        key: PRNG key (unused by ``identity``).
        widths: ``(d, n_1, ..., n_{N-1}, k)``.
        method: the initialisation's name.
        scale, target, dtype: as in :func:`init_balanced` and the others.

    Returns:
        ``(W_1, ..., W_N)``.

    Example:
        >>> import jax
        >>> from jaxaccel.depth import init_network
        >>> [W.tolist() for W in init_network(jax.random.PRNGKey(0), (2, 2, 1), "identity", 0.5)]
        [[[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.0]]]
    """
    if method == "balanced":
        return init_balanced(key, widths, scale, target, dtype)
    if target is not None:
        raise ValueError(f"target is only supported by method='balanced', got method={method!r}")
    if method == "gaussian":
        return init_gaussian(key, widths, scale, dtype)
    if method == "identity":
        return init_identity(widths, scale, dtype)
    if method == "orthogonal":
        return init_orthogonal(key, widths, scale, dtype)
    raise ValueError(f"method must be one of {_INITS}, got {method!r}")
