"""``progress=True`` on long calls: the same numbers, one stderr line per part. The 10-second
prediction is patched to 0 here so that small problems report too."""

import importlib

import numpy as np
import pytest

import jaxaccel as ja

# (``jaxaccel.moments.simulate`` as an attribute is the function; the module is in sys.modules)
grid_mod, sim_mod, maps_mod = (importlib.import_module(f"jaxaccel.{m}") for m in
                               ("moments.grid", "moments.simulate", "theory.maps"))

S = ja.power_law_spectrum(300, nu=1.5, zeta=0.5)


@pytest.fixture
def always(monkeypatch):
    for mod in (grid_mod, sim_mod, maps_mod):
        monkeypatch.setattr(mod, "MIN_SECONDS", -1.0)


def test_simulate_progress(always, capsys):
    a = ja.simulate(S, ja.heavy_ball(0.4, 0.6), 500, 10.0, record="log", progress=True)
    b = ja.simulate(S, ja.heavy_ball(0.4, 0.6), 500, 10.0, record="log")
    np.testing.assert_array_equal(a.loss, b.loss)
    err = capsys.readouterr().err
    assert err.count("[jaxaccel] step") == 10 and "step 500/500" in err
    assert a.state is None


def test_grid_and_map_progress(always, capsys):
    grid = {"alpha": np.linspace(0.1, 1.0, 7), "beta": [0.0, 0.5, 0.9]}
    a = ja.simulate_grid(S, ja.heavy_ball, grid, 50, 10.0, memory_budget=1e6, progress=True)
    b = ja.simulate_grid(S, ja.heavy_ball, grid, 50, 10.0, memory_budget=1e6)
    np.testing.assert_array_equal(a.loss, b.loss)
    m1 = ja.stability_map(S, "heavy_ball", grid, 10.0, memory_budget=1e5, progress=True)
    m2 = ja.stability_map(S, "heavy_ball", grid, 10.0, memory_budget=1e5)
    for f in ("margin", "U", "C_L"):
        np.testing.assert_array_equal(getattr(m1, f), getattr(m2, f))
    err = capsys.readouterr().err
    assert "simulate_grid (configurations): 21/21 (100%)" in err
    assert "stability_map (grid points): 21/21 (100%)" in err


def test_no_progress_for_short_calls(capsys):
    ja.simulate(S, ja.heavy_ball(0.4, 0.6), 50, 10.0, progress=True)
    assert "[jaxaccel]" not in capsys.readouterr().err
