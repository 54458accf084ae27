"""Depth versus explicit adaptive optimizers (AdaGrad, AdaDelta, Adam), and depth + Adam (E5).

Theory (docs/theory/depth_stacking.md) §A9.2 E5: on l4 regression, gradient descent on a depth-3
linear network is compared with AdaGrad and AdaDelta on the depth-1 (linear) model, each at its
own tuned learning rate; Adam is run on depths 1, 2 and 3. The paper reports that depth-3 GD
beats AdaGrad and AdaDelta but not Adam, and that depth further accelerates Adam.

Protocol. Every (optimizer, depth) is one vmapped, jitted scan over a learning-rate grid and
seeds (``jaxaccel.depth.sweep_network``); networks start from a balanced init (hidden width 1,
the width of the blog's depth figure; spectral scale 0.05, one init per seed). For GD from a
balanced init the hidden width has no effect at all (theory §A1.4); for Adam it does and the
paper's is unknown (``--width`` changes it). Optimizers use TF1-compatible defaults. Target: the
relative gap (L - L*)/L* falls below ``tol`` (L* by Newton's method; default tol: 1 on the
ethanol-like data, whose L* is tiny, 1e-4 on diabetes, 1e-2 on the synthetic data). The
learning rate of each method is tuned on the median over seeds (fewest iterations to the target
that the run still satisfies at the end, then the lowest final loss); every verdict compares
MEDIANS over seeds at the tuned rates (``jaxaccel.depth.median_verdict``), and "clear" means
that the interquartile ranges do not overlap. Grid independence: the sweep runs on a fine grid
of 2n - 1 log-spaced rates; the verdicts are computed both on it and on its every-other-point
n-point subgrid, and the sim says whether they agree.

Data: the ethanol-like stand-in of theory §A9.1 (default; ``--data ethanol --data-path DIR``
for the real UCI files), scikit-learn's diabetes data, or the synthetic data of §A9.4.

    python sims/depth/optimizers.py            # --quick: 600 examples, 2000 steps, 15-point grid, 3 seeds
    python sims/depth/optimizers.py --full     # 2565 examples, 10000 steps, 21-point grid, 4 seeds
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
DEFAULT_TOL = {"ethanol_like": 1.0, "ethanol": 1.0, "diabetes": 1e-4, "synthetic": 1e-2}
CLAIMS = [  # (a, b, claim, the paper's answer)
    ("GD N=3", "AdaGrad N=1", "depth-3 GD beats AdaGrad", True),
    ("GD N=3", "AdaDelta N=1", "depth-3 GD beats AdaDelta", True),
    ("GD N=3", "Adam N=1", "depth-3 GD beats Adam", False),
    ("Adam N=2", "Adam N=1", "depth 2 accelerates Adam", True),
    ("Adam N=3", "Adam N=1", "depth 3 accelerates Adam", True),
]


def verdicts(tuned_by_label):
    """The claims of E5 judged on medians over seeds (a list of dicts)."""
    out = []
    for a, b, claim, paper in CLAIMS:
        if a in tuned_by_label and b in tuned_by_label:
            v = jd.median_verdict(tuned_by_label[a], tuned_by_label[b])
            out.append(dict(claim=claim, paper=paper, measured=v.holds, clear=v.clear, by=v.by,
                            a=list(v.a), b=list(v.b)))
    return out


def main(argv=None):
    ap = C.parser(NAME, __doc__)
    C.add_data_args(ap)
    ap.add_argument("--p", type=float, default=4.0)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--num-lrs", type=int, default=None, help="n: coarse grid n, fine grid 2n-1")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--tol", type=float, default=None,
                    help="target: (L - L*)/L* < tol; the tuning criterion")
    ap.add_argument("--width", type=int, default=1, help="hidden width of the networks")
    ap.add_argument("--methods", nargs="+", default=None, help="subset of method labels")
    args = ap.parse_args(argv)
    timer = C.Timer()
    steps = C.pick(args, "steps", 2000, 10_000)
    n_lr = C.pick(args, "num_lrs", 8, 11)
    seeds = C.pick(args, "seeds", 3, 4)
    methods = [x for x in METHODS if args.methods is None or x[0] in args.methods]
    loss = C.load_data(args, args.p)
    _, L_star = jd.lp_minimum(loss)
    d = loss.in_dim
    keys = jd.seed_keys(1, seeds)
    tol = args.tol if args.tol is not None else DEFAULT_TOL[args.data]
    tols = [tol, 10 * tol]
    thr = L_star * (1.0 + np.array(tols))

    tuned_fine, tuned_coarse, results, arrays = {}, {}, {}, {}
    for label, opt, depth, (lo, hi) in methods:
        lrs, coarse = jd.nested_lr_grids(lo, hi, n_lr)
        widths = jd.make_widths(d, 1, depth, width=args.width)
        layers = jax.vmap(lambda k: jd.init_balanced(k, widths, scale=0.05))(keys)
        run = jd.sweep_network(layers, loss, lrs, steps, optimizer=opt, thresholds=thr,
                               record=("log", 60))
        tf, tc = jd.tuned(run, lrs), jd.tuned(run, lrs, coarse)
        tuned_fine[label], tuned_coarse[label] = tf, tc
        med, q1, q3 = jd.median_iqr(tf.hits)
        fm, f1, f3 = jd.median_iqr(tf.final)
        results[label] = dict(optimizer=opt, depth=depth, lr=tf.lr, lr_coarse=tc.lr,
                              lr_grid=[lo, hi, len(lrs)], hits=tf.hits.tolist(),
                              final=tf.final.tolist(), median_hits=med, iqr_hits=[q1, q3],
                              median_final=fm, iqr_final=[f1, f3], lr_at_grid_edge=tf.at_edge)
        key = label.replace(" ", "_").replace("=", "")
        arrays[f"{key}_steps"] = np.asarray(run.steps)
        arrays[f"{key}_loss"] = np.asarray(run.loss)
        arrays[f"{key}_lrs"] = lrs

    fine, coarse_v = verdicts(tuned_fine), verdicts(tuned_coarse)
    print(f"{NAME} ({'full' if args.full else 'quick'}): {args.data} {loss.inputs.shape}, "
          f"l_{args.p:g}, {steps} steps, {2 * n_lr - 1}-point lr grids (and their {n_lr}-point "
          f"subgrids), {seeds} seeds; L* = {L_star:.6g}")
    if args.data == "diabetes":
        print(jd.OFFLINE_NOTE)
    print(f"target: (L - L*)/L* < {tol:g}; it = iterations to it, median [IQR] over "
          f"seeds at the tuned lr ('never' = not within {steps} steps)")
    rows = [(lab, r["lr"], r["lr_coarse"], r["median_hits"], f"[{C.fmt(r['iqr_hits'][0])}, "
             f"{C.fmt(r['iqr_hits'][1])}]", r["median_final"], "edge" if r["lr_at_grid_edge"] else "")
            for lab, r in results.items()]
    text = C.table(["method", "tuned lr", "lr (n-grid)", "median it", "IQR it", "median final L",
                    "grid"], rows)
    agree = []
    for vf, vc in zip(fine, coarse_v):
        same = vf["measured"] == vc["measured"]
        agree.append(same)
        vf["same_on_coarse_grid"] = same
        tag = "yes" if vf["measured"] else "no "
        print(f"[{tag}] {vf['claim']} (paper: {'yes' if vf['paper'] else 'no'}; by median "
              f"{vf['by']}: {C.fmt(vf['a'][0])} vs {C.fmt(vf['b'][0])}, "
              f"{'clear' if vf['clear'] else 'IQRs overlap'}; n-point grid "
              f"{'agrees' if same else 'DISAGREES'})")
    print("grid independence: " + ("all verdicts are the same on the fine and the coarse grid"
                                   if all(agree) else "some verdicts change with the grid"))
    disagree = C.report_disagreements(
        fine, f"{args.data} data {loss.inputs.shape}, l_{args.p:g}, hidden width {args.width}, "
        f"balanced init 0.05, budget {steps} iterations, tuned on (L - L*)/L* < {tol:g}, "
        f"{seeds} seeds, grids of {2 * n_lr - 1} and {n_lr} points",
        "the paper ran the real UCI ethanol data for 1e6 iterations; its widths, inits and "
        "optimizer learning rates are not known (theory §A9.2, §C8)")

    plt = C.pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for label, r in results.items():
        key = label.replace(" ", "_").replace("=", "")
        j = int(np.argmin(np.abs(arrays[f"{key}_lrs"] - r["lr"])))
        st = arrays[f"{key}_steps"]
        lo_ = np.asarray(arrays[f"{key}_loss"][j]) - L_star
        med = np.median(lo_, axis=0)
        ok = (st > 0) & np.isfinite(med) & (med > 0)
        line, = ax.loglog(st[ok], med[ok], "-" if r["optimizer"] == "gd" else "--",
                          label=f"{label} (lr {r['lr']:.2g})")
        q1, q3 = np.quantile(lo_, [0.25, 0.75], axis=0)
        ax.fill_between(st[ok], np.maximum(q1[ok], 1e-300), q3[ok], color=line.get_color(), alpha=0.15)
    ax.set_xlabel("iteration")
    ax.set_ylabel(r"$L - L^*$ (median, IQR over seeds)")
    ax.set_title(f"{args.data}, $\\ell_{{{args.p:g}}}$: depth vs adaptive optimizers (tuned lrs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    meta = dict(data=args.data, p=args.p, steps=steps, width=args.width, seeds=seeds, L_star=L_star, tolerances=tols,
                num_examples=int(loss.num_examples), results=results, verdicts=fine,
                verdicts_coarse_grid=coarse_v, grid_independent=bool(all(agree)), table=text,
                disagreements=disagree,
                runtime_s=timer(), offline_note=jd.OFFLINE_NOTE)
    return C.finish(args, NAME, fig, arrays, meta, timer)


if __name__ == "__main__":
    main()
