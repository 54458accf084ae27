"""Shared plumbing of the stacking simulations (command line, output files, tables).

Every script in ``sims/stacking/`` takes ``--quick`` (default) / ``--full`` and ``--out DIR``
(default ``results/<sim-name>/``), writes ``<name>.npz`` + ``<name>.json`` + ``<name>.png``
with the atomic writers of :mod:`jaxaccel.io`, and prints a table of measured versus
predicted numbers (spec ``depth_stacking.md`` Part B).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import jaxaccel.io as jio


def parser(name: str, doc: str) -> argparse.ArgumentParser:
    """Argument parser with the common ``--quick/--full/--out`` options."""
    p = argparse.ArgumentParser(prog=f"sims/stacking/{name}.py", description=doc.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true",
                   help="small setting, < 1 min on 2 CPU cores (default)")
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


def log_stages(stages: int, num: int = 300) -> np.ndarray:
    """About ``num`` log-spaced stage indices in ``[0, stages]`` (0 and ``stages`` included)."""
    idx = np.unique(np.round(np.geomspace(1, stages + 1, num)).astype(int) - 1)
    return np.unique(np.concatenate([[0], idx, [stages]]))


def write(out: str, name: str, fig, arrays: dict, meta: dict) -> None:
    """Atomically write ``<out>/<name>.{npz,json,png}`` and say so."""
    jio.save_npz(os.path.join(out, f"{name}.npz"), **arrays)
    jio.save_json(os.path.join(out, f"{name}.json"), meta)
    jio.save_figure(os.path.join(out, f"{name}.png"), fig)
    print(f"wrote {os.path.join(out, name)}.{{npz,json,png}}")


def table(header, rows) -> str:
    """Print a plain fixed-width table and return it (for the JSON metadata)."""
    cells = [[str(h) for h in header]] + [[_fmt(x) for x in r] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["  ".join(c[i].rjust(widths[i]) for i in range(len(header))) for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    text = "\n".join(lines)
    print(text)
    return text


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


class Timer:
    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.t0
