"""Quick runs of the stacking simulations (sims/stacking/*.py) at tiny sizes.

Each sim's ``main()`` runs into ``tmp_path``; the test checks that the npz / json / png files
exist and that the measured numbers are sane against the theory of spec depth_stacking.md
Part B (the full-size numbers are the sims' job; exact references are in test_stacking.py).
"""

import importlib.util
import json
import os

import numpy as np
import pytest

import jaxaccel  # noqa: F401  (float64)

SIMS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sims", "stacking")


def load(name):
    spec = importlib.util.spec_from_file_location(f"stacking_sim_{name}", os.path.join(SIMS, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run(name, tmp_path, *argv):
    meta = load(name).main(["--out", str(tmp_path), *argv])
    for ext in ("npz", "json", "png"):
        assert os.path.getsize(tmp_path / f"{name}.{ext}") > 0
    with open(tmp_path / f"{name}.json") as f:
        saved = json.load(f)
    assert saved["table"] == meta["table"]
    np.load(tmp_path / f"{name}.npz")
    return saved


@pytest.mark.slow  # ~10 s of compilation on 2 cores
def test_additive_sim(tmp_path):
    m = run("additive", tmp_path, "--kappas", "100", "1000", "--dim", "4", "--stages", "12000")
    s = m["stages_to_1e-6"]
    assert all(0 < a < b for a, b in zip(s["stack"], s["zero"]))       # acceleration
    assert all(a < 0 or a > b for a, b in zip(s["copy"], s["zero"]))  # beta = 1 slower (-1: never)
    assert m["stack_vs_agd_max_rel_diff"] < 1e-5 and m["stacking_bound_holds"]
    # GD: exactly 1 - 1/kappa; AGD at beta*: double root 1 - 1/sqrt(kappa), whose polynomial
    # prefactor makes the finite-window fit sit slightly above it
    np.testing.assert_allclose(m["contraction"]["zero"], m["contraction_predicted"]["zero"], rtol=1e-3)
    c = np.log(m["contraction"]["stack"]) / np.log(m["contraction_predicted"]["stack"])
    assert np.all((c > 0.8) & (c < 1.05)), c
    assert abs(m["fitted_exponent"]["zero"] - 1) < 0.1 and abs(m["fitted_exponent"]["stack"] - 0.5) < 0.15


@pytest.mark.slow  # ~5 s on 2 cores
def test_beta_sweep_sim(tmp_path):
    m = run("beta_sweep", tmp_path, "--kappas", "100", "--betas", "30", "--dim", "4",
            "--stages", "3000")
    assert 0.6 < m["best_over_star_1mbeta"][0] < 1.6
    assert m["stages_best"][0] < m["stages_beta0"][0] < m["stages_beta1"][0]


@pytest.mark.slow  # ~6 s on 2 cores
def test_convex_rates_sim(tmp_path):
    m = run("convex_rates", tmp_path, "--dim", "200", "--stages", "2000")
    assert all(m["bounds_hold"].values())
    assert m["stack_vs_agd_max_rel_diff"] < 1e-8
    assert m["slopes"]["stack_t"][0] < -1.8 and m["slopes"]["zero"][0] > -1.2


@pytest.mark.slow  # ~14 s of compilation (eight kernels) on 2 cores
def test_residual_nets_sim(tmp_path):
    m = run("residual_nets", tmp_path, "--kappas", "100", "--deltas", "0.3", "--dim", "4",
            "--stages", "60")
    assert m["nesterov_vs_agd_max_abs_gap_diff"] < 1e-12
    r = m["gap_final_over_zero"]
    assert r["stack_func"][0][0] < 1e-2 and r["nesterov"][0][0] < 1e-2 and r["copy"][0][0] > 1e-2


def test_digits_mlp_sim(tmp_path):
    # the shapes of test_stacking.py's MLP test (3 blocks, width 8, 5 steps, 200/100 examples):
    # run in one session, the two share the compiled kernel
    m = run("digits_mlp", tmp_path, "--blocks", "3", "--width", "8", "--hidden", "8", "--steps", "5",
            "--seeds", "1", "--train-size", "200", "--test-size", "100", "--lr", "1e-2")
    assert len(m["arms"]) == 6
    for a, s in m["summary"].items():
        assert not any(s["diverged"]) and np.all(np.isfinite(s["train_loss"]))
        assert 0 <= s["test_accuracy"][0] <= 1
    assert m["summary"]["zero"]["loss_jump"][0] == 0.0     # zero init adds the zero function
