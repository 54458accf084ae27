"""Matplotlib helpers with one consistent style: stability maps, phase diagrams, log-log curves.

Every helper draws on a given ``Axes`` (or makes a new figure), labels its axes, adds a
labelled colourbar where colour carries a value, and returns what it drew. The module never
selects a backend (scripts do: ``matplotlib.use("Agg")``); figures are written atomically with
:func:`save` (:func:`jaxaccel.io.save_figure`).

Example:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> fig, ax = new_figure()
    >>> t = np.arange(1, 100)
    >>> _ = plot_loss_curves({"SGD": (t, t ** -0.5)}, ax=ax, references=[(0.5, 1.0, "t^-1/2")])
    >>> ax.get_xscale(), ax.get_xlabel()
    ('log', 'step $t$')
    >>> import matplotlib.pyplot as plt
    >>> plt.close(fig)
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Dict, Iterable, Iterator, Optional, Tuple, Union

import numpy as np

from jaxaccel import io
from jaxaccel._typing import ArrayLike, Float
from jaxaccel.moments.engine import SimulationResult
from jaxaccel.theory.asymptotics import PhaseDiagram
from jaxaccel.theory.maps import StabilityMap

# matplotlib is imported lazily (inside the helpers), so ``Figure`` / ``Axes`` arguments and
# results are annotated ``Any``; the docstrings name the matplotlib type.
Curve = Tuple[Float[ArrayLike, "n"], Float[ArrayLike, "n"]]

STYLE = {
    "figure.dpi": 110,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "image.cmap": "viridis",
    "savefig.bbox": "tight",
}

LABELS = {
    "alpha": r"$\alpha$",
    "beta": r"$\beta$",
    "delta": r"$\delta$",
    "q0": r"$q_0$",
    "q1": r"$q_1$",
    "alpha_eff": r"$\alpha_{\rm eff}$",
    "eta": r"$\eta$",
    "eta_prime": r"$\eta'$",
    "batch_size": r"batch size $b$",
    "tau1": r"$\tau_1$",
    "tau2": r"$\tau_2$",
    "margin": "strict-stability margin",
    "radius": r"max spectral radius $r(\lambda)$",
    "U": r"$U_\Sigma$",
    "U_tilde": r"$\tilde U_\Sigma$",
    "C_L": r"predicted loss constant $C_L$",
}


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Context manager applying :data:`STYLE` (``matplotlib.rc_context``).

    Example:
        >>> import matplotlib
        >>> with style():
        ...     matplotlib.rcParams["axes.grid"], matplotlib.rcParams["savefig.bbox"]
        (True, 'tight')
    """
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def new_figure(nrows: int = 1, ncols: int = 1,
               size: Tuple[float, float] = (4.8, 3.8)) -> Tuple[Any, Any]:
    """``(fig, axes)`` in the package style; ``size`` is per panel (inches).

    Returns:
        a matplotlib ``Figure`` and its ``Axes`` (a numpy array of ``Axes`` when ``nrows`` or
        ``ncols`` is larger than 1), as ``plt.subplots(..., squeeze=True)``.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> fig, axes = new_figure(1, 2, size=(2.0, 1.5))
        >>> axes.shape, [float(v) for v in fig.get_size_inches()]
        ((2,), [4.0, 1.5])
        >>> plt.close(fig)
    """
    import matplotlib.pyplot as plt

    with style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows),
                                 squeeze=True, constrained_layout=True)
    return fig, axes


def save(fig: Any, path: str, dpi: int = 120) -> str:
    """Deprecated alias of :func:`jaxaccel.io.save_figure` (``path`` first there); warns.

    Example:
        >>> import os, tempfile, warnings, matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = new_figure(size=(1.0, 1.0))
        >>> with warnings.catch_warnings(record=True):
        ...     warnings.simplefilter("always")
        ...     path = save(fig, os.path.join(tempfile.mkdtemp(), "empty.png"), dpi=20)
        >>> os.path.basename(path), os.path.getsize(path) > 0
        ('empty.png', True)
        >>> plt.close(fig)
    """
    warnings.warn("jaxaccel.plotting.save is deprecated: use jaxaccel.io.save_figure(path, fig)",
                  DeprecationWarning, stacklevel=2)
    return io.save_figure(path, fig, dpi=dpi)


def _ax(ax):
    if ax is None:
        return new_figure()[1]
    return ax


def _log_axis(values) -> bool:
    """A log axis for geometrically spaced positive values (as made by ``name:lo:hi:n:log``),
    whatever their range; for two values, or irregular ones, when they span more than 100x."""
    v = np.asarray(values, dtype=float)
    if v.size == 0 or not np.all(v > 0):
        return False
    if v.size >= 3:
        dl, d = np.diff(np.log(v)), np.diff(v)
        geometric = np.allclose(dl, dl[0], rtol=1e-6, atol=0)
        linear = np.allclose(d, d[0], rtol=1e-6, atol=0)
        if geometric != linear:
            return bool(geometric)
    return bool(v.max() / v.min() > 100.0)


def plot_map(smap: StabilityMap, field: str = "margin", ax: Optional[Any] = None, *,
             log: Optional[bool] = None, cmap: Optional[str] = None,
             vmin: Optional[float] = None, vmax: Optional[float] = None,
             boundaries: bool = True, title: Optional[str] = None) -> Tuple[Any, Any, Any]:
    """Colour map of one field of a 2-D :class:`~jaxaccel.StabilityMap`.

    x is the first grid axis, y the second (log scale when the values span > 2 decades).
    ``margin`` uses a diverging map centred at 0 (clipped to ``[-1, 1]`` unless ``vmin`` /
    ``vmax`` are given); ``U``, ``U_tilde`` and ``C_L`` a log colour scale (``inf``: blank).
    With ``boundaries``, the strict boundary ``margin = 0`` (solid) and the noisy boundary
    ``U~_Sigma = 1`` (dashed) are drawn (strict stability, theory §5 / §6.2; noisy stability
    ``U~_Sigma < 1``, Theorems 3 and 8, theory §5.2).

    Args:
        smap: a 2-D map from :func:`~jaxaccel.stability_map`.
        field: ``"margin"``, ``"radius"``, ``"U"``, ``"U_tilde"``, ``"alpha_eff"`` or ``"C_L"``.
        ax: matplotlib ``Axes`` to draw on (default: a new figure).
        log: log colour scale (default: for ``U``, ``U_tilde``, ``C_L``).
        cmap: colour map name (default ``RdBu`` for the margin, else ``viridis``).
        vmin, vmax: colour limits.
        boundaries: draw the strict and noisy stability boundaries.
        title: axes title (default: family and field).

    Returns:
        ``(ax, mesh, colorbar)``: the matplotlib ``Axes``, ``QuadMesh`` and ``Colorbar``.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> import numpy as np
        >>> from jaxaccel import StabilityMap
        >>> a, b = np.array([0.01, 1.0, 10.0]), np.array([0.0, 0.5])
        >>> margin = 1.0 - a[:, None] * (1 + b[None, :])       # a toy map, shape (3, 2)
        >>> ones = np.ones((3, 2))
        >>> smap = StabilityMap("toy", {"alpha": a, "beta": b}, {}, margin, ones, ones, ones,
        ...                     ones, ones, margin > 0, margin > 0, 0.5, "signal")
        >>> ax, mesh, cb = plot_map(smap, "margin", boundaries=False)
        >>> ax.get_xscale(), ax.get_xlabel() == LABELS["alpha"], cb.ax.get_ylabel()
        ('log', True, 'strict-stability margin')
        >>> plt.close(ax.figure)
    """
    import matplotlib.colors as mcolors
    import matplotlib.pyplot as plt

    names = list(smap.axes)
    if len(names) != 2:
        raise ValueError(f"plot_map needs a 2-D map, got axes {names} (slice it first)")
    if field not in ("margin", "radius", "U", "U_tilde", "alpha_eff", "C_L"):
        raise ValueError(f"field must name a map array, got {field!r}")
    ax = _ax(ax)
    x, y = (np.asarray(smap.axes[n], dtype=float) for n in names)
    Z = np.asarray(getattr(smap, field), dtype=float).T  # (len(y), len(x))
    log_colour = field in ("U", "U_tilde", "C_L") if log is None else log
    with style():
        if field == "margin" and not log_colour:
            lo = -1.0 if vmin is None else vmin
            hi = 1.0 if vmax is None else vmax
            Zc = np.clip(Z, lo, hi)
            norm = mcolors.TwoSlopeNorm(0.0, lo, hi) if lo < 0 < hi else mcolors.Normalize(lo, hi)
            cm = cmap or "RdBu"
        elif log_colour:
            Zc = np.ma.masked_where(~np.isfinite(Z) | (Z <= 0), Z)
            finite = Zc.compressed()
            lo = vmin if vmin is not None else (finite.min() if finite.size else 1e-3)
            hi = vmax if vmax is not None else (finite.max() if finite.size else 1.0)
            norm = mcolors.LogNorm(lo, max(hi, lo * 1.0001))
            cm = cmap or "viridis"
        else:
            Zc = np.ma.masked_where(~np.isfinite(Z), Z)
            norm = mcolors.Normalize(vmin, vmax)
            cm = cmap or "viridis"
        mesh = ax.pcolormesh(x, y, Zc, shading="nearest", norm=norm, cmap=cm)
        cb = plt.colorbar(mesh, ax=ax)
        cb.set_label(LABELS.get(field, field))
        if boundaries and x.size > 1 and y.size > 1:
            M = np.asarray(smap.margin, dtype=float).T
            drawn = []
            if np.nanmin(M) < 0 < np.nanmax(M):
                ax.contour(x, y, M, levels=[0.0], colors="k", linewidths=1.2)
                drawn.append(("-", "strict boundary (margin = 0)"))
            U = np.asarray(smap.U_tilde, dtype=float).T
            Uf = np.where(np.isfinite(U), U, 1e300)
            if np.nanmin(Uf) < 1 < np.nanmax(Uf):
                ax.contour(x, y, np.log(np.maximum(Uf, 1e-300)), levels=[0.0], colors="k",
                           linewidths=1.2, linestyles="--")
                drawn.append(("--", r"noisy boundary ($\tilde U_\Sigma = 1$)"))
            if drawn:  # contour sets have no legend entries of their own: proxy lines
                from matplotlib.lines import Line2D

                ax.legend([Line2D([], [], color="k", lw=1.2, ls=ls) for ls, _ in drawn],
                          [label for _, label in drawn], loc="best")
        if _log_axis(x):
            ax.set_xscale("log")
        if _log_axis(y):
            ax.set_yscale("log")
        ax.set_xlabel(LABELS.get(names[0], names[0]))
        ax.set_ylabel(LABELS.get(names[1], names[1]))
        ax.grid(False)
        ax.set_title(title if title is not None else f"{smap.family}: {LABELS.get(field, field)}")
    return ax, mesh, cb


def plot_phase_diagram(pd: PhaseDiagram, ax: Optional[Any] = None, *, exponent: str = "sgd",
                       title: Optional[str] = None) -> Tuple[Any, Any, Any]:
    """Phase diagram in the ``(zeta, 1/nu)`` plane (spec Fig. 2 left) from
    :func:`~jaxaccel.phase_diagram`: colour = loss exponent (``"sgd"`` or ``"am1"``),
    the signal/noise boundary ``zeta = 2 - 1/nu`` and the divergent band ``1/nu >= 1``
    (phases of theory §1 / §5.4, AM1 rate (27)).

    Args:
        pd: :class:`~jaxaccel.PhaseDiagram`.
        ax: matplotlib ``Axes`` to draw on (default: a new figure).
        exponent: ``"sgd"`` or ``"am1"``.
        title: axes title.

    Returns:
        ``(ax, mesh, colorbar)``: the matplotlib ``Axes``, ``QuadMesh`` and ``Colorbar``.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> from jaxaccel import phase_diagram
        >>> pd = phase_diagram([1.5, 2.0, 4.0], [0.5, 1.0, 2.0])
        >>> ax, mesh, cb = plot_phase_diagram(pd, exponent="am1")
        >>> ax.get_xlabel().startswith("target exponent"), len(ax.collections) > 0
        (True, True)
        >>> plt.close(ax.figure)
    """
    import matplotlib.pyplot as plt

    if exponent not in ("sgd", "am1"):
        raise ValueError(f"exponent must be 'sgd' or 'am1', got {exponent!r}")
    ax = _ax(ax)
    zeta = np.asarray(pd.zeta[:, 0], dtype=float)
    inv_nu = 1.0 / np.asarray(pd.nu[0], dtype=float)
    order = np.argsort(inv_nu)
    Z = np.asarray(pd.sgd_exponent if exponent == "sgd" else pd.am1_exponent, dtype=float)
    with style():
        mesh = ax.pcolormesh(zeta, inv_nu[order], np.ma.masked_invalid(Z[:, order].T),
                             shading="nearest", cmap="magma")
        cb = plt.colorbar(mesh, ax=ax)
        cb.set_label(("SGD" if exponent == "sgd" else "AM1 (27)") + r" loss exponent $\xi$,"
                     r" $L_t\sim t^{-\xi}$")
        s = np.linspace(0.0, 1.0, 200)
        ax.plot(2.0 - s, s, "w-", lw=1.5, label=r"boundary $\zeta = 2 - 1/\nu$")
        top = max(inv_nu.max(), 1.0)
        ax.axhspan(1.0, top, color="0.6", alpha=0.6, lw=0, label=r"$U_\Sigma=\infty$ ($\nu\leq1$)")
        ax.set_xlim(zeta.min(), zeta.max())
        ax.set_ylim(inv_nu.min(), inv_nu.max())
        ax.text(0.05, 0.08, r"signal: $t^{-\zeta}$", transform=ax.transAxes, color="w")
        ax.text(0.6, 0.08, r"noise: $t^{-(2-1/\nu)}$", transform=ax.transAxes, color="w")
        ax.set_xlabel(r"target exponent $\zeta$")
        ax.set_ylabel(r"$1/\nu$")
        ax.grid(False)
        ax.legend(loc="upper right")
        ax.set_title(title if title is not None else "phases of mini-batch SGD")
    return ax, mesh, cb


def plot_loglog(curves: Dict[str, Curve], ax: Optional[Any] = None, *, xlabel: str = "x",
                ylabel: str = "y", references: Iterable[Tuple[float, float, str]] = (),
                title: Optional[str] = None, markers: bool = False) -> Any:
    """Log-log lines ``{label: (x, y)}`` plus dashed reference power laws
    ``(exponent, constant, label)`` meaning ``y = constant * x ** -exponent``.

    Non-positive or non-finite points are dropped. ``ax`` is a matplotlib ``Axes`` (default:
    a new figure). Returns the ``Axes``.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> x = [0.0, 1.0, 10.0, 100.0]                       # x = 0 is dropped
        >>> ax = plot_loglog({"data": (x, [1.0, 1.0, 0.1, 0.01])}, references=[(1.0, 1.0, "1/x")])
        >>> ax.get_yscale(), len(ax.lines), ax.lines[0].get_xdata().tolist()
        ('log', 2, [1.0, 10.0, 100.0])
        >>> plt.close(ax.figure)
    """
    ax = _ax(ax)
    xs_all = []
    with style():
        for label, (x, y) in curves.items():
            x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
            ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
            ax.plot(x[ok], y[ok], "o-" if markers else "-", ms=3, label=label)
            if ok.any():
                xs_all.append(x[ok])
        if xs_all:
            xr = np.geomspace(min(v.min() for v in xs_all), max(v.max() for v in xs_all), 50)
            for p, c, label in references:
                ax.plot(xr, c * xr ** (-p), "--", color="0.3", lw=1.0, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if curves or references:
            ax.legend()
        if title is not None:
            ax.set_title(title)
    return ax


def plot_loss_curves(curves: Dict[str, Union[SimulationResult, Curve]], ax: Optional[Any] = None,
                     *, references: Iterable[Tuple[float, float, str]] = (),
                     title: Optional[str] = None) -> Any:
    """Log-log loss curves: ``curves`` maps a label to ``(steps, loss)`` or to an object with
    ``steps`` and ``loss`` (e.g. :class:`~jaxaccel.moments.SimulationResult`). Step 0 is
    dropped. ``ax`` is a matplotlib ``Axes`` (default: a new figure); returns the ``Axes``.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> import numpy as np
        >>> t = np.arange(0, 50)
        >>> ax = plot_loss_curves({"SGD": (t, 1.0 / (1.0 + t))}, title="toy")
        >>> ax.get_ylabel(), ax.get_title(), ax.get_legend().get_texts()[0].get_text()
        ('loss $L_t$', 'toy', 'SGD')
        >>> plt.close(ax.figure)
    """
    pairs = {}
    for label, c in curves.items():
        if hasattr(c, "steps") and hasattr(c, "loss"):
            pairs[label] = (np.asarray(c.steps), np.asarray(c.loss))
        else:
            pairs[label] = c
    return plot_loglog(pairs, ax, xlabel="step $t$", ylabel=r"loss $L_t$", references=references,
                       title=title)
