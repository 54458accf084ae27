r"""Regression problems for the depth experiments (docs/theory/depth_stacking.md §A8, §A9, §C6.2.7).

* :func:`diabetes_regression` -- a *real* regression dataset bundled with scikit-learn
  (442 examples x 10 features; no download). The paper's dataset, UCI "Gas Sensor Array Drift
  at Different Concentrations" (ethanol problem, 2 565 x 128), is **not available offline**, so
  it cannot be used here; the diabetes data stand in for it.
* :func:`synthetic_regression` -- the synthetic stand-in of theory §A9.4 (log-spaced feature
  scales, linear target plus noise, optionally heavy-tailed).
* :func:`two_point_problem` -- the paper's two-point :math:`\ell_p` illustration (theory §A8).

The paper's own task (UCI ethanol) lives in :mod:`~jaxaccel.depth.ethanol`: a heavy-tailed
generator with its known shape and scaling (the default stand-in), the libsvm loader of the
real files, and :func:`~jaxaccel.depth.regression_dataset` (every dataset by name).
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float
from jaxaccel.depth.losses import LpRegression, check_exponent, lp_regression

_SCALINGS = ("raw", "features", "features+target")
OFFLINE_NOTE = (
    "The paper's UCI gas-sensor (ethanol) data are not available offline; the scikit-learn "
    "bundled diabetes data (442 x 10) are used as the real regression dataset instead."
)


def _standardize(a):
    mu, sd = a.mean(axis=0), a.std(axis=0)
    return (a - mu) / np.where(sd > 0, sd, 1.0)


def diabetes_regression(p: float = 2.0, scaling: str = "features+target",
                        **kwargs: Any) -> LpRegression:
    """The scikit-learn diabetes data as an l_p regression loss (single output).

    Args:
        p: loss exponent.
        scaling: ``"raw"``, ``"features"`` (z-score each feature) or ``"features+target"``
            (z-score features and target; the engine default, theory §A9.1).
        **kwargs: passed to :func:`~jaxaccel.depth.lp_regression` (``form``, ``reduction``).

    Returns:
        An :class:`~jaxaccel.depth.LpRegression` with inputs ``(442, 10)``.

    Note:
        The paper used the UCI gas-sensor ethanol data, which are not available offline.

    Example:
        >>> from jaxaccel.depth import diabetes_regression
        >>> diabetes_regression(p=4).inputs.shape
        (442, 10)
    """
    if scaling not in _SCALINGS:
        raise ValueError(f"scaling must be one of {_SCALINGS}, got {scaling!r}")
    X, y = _load_diabetes_raw()
    if scaling != "raw":
        X = _standardize(X)
    if scaling == "features+target":
        y = _standardize(y)
    return lp_regression(X, y, p, **kwargs)


def _load_diabetes_raw():
    """The raw diabetes arrays (442 x 10, 442), read from the CSV files that scikit-learn
    ships, without importing scikit-learn itself (its import costs seconds); falls back to
    ``sklearn.datasets.load_diabetes`` if the files are not where expected."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("diabetes_regression needs scikit-learn: pip install "
                                  "'jaxaccel[data]' (or scikit-learn)")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data")
    try:
        X = np.loadtxt(os.path.join(folder, "diabetes_data_raw.csv.gz"))
        y = np.loadtxt(os.path.join(folder, "diabetes_target.csv.gz"))
    except OSError:  # pragma: no cover - layout changed: use the public loader
        from sklearn.datasets import load_diabetes

        X, y = load_diabetes(return_X_y=True, scaled=False)
    return np.asarray(X, np.float64), np.asarray(y, np.float64)


def synthetic_regression(
    seed: int = 0, num_examples: int = 500, num_features: int = 32, p: float = 2.0,
    scale_range: Tuple[float, float] = (0.05, 1.0), noise: float = 0.1,
    noise_df: Optional[float] = None, **kwargs: Any,
) -> LpRegression:
    r"""Synthetic l_p regression with a controlled feature spectrum (theory §A9.4).

    Features ``x_i = diag(s) z_i`` with ``z_i ~ N(0, I)`` and scales ``s`` log-spaced in
    ``scale_range``; target ``y = x^T w* + noise * eps`` with ``w* ~ N(0, I)`` and ``eps``
    standard normal (or Student-t with ``noise_df`` degrees of freedom, for heavy tails);
    the target is then standardised (mean 0, std 1). Features are left unscaled so that the
    spectrum is what ``scale_range`` says.

    Args:
        seed: NumPy random seed.
        num_examples: ``m >= 1``.
        num_features: ``d >= 1``.
        p: loss exponent.
        scale_range: ``(lo, hi)`` with ``0 < lo <= hi``, the feature scales' range.
        noise: noise level ``>= 0``.
        noise_df: ``None`` (Gaussian noise) or the Student-t degrees of freedom ``> 0``.
        **kwargs: passed to :func:`~jaxaccel.depth.lp_regression` (``form``, ``reduction``).

    Returns:
        An :class:`~jaxaccel.depth.LpRegression` with inputs ``(num_examples, num_features)``.

    Example:
        >>> from jaxaccel.depth import synthetic_regression
        >>> loss = synthetic_regression(num_examples=8, num_features=3, p=4, noise_df=3.0)
        >>> loss.inputs.shape, loss.targets.shape, loss.p
        ((8, 3), (8, 1), 4.0)
    """
    num_examples = V.check_positive_int(num_examples, "num_examples")
    num_features = V.check_positive_int(num_features, "num_features")
    lo, hi = (float(x) for x in scale_range)
    if not (0 < lo <= hi and np.isfinite(hi)):
        raise ValueError(f"scale_range must satisfy 0 < lo <= hi < inf, got {scale_range!r}")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be finite and >= 0, got {noise!r}")
    if noise_df is not None and not (np.isfinite(noise_df) and noise_df > 0):
        raise ValueError(f"noise_df must be None or finite and > 0, got {noise_df!r}")
    rng = np.random.default_rng(seed)
    s = np.geomspace(lo, hi, num_features)
    X = rng.standard_normal((num_examples, num_features)) * s
    w = rng.standard_normal(num_features)
    eps = rng.standard_normal(num_examples) if noise_df is None else rng.standard_t(noise_df, num_examples)
    y = X @ w + noise * eps
    return lp_regression(X, _standardize(y), p, **kwargs)


def two_point_problem(y1: float = 10.0, y2: float = 1.0, p: float = 4) -> LpRegression:
    r"""The two-point problem of theory §A8: inputs ``e_1, e_2``, targets ``y1, y2``.

    .. math:: L(w) = \tfrac12\sum_{i=1}^2 \tfrac1p (w_i - y_i)^p ,\quad p \text{ even}.

    From ``w = 0``, plain GD is stable only for ``eta < 2m / max(y)^{p-2}`` (``m = 2``), so for
    ``y1 >> y2`` and ``p > 2`` the small coordinate crawls; depth couples the coordinates.

    Example:
        >>> from jaxaccel.depth import two_point_problem
        >>> loss = two_point_problem()
        >>> loss.inputs.tolist(), loss.targets.ravel().tolist(), loss.p
        ([[1.0, 0.0], [0.0, 1.0]], [10.0, 1.0], 4.0)
    """
    p = check_exponent(p)
    for v, name in ((y1, "y1"), (y2, "y2")):
        if not np.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v!r}")
    return lp_regression(np.eye(2), np.array([y1, y2], float), p, form="power")


def gd_stability_cap(targets: Float[ArrayLike, "m *k"], p: float, num_examples: int) -> float:
    """Largest stable GD step from ``w = 0`` on the two-point problem (even ``p``, theory §A8).

    ``eta < 2 m / max|y|^{p-2}`` with the mean convention (``m`` examples, unit inputs); for
    ``p = 2`` the cap ``2 m`` does not depend on the targets.

    Args:
        targets: ``(m,)`` or ``(m, k)`` targets (only ``max|y|`` matters).
        p: even integer exponent.
        num_examples: ``m``.

    Returns:
        The cap on ``eta``.

    Example:
        >>> from jaxaccel.depth import gd_stability_cap
        >>> gd_stability_cap([10.0, 1.0], 4, 2), gd_stability_cap([10.0, 1.0], 2, 2)
        (0.04, 4.0)
    """
    p = check_exponent(p)
    if not (p.is_integer() and int(p) % 2 == 0):
        raise ValueError(f"p must be an even integer for the GD stability cap, got {p!r}")
    y = np.max(np.abs(np.asarray(targets, float)))
    return float(2.0 * num_examples / y ** (p - 2.0))
