"""Atomic result files: nothing a user asked to be saved is half-written.

Every writer writes to a temporary file in the target directory and then ``os.replace``s it
into place, so an interrupted run leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from typing import Any, Callable, Dict, Optional, Sequence, TypeVar

import numpy as np

from jaxaccel._typing import ArrayLike

_T = TypeVar("_T")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


def _clean_stale(d: str, base: str) -> None:
    """Remove temporary files of earlier writes of ``base`` whose writer no longer runs
    (killed mid-write): ``.tmp-<base>-<pid>-*``."""
    prefix = f".tmp-{base}-"
    for name in os.listdir(d):
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            try:
                os.remove(os.path.join(d, name))
            except OSError:
                pass


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic(path: str, write, mode: str = "wb") -> str:
    """Write through a temporary file in the target's folder, then rename (atomic). The file
    gets the permissions of the user's umask (not the 0600 of a temporary file); temporary files
    left by killed writes of the same target are removed first."""
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    base = os.path.basename(path)
    _clean_stale(d, base)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=f".tmp-{base}-{os.getpid()}-",
                               suffix=os.path.splitext(path)[1])
    try:
        os.chmod(tmp, 0o666 & ~_umask())
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


def save_npz(path: str, **arrays: ArrayLike) -> str:
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
    """Plain JSON values; NaN and +-inf (not valid JSON) become ``null``."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.generic,)):
        x = x.item()
    elif hasattr(x, "tolist"):
        return _jsonable(np.asarray(x).tolist())
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def run_metadata() -> Dict[str, Any]:
    """What a result was computed with: package versions, Python, JAX's backend and devices,
    the float64 switch, the host and the time (UTC), for the ``metadata`` key of result files.

    Example:
        >>> m = run_metadata()
        >>> sorted(m["packages"])[:3], isinstance(m["x64"], bool)
        (['chex', 'jax', 'jaxaccel'], True)
    """
    import datetime
    import importlib.metadata as md
    import platform

    import jax

    packages = {}
    for name in ("jaxaccel", "jax", "jaxlib", "numpy", "optax", "chex", "matplotlib"):
        try:
            packages[name] = md.version(name)
        except md.PackageNotFoundError:
            packages[name] = None
    return {
        "packages": packages,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "backend": jax.default_backend(),
        "devices": [d.device_kind for d in jax.devices()],
        "x64": bool(jax.config.jax_enable_x64),
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def save_json(path: str, data: Dict[str, Any], metadata: bool = True) -> str:
    """Atomically write ``data`` as indented JSON (numpy/JAX values converted). NaN and
    infinite numbers are written as ``null`` (JSON has no NaN), so the file is valid JSON for
    every reader. With ``metadata`` (default) a ``"metadata"`` key records
    :func:`run_metadata` (versions, backend, devices, float64), unless ``data`` has one.

    Example:
        >>> import json, os, tempfile, numpy as np
        >>> path = save_json(os.path.join(tempfile.mkdtemp(), "meta.json"), {"nu": np.float64(1.5)})
        >>> json.load(open(path))["nu"]
        1.5
    """
    if metadata and isinstance(data, dict) and "metadata" not in data:
        data = {**data, "metadata": run_metadata()}
    text = json.dumps(_jsonable(data), indent=2, sort_keys=True, allow_nan=False)
    return _atomic(path, lambda f: f.write(text.encode()))


def save_figure(path: str, fig: Any, dpi: int = 120) -> str:
    """Atomically save ``fig``, a matplotlib ``Figure`` (format from the extension).

    (``fig`` is annotated ``Any`` because matplotlib is only imported when a figure is made.)

    Example:
        >>> import os, tempfile, matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> path = save_figure(os.path.join(tempfile.mkdtemp(), "curve.png"), fig)
        >>> os.path.getsize(path) > 0
        True
        >>> plt.close(fig)
    """
    fmt = os.path.splitext(path)[1].lstrip(".") or "png"
    return _atomic(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi, bbox_inches="tight"))


# ------------------------------------------------------------------ simulation scripts
def sim_parser(name: str, doc: str, prog: Optional[str] = None) -> argparse.ArgumentParser:
    """``argparse`` parser with the options every script of ``sims/`` shares.

    ``--quick`` (the default: a small setting, < 1 min on 2 CPU cores), ``--full`` (paper
    scale) and ``--out DIR`` (default ``results/<name>``); scripts add their own options.

    Example:
        >>> p = sim_parser("demo", "A demo sim.")
        >>> a = p.parse_args(["--full"])
        >>> a.full, a.out
        (True, 'results/demo')
    """
    p = argparse.ArgumentParser(prog=prog, description=doc.strip().splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true",
                   help="small setting, < 1 min on 2 CPU cores (default)")
    g.add_argument("--full", action="store_true", help="paper-scale setting")
    p.add_argument("--out", default=os.path.join("results", name), help="output directory")
    return p


def pick(args: argparse.Namespace, name: str, quick: _T, full: _T) -> _T:
    """An explicit override ``args.<name>`` if given, else the ``--quick`` or ``--full`` value.

    Example:
        >>> import argparse
        >>> pick(argparse.Namespace(full=True, steps=None), "steps", 100, 10_000)
        10000
        >>> pick(argparse.Namespace(full=False, steps=7), "steps", 100, 10_000)
        7
    """
    v = getattr(args, name, None)
    return v if v is not None else (full if args.full else quick)


def sim_config(args: argparse.Namespace, configs: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """The ``--quick`` / ``--full`` preset of ``configs``, with every key that was given on the
    command line (``args.<key>`` not ``None``) overriding it, plus ``mode``.

    Example:
        >>> import argparse
        >>> presets = {"quick": dict(steps=100, n=4), "full": dict(steps=10_000, n=8)}
        >>> sim_config(argparse.Namespace(full=True, steps=None, n=5), presets)
        {'steps': 10000, 'n': 5, 'mode': 'full'}
    """
    mode = "full" if args.full else "quick"
    cfg = dict(configs[mode])
    for key in cfg:
        value = getattr(args, key, None)
        if value is not None:
            cfg[key] = value
    cfg["mode"] = mode
    return cfg


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (scripts and tests).

    Returns:
        the ``matplotlib.pyplot`` module (annotated ``Any``: matplotlib is imported lazily).

    Example:
        >>> plt = pyplot()
        >>> plt.get_backend().lower()
        'agg'
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_results(out: str, name: str, fig: Any, arrays: Dict[str, ArrayLike],
                  meta: Dict[str, Any]) -> str:
    """Atomically write ``<out>/<name>.{npz,json,png}`` (the layout of every sim) and say so.

    ``fig`` is a matplotlib ``Figure``; ``arrays`` go to the ``.npz`` (:func:`save_npz`),
    ``meta`` to the ``.json`` (:func:`save_json`). Returns ``<out>/<name>``.

    Example:
        >>> import os, tempfile
        >>> plt = pyplot()
        >>> d = tempfile.mkdtemp()
        >>> fig, meta = plt.figure(figsize=(1, 1)), {"mode": "quick"}
        >>> _ = write_results(d, "demo", fig, {"x": [1, 2]}, meta)  # doctest: +ELLIPSIS
        wrote ...
        >>> sorted(os.listdir(d))
        ['demo.json', 'demo.npz', 'demo.png']
        >>> plt.close(fig)
    """
    save_npz(os.path.join(out, f"{name}.npz"), **arrays)
    save_json(os.path.join(out, f"{name}.json"), meta)
    save_figure(os.path.join(out, f"{name}.png"), fig)
    base = os.path.join(out, name)
    print(f"wrote {base}.{{npz,json,png}}")
    return base


def print_table(header: Sequence[Any], rows: Sequence[Sequence[Any]],
                fmt: Callable[[Any], str] = str) -> str:
    """Print a right-aligned fixed-width table and return its text (for JSON metadata).

    ``header`` cells are converted with ``str``, the cells of ``rows`` with ``fmt``.

    Example:
        >>> _ = print_table(["name", "slope"], [["SGD", "-0.50"], ["AM1", "-0.71"]])
        name  slope
        ----  -----
         SGD  -0.50
         AM1  -0.71
        >>> _ = print_table(["x"], [[0.5], [12.34]], fmt="{:.1f}".format)
           x
        ----
         0.5
        12.3
    """
    cells = [[str(h) for h in header]] + [[fmt(x) for x in r] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["  ".join(c[i].rjust(widths[i]) for i in range(len(header))) for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    text = "\n".join(lines)
    print(text)
    return text


class Timer:
    """Wall-clock seconds since creation: ``t = Timer(); ...; t()``.

    Example:
        >>> t = Timer()
        >>> elapsed = t()
        >>> isinstance(elapsed, float), 0.0 <= elapsed < 60.0
        (True, True)
    """

    def __init__(self) -> None:
        import time

        self._clock = time.perf_counter
        self.t0 = self._clock()

    def __call__(self) -> float:
        return self._clock() - self.t0
