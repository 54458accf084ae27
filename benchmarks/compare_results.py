"""Compare the ``.npz`` outputs of two result folders (e.g. every sim's ``--quick`` run on two
commits): the largest relative difference per file and which arrays differ.

    for f in $(find sims -name '*.py' ! -name '_*'); do
      python $f --quick --out A/$(basename $f .py); done      # on each commit, into A and B
    python benchmarks/compare_results.py A B
"""

from __future__ import annotations

import glob
import os
import sys

import numpy as np


def compare(a_dir: str, b_dir: str) -> float:
    worst_all = 0.0
    for fa in sorted(glob.glob(os.path.join(a_dir, "*", "*.npz"))):
        fb = os.path.join(b_dir, os.path.relpath(fa, a_dir))
        if not os.path.exists(fb):
            print(f"{os.path.relpath(fa, a_dir):50s} missing in {b_dir}")
            continue
        a, b = np.load(fa, allow_pickle=True), np.load(fb, allow_pickle=True)
        worst, bad = 0.0, []
        for k in a.files:
            if k not in b.files:
                bad.append(f"{k} missing")
                continue
            x, y = a[k], b[k]
            if x.dtype.kind in "fc" and x.shape == y.shape:
                if not np.array_equal(np.isfinite(x), np.isfinite(y)):
                    bad.append(f"{k}: finiteness differs")
                m = np.isfinite(x) & np.isfinite(y)
                if m.any():
                    worst = max(worst, float(np.max(np.abs(x[m] - y[m])
                                                    / np.maximum(np.abs(x[m]), 1e-300))))
            elif x.shape != y.shape or not np.array_equal(x, y):
                bad.append(f"{k} differs")
        worst_all = max(worst_all, worst)
        print(f"{os.path.relpath(fa, a_dir):50s} max rel diff {worst:.2e} {bad if bad else ''}")
    print(f"overall max rel diff {worst_all:.3g}")
    return worst_all


if __name__ == "__main__":
    compare(sys.argv[1], sys.argv[2])
