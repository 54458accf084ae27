"""Shared plumbing of the stacking simulations (command line, output files, tables).

Every script in ``sims/stacking/`` takes ``--quick`` (default) / ``--full`` and ``--out DIR``
(default ``results/<sim-name>/``), writes ``<name>.npz`` + ``<name>.json`` + ``<name>.png``
with the atomic writers of :mod:`jaxaccel.io`, and prints a table of measured versus
predicted numbers (``docs/theory/depth_stacking.md`` Part B).
"""

from __future__ import annotations

import numpy as np

import jaxaccel.io as jio


def parser(name: str, doc: str):
    """Argument parser with the common ``--quick/--full/--out`` options."""
    return jio.sim_parser(name, doc, prog=f"sims/stacking/{name}.py")


pick = jio.pick
pyplot = jio.pyplot
write = jio.write_results  # write(out, name, fig, arrays, meta): atomic npz + json + png


def log_stages(stages: int, num: int = 300) -> np.ndarray:
    """About ``num`` log-spaced stage indices in ``[0, stages]`` (0 and ``stages`` included)."""
    idx = np.unique(np.round(np.geomspace(1, stages + 1, num)).astype(int) - 1)
    return np.unique(np.concatenate([[0], idx, [stages]]))


def table(header, rows, fmt=None) -> str:
    """Print a plain fixed-width table and return it (for the JSON metadata)."""
    return jio.print_table(header, rows, _fmt if fmt is None else fmt)


def _fmt(x):
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return "never" if x < 0 else str(int(x))
    if isinstance(x, (float, np.floating)):
        if np.isnan(x):
            return "-"
        if not np.isfinite(x):
            return str(x)
        if x != 0 and (abs(x) < 1e-2 or abs(x) >= 1e5):
            return f"{x:.3e}"
        return f"{x:.4g}"
    return str(x)


Timer = jio.Timer
