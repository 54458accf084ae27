"""Schedule search under a budget (theory §15).

References: central finite differences of the objective (float64) for the gradient; the exact
budget identity; an independent ``simulate`` of the returned schedule for its loss; the AM1
schedule of ``ja.am1`` for the start; the best constant AM1-form point of a grid and AM1 for the
T = 1e4 acceptance run (slow).
"""

import numpy as np
import jax
import jax.numpy as jnp
import pytest

import jaxaccel as ja


def test_gradient_matches_finite_differences_and_budget_is_exact():
    s = ja.power_law_spectrum(100, nu=2.0, zeta=0.5)
    T, K, B = 80, 3, 800.0
    k = ja.schedule_knots(T, K)
    # margin 0.9: the penalty is active (U~ > 0.1 at some check steps), so the finite
    # differences test its gradient (through the running U_Sigma monitor) as well
    J = ja.schedule_objective(s, "am1_form", T, budget=B, knots=k, margin=0.9)
    p = ja.am1_knots(k)
    p["log_batch"] = jnp.array([0.3, -0.2, 0.1])
    (val, (logL, pen, umax)), g = jax.jit(jax.value_and_grad(J.with_parts, has_aux=True))(p)
    h = 1e-5
    names = sorted(p)
    # all 2 x (4 K) perturbed points in one vmapped, jitted evaluation
    pts = [{**p, n: p[n] + sgn * jnp.zeros(K).at[i].set(h)} for n in names for i in range(K)
           for sgn in (1.0, -1.0)]
    stacked = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *pts)
    vals = np.asarray(jax.jit(jax.vmap(J))(stacked)).reshape(len(names), K, 2)
    fd = (vals[..., 0] - vals[..., 1]) / (2 * h)
    ad = np.array([np.asarray(g[n]) for n in names])
    assert np.all(np.abs(fd) > 1e-6), fd          # every direction matters
    worst = float(np.max(np.abs(ad - fd) / np.abs(fd)))
    assert worst < 1e-6, worst
    # the budget holds exactly for any knot values, and the loss is the engine's
    alg, b = ja.schedule_from_knots(p, "am1_form", T, k, budget=B)
    assert abs(float(jnp.sum(b)) - B) <= 1e-12 * B
    r = ja.simulate(s, alg, T, batch_size=b, record=np.array([T]))
    assert abs(float(jnp.log(r.loss[-1])) - float(logL)) < 1e-12
    assert float(pen) > 1e-3 and abs(float(logL + pen) - float(val)) < 1e-12 and 0.1 < float(umax) < 1


@pytest.mark.slow
def test_optimize_schedule_improves_and_keeps_the_budget():
    s = ja.power_law_spectrum(100, nu=2.0, zeta=0.5)
    res = ja.optimize_schedule(s, "am1_form", 60, budget=600.0, knots=3, iters=4)
    assert abs(res.budget_used - 600.0) <= 1e-12 * 600.0
    assert res.history[-1] <= res.history[0] and res.U_max < 1
    r = ja.simulate(s, res.algorithm, 60, batch_size=res.batch_size, record=np.array([60]))
    assert abs(float(r.loss[-1]) - res.loss) <= 1e-12 * res.loss
    am1 = ja.simulate(s, ja.am1(0.5, 0.9, 1.0, 0.4, 0.5, 1.0, 60), 60, batch_size=10.0,
                      record=np.array([60]))
    assert np.isclose(np.exp(res.history[0]), float(am1.loss[-1]), rtol=1e-12)  # starts at AM1


@pytest.mark.parametrize("kw, name", [
    (dict(budget=-1.0), "budget"), (dict(), "budget or batch_size"),
    (dict(batch_size=10.0, margin=1.5), "margin"), (dict(batch_size=10.0, knots=1), "knots"),
    (dict(batch_size=10.0, iters=-1), "iters"), (dict(batch_size=10.0, lr=0.0), "lr"),
])
def test_bad_input_names_the_argument(kw, name):
    s = ja.power_law_spectrum(50, nu=2.0, zeta=0.5)
    with pytest.raises(ValueError, match=name):
        ja.optimize_schedule(s, "am1_form", 20, **kw)
    with pytest.raises(ValueError, match="family"):
        ja.optimize_schedule(s, "adam", 20, batch_size=10.0)


@pytest.mark.slow
def test_beats_best_constant_and_am1_at_T_1e4(tmp_path):
    """The acceptance run (~3 min on 2 loaded cores): nu = 2, zeta = 0.5, b = 10 (B = 10 T),
    continuum N = 1e5, through ``sims/schedule_search.py``."""
    import warnings

    from conftest import load_sim

    mod = load_sim("schedule_search")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        meta = mod.main(["--horizons", "10000", "--iters", "12", "--n-max", "1e5", "--n-head",
                         "1000", "--out", str(tmp_path)])
    (row,) = meta["rows"]
    assert abs(row["budget_used"] - row["budget"]) <= 1e-12 * row["budget"]
    assert row["optimised"] < row["best_constant"] and row["optimised"] < row["am1"]
