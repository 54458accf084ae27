"""Shared plumbing of the depth simulations (command line, output files, tables).

Every script in ``sims/depth/`` takes ``--quick`` (default) / ``--full`` and ``--out DIR``
(default ``results/<sim-name>/``), writes ``<name>.npz`` + ``<name>.json`` + ``<name>.png``
with the atomic writers of :mod:`jaxaccel.io`, and prints a table of measured versus
predicted (or spec-reported) numbers.
"""

from __future__ import annotations

import numpy as np

import jaxaccel.io as jio


def parser(name: str, doc: str):
    """Argument parser with the common ``--quick/--full/--out`` options."""
    return jio.sim_parser(name, doc, prog=f"sims/depth/{name}.py")


pick = jio.pick
pyplot = jio.pyplot
write = jio.write_results  # write(out, name, fig, arrays, meta): atomic npz + json + png


def table(header, rows, fmt=None) -> str:
    """Print a plain fixed-width table and return it (for the JSON metadata)."""
    return jio.print_table(header, rows, _fmt if fmt is None else fmt)


def _fmt(x):
    if isinstance(x, (float, np.floating)):
        if not np.isfinite(x):
            return "never" if x > 0 else str(x)
        if x != 0 and (abs(x) < 1e-2 or abs(x) >= 1e5):
            return f"{x:.3e}"
        return f"{x:.4g}"
    return str(x)


Timer = jio.Timer

fmt = _fmt  # the number format of the tables, for text outside them
