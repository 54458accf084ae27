r"""The scalar warm-up model :math:`w = w_1\,\omega_2` (docs/theory/depth_stacking.md §A6).

Gradient descent on :math:`L(w_1, \omega_2) = L(w_1\omega_2)` moves :math:`w = w_1\omega_2` by

.. math::
    w^{(t+1)} = w^{(t)} - \rho^{(t)}\nabla L(w^{(t)}) - \gamma^{(t)} w^{(t)}
               + \eta^2\,\omega_2^{(t)}\,\nabla_{\omega_2}^{(t)}\,\nabla L(w^{(t)}),

    \rho^{(t)} = \eta\,(\omega_2^{(t)})^2,\qquad
    \gamma^{(t)} = \eta\,\frac{\nabla_{\omega_2}^{(t)}}{\omega_2^{(t)}}
                 = \eta\,\frac{\langle w^{(t)},\nabla L(w^{(t)})\rangle}{(\omega_2^{(t)})^2},

exactly (the paper keeps the first-order part). Dropping the :math:`\eta^2` term and unrolling
gives an adaptive learning rate :math:`\rho` and a momentum kernel :math:`\mu^{(t,\tau)}`.
The model is the depth-2, hidden-width-1 network ``(w_1^T, [[omega_2]])``; train it with
:func:`jaxaccel.depth.train_network`.
"""

from __future__ import annotations

from typing import NamedTuple, Tuple

import jax
import jax.numpy as jnp

from jaxaccel._typing import Array, Float, Scalar


class WarmupCoefficients(NamedTuple):
    """Per-step coefficients of the exact one-step identity (theory §A6).

    Attributes:
        rho: adaptive learning rate ``eta * omega2^2``.
        gamma: momentum-like coefficient ``eta * grad_omega2 / omega2``.
        correction: the ``eta^2`` term ``eta^2 * omega2 * grad_omega2 * grad L(w)`` (shape of ``w``).
    """

    rho: jax.Array
    gamma: jax.Array
    correction: jax.Array


def warmup_gradients(
    w1: Float[Array, "d"], omega2: Scalar, grad_w: Float[Array, "d"],
) -> Tuple[Float[Array, "d"], Float[Array, ""]]:
    r"""``(nabla_{w_1}, nabla_{omega_2}) = (omega_2 nabla L(w), <w_1, nabla L(w)>)`` (theory §A6).

    Args:
        w1: ``(d,)`` first factor.
        omega2: scalar second factor.
        grad_w: ``nabla L(w1 * omega2)``, ``(d,)``.

    Returns:
        ``(grad_w1, grad_omega2)`` of shapes ``(d,)`` and ``()``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import warmup_gradients
        >>> g1, g2 = warmup_gradients(jnp.array([1.0, 2.0]), 0.5, jnp.array([0.3, -0.1]))
        >>> [round(x, 4) for x in g1.tolist()], round(float(g2), 4)
        ([0.15, -0.05], 0.1)
    """
    return omega2 * grad_w, jnp.sum(w1 * grad_w)


def warmup_step(
    w1: Float[Array, "d"], omega2: Scalar, grad_w: Float[Array, "d"], lr: Scalar,
) -> Tuple[Float[Array, "d"], Float[Array, ""]]:
    """One GD step on ``(w1, omega2)`` given ``grad_w = nabla L(w1 * omega2)`` (theory §A6).

    Args:
        w1: ``(d,)``. omega2: scalar. grad_w: ``(d,)``. lr: ``eta``.

    Returns:
        The updated ``(w1, omega2)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import warmup_step
        >>> a, b = warmup_step(jnp.array([1.0, 2.0]), 0.5, jnp.array([0.3, -0.1]), 0.1)
        >>> [round(x, 4) for x in a.tolist()], round(float(b), 4)
        ([0.985, 2.005], 0.49)
    """
    g1, g2 = warmup_gradients(w1, omega2, grad_w)
    return w1 - lr * g1, omega2 - lr * g2


def warmup_coefficients(
    w1: Float[Array, "d"], omega2: Scalar, grad_w: Float[Array, "d"], lr: Scalar,
) -> WarmupCoefficients:
    r"""The coefficients :math:`\rho, \gamma` and the :math:`\eta^2` term of theory §A6.

    Args:
        w1: ``(d,)``. omega2: scalar (non-zero). grad_w: ``nabla L(w1 * omega2)``, ``(d,)``.
        lr: ``eta``.

    Returns:
        A :class:`WarmupCoefficients` ``(rho, gamma, correction)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import warmup_coefficients, warmup_step
        >>> w1, o2, g, lr = jnp.array([1.0, 2.0]), 0.5, jnp.array([0.3, -0.1]), 0.1
        >>> c = warmup_coefficients(w1, o2, g, lr)
        >>> a, b = warmup_step(w1, o2, g, lr)
        >>> w = w1 * o2
        >>> bool(jnp.allclose(a * b, w - c.rho * g - c.gamma * w + c.correction, atol=1e-15))
        True
    """
    _, g2 = warmup_gradients(w1, omega2, grad_w)
    rho = lr * omega2**2
    gamma = lr * g2 / omega2
    return WarmupCoefficients(rho, gamma, lr**2 * omega2 * g2 * grad_w)


def momentum_kernel(rho: Float[Array, "T"], gamma: Float[Array, "T"]) -> Float[Array, "T T"]:
    r"""The momentum kernel of the first-order unrolled warm-up dynamics (theory §A6).

    Dropping the :math:`\eta^2` term, :math:`w^{(t+1)} = (1-\gamma^{(t)})w^{(t)} -
    \rho^{(t)}\nabla L(w^{(t)})`, which unrolls (for :math:`w^{(0)} = 0`) to

    .. math::
        w^{(t+1)} = w^{(t)} - \rho^{(t)}\nabla L(w^{(t)})
                    - \sum_{\tau=0}^{t-1}\mu^{(t,\tau)}\nabla L(w^{(\tau)}),\qquad
        \mu^{(t,\tau)} = -\gamma^{(t)}\rho^{(\tau)}\prod_{s=\tau+1}^{t-1}(1-\gamma^{(s)}).

    Args:
        rho: ``(T,)`` learning rates. gamma: ``(T,)`` coefficients.

    Returns:
        ``(T, T)`` strictly lower-triangular matrix ``mu[t, tau]`` (zero for ``tau >= t``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import momentum_kernel
        >>> mu = momentum_kernel(jnp.full(3, 0.1), jnp.full(3, 0.5))
        >>> [[round(x, 4) for x in row] for row in mu.tolist()]  # mu[2,0] = -gamma rho (1-gamma)
        [[0.0, 0.0, 0.0], [-0.05, 0.0, 0.0], [-0.025, -0.05, 0.0]]
    """
    T = rho.shape[0]
    idx = jnp.arange(T)

    def row(C, t):  # C[tau] = prod_{s=tau+1}^{t-1} (1 - gamma_s) for tau < t
        out = jnp.where(idx < t, -gamma[t] * rho * C, 0.0)
        C = jnp.where(idx == t, 1.0, C * (1.0 - gamma[t]))
        return C, out

    _, mu = jax.lax.scan(row, jnp.ones_like(rho), idx)
    return mu
