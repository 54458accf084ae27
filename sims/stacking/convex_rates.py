"""Smooth, not strongly convex case: stacking's O(T^-2) against zero init's O(T^-1), log-log.

Theory (docs/theory/depth_stacking.md) §B2 (time-varying beta_t for mu = 0) and §B3 (rates and bounds). The
quadratic has H = Q diag(geomspace(1/kappa, 1, d)) Q^T with kappa = 1e12, far beyond the horizon
(T^2 / kappa << 1), so on the stages simulated it behaves like a merely convex L-smooth loss; the
initial error is isotropic (bounded ||F_0 - F*|| spread evenly over the spectrum). Additive
stacking with one gradient step per stage and beta_t = (t - 1)/(t + 2) or the lambda-sequence,
zero init (functional GD), and the explicit AGD reference, vmapped over seeds.

Measured against predicted: log-log slope of the gap over stages [T/100, T]: -1 for zero init,
-2 for stacking; the bounds L ||F_0 - F*||^2 / (2T) (zero init) and 2 L ||F_0 - F*||^2 / (T + 1)^2
(stacking) hold at every stage; stacking equals AGD.

    python sims/stacking/convex_rates.py          # --quick (default): d = 200, T = 5000
    python sims/stacking/convex_rates.py --full   # d = 400, T = 50 000, 5 seeds
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

NAME = "convex_rates"
KAPPA = 1e12
PRED = {"zero": -1.0, "stack_t": -2.0, "stack_lambda": -2.0, "agd_t": -2.0}


def slope(t, g, lo, hi):
    """Least-squares slope of log gap against log t over ``lo <= t <= hi``."""
    sel = (t >= lo) & (t <= hi) & np.isfinite(g) & (g > 0)
    return float(np.polyfit(np.log(t[sel]), np.log(g[sel]), 1)[0])


def main(argv=None):
    p = C.parser(NAME, __doc__)
    p.add_argument("--dim", type=int, default=None)
    p.add_argument("--stages", type=int, default=None)
    p.add_argument("--seeds", type=int, default=None)
    args = p.parse_args(argv)
    dim = C.pick(args, "dim", 200, 400)
    T = C.pick(args, "stages", 5000, 50_000)
    seeds = C.pick(args, "seeds", 1, 5)
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    sched = {"t": st.nesterov_beta_schedule(T, "t"), "lambda": st.nesterov_beta_schedule(T, "lambda")}

    def problem(key):
        return st.quadratic_problem(KAPPA, dim, key, error="isotropic")

    timer = C.Timer()
    runs = {
        "zero": jax.vmap(lambda k: st.boost(problem(k), T, init="zero").gaps)(keys),
        "stack_t": jax.vmap(lambda k: st.boost(problem(k), T, init="stack", beta=sched["t"]).gaps)(keys),
        "stack_lambda": jax.vmap(lambda k: st.boost(problem(k), T, init="stack",
                                                    beta=sched["lambda"]).gaps)(keys),
        "agd_t": jax.vmap(lambda k: st.nesterov_agd(problem(k), T, beta=sched["t"]).gaps)(keys),
    }
    gaps = {a: np.asarray(g) for a, g in runs.items()}
    r0 = np.asarray(jax.vmap(lambda k: (lambda q: q.smoothness * jnp.sum((q.start - q.minimizer) ** 2))(
        problem(k)))(keys))                                                  # L ||F_0 - F*||^2
    elapsed = timer()
    t = np.arange(T + 1, dtype=float)
    tt = np.maximum(t, 1.0)
    bounds = {"zero": r0[:, None] / (2 * tt), "stack_t": 2 * r0[:, None] / (t + 1) ** 2,
              "stack_lambda": 2 * r0[:, None] / (t + 1) ** 2, "agd_t": 2 * r0[:, None] / (t + 1) ** 2}
    lo, hi = T / 100, T
    slopes = {a: np.array([slope(t, g, lo, hi) for g in gaps[a]]) for a in gaps}
    holds = {a: bool(np.all(gaps[a][:, 1:] <= bounds[a][:, 1:] * (1 + 1e-9))) for a in gaps}
    rel = float(np.max(np.abs(gaps["stack_t"] - gaps["agd_t"]) / gaps["agd_t"]))

    print(f"{NAME} ({'full' if args.full else 'quick'}): d={dim}, kappa={KAPPA:g}, T={T}, "
          f"seeds={seeds}; runs took {elapsed:.1f} s")
    rows = [(a, float(np.median(slopes[a])), PRED[a], float(np.median(gaps[a][:, -1])),
             float(np.median(bounds[a][:, -1])), holds[a]) for a in gaps]
    text = C.table(["init", f"slope on [{lo:g}, {hi:g}]", "predicted", "final gap",
                    "bound at T", "bound holds"], rows)
    print(f"stacking (beta_t = (t-1)/(t+2)) vs explicit AGD: max relative gap difference {rel:.2e}")

    plt = C.pyplot()
    fig, ax = plt.subplots(1, 1, figsize=(6, 4.4))
    keep = C.log_stages(T)[1:]
    for a, c in zip(gaps, ("C0", "C2", "C4", "k")):
        ax.loglog(keep, gaps[a][0, keep], color=c, ls="--" if a == "agd_t" else "-",
                  label=f"{a}: slope {np.median(slopes[a]):.2f}")
    ax.loglog(keep, bounds["zero"][0, keep], "C0:", lw=1, label=r"$L\|F_0-F^*\|^2/(2T)$")
    ax.loglog(keep, bounds["stack_t"][0, keep], "C2:", lw=1, label=r"$2L\|F_0-F^*\|^2/(T+1)^2$")
    ax.set_xlabel("stage T")
    ax.set_ylabel(r"$\mathcal{L}(F_T)-\mathcal{L}^*$")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    meta = {"dim": dim, "kappa": KAPPA, "stages": T, "seeds": seeds, "fit_window": [lo, hi],
            "slopes": {a: v for a, v in slopes.items()}, "predicted_slopes": PRED,
            "bounds_hold": holds, "stack_vs_agd_max_rel_diff": rel, "table": text,
            "runtime_s": elapsed}
    C.write(args.out, NAME, fig, dict(stages=keep, **{f"gaps_{a}": g[:, keep] for a, g in gaps.items()}),
            meta)
    return meta


if __name__ == "__main__":
    main()
