"""Quick runs of the depth simulations (sims/depth/*.py) with tiny sizes into a temporary dir."""

import importlib.util
import json
import os

import numpy as np
import pytest

SIMS = os.path.join(os.path.dirname(__file__), os.pardir, "sims", "depth")


def load_sim(name):
    spec = importlib.util.spec_from_file_location(f"depth_sim_{name}", os.path.join(SIMS, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def outputs(out, name):
    for ext in ("npz", "json", "png"):
        assert os.path.getsize(os.path.join(out, f"{name}.{ext}")) > 0
    with open(os.path.join(out, f"{name}.json")) as f:
        return json.load(f), np.load(os.path.join(out, f"{name}.npz"))


def test_emulation_sim(tmp_path, capsys):
    meta = load_sim("emulation").main(["--out", str(tmp_path), "--steps", "60", "--lrs", "0.04",
                                       "--depths", "3"])
    saved, arrays = outputs(tmp_path, "emulation")
    assert 1e-2 < saved["part1"]["gaps"][0] < 0.1  # spec check 1: about 4e-2 at eta = 0.04
    assert saved["part1"]["width_max_diff"] < 1e-12
    bal = saved["part2"]["l4_N3_balanced"]
    assert bal["rel_imbalance0"] < 1e-12 and saved["part2"]["l4_N3_gaussian"]["rel_imbalance0"] > 1
    assert np.all(np.isfinite(arrays["l4_N3_balanced_net_loss"]))
    assert "rel. gap" in capsys.readouterr().out and meta["runtime_s"] > 0


def test_lp_depth_sim(tmp_path, capsys):
    load_sim("lp_depth").main(["--out", str(tmp_path), "--data", "diabetes", "--steps2", "40",
                               "--steps4", "40", "--num-lrs", "3", "--seeds", "1", "--max-depth", "2"])
    saved, arrays = outputs(tmp_path, "lp_depth")
    res = saved["results"]["diabetes_l4"]
    assert res["L_star"] > 0 and [d["depth"] for d in res["depths"]] == [1, 2]
    assert arrays["diabetes_l2_loss"].shape[:3] == (2, 5, 1)  # (depth, lr: 2n-1, seed, recorded)
    assert not np.any(np.isnan(arrays["diabetes_l2_loss"]))
    assert "not available offline" in capsys.readouterr().out


def test_optimizers_sim(tmp_path):
    load_sim("optimizers").main(["--out", str(tmp_path), "--steps", "40", "--num-lrs", "3",
                                 "--num-examples", "60",
                                 "--seeds", "1", "--methods", "GD N=1", "Adam N=2"])
    saved, arrays = outputs(tmp_path, "optimizers")
    assert set(saved["results"]) == {"GD N=1", "Adam N=2"}
    assert arrays["Adam_N2_loss"].shape[:2] == (5, 1)
    assert all(np.isfinite(r["lr"]) for r in saved["results"].values())


def test_two_point_sim(tmp_path, capsys):
    """Smoke test: too few steps to reach 1e-6, so the tables must cope with 'never'."""
    load_sim("two_point").main(["--out", str(tmp_path), "--steps", "300", "--seeds", "2"])
    saved, arrays = outputs(tmp_path, "two_point")
    res = saved["results"]
    assert arrays["gd_hit_at"].shape == (40, 2) and arrays["rule_hit_at"].shape == (2, 50, 2)
    assert arrays["robust_s0.001_hit_at"].shape == (2, 50, 2, 2)  # (depth, lr, seed, threshold)
    assert res["N1"]["iterations"][1] is None or not np.isfinite(res["N1"]["iterations"][1])
    assert not res["reproduced_within_5pct"]
    assert "NOT reproduced" in capsys.readouterr().out


def test_two_point_reproduces_spec_table(tmp_path, capsys):
    """Acceptance (spec §A8, check 6): GD and the end-to-end rule N = 2, 3 reach loss < 1e-4 and
    < 1e-6 in the spec's numbers of iterations within 5% (the recovered protocol reproduces them
    exactly), and the catapult remark (eta = 0.021: loss 0.0017 at iteration 3) holds."""
    sim = load_sim("two_point")
    meta = sim.main(["--out", str(tmp_path), "--seeds", "2"])
    res = meta["results"]
    for key, N in (("N1", 1), ("N2", 2), ("N3", 3)):
        got = np.asarray(res[key]["iterations"], float)
        np.testing.assert_allclose(got, sim.SPEC[N], rtol=0.05, err_msg=key)
        assert np.all(np.abs(res[key]["rel_err"]) <= 0.05)
    assert res["reproduced_within_5pct"] and res["max_abs_rel_err"] <= 0.05
    assert res["catapult"]["loss"] == pytest.approx(0.0017, abs=5e-5)
    out = capsys.readouterr().out
    assert "REPRODUCED within 5%" in out and "rel.err" in out


@pytest.mark.slow
def test_lp_depth_quick_reproduces_the_qualitative_claims(tmp_path, capsys):
    """Acceptance: at each depth's best lr (median over seeds), depth 2-3 reach a lower l4 loss
    than depth 1 on all three datasets and depth does not help l2 on the ethanol-like and the
    diabetes data; where a verdict disagrees with the paper (synthetic l2, where depth 2 is
    faster with separate IQRs) the sim prints the numbers and the conditions."""
    meta = load_sim("lp_depth").main(["--out", str(tmp_path)])
    got = {(v["data"], v["claim"][:2]): v["holds"] for v in meta["verdicts"]}
    assert len(got) == 6
    assert all(got[(d, "l4")] for d in ("ethanol_like", "diabetes", "synthetic")), got
    assert got[("ethanol_like", "l2")] and got[("diabetes", "l2")], got
    out = capsys.readouterr().out
    if not got[("synthetic", "l2")]:
        assert "disagrees: N=2" in out and "Conditions: lr grid" in out


# ----------------------------------------------------------------------------- issue 22 sims
def test_warmup_sim(tmp_path, capsys):
    meta = load_sim("warmup").main(["--out", str(tmp_path), "--num-examples", "60", "--steps", "30",
                                    "--num-lrs", "2", "--seeds", "2"])
    saved, arrays = outputs(tmp_path, "warmup")
    assert {v["claim"] for v in saved["verdicts"]} == {
        "w1*omega2 beats GD on w", "w1*omega2 beats AdaGrad", "w1*omega2 beats AdaDelta"}
    assert arrays["s0.1_GD_on_w1xomega2_loss"].shape[0] == 2          # (seeds, recorded)
    assert saved["results"]["s0.1/GD on w1*omega2"]["rho_end_median"] > 0
    assert "adaptive step rho" in capsys.readouterr().out and meta["runtime_s"] > 0


def test_optimizers_sim_verdicts_are_medians(tmp_path):
    meta = load_sim("optimizers").main(["--out", str(tmp_path), "--num-examples", "60",
                                        "--steps", "30", "--num-lrs", "2", "--seeds", "3",
                                        "--methods", "GD N=3", "AdaGrad N=1"])
    saved, _ = outputs(tmp_path, "optimizers")
    (v,) = saved["verdicts"]
    r = saved["results"]
    key = "median_hits" if v["by"] == "iterations" else "median_final"
    assert v["a"][0] == pytest.approx(r["GD N=3"][key]) and v["b"][0] == pytest.approx(r["AdaGrad N=1"][key])
    assert v["measured"] == (v["a"][0] < v["b"][0]) and "grid_independent" in saved
    assert len(r["GD N=3"]["final"]) == 3 and meta["verdicts_coarse_grid"]


@pytest.mark.slow
def test_same_lr_sim(tmp_path):
    load_sim("same_lr").main(["--out", str(tmp_path), "--num-examples", "60", "--steps", "30",
                              "--seeds", "2", "--widths", "1", "3"])
    saved, arrays = outputs(tmp_path, "same_lr")
    assert len(saved["verdicts"]) == 4 and arrays["l4_N3_w3_loss"].shape[0] == 2
    assert set(saved["results"]) >= {"l2/N=1", "l4/N=3, width 3"}


@pytest.mark.slow
def test_deeper_sim(tmp_path):
    load_sim("deeper").main(["--out", str(tmp_path), "--num-examples", "60", "--steps", "30",
                             "--num-lrs", "2", "--seeds", "2", "--depths", "1", "4"])
    saved, arrays = outputs(tmp_path, "deeper")
    assert set(saved["results"]) == {"near-zero/N1", "near-zero/N4", "identity/N1", "identity/N4"}
    assert arrays["identity_N4_loss"].shape[0] == 1 and arrays["near-zero_N4_loss"].shape[0] == 2
    assert saved["claims"][0]["depth"] == 4


@pytest.mark.slow
def test_convnet_sim(tmp_path, capsys):
    meta = load_sim("convnet").main(["--out", str(tmp_path), "--steps", "100", "--seeds", "1"])
    saved, arrays = outputs(tmp_path, "convnet")
    assert arrays["plain_ce"].shape == (1, 100) and arrays["factorised_reg"].shape == (1, 100)
    assert saved["results"]["factorised"]["params"] - saved["results"]["plain"]["params"] == 6500
    assert "+15.4%" in capsys.readouterr().out and meta["runtime_s"] > 0
