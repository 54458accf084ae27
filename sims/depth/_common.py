"""Shared plumbing of the depth simulations (command line, output files, tables).

Every script in ``sims/depth/`` takes ``--quick`` (default) / ``--full`` and ``--out DIR``
(default ``results/<sim-name>/``), writes ``<name>.npz`` + ``<name>.json`` + ``<name>.png``
with the atomic writers of :mod:`jaxaccel.io`, and prints a table of measured versus
predicted (or spec-reported) numbers.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import jaxaccel.io as jio


def parser(name: str, doc: str) -> argparse.ArgumentParser:
    """Argument parser with the common ``--quick/--full/--out`` options."""
    p = argparse.ArgumentParser(prog=f"sims/depth/{name}.py", description=doc.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="small setting, < 1 min on 2 CPU cores (default)")
    g.add_argument("--full", action="store_true", help="paper-scale setting")
    p.add_argument("--out", default=os.path.join("results", name), help="output directory")
    return p


def pick(args, name, quick, full):
    """An explicit override ``args.<name>`` if given, else the quick or full default."""
    v = getattr(args, name, None)
    return v if v is not None else (full if args.full else quick)


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write(out: str, name: str, fig, arrays: dict, meta: dict) -> None:
    """Atomically write ``<out>/<name>.{npz,json,png}`` and say so."""
    jio.save_npz(os.path.join(out, f"{name}.npz"), **arrays)
    jio.save_json(os.path.join(out, f"{name}.json"), meta)
    jio.save_figure(os.path.join(out, f"{name}.png"), fig)
    print(f"wrote {os.path.join(out, name)}.{{npz,json,png}}")


def table(header, rows, fmt=None) -> str:
    """A plain fixed-width table (also returned, for the JSON metadata)."""
    cells = [[str(h) for h in header]]
    for r in rows:
        cells.append([_fmt(x) for x in r])
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["  ".join(c[i].rjust(widths[i]) for i in range(len(header))) for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    text = "\n".join(lines)
    print(text)
    return text


def _fmt(x):
    if isinstance(x, (float, np.floating)):
        if not np.isfinite(x):
            return "never" if x > 0 else str(x)
        if x != 0 and (abs(x) < 1e-2 or abs(x) >= 1e5):
            return f"{x:.3e}"
        return f"{x:.4g}"
    return str(x)


class Timer:
    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.t0
