"""Atomic result files: nothing a user asked to be saved is half-written.

Every writer writes to a temporary file in the target directory and then ``os.replace``s it
into place, so an interrupted run leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict, Optional

import numpy as np


def _atomic(path: str, write, mode: str = "wb") -> str:
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def save_npz(path: str, **arrays) -> str:
    """Atomically write ``arrays`` (converted with ``np.asarray``) to an ``.npz`` file.

    Example:
        >>> import os, tempfile, numpy as np
        >>> path = save_npz(os.path.join(tempfile.mkdtemp(), "run.npz"), loss=[1.0, 0.5])
        >>> np.load(path)["loss"].tolist()
        [1.0, 0.5]
    """
    data = {k: np.asarray(v) for k, v in arrays.items()}
    return _atomic(path, lambda f: np.savez(f, **data))


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.generic,)):
        return x.item()
    if hasattr(x, "tolist"):
        return np.asarray(x).tolist()
    return x


def save_json(path: str, data: Dict[str, Any]) -> str:
    """Atomically write ``data`` as indented JSON (numpy/JAX values converted).

    Example:
        >>> import json, os, tempfile, numpy as np
        >>> path = save_json(os.path.join(tempfile.mkdtemp(), "meta.json"), {"nu": np.float64(1.5)})
        >>> json.load(open(path))
        {'nu': 1.5}
    """
    text = json.dumps(_jsonable(data), indent=2, sort_keys=True)
    return _atomic(path, lambda f: f.write(text.encode()))


def save_figure(path: str, fig, dpi: int = 120) -> str:
    """Atomically save a matplotlib figure (format from the extension).

    Example:
        >>> import os, tempfile, matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> path = save_figure(os.path.join(tempfile.mkdtemp(), "curve.png"), fig)
        >>> os.path.getsize(path) > 0
        True
    """
    fmt = os.path.splitext(path)[1].lstrip(".") or "png"
    return _atomic(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi, bbox_inches="tight"))


# ------------------------------------------------------------------ simulation scripts
def sim_parser(name: str, doc: str, prog: Optional[str] = None):
    """``argparse`` parser with the options every script of ``sims/`` shares.

    ``--quick`` (the default: a small setting, < 1 min on 2 CPU cores), ``--full`` (paper
    scale) and ``--out DIR`` (default ``results/<name>``); scripts add their own options.

    Example:
        >>> p = sim_parser("demo", "A demo sim.")
        >>> a = p.parse_args(["--full"])
        >>> a.full, a.out
        (True, 'results/demo')
    """
    import argparse

    p = argparse.ArgumentParser(prog=prog, description=doc.strip().splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true",
                   help="small setting, < 1 min on 2 CPU cores (default)")
    g.add_argument("--full", action="store_true", help="paper-scale setting")
    p.add_argument("--out", default=os.path.join("results", name), help="output directory")
    return p


def pick(args, name: str, quick, full):
    """An explicit override ``args.<name>`` if given, else the ``--quick`` or ``--full`` value.

    Example:
        >>> import argparse
        >>> pick(argparse.Namespace(full=True, steps=None), "steps", 100, 10_000)
        10000
    """
    v = getattr(args, name, None)
    return v if v is not None else (full if args.full else quick)


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend (scripts and tests)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_results(out: str, name: str, fig, arrays: Dict[str, Any], meta: Dict[str, Any]) -> str:
    """Atomically write ``<out>/<name>.{npz,json,png}`` (the layout of every sim) and say so.

    Example:
        >>> import os, tempfile
        >>> plt = pyplot()
        >>> d = tempfile.mkdtemp()
        >>> _ = write_results(d, "demo", plt.figure(), {"x": [1, 2]}, {"mode": "quick"})  # doctest: +ELLIPSIS
        wrote ...
        >>> sorted(os.listdir(d))
        ['demo.json', 'demo.npz', 'demo.png']
    """
    save_npz(os.path.join(out, f"{name}.npz"), **arrays)
    save_json(os.path.join(out, f"{name}.json"), meta)
    save_figure(os.path.join(out, f"{name}.png"), fig)
    base = os.path.join(out, name)
    print(f"wrote {base}.{{npz,json,png}}")
    return base


def print_table(header, rows, fmt=str) -> str:
    """Print a right-aligned fixed-width table and return its text (for JSON metadata).

    Example:
        >>> _ = print_table(["name", "slope"], [["SGD", "-0.50"], ["AM1", "-0.71"]])
        name  slope
        ----  -----
         SGD  -0.50
         AM1  -0.71
    """
    cells = [[str(h) for h in header]] + [[fmt(x) for x in r] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["  ".join(c[i].rjust(widths[i]) for i in range(len(header))) for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    text = "\n".join(lines)
    print(text)
    return text


class Timer:
    """Wall-clock seconds since creation: ``t = Timer(); ...; t()``."""

    def __init__(self):
        import time

        self._clock = time.perf_counter
        self.t0 = self._clock()

    def __call__(self) -> float:
        return self._clock() - self.t0
