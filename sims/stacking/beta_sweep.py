"""Beta sweep of stacking: stages to cut the gap by 1e-6 as a function of the stacking scale beta.

Theory (docs/theory/depth_stacking.md) §B2 (beta* = (sqrt(kappa) - 1)/(sqrt(kappa) + 1); plain copying beta = 1
is not accelerated) and §C6.3 item 5. Additive stacking f^0_{t+1} = beta f_t with one gradient
step per stage (eta = 1/L) on the ill-conditioned quadratics of §B5 E-B1, vmapped over
(kappa, beta) in one run. Measured against predicted:
* the optimal beta sits near beta* (compared on the 1 - beta scale, where 1 - beta* ~ 2/sqrt(kappa));
* beta = 0 (zero init, functional GD) needs ~kappa stages, beta* ~sqrt(kappa);
* beta = 1 is slower than beta = 0 (error modulus sqrt(1 - 1/kappa) ~ 1 - 1/(2 kappa) per stage);
* beta above beta* degrades again (under-damped oscillation).

    python sims/stacking/beta_sweep.py           # --quick (default): kappa 1e2, 1e3; 61 betas
    python sims/stacking/beta_sweep.py --full    # kappa 1e2, 1e3, 1e4; 201 betas; 150 000 stages
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

NAME = "beta_sweep"


def sweep(kappas, betas, dim, stages):
    """``(len(kappas), len(betas))`` stages to 1e-6 (``-1``: not reached) and final gaps."""
    kk, bb = np.meshgrid(kappas, betas, indexing="ij")

    def one(k, b):
        r = st.boost(st.quadratic_problem(k, dim, jax.random.PRNGKey(0)), stages, init="stack",
                     beta=b)
        return st.stages_to_reduce(r.gaps, 1e-6), r.gaps[-1], r.diverged

    s, g, d = jax.vmap(one)(jnp.asarray(kk.ravel()), jnp.asarray(bb.ravel()))
    shape = kk.shape
    return (np.asarray(s).reshape(shape), np.asarray(g).reshape(shape),
            np.asarray(d).reshape(shape))


def main(argv=None):
    p = C.parser(NAME, __doc__)
    p.add_argument("--kappas", type=float, nargs="+", default=None)
    p.add_argument("--betas", type=int, default=None, help="number of beta values below 1")
    p.add_argument("--dim", type=int, default=None)
    p.add_argument("--stages", type=int, default=None)
    args = p.parse_args(argv)
    kappas = np.asarray(C.pick(args, "kappas", [1e2, 1e3], [1e2, 1e3, 1e4]))
    nb = C.pick(args, "betas", 60, 200)
    dim = C.pick(args, "dim", 10, 32)
    stages = C.pick(args, "stages", 15_000, 150_000)
    # beta = 1, then 1 - beta log-spaced from 1e-3 to 1 (beta = 0)
    betas = 1.0 - np.concatenate([[0.0], np.geomspace(1e-3, 1.0, nb)])
    timer = C.Timer()
    s, g, d = sweep(kappas, betas, dim, stages)
    elapsed = timer()
    bstar = np.asarray(st.optimal_beta(kappas))
    cost = np.where(s > 0, s, np.inf)
    i_opt = np.argmin(cost, 1)
    b_opt = betas[i_opt]
    j0, j1 = len(betas) - 1, 0              # beta = 0 and beta = 1
    j_star = np.argmin(np.abs(np.log(1 - betas[:, None] + 1e-300) - np.log(1 - bstar)), 0)

    print(f"{NAME} ({'full' if args.full else 'quick'}): d={dim}, T={stages}, {len(betas)} betas; "
          f"runs took {elapsed:.1f} s")
    rows = [(f"{k:g}", float(bstar[i]), float(b_opt[i]), float((1 - b_opt[i]) / (1 - bstar[i])),
             int(s[i, i_opt[i]]), int(s[i, j_star[i]]), int(s[i, j0]), int(s[i, j1]))
            for i, k in enumerate(kappas)]
    text = C.table(["kappa", "beta*", "best beta", "(1-best)/(1-beta*)", "stages at best",
                    "stages near beta*", "stages beta=0", "stages beta=1"], rows)
    print("predicted: best beta near beta*; stages(beta=0) ~ kappa, stages(beta*) ~ sqrt(kappa); "
          "beta = 1 slower than beta = 0")

    plt = C.pyplot()
    fig, ax = plt.subplots(1, 1, figsize=(6, 4.2))
    for i, k in enumerate(kappas):
        ok = s[i] > 0
        line, = ax.loglog(1 - betas[ok] + 1e-4 * (betas[ok] == 1), s[i][ok], ".-",
                          label=rf"$\kappa$={k:g}")
        ax.axvline(1 - bstar[i], color=line.get_color(), ls=":", lw=1)
    ax.set_xlabel(r"$1-\beta$ (dotted: $1-\beta^*$; $\beta=1$ drawn at $10^{-4}$)")
    ax.set_ylabel("stages to reduce the gap by 1e-6")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    meta = {"dim": dim, "stages": stages, "kappas": kappas, "beta_star": bstar,
            "best_beta": b_opt, "best_over_star_1mbeta": (1 - b_opt) / (1 - bstar),
            "stages_best": s[np.arange(len(kappas)), i_opt], "stages_beta0": s[:, j0],
            "stages_beta1": s[:, j1], "any_diverged": bool(d.any()), "table": text,
            "runtime_s": elapsed}
    C.write(args.out, NAME, fig, {"betas": betas, "kappas": kappas, "stages_to_1e-6": s,
                                  "final_gap": g}, meta)
    return meta


if __name__ == "__main__":
    main()
