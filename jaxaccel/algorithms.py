"""Memory-M first-order algorithms in the matrix form (3) of the spec.

Spec: ``sgd_memory.md`` §2. State ``(w_t, u_t)`` with memory ``u_t in H^M`` and

.. math::
    \\begin{pmatrix} w_{t+1}-w_t \\\\ u_{t+1} \\end{pmatrix}
    = \\begin{pmatrix} -\\alpha_t & b_t^T \\\\ c_t & D_t \\end{pmatrix}
      \\begin{pmatrix} \\nabla L(w_t + a_t^T u_t) \\\\ u_t \\end{pmatrix},\\qquad u_0 = 0.  \\tag{3}

A :class:`MemoryAlgorithm` is a pytree of arrays, so values are traced (changing them never
recompiles) and ``jax.vmap`` sweeps them. Parameters are either stationary (``alpha`` scalar,
``a, b, c`` of shape ``(M,)``, ``D`` of shape ``(M, M)``) or schedules with a leading time axis
of length ``T`` (then every parameter carries it; stationary ones are broadcast).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import Float, MemoryMatrix, MemoryVector, StepSize


@jax.tree_util.register_pytree_node_class
class MemoryAlgorithm:
    """General memory-M algorithm (3) with gradient shift ``a``.

    Args:
        alpha: learning rate, ``()`` or ``(T,)``.
        a: gradient-shift vector, ``(M,)`` or ``(T, M)``.
        b: memory-to-weights vector, ``(M,)`` or ``(T, M)``.
        c: gradient-to-memory vector, ``(M,)`` or ``(T, M)``.
        D: memory transition, ``(M, M)`` or ``(T, M, M)``.

    Example:
        >>> import jaxaccel as ja
        >>> hb = ja.heavy_ball(0.5, 0.9)
        >>> hb.memory, hb.is_stationary
        (1, True)
        >>> round(float(ja.effective_learning_rate(hb)), 12)
        5.0
    """

    def __init__(self, alpha: StepSize, a: MemoryVector, b: MemoryVector, c: MemoryVector,
                 D: MemoryMatrix):
        alpha = V.as_float_array(alpha, "alpha")
        dtype = alpha.dtype
        a = V.as_float_array(a, "a", dtype)
        b = V.as_float_array(b, "b", dtype)
        c = V.as_float_array(c, "c", dtype)
        D = V.as_float_array(D, "D", dtype)
        V.check_ndim(alpha, "alpha", (0, 1))
        V.check_ndim(a, "a", (1, 2))
        V.check_ndim(b, "b", (1, 2))
        V.check_ndim(c, "c", (1, 2))
        V.check_ndim(D, "D", (2, 3))
        M = a.shape[-1]
        for name, x in (("b", b), ("c", c)):
            if x.shape[-1] != M:
                raise ValueError(f"{name} must have last dimension M={M} (from a), got {x.shape}")
        if D.shape[-2:] != (M, M):
            raise ValueError(f"D must have trailing shape ({M}, {M}), got {D.shape}")
        lengths = {
            name: x.shape[0]
            for name, x, nd in (("alpha", alpha, 0), ("a", a, 1), ("b", b, 1), ("c", c, 1), ("D", D, 2))
            if x.ndim > nd
        }
        if len(set(lengths.values())) > 1:
            raise ValueError(f"schedule lengths differ between parameters: {lengths}")
        if lengths:
            T = next(iter(lengths.values()))
            if T == 0:
                raise ValueError(f"schedules must have at least one step: {lengths}")
            alpha = jnp.broadcast_to(alpha, (T,))
            a = jnp.broadcast_to(a, (T, M))
            b = jnp.broadcast_to(b, (T, M))
            c = jnp.broadcast_to(c, (T, M))
            D = jnp.broadcast_to(D, (T, M, M))
        for name, x in (("alpha", alpha), ("a", a), ("b", b), ("c", c), ("D", D)):
            V.check_finite(x, name)
        self.alpha, self.a, self.b, self.c, self.D = alpha, a, b, c, D
        # Static knowledge that a == 0 (set by constructors that build a from zeros); it lets
        # kernels skip the gradient-shift terms even when the values are traced under vmap.
        self.zero_shift = False

    # -- pytree protocol --
    def tree_flatten(self):
        return (self.alpha, self.a, self.b, self.c, self.D), self.zero_shift

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.alpha, obj.a, obj.b, obj.c, obj.D = children
        obj.zero_shift = bool(aux)
        return obj

    # -- structure --
    @property
    def memory(self) -> int:
        """Memory size ``M`` (static)."""
        return self.a.shape[-1]

    @property
    def is_stationary(self) -> bool:
        return self.alpha.ndim == 0

    @property
    def num_steps(self):
        """Schedule length ``T`` (``None`` for a stationary algorithm)."""
        return None if self.is_stationary else self.alpha.shape[0]

    @property
    def dtype(self):
        return self.alpha.dtype

    def _map(self, f) -> "MemoryAlgorithm":
        """Apply ``f`` to every parameter array, keeping the static metadata."""
        children, aux = self.tree_flatten()
        return MemoryAlgorithm.tree_unflatten(aux, [f(x) for x in children])

    def at(self, t) -> "MemoryAlgorithm":
        """The (stationary) parameters used at step ``t``."""
        if self.is_stationary:
            return self
        return self._map(lambda x: x[t])

    def astype(self, dtype) -> "MemoryAlgorithm":
        return self._map(lambda x: x.astype(dtype))

    def truncate(self, steps: int) -> "MemoryAlgorithm":
        """First ``steps`` entries of a schedule (a stationary algorithm is returned as is)."""
        if self.is_stationary:
            return self
        if self.num_steps < steps:
            raise ValueError(
                f"steps={steps} exceeds the schedule length {self.num_steps} of algorithm"
            )
        return self._map(lambda x: x[:steps])

    def transition_parts(self):
        """``(S0, v, wbar)`` of the rank-one form (7): ``S_lambda = S0 + lambda v wbar^T``.

        Shapes ``(..., M+1, M+1)``, ``(..., M+1)``, ``(..., M+1)`` (leading time axis kept).
        """
        M = self.memory
        lead = self.alpha.shape
        one = jnp.ones(lead + (1,), self.dtype)
        top = jnp.concatenate([one, self.b], axis=-1)[..., None, :]
        bottom = jnp.concatenate([jnp.zeros(lead + (M, 1), self.dtype), self.D], axis=-1)
        S0 = jnp.concatenate([top, bottom], axis=-2)
        v = jnp.concatenate([-self.alpha[..., None], self.c], axis=-1)
        wbar = jnp.concatenate([one, self.a], axis=-1)
        return S0, v, wbar

    def transition_matrix(self, lam):
        """:math:`S_\\lambda` of eq. (7) for eigenvalue(s) ``lam``; shape ``lam.shape + (M+1, M+1)``.

        For a schedule, ``lam`` must broadcast against the time axis.
        """
        S0, v, wbar = self.transition_parts()
        lam = jnp.asarray(lam)[..., None, None]
        return S0 + lam * v[..., :, None] * wbar[..., None, :]

    def __repr__(self) -> str:
        kind = "stationary" if self.is_stationary else f"schedule T={self.num_steps}"
        return f"MemoryAlgorithm(M={self.memory}, {kind}, dtype={self.dtype})"


def _shift_free(alg: MemoryAlgorithm) -> MemoryAlgorithm:
    alg.zero_shift = True
    return alg


def _vec(x, name, dtype=None):
    x = V.as_float_array(x, name, dtype)
    V.check_ndim(x, name, (0, 1))
    V.check_finite(x, name)
    return x


# ----------------------------------------------------------------------------- constructors
def gd(alpha: StepSize) -> MemoryAlgorithm:
    """Plain (S)GD, ``w_{t+1} = w_t - alpha_t grad L(w_t)`` (memory ``M = 0``).

    Example:
        >>> import jaxaccel as ja
        >>> alg = ja.gd(0.5)
        >>> alg.memory, float(ja.effective_learning_rate(alg))
        (0, 0.5)
        >>> ja.gd([1.0, 0.5, 0.25]).num_steps          # a schedule: leading time axis
        3
    """
    alpha = _vec(alpha, "alpha")
    lead = alpha.shape
    z = jnp.zeros(lead + (0,), alpha.dtype)
    return _shift_free(MemoryAlgorithm(alpha, z, z, z, jnp.zeros(lead + (0, 0), alpha.dtype)))


def memory1(alpha: StepSize, a: StepSize, b: StepSize, c: StepSize, D: StepSize) -> MemoryAlgorithm:
    """General memory-1 algorithm from its five scalars (spec §2.2); each may be a schedule.

    Example:
        >>> import jaxaccel as ja
        >>> alg = ja.memory1(0.3, 0.2, 0.8, -0.3, 0.8)   # alpha, a, b, c, D
        >>> S = alg.transition_matrix(1.0)                 # S_lambda of eq. (7) at lambda = 1
        >>> [[round(float(x), 12) for x in row] for row in S]
        [[0.7, 0.74], [-0.3, 0.74]]
    """
    alpha = _vec(alpha, "alpha")
    vals = [_vec(x, n, alpha.dtype) for x, n in ((a, "a"), (b, "b"), (c, "c"), (D, "D"))]
    shapes = {n: x.shape for n, x in zip(("alpha", "a", "b", "c", "D"), [alpha] + vals)}
    lead = max(shapes.values(), key=len)
    if any(s not in ((), lead) for s in shapes.values()):
        raise ValueError(f"memory-1 parameters must be scalars or schedules of one length: {shapes}")
    alpha, a, b, c, D = [jnp.broadcast_to(x, lead) for x in [alpha] + vals]
    return MemoryAlgorithm(alpha, a[..., None], b[..., None], c[..., None], D[..., None, None])


def heavy_ball(alpha: StepSize, beta: StepSize) -> MemoryAlgorithm:
    """Heavy Ball (4): ``w_{t+1} = w_t - alpha grad L(w_t) + beta (w_t - w_{t-1})``.

    Matrix form: ``b = D = beta``, ``c = -alpha``, ``a = 0``.

    Example:
        >>> import jaxaccel as ja
        >>> round(float(ja.effective_learning_rate(ja.heavy_ball(0.4, 0.9))), 12)  # alpha/(1-beta)
        4.0
    """
    alpha, beta = _vec(alpha, "alpha"), _vec(beta, "beta")
    return _shift_free(memory1(alpha, jnp.zeros_like(beta), beta, -alpha, beta))


def nesterov(alpha: StepSize, beta: StepSize) -> MemoryAlgorithm:
    """Nesterov (5): Heavy Ball with the gradient taken at ``w_t + beta u_t`` (``a = beta``).

    Example:
        >>> import jaxaccel as ja
        >>> alg = ja.nesterov(0.3, 0.8)
        >>> float(alg.a[0]), round(float(ja.effective_learning_rate(alg)), 12)
        (0.8, 1.5)
    """
    alpha, beta = _vec(alpha, "alpha"), _vec(beta, "beta")
    return memory1(alpha, beta, beta, -alpha, beta)


def torch_momentum(lr: StepSize, momentum: StepSize, nesterov: bool = False) -> MemoryAlgorithm:
    """PyTorch SGD-momentum ``v <- mu v + g; w <- w - lr v`` (``nesterov=False``).

    Matrix form ``alpha = lr, b = -lr mu, c = 1, D = mu`` (equivalent to HB with ``beta = mu``).
    With ``nesterov=True`` PyTorch steps ``w <- w - lr (g + mu v)``, i.e. the decoupled form (250)
    with ``eta = lr mu`` and ``eta' = lr`` (see :func:`am1_form`).

    Example:
        >>> import jaxaccel as ja, numpy as np
        >>> S1 = ja.torch_momentum(0.1, 0.9).transition_matrix(0.5)
        >>> bool(np.allclose(np.linalg.eigvals(S1), np.linalg.eigvals(
        ...     ja.heavy_ball(0.1, 0.9).transition_matrix(0.5))))   # same dynamics as HB
        True
    """
    lr, mu = _vec(lr, "lr"), _vec(momentum, "momentum")
    if nesterov:
        return am1_form(lr * mu, lr, mu)
    return _shift_free(memory1(lr, jnp.zeros_like(mu), -lr * mu, jnp.ones_like(mu), mu))


def am1_form(eta: StepSize, eta_prime: StepSize, beta: StepSize) -> MemoryAlgorithm:
    """Decoupled momentum (250): ``v <- beta v + g;  w <- w - eta v - eta' g``.

    Matrix form ``alpha = eta + eta', b = -eta beta, c = 1, D = beta, a = 0`` (spec §7.1).

    Example:
        >>> import jaxaccel as ja
        >>> round(float(ja.effective_learning_rate(ja.am1_form(0.5, 0.1, 0.9))), 12)  # eta/(1-beta)+eta'
        5.1
    """
    eta, etap, beta = _vec(eta, "eta"), _vec(eta_prime, "eta_prime"), _vec(beta, "beta")
    return _shift_free(
        memory1(eta + etap, jnp.zeros_like(beta), -eta * beta, jnp.ones_like(beta), beta)
    )


def memory1_triplet(delta: StepSize, q0: StepSize, q1: StepSize) -> MemoryAlgorithm:
    """Memory-1 from the triplet ``(delta, q0, q1)``: ``P = (mu-1)(mu-1+delta)``, ``Q = q0 + q1 mu``.

    Realisation with ``a = 0`` (spec §6.1): ``alpha = -q1, c = 1, D = beta = 1 - delta,
    b = q0 + q1 beta``.

    Example:
        >>> import jaxaccel as ja
        >>> P, Q = ja.characteristic_polynomials(ja.memory1_triplet(0.1, 0.5, -0.7))
        >>> [round(float(x), 12) + 0.0 for x in P], [round(float(x), 12) + 0.0 for x in Q]
        ([0.9, -1.9, 1.0], [0.5, -0.7])
    """
    delta, q0, q1 = _vec(delta, "delta"), _vec(q0, "q0"), _vec(q1, "q1")
    beta = 1.0 - delta
    return _shift_free(
        memory1(-q1, jnp.zeros_like(beta), q0 + q1 * beta, jnp.ones_like(beta), beta)
    )


# ------------------------------------------------------------------- polynomials (Theorem 1)
def _charpoly(A):
    """Coefficients (ascending) of ``det(mu I - A)`` by Faddeev-LeVerrier; ``A``: (..., K, K)."""
    K = A.shape[-1]
    eye = jnp.eye(K, dtype=A.dtype)
    coeffs = [jnp.ones(A.shape[:-2], A.dtype)]  # c_K = 1 (descending accumulation)
    Mk = jnp.zeros_like(A)
    for k in range(1, K + 1):
        Mk = A @ Mk + coeffs[-1][..., None, None] * eye
        coeffs.append(-jnp.trace(A @ Mk, axis1=-2, axis2=-1) / k)
    return jnp.stack(coeffs[::-1], axis=-1)  # ascending: index m -> coefficient of mu^m


def characteristic_polynomials(alg: MemoryAlgorithm) -> Tuple[jax.Array, jax.Array]:
    """``(P, Q)`` with ``det(mu - S_lambda) = P(mu) - lambda Q(mu)`` (spec §2.4, eq. 36).

    Returns ascending coefficient arrays: ``P`` of length ``M+2`` (monic, ``P(1) = 0``) and ``Q``
    of length ``M+1``, so that the multistep form (8) has ``p_m = -P[m]`` (m <= M), ``q_m = Q[m]``.
    Since ``S_lambda = S0 + lambda v wbar^T`` is affine in ``lambda``, ``P = charpoly(S0)`` and
    ``Q = charpoly(S0) - charpoly(S0 + v wbar^T)``. A schedule gives a leading time axis.

    Example:
        >>> import jaxaccel as ja
        >>> P, Q = ja.characteristic_polynomials(ja.heavy_ball(0.4, 0.9))  # (mu-1)(mu-0.9), -0.4 mu
        >>> [round(float(x), 12) + 0.0 for x in P], [round(float(x), 12) + 0.0 for x in Q]
        ([0.9, -1.9, 1.0], [0.0, -0.4])
    """
    S0, v, wbar = alg.transition_parts()
    P = _charpoly(S0)
    Q = (P - _charpoly(S0 + v[..., :, None] * wbar[..., None, :]))[..., :-1]
    return P, Q


def from_multistep(P: Float[jax.Array, "*T M+2"], Q: Float[jax.Array, "*T M+1"]) -> MemoryAlgorithm:
    """Converse of Theorem 1: a realisation (3) with ``a = 0`` of the multistep pair ``(P, Q)``.

    ``D`` is the companion matrix of ``R = P / (mu - 1)`` (top-row form, for which
    ``adj(mu - D) e_1 = (mu^{M-1}, ..., 1)``), ``c = e_1``, ``alpha = -Q[M]`` and ``b_j`` is the
    coefficient of ``mu^{M-j}`` in ``Q + alpha R`` (spec §2.5).

    Args:
        P: ascending coefficients, length ``M+2``, monic with ``P(1) = 0``.
        Q: ascending coefficients, length ``<= M+1``.

    Example:
        >>> import jaxaccel as ja
        >>> alg = ja.from_multistep([0.9, -1.9, 1.0], [0.0, -0.4])       # Heavy Ball (0.4, 0.9)
        >>> [[round(float(x), 12) + 0.0 for x in c] for c in ja.characteristic_polynomials(alg)]
        [[0.9, -1.9, 1.0], [0.0, -0.4]]
    """
    P = np.asarray(P, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    if P.ndim != 1 or P.shape[0] < 2:
        raise ValueError(f"P must be 1-D with at least 2 coefficients, got shape {P.shape}")
    if not np.all(np.isfinite(P)) or not np.all(np.isfinite(Q)):
        raise ValueError("P and Q must be finite")
    M = P.shape[0] - 2
    if abs(P[-1] - 1.0) > 1e-12:
        raise ValueError(f"P must be monic (leading coefficient 1), got {P[-1]}")
    if abs(P.sum()) > 1e-10 * max(1.0, np.abs(P).sum()):
        raise ValueError(f"P must satisfy P(1) = 0, got P(1) = {P.sum()}")
    if Q.ndim != 1 or Q.shape[0] > M + 1:
        raise ValueError(f"Q must be 1-D of length <= M+1 = {M + 1}, got shape {Q.shape}")
    Q = np.concatenate([Q, np.zeros(M + 1 - Q.shape[0])])
    # synthetic division R = P / (mu - 1), ascending coefficients, degree M, monic
    desc = P[::-1]
    R_desc = np.zeros(M + 1)
    acc = 0.0
    for i in range(M + 1):
        acc = desc[i] + acc
        R_desc[i] = acc
    R = R_desc[::-1]
    alpha = -Q[M]
    rem = Q + alpha * R  # degree <= M-1
    D = np.zeros((M, M))
    if M > 0:
        D[0, :] = -R[M - 1 :: -1][:M]  # -(r_{M-1}, ..., r_0)
        D[1:, :-1] = np.eye(M - 1)
    b = np.array([rem[M - j] for j in range(1, M + 1)])
    c = np.zeros(M)
    if M > 0:
        c[0] = 1.0
    return _shift_free(MemoryAlgorithm(alpha, np.zeros(M), b, c, D))


def effective_learning_rate(alg: MemoryAlgorithm) -> Float[jax.Array, "*T"]:
    """:math:`\\alpha_{\\rm eff} = \\alpha - b^T (1 - D)^{-1} c = -Q(1)/P'(1)` (eq. 22).

    Independent of the shift ``a``. For a schedule, the momentary value at each step.

    Example:
        >>> import jaxaccel as ja
        >>> round(float(ja.effective_learning_rate(ja.memory1_triplet(0.02, 0.5, -0.7))), 12)
        10.0
    """
    M = alg.memory
    if M == 0:
        return alg.alpha
    eye = jnp.eye(M, dtype=alg.dtype)
    x = jnp.linalg.solve(eye - alg.D, alg.c[..., None])[..., 0]
    return alg.alpha - jnp.sum(alg.b * x, axis=-1)
