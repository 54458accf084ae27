"""Differentiable schedules: optimise a memory-1 learning-rate/momentum schedule by gradient.

The SE loss curve is a differentiable function of the schedule, so ``jax.grad`` through
``jaxaccel.simulate`` gives the gradient of the averaged late-time log-loss with respect to the
schedule's parameters. The schedule family is the AM1 form (250) with power laws

    alpha_eff(t) = alpha0 (t+1)^theta,   delta(t) = 1 - beta(t) = delta0 (t+1)^-kappa,   eta' const,

and its five parameters (log alpha0, theta, log delta0, kappa, log eta') are optimised with Adam
(a step that makes the run diverge is rejected and the learning rate halved). The result is
compared with plain SGD, the AM1 schedule of the paper's ansatz (theory §7.2) and Jacobi HB
(theory §8), all with the same batch size.

    python sims/optimal_schedule.py            # --quick (default): N = 5e3, T = 1e3
    python sims/optimal_schedule.py --full     # N = 1e5, T = 1e4
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import jax
import jax.numpy as jnp
import optax

import jaxaccel as ja


def schedule_algorithm(theta_vec, steps):
    """The power-law AM1-form schedule for parameters ``(log a0, theta, log d0, kappa, log eta')``."""
    log_a0, th, log_d0, kappa, log_ep = theta_vec
    t = jnp.arange(steps, dtype=jnp.float64) + 1.0
    a_eff = jnp.exp(log_a0) * t**th
    delta = jnp.clip(jnp.exp(log_d0) * t ** (-kappa), 1e-8, 1.0)
    eta_p = jnp.exp(log_ep) * jnp.ones_like(t)
    eta = delta * (a_eff - eta_p)
    return ja.am1_form(eta, eta_p, 1.0 - delta)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="small setting (default)")
    g.add_argument("--full", action="store_true", help="larger setting")
    p.add_argument("--out", default="results/optimal_schedule")
    p.add_argument("--iters", type=int, default=None)
    args = p.parse_args(argv)
    full = args.full
    nu, zeta, batch = 2.0, 0.5, 10.0
    N, T = (100_000, 10_000) if full else (5_000, 1_000)
    iters = args.iters or (150 if full else 25)
    spec = ja.power_law_spectrum(N, nu, zeta)
    rec = ja.log_steps(T, 60)
    late = rec[rec >= T // 10]

    def objective(th):
        r = ja.simulate(spec, schedule_algorithm(th, T), T, batch_size=batch, record=late)
        return jnp.mean(jnp.log(r.loss))

    value_and_grad = jax.jit(jax.value_and_grad(objective))
    theta = jnp.array([0.0, 0.2, np.log(0.5), 0.9, np.log(0.5)])  # AM1-like start
    lr = 0.05
    opt = optax.adam(lr)
    state = opt.init(theta)
    f, gr = value_and_grad(theta)
    history = [float(f)]
    t0 = time.perf_counter()
    for _ in range(iters):
        upd, new_state = opt.update(gr, state, theta)
        cand = theta + upd
        fc, gc = value_and_grad(cand)
        if np.isfinite(float(fc)) and np.all(np.isfinite(np.asarray(gc))):
            theta, state, f, gr = cand, new_state, fc, gc
        else:  # the step made the run diverge: reject it and shrink the step
            lr *= 0.5
            opt = optax.adam(lr)
            state = opt.init(theta)
        history.append(float(f))
    t_opt = time.perf_counter() - t0

    runs = {
        "SGD (alpha=1)": ja.gd(1.0),
        "AM1 (kappa=0.9, theta=0.4)": ja.am1(0.5, 0.9, 1.0, 0.4, 0.5, 1.0, T),
        "Jacobi HB (a=zeta, b=0, L=2)": ja.jacobi_heavy_ball(zeta, 0.0, 2.0, T),
        "optimised power-law schedule": schedule_algorithm(theta, T),
    }
    curves, table = {}, []
    for name, alg in runs.items():
        r = ja.simulate(spec, alg, T, batch_size=batch, record=rec)
        loss = np.asarray(r.loss)
        curves[name] = loss
        div = bool(r.diverged)
        slope = float("nan") if div else ja.fit_power_law(rec, loss, (T / 10, T)).exponent
        table.append((name, loss[-1], slope, int(r.diverged_at) if div else -1))

    names = ["log_alpha0", "theta", "log_delta0", "kappa", "log_eta_prime"]
    print(f"optimal_schedule ({'full' if full else 'quick'}): nu={nu}, zeta={zeta}, N={N}, "
          f"T={T}, b={batch}; {iters} Adam steps in {t_opt:.1f} s")
    print("optimised parameters: " + ", ".join(f"{n}={float(v):.3f}" for n, v in zip(names, theta)))
    print(f"objective (mean late log-loss): {history[0]:.3f} -> {history[-1]:.3f}")
    print(f"{'schedule':34s} {'final loss':>11s} {'slope':>7s}  diverged at")
    for name, lf, sl, d in table:
        print(f"{name:34s} {lf:11.4e} {sl:7.3f}  {d if d >= 0 else '-'}")
    print(f"theory: SGD slope -zeta = {-zeta}; AM1 heuristic -zeta(1+theta) = {-zeta * 1.4:.2f}; "
          f"stable-AM1 limit -zeta(2-1/nu) = {-zeta * (2 - 1 / nu):.2f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, loss in curves.items():
        ok = np.isfinite(loss) & (rec > 0)
        ax.loglog(rec[ok], loss[ok], label=name)
    ax.set_xlabel("step t")
    ax.set_ylabel(r"loss $L_t$")
    ax.set_title(rf"$\nu$={nu}, $\zeta$={zeta}, N={N}, b={int(batch)}")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax2.plot(history)
    ax2.set_xlabel("Adam iteration")
    ax2.set_ylabel("mean late log-loss")
    ax2.grid(True, alpha=0.3)
    ja.io.save_figure(f"{args.out}/optimal_schedule.png", fig)
    ja.io.save_npz(f"{args.out}/optimal_schedule.npz", steps=rec, theta=np.asarray(theta),
                   history=np.asarray(history), **{k.split(" (")[0].replace(" ", "_"): v
                                                    for k, v in curves.items()})
    ja.io.save_json(f"{args.out}/optimal_schedule.json", {
        "nu": nu, "zeta": zeta, "N": N, "T": T, "batch_size": batch, "iters": iters,
        "theta": dict(zip(names, np.asarray(theta).tolist())),
        "table": [dict(schedule=n, final_loss=lf, slope=sl, diverged_at=d) for n, lf, sl, d in table],
    })
    print(f"wrote {args.out}/optimal_schedule.{{png,npz,json}}")


if __name__ == "__main__":
    main()
