"""Atomic result files: nothing a user asked to be saved is half-written.

Every writer writes to a temporary file in the target directory and then ``os.replace``s it
into place, so an interrupted run leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict

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
