"""Progress reports of long calls (``progress=True``): one line per finished part on stderr.

The work is split into parts on the host (chunks of steps, of configurations, of grid points),
each a compiled call; nothing inside a compiled loop talks to the host. A call predicted to
take less than :data:`MIN_SECONDS` reports nothing.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, List, Sequence

import numpy as np
import jax.numpy as jnp

#: calls predicted to finish faster than this print no progress
MIN_SECONDS = 10.0
#: eigen-steps per second assumed for the prediction (native CPU kernel, XLA scan)
RATES = {"native": 1.0e9, "scan": 2.0e8}


def predicted_seconds(eigen_steps: float, native: bool) -> float:
    """A rough duration from the number of eigenvalue-steps.

    Example:
        >>> predicted_seconds(2e10, native=True)
        20.0
    """
    return float(eigen_steps) / RATES["native" if native else "scan"]


class Progress:
    """Prints ``[jaxaccel] <label>: <done>/<total> (<pct>%), <elapsed> s`` after each part.

    Example:
        >>> p = Progress("grid", 4, enabled=False)
        >>> p.update(2)
        >>> p.done
        2
    """

    def __init__(self, label: str, total: int, enabled: bool = True) -> None:
        self.label, self.total, self.enabled = label, int(total), bool(enabled)
        self.done = 0
        self.t0 = time.perf_counter()

    def update(self, k: int) -> None:
        self.done += int(k)
        if self.enabled:
            pct = 100.0 * self.done / max(self.total, 1)
            print(f"[jaxaccel] {self.label}: {self.done}/{self.total} ({pct:.0f}%), "
                  f"{time.perf_counter() - self.t0:.1f} s", file=sys.stderr, flush=True)


def in_parts(call: Callable, cols: Sequence, per: int, report: Progress,
             units: Callable[[int], int]) -> List:
    """``call(*cols)`` on consecutive slices of ``per`` rows (axis 0) of every array of
    ``cols``, the last slice padded to the same shape (one compilation) and cut again; the
    outputs are concatenated along axis 0. After each part ``report`` gets ``units(rows)``.

    Example:
        >>> out = in_parts(lambda x: (2 * x,), [jnp.arange(5.0)], 2, Progress("x", 5, False),
        ...                lambda r: r)
        >>> out[0].tolist()
        [0.0, 2.0, 4.0, 6.0, 8.0]
    """
    outs = []
    for i in range(0, cols[0].shape[0], per):
        part = [c[i:i + per] for c in cols]
        short = per - part[0].shape[0]
        if short:
            part = [jnp.concatenate([c, jnp.repeat(c[-1:], short, axis=0)]) for c in part]
        outs.append([np.asarray(o)[:per - short] for o in call(*part)])
        report.update(min(units(per - short), report.total - report.done))
    return [jnp.asarray(np.concatenate([o[k] for o in outs])) for k in range(len(outs[0]))]
