"""Losses of the end-to-end matrix ``W_e`` (docs/theory/depth_stacking.md §A1.1-§A1.2).

Every loss here is a pytree with two methods of a ``(k, d)`` matrix ``W``:

* ``value(W)`` -- the scalar ``L^1(W)``;
* ``value_and_grad(W)`` -- ``(L^1(W), nabla L^1(W))`` with the gradient of shape ``(k, d)``.

The data are pytree leaves (so a jitted run is traced once per shape) and the exponent and
conventions are static metadata. :class:`LpRegression` is the paper's test problem;
:class:`CustomLoss` wraps any differentiable function of ``W_e`` (its gradient comes from
``jax.grad``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional, Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp
from jax import lax

from jaxaccel import _validation as V
from jaxaccel._typing import Array, ArrayLike, Float

_FORMS = ("abs", "power")
_REDUCTIONS = ("mean", "sum")


def _int_or_none(p: float) -> Optional[int]:
    return int(p) if float(p).is_integer() else None


@dataclasses.dataclass(frozen=True)
class LpRegression:
    r"""The :math:`\ell_p` regression loss of a linear map (theory §A1.2).

    .. math::
        L^1(W) = \frac{1}{m}\sum_{i=1}^m \sum_{o=1}^k \frac{1}{p}\,|(W x^{(i)} - y^{(i)})_o|^p,
        \qquad
        \nabla L^1(W) = \frac{1}{m}\sum_i \psi(W x^{(i)} - y^{(i)})\,x^{(i)\top},
        \quad \psi(r) = |r|^{p-1}\operatorname{sign}(r).

    With ``reduction="sum"`` the ``1/m`` is dropped (this only rescales the learning rate by
    ``m``). ``form="power"`` is the paper's literal :math:`\frac1p(\hat y - y)^p`, defined for
    even integer ``p`` only; for even ``p`` it coincides with ``form="abs"``.
    Build it with :func:`lp_regression`, which validates the data.

    Attributes:
        inputs: ``(m, d)`` feature matrix (rows are examples ``x^{(i)}``).
        targets: ``(m, k)`` targets.
        p: the exponent (static), ``p >= 1``.
        form: ``"abs"`` or ``"power"`` (static).
        reduction: ``"mean"`` or ``"sum"`` over examples (static).
    """

    inputs: jax.Array
    targets: jax.Array
    p: float = 2.0
    form: str = "abs"
    reduction: str = "mean"

    @property
    def num_examples(self) -> int:
        return self.inputs.shape[0]

    @property
    def in_dim(self) -> int:
        return self.inputs.shape[1]

    @property
    def out_dim(self) -> int:
        return self.targets.shape[1]

    def residuals(self, W: jax.Array) -> jax.Array:
        """``R = X W^T - Y``, shape ``(m, k)``."""
        return self.inputs @ W.T - self.targets

    def _scale(self, dtype):
        return jnp.asarray(1.0 / self.num_examples if self.reduction == "mean" else 1.0, dtype)

    def _abs_pow(self, r, q):
        qi = _int_or_none(q)
        a = jnp.abs(r)
        if qi is not None:
            return jnp.ones_like(a) if qi == 0 else lax.integer_pow(a, qi)
        return a ** q

    def _psi(self, r):
        qi = _int_or_none(self.p - 1.0)
        if qi is not None and qi % 2 == 1:  # odd integer power keeps the sign by itself
            return lax.integer_pow(r, qi)
        return jnp.sign(r) * self._abs_pow(r, self.p - 1.0)

    def value(self, W: jax.Array) -> jax.Array:
        """The loss ``L^1(W)`` for ``W`` of shape ``(k, d)``."""
        r = self.residuals(W)
        return self._scale(r.dtype) / self.p * jnp.sum(self._abs_pow(r, self.p))

    def value_and_grad(self, W: jax.Array) -> Tuple[jax.Array, jax.Array]:
        """``(L^1(W), nabla L^1(W))``; the gradient has the shape of ``W``."""
        r = self.residuals(W)
        s = self._scale(r.dtype)
        val = s / self.p * jnp.sum(self._abs_pow(r, self.p))
        return val, s * (self._psi(r).T @ self.inputs)

    def grad(self, W: jax.Array) -> jax.Array:
        return self.value_and_grad(W)[1]


jax.tree_util.register_dataclass(
    LpRegression, data_fields=["inputs", "targets"], meta_fields=["p", "form", "reduction"]
)


@dataclasses.dataclass(frozen=True)
class CustomLoss:
    """Any differentiable loss of the end-to-end matrix.

    ``fn(W)`` (or ``fn(W, params)`` when ``params`` is given) must return a scalar; the gradient
    is ``jax.grad(fn)``. ``fn`` is static metadata (compared by identity, so define it once and
    reuse it to avoid recompilation); ``params`` is a pytree of arrays.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import CustomLoss
        >>> loss = CustomLoss(lambda W: 0.5 * jnp.sum((W - 1.0) ** 2))
        >>> float(loss.value(jnp.zeros((1, 2))))
        1.0
    """

    fn: Callable[..., jax.Array]
    params: Any = None

    def value(self, W):
        return self.fn(W) if self.params is None else self.fn(W, self.params)

    def value_and_grad(self, W):
        return jax.value_and_grad(self.value)(W)

    def grad(self, W):
        return self.value_and_grad(W)[1]


jax.tree_util.register_dataclass(CustomLoss, data_fields=["params"], meta_fields=["fn"])

#: What the training and flow entry points accept as a loss of the ``(k, d)`` end-to-end matrix
#: (see :func:`as_loss`).
LossLike = Union[LpRegression, CustomLoss, Callable[[Float[Array, "k d"]], Float[Array, ""]]]


def lp_regression(
    inputs: Float[ArrayLike, "m d"], targets: Union[Float[ArrayLike, "m"], Float[ArrayLike, "m k"]],
    p: float = 2.0, *, form: str = "abs", reduction: str = "mean",
) -> LpRegression:
    r"""Validated :math:`\ell_p` regression loss (theory §A1.2), mean over examples with ``1/p``.

    Args:
        inputs: ``(m, d)`` features, finite.
        targets: ``(m,)`` (single output, ``k = 1``) or ``(m, k)`` targets, finite.
        p: exponent, a finite real ``>= 1``. Odd or non-integer ``p`` use ``|r|^p``.
        form: ``"abs"`` (``|r|^p / p``, any ``p``) or ``"power"`` (the paper's ``r^p / p``,
            even integer ``p`` only).
        reduction: ``"mean"`` (default, the engine convention) or ``"sum"`` (the blog's).

    Returns:
        An :class:`LpRegression` pytree.

    Raises:
        ValueError: naming the argument, for non-finite or mis-shaped data, ``p < 1``, an
            unknown ``form``/``reduction``, or ``form="power"`` with a ``p`` that is not an
            even integer.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxaccel.depth import lp_regression
        >>> loss = lp_regression(jnp.eye(2), jnp.array([10.0, 1.0]), p=4, form="power")
        >>> float(loss.value(jnp.zeros((1, 2))))  # mean of r^4 / 4 over the two points
        1250.125
    """
    X = V.as_float_array(inputs, "inputs")
    Y = V.as_float_array(targets, "targets", dtype=X.dtype)
    V.check_ndim(X, "inputs", 2)
    V.check_ndim(Y, "targets", (1, 2))
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"inputs must be a non-empty (m, d) matrix, got shape {X.shape}")
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.shape[0] != X.shape[0]:
        raise ValueError(
            f"targets must have one row per example of inputs ({X.shape[0]}), got shape {Y.shape}"
        )
    if Y.shape[1] == 0:
        raise ValueError("targets must have at least one output column")
    V.check_finite(X, "inputs")
    V.check_finite(Y, "targets")
    p = check_exponent(p)
    if form not in _FORMS:
        raise ValueError(f"form must be one of {_FORMS}, got {form!r}")
    if form == "power" and not (p.is_integer() and int(p) % 2 == 0):
        raise ValueError(
            f"p must be an even integer when form='power' (the signed power r^p/p is a loss "
            f"only for even p); got p={p!r}, use form='abs' for |r|^p/p"
        )
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return LpRegression(X, Y, p, form, reduction)


def check_exponent(p) -> float:
    """Validate an l_p exponent: a finite real ``>= 1``; returns it as a float."""
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise ValueError(f"p must be a real number >= 1, got {p!r}")
    p = float(p)
    if not np.isfinite(p) or p < 1.0:
        raise ValueError(f"p must be a finite real number >= 1, got {p!r}")
    return p


def as_loss(loss) -> Any:
    """Accept an :class:`LpRegression`, a :class:`CustomLoss` or a plain callable ``fn(W)``."""
    if isinstance(loss, (LpRegression, CustomLoss)):
        return loss
    if hasattr(loss, "value") and hasattr(loss, "value_and_grad"):
        return loss
    if callable(loss):
        return CustomLoss(loss)
    raise ValueError(
        f"loss must be an LpRegression, a CustomLoss or a callable W -> scalar, got {type(loss).__name__}"
    )


def lp_minimum(
    loss: LpRegression, *, tol: float = 1e-13, max_iter: int = 200,
) -> Tuple[Float[np.ndarray, "k d"], float]:
    r"""Minimiser and minimum of an :class:`LpRegression` by damped Newton (host-side, float64).

    For ``p = 2`` this is least squares; for ``p > 2`` Newton's method on each output column
    (the loss separates over outputs) with the Hessian
    :math:`\frac{p-1}{m} X^\top \operatorname{diag}(|r|^{p-2}) X` and a backtracking line
    search, started from least squares. Used for the relative gap ``(L - L*) / L*``
    (theory §C6.1). ``1 <= p < 2`` is not supported (the Hessian is singular at zero residuals).

    Args:
        loss: an :class:`LpRegression`.
        tol: stop when the Newton decrement squared falls below ``tol * max(1, L)``.
        max_iter: maximum Newton iterations per output.

    Returns:
        ``(W_star, L_star)`` with ``W_star`` of shape ``(k, d)`` (NumPy) and ``L_star`` a float.

    Example:
        >>> import numpy as np
        >>> from jaxaccel.depth import lp_regression, lp_minimum
        >>> X = np.eye(2); loss = lp_regression(X, np.array([10.0, 1.0]), p=4)
        >>> W, L = lp_minimum(loss); np.allclose(W, [[10.0, 1.0]]), L < 1e-20
        (True, True)
    """
    if not isinstance(loss, LpRegression):
        raise ValueError(f"loss must be an LpRegression, got {type(loss).__name__}")
    if loss.p < 2.0:
        raise ValueError(f"lp_minimum needs p >= 2 (got p={loss.p})")
    X = np.asarray(loss.inputs, np.float64)
    Y = np.asarray(loss.targets, np.float64)
    m = X.shape[0]
    s = 1.0 / m if loss.reduction == "mean" else 1.0
    p = loss.p
    W = np.linalg.lstsq(X, Y, rcond=None)[0].T  # (k, d)

    def val(w, y):
        return s / p * np.sum(np.abs(X @ w - y) ** p)

    if p != 2.0:
        for o in range(Y.shape[1]):
            w, y = W[o].copy(), Y[:, o]
            f = val(w, y)
            for _ in range(max_iter):
                r = X @ w - y
                g = s * X.T @ (np.sign(r) * np.abs(r) ** (p - 1))
                H = s * (p - 1) * (X.T * np.abs(r) ** (p - 2)) @ X
                H += 1e-300 * np.eye(H.shape[0])
                try:
                    step = np.linalg.solve(H, g)
                except np.linalg.LinAlgError:
                    step = np.linalg.lstsq(H, g, rcond=None)[0]
                dec = float(g @ step)
                if dec <= tol * max(1.0, f) or not np.isfinite(dec):
                    break
                t = 1.0
                while t > 1e-12:
                    wn = w - t * step
                    fn = val(wn, y)
                    if fn <= f - 0.25 * t * dec:
                        break
                    t *= 0.5
                else:
                    break
                w, f = wn, fn
            W[o] = w
    L = float(sum(val(W[o], Y[:, o]) for o in range(Y.shape[1])))
    return W, L
