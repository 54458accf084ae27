"""Depth versus explicit adaptive optimizers (optax AdaGrad, AdaDelta, Adam), and depth + Adam.

Theory (docs/theory/depth_stacking.md) §A9.2 E5: on l4 regression, gradient descent on a depth-3 linear network
is compared with AdaGrad and AdaDelta on the depth-1 (linear) model, each with its own tuned
learning rate; Adam is run on depths 1, 2 and 3. The paper reports that depth-3 GD beats AdaGrad
and AdaDelta but not Adam, and that depth further accelerates Adam.

Every (optimizer, depth) is one vmapped, jitted scan over its learning-rate grid and seeds
(``jaxaccel.depth.sweep_network``). Networks start from a balanced init (hidden width d,
spectral scale 0.05); optimizers use TF1-compatible defaults (AdaGrad initial accumulator 0.1,
AdaDelta rho = 0.95 / eps = 1e-8, Adam (0.9, 0.999, 1e-8)). Learning rates are tuned per model:
fewest iterations to a relative gap (L - L*)/L* < tol that the run still satisfies at the end,
ties broken by the final loss.

Data: scikit-learn's diabetes data (z-scored; the paper's UCI ethanol data are not available
offline) or the synthetic stand-in of theory §A9.4 (``--data synthetic``).

    python sims/depth/optimizers.py            # --quick (default), about 30 s on 2 cores
    python sims/depth/optimizers.py --full     # 40-point grids, 5 seeds, 1e5 steps
"""

from __future__ import annotations

import os
import sys

import numpy as np
import jax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _depth_common as C  # noqa: E402

import jaxaccel.depth as jd  # noqa: E402

NAME = "optimizers"
METHODS = [  # (label, optimizer, depth, lr grid bounds)
    ("GD N=1", "gd", 1, (1e-3, 3.0)),
    ("GD N=2", "gd", 2, (1e-3, 3.0)),
    ("GD N=3", "gd", 3, (1e-3, 3.0)),
    ("AdaGrad N=1", "adagrad", 1, (1e-3, 10.0)),
    ("AdaDelta N=1", "adadelta", 1, (1e-2, 100.0)),
    ("Adam N=1", "adam", 1, (1e-4, 1.0)),
    ("Adam N=2", "adam", 2, (1e-4, 1.0)),
    ("Adam N=3", "adam", 3, (1e-4, 1.0)),
]


def load(data, p):
    if data == "diabetes":
        return jd.diabetes_regression(p=p)
    return jd.synthetic_regression(seed=0, p=p)


def main(argv=None):
    ap = C.parser(NAME, __doc__)
    ap.add_argument("--data", choices=["diabetes", "synthetic"], default="diabetes")
    ap.add_argument("--p", type=float, default=4.0)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--num-lrs", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--tol", type=float, default=1e-4, help="relative-gap target for tuning")
    ap.add_argument("--methods", nargs="+", default=None, help="subset of method labels")
    args = ap.parse_args(argv)
    timer = C.Timer()
    steps = C.pick(args, "steps", 3000, 100_000)
    n_lr = C.pick(args, "num_lrs", 14, 40)
    seeds = C.pick(args, "seeds", 2, 5)
    methods = [m for m in METHODS if args.methods is None or m[0] in args.methods]
    loss = load(args.data, args.p)
    _, L_star = jd.lp_minimum(loss)
    tols = [args.tol, 1e-2]
    thr = L_star * (1.0 + np.array(tols))
    d = loss.in_dim
    keys = jd.seed_keys(1, seeds)

    results, arrays = {}, {}
    for label, opt, depth, (lo, hi) in methods:
        lrs = jd.lr_grid(lo, hi, n_lr)
        widths = jd.make_widths(d, 1, depth, width=d)
        layers = jax.vmap(lambda k: jd.init_balanced(k, widths, scale=0.05))(keys)
        run = jd.sweep_network(layers, loss, lrs, steps, optimizer=opt, thresholds=thr,
                               record=("log", 60))
        sel = jd.select_lr(run, lrs, "hit_then_final")
        j = sel.index
        curve = np.median(np.asarray(run.loss[j]), axis=0)
        hits = np.median(jd.hits_as_float(run.hit_at[j]), axis=0)
        results[label] = dict(optimizer=opt, depth=depth, lr=sel.lr, lr_grid=[lo, hi, n_lr],
                              hits=hits.tolist(), final_gap=float((curve[-1] - L_star) / L_star),
                              lr_at_grid_edge=bool(j in (0, n_lr - 1)))
        key = label.replace(" ", "_").replace("=", "")
        arrays[f"{key}_steps"] = np.asarray(run.steps)
        arrays[f"{key}_loss"] = np.asarray(run.loss)
        arrays[f"{key}_lrs"] = lrs

    print(f"{NAME} ({'full' if args.full else 'quick'}): {args.data}, l_{args.p:g}, {steps} steps, "
          f"{n_lr}-point lr grids, {seeds} seeds; L* = {L_star:.6g}")
    if args.data == "diabetes":
        print(jd.OFFLINE_NOTE)
    rows = [(lab, r["lr"], r["hits"][1], r["hits"][0], r["final_gap"],
             "edge" if r["lr_at_grid_edge"] else "") for lab, r in results.items()]
    text = C.table(["method", "tuned lr", "it(1e-2)", f"it({args.tol:g})", "final gap", "grid"], rows)

    def better(a, b):  # fewer iterations to tol, then lower final gap
        ra, rb = results.get(a), results.get(b)
        if ra is None or rb is None:
            return None
        return (ra["hits"][0], ra["final_gap"]) < (rb["hits"][0], rb["final_gap"])

    claims = [("GD N=3", "AdaGrad N=1", "depth-3 GD beats AdaGrad (paper: yes)"),
              ("GD N=3", "AdaDelta N=1", "depth-3 GD beats AdaDelta (paper: yes)"),
              ("GD N=3", "Adam N=1", "depth-3 GD beats Adam (paper: no)"),
              ("Adam N=2", "Adam N=1", "depth 2 accelerates Adam (paper: yes)"),
              ("Adam N=3", "Adam N=1", "depth 3 accelerates Adam (paper: yes)")]
    verdicts = []
    for a, b, what in claims:
        v = better(a, b)
        if v is not None:
            verdicts.append(dict(claim=what, measured=bool(v)))
            print(f"[{'yes' if v else 'no '}] {what}")

    plt = C.pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for label, r in results.items():
        key = label.replace(" ", "_").replace("=", "")
        j = int(np.argmin(np.abs(arrays[f"{key}_lrs"] - r["lr"])))
        st = arrays[f"{key}_steps"]
        gap = (np.median(arrays[f"{key}_loss"][j], axis=0) - L_star) / L_star
        ok = (st > 0) & np.isfinite(gap) & (gap > 0)
        ax.loglog(st[ok], gap[ok], "-" if r["optimizer"] == "gd" else "--",
                  label=f"{label} (lr {r['lr']:.2g})")
    ax.set_xlabel("iteration")
    ax.set_ylabel(r"relative gap $(L-L^*)/L^*$")
    ax.set_title(f"{args.data}, $\\ell_{{{args.p:g}}}$: depth vs adaptive optimizers (tuned lrs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    meta = dict(data=args.data, p=args.p, steps=steps, seeds=seeds, L_star=L_star, tolerances=tols,
                results=results, verdicts=verdicts, table=text, runtime_s=timer(),
                offline_note=jd.OFFLINE_NOTE)
    C.write(args.out, NAME, fig, arrays, meta)
    print(f"runtime {timer():.1f} s")
    return meta


if __name__ == "__main__":
    main()
