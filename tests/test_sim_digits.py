"""``sims/sgd_memory/digits.py``: a tiny run (files written, numbers sane) and, slow, the
default ``--quick`` run against the acceptance criteria.

References: the initial loss ``|Y|^2 / (2n) = 1/2`` of one-hot targets from ``f_0 = 0`` (exact);
the SE prediction on the NTK spectrum for the linearised model's Monte Carlo (statistical,
loose bound for 8 seeds and real data); monotone training for small learning rates.
"""

import importlib.util
import json
import os
import time

import numpy as np
import pytest

SIM = os.path.join(os.path.dirname(__file__), os.pardir, "sims", "sgd_memory", "digits.py")


def _load_sim():
    spec = importlib.util.spec_from_file_location("sim_digits", SIM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_digits_sim_quick_tiny(tmp_path, capsys):
    sim = _load_sim()
    out = tmp_path / "digits"
    summary = sim.main(["--n", "120", "--width", "40", "--steps", "40", "--seeds", "1",
                        "--mc-seeds", "8", "--batch", "8", "--out", str(out)])
    for name in ("digits.npz", "digits.json", "digits.png"):
        assert (out / name).stat().st_size > 0, name
    printed = capsys.readouterr().out
    assert "nu =" in printed and "zeta =" in printed and "AM1" in printed

    meta = json.loads((out / "digits.json").read_text())
    assert 1.0 < meta["nu"] < 3.0 and 0.0 < meta["zeta"] < 2.0
    assert abs(meta["L0"] - 0.5) < 1e-12
    assert set(meta["network"]) == {"SGD", "Heavy Ball", "AM1"}
    for name, row in meta["network"].items():
        assert not row["diverged"], name
        assert 0.0 < row["final_loss"] < 0.5, (name, row)  # trained below L_0 = 1/2
        assert -3.0 < row["slope"] < 0.0 and -3.0 < row["se_slope"] < 0.0, (name, row)
    for name, row in meta["linearised"].items():
        # real data are only approximately SE; 8 seeds of 40 steps: within 25%
        assert row["max_rel_dev_ti"] < 0.25, (name, row)

    arrays = np.load(out / "digits.npz")
    steps = arrays["steps"]
    assert steps[0] == 0 and steps[-1] == 40
    assert arrays["net_loss"].shape == (3, 1, steps.size)
    np.testing.assert_allclose(arrays["net_loss"][:, :, 0], 0.5, rtol=1e-12)  # f_0 = 0
    np.testing.assert_allclose(arrays["mc_loss"][:, 0], 0.5, rtol=1e-12)
    np.testing.assert_allclose(arrays["se_ti"][:, 0], 0.5, rtol=1e-12)
    assert np.all(np.diff(arrays["se_ti"], axis=1) < 0)  # SE loss decreases at every record
    assert summary["theta"] == meta["theta"] > 0


@pytest.mark.slow
def test_digits_sim_quick_mode_acceptance(tmp_path):
    """The default ``--quick`` run: CPU time under 2 minutes; nu, zeta and the three optimizers'
    final losses and slopes reported; AM1 accelerates over Heavy Ball over SGD, in the network
    and in the linearised model, whose Monte Carlo follows SE (tau = (1, 1)) within 5%."""
    sim = _load_sim()
    start = time.process_time()
    summary = sim.main(["--quick", "--out", str(tmp_path)])
    cpu = time.process_time() - start
    print(f"digits --quick: {cpu:.1f} s CPU; nu = {summary['nu']:.3f}, "
          f"zeta = {summary['zeta']:.3f}")
    assert cpu < 120.0, cpu
    assert 1.2 < summary["nu"] < 2.0 and 0.3 < summary["zeta"] < 0.8
    net, lin = summary["network"], summary["linearised"]
    for table in (net, lin):
        assert not any(row["diverged"] for row in table.values())
    assert net["AM1"]["final_loss"] < net["Heavy Ball"]["final_loss"] < net["SGD"]["final_loss"]
    assert lin["AM1"]["final_mc"] < lin["Heavy Ball"]["final_mc"] < lin["SGD"]["final_mc"]
    assert net["AM1"]["slope"] < net["SGD"]["slope"] < 0
    for name, row in lin.items():
        assert row["max_rel_dev_ti"] < 0.05, (name, row)
