"""Deep linear residual networks trained stagewise: zero / random / stacking / exact-Nesterov init.

Theory (docs/theory/depth_stacking.md) §B4 (and §B2 for the exact-Nesterov initialisation). The network
F_T = (I + W_T) ... (I + W_1) grows one block per stage on the population square loss
L(F) = 1/2 tr((F - F*) Sigma (F - F*)^T), Sigma = Q diag(geomspace(1/kappa, 1, d)) Q^T,
F* = I + delta R/||R||_2; each new block takes one gradient step (eta = 1/L) from its
initialisation, in the "func" (exact functional step) or "param" (plain GD on the block's
weights) flavour. Arms: zero, random (sigma0 = 1e-3), stacking W^0 = beta* W_t (func and param),
the exact-Nesterov init W^0 = beta* (F_t - F_{t-1}) F_t^{-1}, plain copying beta = 1, and the
explicit GD / AGD references on F; vmapped over (kappa, delta, seed).

Measured against predicted (§B4.4): near the identity (delta = 0.3) stacking tracks Nesterov and
beats zero init by orders of magnitude; the exact-Nesterov init equals AGD; beta = 1 is not
accelerated; at delta = 1 the "param" flavour can stall (F_t^T F_t far from I) while "func" still
accelerates. Diagnostics: perturbation ratio ||Delta_t|| / ||F_t - F_{t-1}||, ||W_t||_2,
||F_t^T F_t - I||_2.

    python sims/stacking/residual_nets.py          # --quick (default): d = 10, T = 400
    python sims/stacking/residual_nets.py --full   # kappa up to 1e4, delta 0.1/0.3/1, T = 1000, 5 seeds
"""

from __future__ import annotations

import os
import sys

import numpy as np
import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _stacking_common as C  # noqa: E402

import jaxaccel.stacking as st  # noqa: E402

NAME = "residual_nets"
# theory §B4.4 (its own random draw, d = 10, kappa = 1e3): gap after 100 and 400 stages
SPEC = {(0.3, "gd"): (7.6e-5, 1.35e-5), (0.3, "stack_param"): (4.4e-6, None),
        (0.3, "stack_func"): (6.0e-7, None), (0.3, "agd"): (5.9e-7, 1.7e-14),
        (0.3, "copy"): (None, 2.8e-5), (1.0, "stack_func"): (None, 7.6e-14),
        (1.0, "stack_param"): (None, 8e-2)}
ARMS = ("zero", "random", "stack_func", "stack_param", "nesterov", "copy", "gd", "agd")


def run_all(kappas, deltas, seeds, dim, stages, sigma0):
    kk, dd, ss = np.meshgrid(kappas, deltas, np.arange(seeds), indexing="ij")
    shape = kk.shape
    flat = [jnp.asarray(a.ravel()) for a in (kk, dd, ss)]

    def prob(k, dl, s):
        return st.residual_problem(k, dim, dl, jax.random.fold_in(jax.random.PRNGKey(0), s))

    runs = {
        "zero": lambda k, dl, s: st.train_residual(prob(k, dl, s), stages, init="zero"),
        "random": lambda k, dl, s: st.train_residual(
            prob(k, dl, s), stages, init="random", sigma0=sigma0,
            key=jax.random.fold_in(jax.random.PRNGKey(1), s)),
        "stack_func": lambda k, dl, s: st.train_residual(prob(k, dl, s), stages, init="stack"),
        "stack_param": lambda k, dl, s: st.train_residual(prob(k, dl, s), stages, init="stack",
                                                          flavour="param"),
        "nesterov": lambda k, dl, s: st.train_residual(prob(k, dl, s), stages, init="nesterov"),
        "copy": lambda k, dl, s: st.train_residual(prob(k, dl, s), stages, init="stack", beta=1.0),
    }
    out = {}
    for arm, f in runs.items():
        r = jax.vmap(f)(*flat)
        out[arm] = {n: np.asarray(getattr(r, n)).reshape(shape + np.shape(getattr(r, n))[1:])
                    for n in ("gaps", "perturbation", "block_norm", "gram_deviation", "diverged_at")}
    for arm, f in {"gd": st.gradient_descent, "agd": st.nesterov_agd}.items():
        r = jax.vmap(lambda k, dl, s: f(prob(k, dl, s), stages))(*flat)
        out[arm] = {"gaps": np.asarray(r.gaps).reshape(shape + (stages + 1,)),
                    "diverged_at": np.asarray(r.diverged_at).reshape(shape)}
    return out


def main(argv=None):
    p = C.parser(NAME, __doc__)
    p.add_argument("--kappas", type=float, nargs="+", default=None)
    p.add_argument("--deltas", type=float, nargs="+", default=None)
    p.add_argument("--dim", type=int, default=None)
    p.add_argument("--stages", type=int, default=None)
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--sigma0", type=float, default=1e-3)
    args = p.parse_args(argv)
    kappas = np.asarray(C.pick(args, "kappas", [1e2, 1e3], [1e2, 1e3, 1e4]))
    deltas = np.asarray(C.pick(args, "deltas", [0.3, 1.0], [0.1, 0.3, 1.0]))
    dim = C.pick(args, "dim", 10, 10)
    T = C.pick(args, "stages", 400, 1000)
    seeds = C.pick(args, "seeds", 1, 5)
    timer = C.Timer()
    out = run_all(kappas, deltas, seeds, dim, T, args.sigma0)
    elapsed = timer()
    t100 = min(100, T)
    med = lambda a, t: np.median(out[a]["gaps"][..., t], -1)          # (kappa, delta)

    print(f"{NAME} ({'full' if args.full else 'quick'}): d={dim}, T={T}, seeds={seeds}; "
          f"runs took {elapsed:.1f} s")
    # the perturbation ratio is a ratio of stage increments: only meaningful while the gap is
    # above the rounding floor (gap ~ ||F - F*||^2 ~ 1e-20 <-> increments ~ 1e-10)
    def max_live(a, name, i, j):
        o = out[a]
        if name not in o:
            return float("nan")
        live = o["gaps"][i, j][..., :-1] > 1e-20
        return float(np.max(np.where(live, o[name][i, j], 0.0)))

    t4 = min(400, T)
    cols = [t100, t4] + ([T] if T != t4 else [])
    rows = []
    for i, k in enumerate(kappas):
        for j, dl in enumerate(deltas):
            for a in ARMS:
                sp = SPEC.get((float(dl), a), (None, None)) if k == 1e3 else (None, None)
                rows.append((f"{k:g}", f"{dl:g}", a, *[float(med(a, c)[i, j]) for c in cols],
                             float(med(a, T)[i, j] / med("zero", T)[i, j]),
                             max_live(a, "perturbation", i, j), max_live(a, "block_norm", i, j),
                             max_live(a, "gram_deviation", i, j),
                             "-" if sp[0] is None else f"{sp[0]:.1e}",
                             "-" if sp[1] is None else f"{sp[1]:.1e}",
                             bool(np.any(out[a]["diverged_at"][i, j] >= 0))))
    text = C.table(["kappa", "delta", "init", *[f"gap@{c}" for c in cols], f"gap@{T}/zero",
                    "max Delta ratio", "max ||W||", "max ||F'F-I||", "spec@100", "spec@400",
                    "diverged"], rows)
    print("predicted (§B4.4): stacking and nesterov track agd; nesterov == agd; copy (beta = 1) "
          "not accelerated; param may stall at delta = 1. Spec columns: spec's own draw, kappa = 1e3.")

    plt = C.pyplot()
    fig, axes = plt.subplots(len(deltas), len(kappas), figsize=(4.2 * len(kappas), 3.4 * len(deltas)),
                             squeeze=False)
    styles = {"zero": "C0", "random": "C1", "stack_func": "C2", "stack_param": "C4",
              "nesterov": "C5", "copy": "C3", "gd": "k:", "agd": "k--"}
    for i, k in enumerate(kappas):
        for j, dl in enumerate(deltas):
            ax = axes[j, i]
            for a in ARMS:
                g = out[a]["gaps"][i, j, 0]
                ok = np.isfinite(g) & (g > 0)
                ax.semilogy(np.arange(T + 1)[ok], g[ok], styles[a], lw=1, label=a)
            ax.set_title(rf"$\kappa$={k:g}, $\|F^*-I\|_2$={dl:g}", fontsize=9)
            ax.set_xlabel("stage t")
            ax.set_ylim(1e-16, None)
            ax.grid(True, alpha=0.3)
    axes[0, 0].set_ylabel(r"$\mathcal{L}(F_t)-\mathcal{L}^*$")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    arrays = {f"{n}_{a}": v for a, o in out.items() for n, v in o.items()}
    arrays.update(kappas=kappas, deltas=deltas)
    meta = {"dim": dim, "stages": T, "seeds": seeds, "sigma0": args.sigma0, "kappas": kappas,
            "deltas": deltas, "gap_final": {a: med(a, T) for a in ARMS},
            "gap_final_over_zero": {a: med(a, T) / med("zero", T) for a in ARMS},
            "nesterov_vs_agd_max_abs_gap_diff": float(np.max(np.abs(out["nesterov"]["gaps"]
                                                                   - out["agd"]["gaps"]))),
            "table": text, "runtime_s": elapsed}
    C.write(args.out, NAME, fig, arrays, meta)
    return meta


if __name__ == "__main__":
    main()
