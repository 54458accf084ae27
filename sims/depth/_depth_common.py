"""Shared plumbing of the depth simulations (command line, output files, tables).

Every script in ``sims/depth/`` takes ``--quick`` (default) / ``--full`` and ``--out DIR``
(default ``results/<sim-name>/``), writes ``<name>.npz`` + ``<name>.json`` + ``<name>.png``
with the atomic writers of :mod:`jaxaccel.io`, and prints a table of measured versus
predicted (or spec-reported) numbers.
"""

from __future__ import annotations

import numpy as np

import jaxaccel.depth as jd
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


DATASETS = ["ethanol_like", "ethanol", "diabetes", "synthetic"]


def add_data_args(ap, default="ethanol_like"):
    """``--data`` (theory §C6.2.7; the ethanol-like stand-in by default), ``--data-path`` (the
    UCI files, for ``--data ethanol``) and ``--num-examples`` (generated data size)."""
    ap.add_argument("--data", choices=DATASETS, default=default)
    ap.add_argument("--data-path", default=None, help="UCI batch*.dat folder (--data ethanol)")
    ap.add_argument("--num-examples", type=int, default=None, help="generated data size")


def load_data(args, p, quick_examples=600, full_examples=2565):
    """The dataset of :func:`add_data_args` as an l_p loss (generated data: ``quick_examples``
    examples with --quick, ``full_examples`` with --full, unless --num-examples is given)."""
    m = pick(args, "num_examples", quick_examples, full_examples) \
        if args.data in ("ethanol_like", "synthetic") else None
    return jd.regression_dataset(args.data, p, path=args.data_path, num_examples=m)


def finish(args, name, fig, arrays, meta, timer):
    """Write the results (atomic npz + json + png) and print the runtime; returns ``meta``."""
    write(args.out, name, fig, arrays, meta)
    print(f"runtime {timer():.1f} s")
    return meta


def report_disagreements(claims, conditions, why):
    """Print the claims whose measured answer differs from the paper's, with the conditions of
    the measurement and the known differences from the paper's set-up (``why``); returns the
    list of such claims (for the JSON)."""
    bad = [c for c in claims if bool(c["measured"]) != bool(c["paper"])]
    if bad:
        print(f"DISAGREES with the paper on {len(bad)} of {len(claims)} claims: "
              + "; ".join(c["claim"] for c in bad))
        print(f"  under these conditions: {conditions}")
        print(f"  known differences from the paper's set-up: {why}")
    return [c["claim"] for c in bad]
