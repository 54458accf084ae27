"""Quick runs of the SGD-with-memory reproduction sims (spec sgd_memory.md §7-§9) at tiny sizes.

Each sim's ``main`` runs into ``tmp_path``; the test checks the three output files and that the
numbers it reports are sane against the spec's predictions (loose tolerances: the horizons are
tiny; the acceptance-level numbers are checked in tests/test_schedules.py and printed by the
sims themselves).
"""

import importlib.util
import json
import os
import warnings

import numpy as np
import pytest

SIMS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sims",
                    "sgd_memory")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"sim_{name}", os.path.join(SIMS, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _files(out, name):
    for ext in ("npz", "json", "png"):
        path = os.path.join(out, f"{name}.{ext}")
        assert os.path.isfile(path) and os.path.getsize(path) > 0, path
    with open(os.path.join(out, f"{name}.json")) as f:
        return json.load(f), np.load(os.path.join(out, f"{name}.npz"))


def test_jacobi_vs_am1_quick(tmp_path, capsys):
    sim = _load("jacobi_vs_am1")
    out = str(tmp_path / "jva")
    summary = sim.main(["--steps", "2000", "--n-max", "1e5", "--batches", "10", "100",
                        "--out", out])
    meta, data = _files(out, "jacobi_vs_am1")
    assert meta["checks"] == summary["checks"]
    assert all(summary["checks"].values()), summary["checks"]
    rows = {r["run"].split(",")[0] + ("" if r["batch"] is None else f" {r['batch']}"): r
            for r in summary["table"]}
    assert abs(rows["Jacobi HB"]["slope"] + 1.0) < 0.05  # full batch: -2 zeta
    for b in (10, 100):
        r = rows[f"Jacobi HB {b}"]
        assert r["diverged"] and r["onset_error"] <= 0.2 and r["diverged_at"] > r["onset_predicted"]
    assert rows["Jacobi HB 100"]["onset_predicted"] > 5 * rows["Jacobi HB 10"]["onset_predicted"]
    assert data["jacobi_noisy"].shape == (2, data["steps"].size)
    assert "predicted" in capsys.readouterr().out


def test_am1_exponents_quick(tmp_path, capsys):
    sim = _load("am1_exponents")
    out = str(tmp_path / "am1")
    summary = sim.main(["--steps", "2000", "--n-max", "1e5", "--thetas", "0.2", "1.0",
                        "--out", out])
    meta, data = _files(out, "am1_exponents")
    inside, above = summary["table"]
    assert inside["allowed"] and not inside["flagged"] and not inside["diverged"]
    assert len(inside["slopes"]) == 3 and abs(inside["slopes"][-1] - inside["predicted"]) < 0.05
    assert abs(inside["slopes_249"][-1] - inside["predicted"]) < 0.01  # adiabatic sum = (27)
    assert 0 < inside["applied_over_cumulative"] < 1
    assert above["flagged"] and not above["allowed"] and above["diverged"]
    assert above["onset_predicted"] is not None and above["diverged_at"] > above["onset_predicted"]
    assert data["loss"].shape == (2, data["steps"].size)
    printed = capsys.readouterr().out
    assert "Why the finite-horizon slope is steeper" in printed


def test_phase_diagram_quick(tmp_path, capsys):
    sim = _load("phase_diagram")
    out = str(tmp_path / "pd")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        summary = sim.main(["--steps", "2000", "--n-max", "1e5", "--nu", "1.5", "3",
                            "--zeta", "0.5", "3", "--out", out])
    meta, data = _files(out, "phase_diagram")
    phases = {(r["algorithm"], r["zeta"]): r for r in summary["table"]}
    assert phases[("SGD", 0.5)]["phase"] == "signal" and phases[("SGD", 3.0)]["phase"] == "noise"
    for r in summary["table"]:
        assert not r["diverged"]
        assert abs(r["slope"] - r["predicted"]) < 0.05, r
        assert r["loss_T_over_prediction"] == pytest.approx(1.0, abs=0.1), r
    assert data["slope_SGD"].shape == (2, 2)
    assert "predicted" in capsys.readouterr().out
