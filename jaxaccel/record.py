"""What a run records: the ``record=`` argument (the role of diffrax's ``SaveAt``).

A long run never stores more than asked: the kernels write the loss only at the resolved
steps, through a pointer into the sorted step list (no host synchronisation in the loop).
"""

from __future__ import annotations

from typing import Tuple, Union

import numpy as np

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Int

#: A ``record`` specification (:func:`record_steps`): ``"all"``, ``"log"``, ``("log", num)``,
#: an int ``k`` (every ``k``-th step) or an array of steps; ``None`` means ``"all"``.
RecordSpec = Union[None, str, int, Tuple[str, int], Int[ArrayLike, "R"]]


def log_steps(steps: int, num: int = 100, include_zero: bool = True) -> np.ndarray:
    """About ``num`` log-spaced integer steps in ``[1, steps]`` (unique, sorted), plus 0.

    Example:
        >>> log_steps(1000, 4).tolist()
        [0, 1, 10, 100, 1000]
    """
    steps = V.check_positive_int(steps, "steps")
    num = V.check_positive_int(num, "num")
    s = np.unique(np.round(np.logspace(0.0, np.log10(steps), num)).astype(np.int64))
    s = np.union1d(s, [steps])
    if include_zero:
        s = np.union1d([0], s)
    return s


def record_steps(record: RecordSpec, steps: int, start: int = 0) -> Int[np.ndarray, "R"]:
    """Resolve a ``record`` specification into sorted unique steps in ``[start, start+steps]``.

    ``record`` may be ``"all"``; ``"log"`` (100 log-spaced steps) or ``("log", num)``; an int
    ``k`` (every ``k``-th step, the last step always included); or an array of steps.

    Example:
        >>> record_steps(3, 10).tolist(), record_steps("all", 3).tolist()
        ([0, 3, 6, 9, 10], [0, 1, 2, 3])
    """
    end = start + steps
    if record is None or (isinstance(record, str) and record == "all"):
        return np.arange(start, end + 1)
    if isinstance(record, str) and record == "log":
        record = ("log", 100)
    if isinstance(record, tuple) and len(record) == 2 and record[0] == "log":
        return start + log_steps(steps, record[1])
    if isinstance(record, (int, np.integer)) and not isinstance(record, bool):
        k = V.check_positive_int(record, "record")
        return np.union1d(np.arange(start, end + 1, k), [end])
    if isinstance(record, str):
        raise ValueError(f"record must be 'all', 'log', ('log', n), an int or steps; got {record!r}")
    arr = np.asarray(record)
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError("record steps must be a non-empty 1-D array of integers")
    if arr.min() < start or arr.max() > end:
        raise ValueError(f"record steps must lie in [{start}, {end}], got [{arr.min()}, {arr.max()}]")
    return np.unique(arr)
