"""``sims/sgd_memory/network.py`` (the network leg, theory §9) and ``sims/sgd_memory/se_error.py``
(theory §18.3): tiny runs (files written, structure, exact initial losses) by default; the
``--quick`` runs against the acceptance statements (slow).

References: the initial loss ``|Y|^2 / (2n) = 1/2`` of one-hot targets from ``f_0 = 0`` (exact);
the Jacobi HB divergence under mini-batch noise and the stability of AM1 (theory §8.3, §9.1).
"""

import importlib.util
import json
import os
import resource

import numpy as np
import pytest

SIMS = os.path.join(os.path.dirname(__file__), os.pardir, "sims", "sgd_memory")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"sim_{name}", os.path.join(SIMS, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def test_network_sim_tiny(tmp_path, capsys):
    pytest.importorskip("sklearn")
    sim = _load("network")
    out = tmp_path / "net"
    summary = sim.main(["--n", "100", "--width", "32", "--steps", "40", "--seeds", "1",
                        "--batches", "4", "--out", str(out)])
    for ext in ("npz", "json", "png"):
        assert (out / f"network.{ext}").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "Jacobi HB" in printed and "AM1 above the limit" in printed
    meta = json.loads((out / "network.json").read_text())
    assert len(meta["rows"]) == 5 and meta["theta_above"] > meta["theta_limit"] > 0
    arrays = np.load(out / "network.npz")
    assert arrays["net_loss"].shape == (1, 5, 1, arrays["steps"].size)
    np.testing.assert_allclose(arrays["net_loss"][:, :, :, 0], 0.5, rtol=1e-12)  # f_0 = 0
    np.testing.assert_allclose(arrays["se_loss"][:, :, 0], 0.5, rtol=1e-12)
    assert summary["seconds"] > 0


@pytest.mark.slow
def test_network_sim_quick_acceptance(tmp_path):
    """``--quick``: Jacobi HB diverges at the smallest batch (network and SE), its SE onset grows
    with the batch size, AM1 above its limit stays stable at every batch size; CPU time < 90 s
    (measured on the 2-core machine; the wall time is printed)."""
    sim = _load("network")
    c0 = _cpu()
    s = sim.main(["--quick", "--out", str(tmp_path)])
    cpu = _cpu() - c0
    print(f"network --quick: {cpu:.1f} s CPU, {s['seconds']:.1f} s wall")
    rows = {(r["optimizer"], r["batch"]): r for r in s["rows"]}
    b = s["config"]["batches"]
    jac = [rows[("Jacobi HB", x)] for x in b]
    assert jac[0]["diverged"] and jac[0]["se_diverged"]
    onsets = [r["se_diverged_at"] for r in jac if r["se_diverged"]]
    assert onsets == sorted(onsets) and len(onsets) >= 2
    assert all(s["am1_above_stable"]), s["am1_above_stable"]
    for x in b:
        assert not rows[("SGD", x)]["diverged"] and rows[("SGD", x)]["slope"] < -0.3
    assert cpu < 90.0, cpu


@pytest.mark.slow
def test_se_error_sim_tiny(tmp_path, capsys):
    pytest.importorskip("sklearn")
    sim = _load("se_error")
    out = tmp_path / "se"
    summary = sim.main(["--n", "40", "--d", "6", "--steps", "30", "--batches", "2",
                        "--out", str(out)])
    for ext in ("npz", "json", "png"):
        assert (out / f"se_error.{ext}").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "verdict" in printed and "tau1 bracket" in printed
    rows = {(r["dataset"], r["algorithm"]): r for r in summary["rows"]}
    assert set(d for d, _ in rows) == {"digits-ntk", "gaussian", "student-t"}
    for r in summary["rows"]:
        assert r["upper_holds"], r  # Proposition 2 on the data
        assert r["max_rel_error_fit"] <= max(r["max_rel_error_gauss"], r["max_rel_error_ti"]) + 1e-12


@pytest.mark.slow
def test_se_error_sim_quick(tmp_path):
    """``--quick``: the digits NTK are close to translation-invariant SE (< 5% error with
    tau = (1, 1)) and the Student-t data break both fixed pairs at b = 2 (> 10%)."""
    s = _load("se_error").main(["--quick", "--out", str(tmp_path)])
    rows = {(r["dataset"], r["algorithm"], r["batch"]): r for r in s["rows"]}
    assert rows[("digits-ntk", "SGD", 2)]["max_rel_error_ti"] < 0.05
    assert rows[("digits-ntk", "SGD", 2)]["max_rel_error_gauss"] > 0.0
    st = rows[("student-t", "Heavy Ball", 2)]
    assert min(st["max_rel_error_gauss"], st["max_rel_error_ti"]) > 0.1
    assert all(r["upper_holds"] for r in s["rows"])
