"""Progress reports of long calls (``progress=True``): one line per finished part on stderr.

The work is split into parts on the host (chunks of steps, of configurations, of grid points),
each a compiled call; nothing inside a compiled loop talks to the host. A call predicted to
take less than :data:`MIN_SECONDS` reports nothing.
"""

from __future__ import annotations

import sys
import time

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
