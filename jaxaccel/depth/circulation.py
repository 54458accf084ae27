r"""Theorem 2 diagnostics: the end-to-end field is not a gradient field (theory §A7).

For a single output the end-to-end rule moves ``w`` along

.. math::
    F(w) = \|w\|^{2-\frac2N}\big(\nabla L^1(w) + (N-1)\,\mathrm{Pr}_w\{\nabla L^1(w)\}\big),
    \qquad F(0) = 0 .

If ``F`` were the gradient of some ``Phi`` (i.e. if a regulariser could emulate depth), its
circulation around every closed loop would vanish. Around the loop "radial from 0 to ``r u``,
arc of radius ``r`` from ``u`` to ``u'``, radial back to 0", for a linear loss
(``nabla L^1 = g``) the circulation is

.. math::
    \oint F\cdot dw = r^{3-2/N}\,\langle g, u-u'\rangle\,\frac{(N-1)(N-2)}{3N-2},

non-zero for ``N >= 3`` and exactly zero for ``N in {1, 2}`` (where
``F = nabla(||w|| <g, w>)`` for ``N = 2``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import Array, ArrayLike, Float, Scalar
from jaxaccel.depth.end_to_end import Depth, check_depth, single_output_direction

#: A loss gradient ``w -> nabla L^1(w)`` of a single-output end-to-end vector (a JAX function).
GradFn = Callable[[Float[Array, "d"]], Float[Array, "d"]]


def single_output_field(grad_fn: GradFn, w: Float[Array, "d"], depth: Depth) -> Float[Array, "d"]:
    r"""``F(w)`` of theory §A7 for a gradient function ``grad_fn: (d,) -> (d,)``:
    :math:`\|w\|^{2-\frac2N}\big(\nabla L^1(w) + (N-1)\,\mathrm{Pr}_w\{\nabla L^1(w)\}\big)`.

    Args:
        grad_fn: ``(d,) -> (d,)``, the gradient of the loss.
        w: ``(d,)`` end-to-end vector.
        depth: ``N >= 1`` (may be traced).

    Returns:
        ``(d,)`` field value (see :func:`~jaxaccel.depth.single_output_direction`).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import single_output_field
        >>> g = jnp.array([1.0, 1.0])
        >>> single_output_field(lambda w: g, jnp.array([2.0, 0.0]), 2).tolist()
        [4.0, 2.0]
    """
    return single_output_direction(w, grad_fn(w), depth)


def _unit_pair(u, u_prime):
    u = V.as_float_array(u, "u")
    up = V.as_float_array(u_prime, "u_prime", dtype=u.dtype)
    V.check_ndim(u, "u", 1)
    if up.shape != u.shape:
        raise ValueError(f"u_prime must have the shape of u {u.shape}, got {up.shape}")
    if u.shape[0] < 2:
        raise ValueError("u must have dimension d >= 2 (a loop needs a plane)")
    V.check_finite(u, "u")
    V.check_finite(up, "u_prime")
    for x, name in ((u, "u"), (up, "u_prime")):
        if abs(float(jnp.linalg.norm(x)) - 1.0) > 1e-10:
            raise ValueError(f"{name} must be a unit vector (norm {float(jnp.linalg.norm(x))})")
    return u, up


def loop_circulation(
    grad_fn: GradFn, u: Float[ArrayLike, "d"], u_prime: Float[ArrayLike, "d"], radius: Scalar,
    depth: int, num_points: int = 64,
) -> Float[Array, ""]:
    r"""Numerical circulation of the end-to-end field around the radial-arc-radial loop.

    Gauss-Legendre quadrature on each leg. On the radial legs the substitution
    :math:`t = r s^{N}` turns :math:`t^{2-2/N}\,dt` into a polynomial in ``s`` (for integer
    ``N``), so the quadrature converges spectrally despite the non-smooth factor at 0.

    Args:
        grad_fn: ``(d,) -> (d,)``, the gradient of the loss (a JAX function).
        u, u_prime: ``(d,)`` unit vectors, not antipodal.
        radius: ``r > 0``.
        depth: ``N >= 1``, an integer (concrete).
        num_points: quadrature nodes per leg.

    Returns:
        The circulation (a scalar).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import loop_circulation, circulation_closed_form
        >>> g = jnp.array([1.0, -0.5]); u = jnp.array([1.0, 0.0]); v = jnp.array([0.0, 1.0])
        >>> c = loop_circulation(lambda w: g, u, v, 1.0, 3)
        >>> bool(abs(c - circulation_closed_form(g, u, v, 1.0, 3)) < 1e-12)
        True
    """
    u, up = _unit_pair(u, u_prime)
    check_depth(depth)
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be finite and > 0, got {radius!r}")
    num_points = V.check_positive_int(num_points, "num_points")
    dtype = u.dtype
    N = float(depth)
    x, wq = np.polynomial.legendre.leggauss(num_points)
    s = jnp.asarray(0.5 * (x + 1.0), dtype)
    ws = jnp.asarray(0.5 * wq, dtype)
    field = jax.vmap(lambda w: single_output_field(grad_fn, w, depth))

    def radial(e):  # integral_0^r F(t e) . e dt, t = r s^N, dt = r N s^(N-1) ds
        t = radius * s**N
        Fv = field(t[:, None] * e[None, :]) @ e
        return jnp.sum(ws * Fv * radius * N * s ** (N - 1.0))

    # arc from u to u' in their plane
    c = jnp.clip(jnp.dot(u, up), -1.0, 1.0)
    v = up - c * u
    nv = jnp.linalg.norm(v)
    if float(nv) < 1e-12:
        raise ValueError("u_prime must differ from u and from -u (the loop would be degenerate)")
    v = v / nv
    theta = jnp.arctan2(nv, c)
    phi = theta * s
    pts = radius * (jnp.cos(phi)[:, None] * u + jnp.sin(phi)[:, None] * v)
    tang = radius * (-jnp.sin(phi)[:, None] * u + jnp.cos(phi)[:, None] * v)
    arc = theta * jnp.sum(ws * jnp.sum(field(pts) * tang, axis=1))
    return radial(u) + arc - radial(up)


def circulation_closed_form(
    g: Float[ArrayLike, "d"], u: Float[ArrayLike, "d"], u_prime: Float[ArrayLike, "d"],
    radius: Scalar, depth: Depth,
) -> Float[Array, ""]:
    r""":math:`r^{3-2/N}\langle g,u-u'\rangle(N-1)(N-2)/(3N-2)` for a linear loss (theory §A7).

    The circulation of the end-to-end field around the radial-arc-radial loop of
    :func:`loop_circulation` when :math:`\nabla L^1 = g` is constant.

    Args:
        g: ``(d,)`` constant gradient of the linear loss.
        u, u_prime: ``(d,)`` unit vectors (the loop's end points on the circle).
        radius: ``r > 0``.
        depth: ``N >= 1``.

    Returns:
        The circulation (a scalar); zero for ``N in {1, 2}``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import circulation_closed_form
        >>> g = jnp.array([1.0, -0.5]); u = jnp.array([1.0, 0.0]); v = jnp.array([0.0, 1.0])
        >>> [round(float(circulation_closed_form(g, u, v, 1.0, n)), 4) for n in (2, 3)]
        [0.0, 0.4286]
    """
    N = jnp.asarray(depth, jnp.result_type(float))
    return radius ** (3.0 - 2.0 / N) * jnp.dot(g, u - u_prime) * (N - 1) * (N - 2) / (3 * N - 2)
