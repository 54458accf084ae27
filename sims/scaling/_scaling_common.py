"""Shared pieces of the frontier sims of ``sims/scaling`` (command line, d-grid, problems)."""

from __future__ import annotations

import argparse
import os
import warnings

import numpy as np

import jaxaccel as ja

V_DATA = 1e8  # data dimension: the v -> infinity limit for 2 alpha > 1


def frontier_args(doc, name, configs, argv, quick_help, full_help, extra=None):
    """Parse ``--quick/--full/--out/--steps/--d-max/--n-d/--n-nodes``; return ``(args, cfg, ds)``
    with the overrides applied to ``configs[mode]`` and the integer d-grid."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help=quick_help + " (default)")
    g.add_argument("--full", action="store_true", help=full_help)
    p.add_argument("--out", default=os.path.join("results", name))
    p.add_argument("--steps", type=int, default=None, help="horizon T of every run")
    p.add_argument("--d-max", type=float, default=None, help="largest model size")
    p.add_argument("--n-d", type=int, default=None, help="number of model sizes")
    p.add_argument("--n-nodes", type=int, default=None, help="cells of each equivalent spectrum")
    if extra is not None:
        extra(p)
    args = p.parse_args(argv)
    cfg = dict(configs["full" if args.full else "quick"])
    for k in ("steps", "d_max", "n_d", "n_nodes"):
        if getattr(args, k) is not None:
            cfg[k] = getattr(args, k)
    if cfg["n_d"] < 4 or cfg["d_max"] <= cfg["d_min"] or cfg["steps"] < 100:
        p.error("need --n-d >= 4, --d-max > d_min and --steps >= 100")
    ds = np.unique(np.geomspace(cfg["d_min"], cfg["d_max"], cfg["n_d"]).astype(int))
    return args, cfg, ds


def equivalent_problems(alpha, beta, ds, n_nodes):
    """``{d: power_law_features_equivalent(alpha, beta, V_DATA, d)}`` (rescaling notes muted)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {int(d): ja.power_law_features_equivalent(alpha, beta, V_DATA, int(d),
                                                         n_nodes=n_nodes) for d in ds}


def exponent_text(fit):
    """``"p [lo,hi]"`` of an :class:`~jaxaccel.ExponentFit` (``"n/a"`` for ``None``)."""
    return "n/a" if fit is None else f"{fit.exponent:.3f} [{fit.ci[0]:.3f},{fit.ci[1]:.3f}]"
