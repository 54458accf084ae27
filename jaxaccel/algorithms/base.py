"""Memory-M first-order algorithms in the matrix form (3).

Theory: ``docs/theory/sgd_memory.md`` §2.1. State ``(w_t, u_t)`` with memory ``u_t in H^M`` and

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

import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._pytree import rebuild, pytree_dataclass, replace, static_field
from jaxaccel._typing import MemoryMatrix, MemoryVector, StepSize

__all__ = ["PARAM_NAMES", "MemoryAlgorithm"]



#: names of the parameters of (3), in the order of :attr:`MemoryAlgorithm.params`
PARAM_NAMES = ("alpha", "a", "b", "c", "D")


@pytree_dataclass
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

    alpha: jax.Array
    a: jax.Array
    b: jax.Array
    c: jax.Array
    D: jax.Array
    #: static knowledge that ``a == 0`` (set by constructors that build ``a`` from zeros); it
    #: lets kernels skip the gradient-shift terms even when the values are traced under vmap
    zero_shift: bool = static_field(False)

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
        self.zero_shift = False

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

    @classmethod
    def from_params(cls, params, zero_shift: bool = False) -> "MemoryAlgorithm":
        """Rebuild from ``(alpha, a, b, c, D)`` without validation (for kernels that already
        hold checked or traced parameters)."""
        return rebuild(cls, list(params), [bool(zero_shift)])

    @property
    def params(self) -> Tuple[jax.Array, ...]:
        """``(alpha, a, b, c, D)``."""
        return self.alpha, self.a, self.b, self.c, self.D

    def map_leaves(self, f) -> "MemoryAlgorithm":
        """Apply ``f`` to every parameter array, keeping the static metadata."""
        return replace(self, **{n: f(x) for n, x in zip(PARAM_NAMES, self.params)})

    def with_shift_terms(self) -> "MemoryAlgorithm":
        """The same parameters without the static ``zero_shift`` flag (general rank-one form),
        so shift-free and shifted algorithms of one ``M`` share a compiled program."""
        return replace(self, zero_shift=False)

    def at(self, t) -> "MemoryAlgorithm":
        """The (stationary) parameters used at step ``t``."""
        if self.is_stationary:
            return self
        return self.map_leaves(lambda x: x[t])

    def astype(self, dtype) -> "MemoryAlgorithm":
        return self.map_leaves(lambda x: x.astype(dtype))

    def truncate(self, steps: int) -> "MemoryAlgorithm":
        """First ``steps`` entries of a schedule (a stationary algorithm is returned as is)."""
        if self.is_stationary:
            return self
        if self.num_steps < steps:
            raise ValueError(
                f"steps={steps} exceeds the schedule length {self.num_steps} of algorithm"
            )
        return self.map_leaves(lambda x: x[:steps])

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



def shift_free(alg: MemoryAlgorithm) -> MemoryAlgorithm:
    """``alg`` marked as having ``a = 0`` statically (for constructors that build ``a`` from
    zeros): kernels then skip the gradient-shift terms even under ``vmap``."""
    return replace(alg, zero_shift=True)


def check_algorithm(algorithm, name: str = "algorithm", *, stationary: bool = False,
                    finite: bool = True, why: str = "") -> MemoryAlgorithm:
    """Validate a :class:`MemoryAlgorithm` argument (``ValueError`` naming ``name``).

    ``stationary``: reject schedules (``why`` is appended to the message); ``finite``: reject
    NaN/inf parameters (checked on concrete values only).
    """
    if not isinstance(algorithm, MemoryAlgorithm):
        raise ValueError(f"{name} must be a MemoryAlgorithm, got {type(algorithm).__name__}")
    if stationary and not algorithm.is_stationary:
        raise ValueError(f"{name} must be stationary{why}")
    if finite:
        for pname, x in zip(PARAM_NAMES, algorithm.params):
            V.check_finite(x, f"{name}.{pname}")
    return algorithm
