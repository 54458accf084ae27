"""Figures: geometric axes are drawn on a log scale whatever their range (the README's
``alpha_eff:0.5:50:60:log`` spans exactly 100x), and the stability boundaries have a legend."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

import jaxaccel as ja  # noqa: E402
from jaxaccel import plotting  # noqa: E402


def test_log_axis_follows_the_spacing_and_boundaries_have_a_legend():
    s = ja.power_law_spectrum(200, nu=2.0, zeta=0.5)
    grid = {"alpha": np.geomspace(0.5, 50, 12), "beta": np.linspace(0.0, 0.95, 10)}
    m = ja.stability_map(s, "heavy_ball", grid, batch_size=10.0)
    ax, _, _ = plotting.plot_map(m, "margin")
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("strict" in t for t in labels)
    lin = {"alpha": np.linspace(1.0, 200.0, 12), "beta": np.linspace(0.0, 0.9, 4)}
    ax2, _, _ = plotting.plot_map(ja.stability_map(s, "heavy_ball", lin, batch_size=10.0),
                                  "margin", boundaries=False)
    assert ax2.get_xscale() == "linear"
    import matplotlib.pyplot as plt

    plt.close("all")
