"""The SE noise model as one object, the one loss prediction and phase rule, the pytree
mechanism and the deprecated names of the layout step.

References: the ``(batch_size, tau)`` pair of the same functions (the NoiseModel must give
identical numbers, bit for bit); the phase rule written out (``zeta`` vs ``2 - 1/nu``).
"""

import warnings

import numpy as np
import jax
import jax.numpy as jnp
import pytest

import jaxaccel as ja
from jaxaccel import plotting, stacking

S = ja.power_law_spectrum(200, nu=1.5, zeta=0.5)
HB = ja.heavy_ball(0.4, 0.6)
NM = ja.NoiseModel(8.0, 1.0, 0.5)
PAIR = dict(batch_size=8.0, tau=(1.0, 0.5))


def _same(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("call", [
    lambda nz: ja.simulate(S, HB, 60, record="log", **nz),
    lambda nz: ja.simulate(S, HB, 60, kernel="xla", **nz),
    lambda nz: ja.propagator_sums(S, HB, **nz),
    lambda nz: ja.heavy_ball_sums(S, 0.4, 0.6, **nz),
    lambda nz: ja.strict_stability(S, HB, **nz),
    lambda nz: ja.noisy_stability(S, HB, **nz),
    lambda nz: ja.predict_loss(S, HB, **nz),
    lambda nz: ja.propagator_radius(HB, 0.3, **nz),
    lambda nz: ja.loss_curve(S, HB, 40, record=[10, 40], **nz),
    lambda nz: ja.propagator_sequences(S, HB, 20, **nz),
    lambda nz: ja.renewal_nonstationary(S, HB, 20, **nz),
    lambda nz: ja.running_noise_sum(S, ja.heavy_ball(np.full(5, 0.4), 0.6), **nz),
    lambda nz: ja.simulate_grid(S, ja.heavy_ball, {"alpha": [0.2, 0.4], "beta": [0.5]}, 30, **nz),
    lambda nz: ja.stability_map(S, "heavy_ball", {"alpha": [0.2, 0.4], "beta": [0.5]}, **nz)[3:],
])
def test_noise_model_equals_the_pair(call):
    """A NoiseModel given as ``batch_size`` is the pair ``(batch_size, tau)``, exactly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _same(call({"batch_size": NM}), call(PAIR))


def test_noise_model_schedule_and_full_batch():
    b = np.linspace(4.0, 16.0, 30)
    _same(ja.simulate(S, HB, 30, ja.NoiseModel(b, 1.0, 1.0)),
          ja.simulate(S, HB, 30, b, (1.0, 1.0)))
    _same(ja.simulate(S, HB, 30, ja.NoiseModel(None)), ja.simulate(S, HB, 30, None))
    assert ja.NoiseModel(None).is_full_batch and ja.NoiseModel(b).is_schedule
    res = ja.run_long(S, HB, 30, ja.NoiseModel(b, 1.0, 1.0), chunk_steps=7, record="all")
    np.testing.assert_allclose(res.loss, ja.simulate(S, HB, 30, b, (1.0, 1.0)).loss, rtol=1e-13)


def test_noise_model_bad_input_names_the_argument():
    for args, name in [((-1.0,), "batch_size"), ((np.nan,), "batch_size"),
                       ((np.ones((2, 2)),), "batch_size"), ((4.0, np.inf), "tau1"),
                       ((4.0, 1.0, [1.0, 2.0]), "tau2"), (("b",), "batch_size")]:
        with pytest.raises(ValueError, match=name):
            ja.NoiseModel(*args)
    with pytest.raises(ValueError, match="tau must be left out"):
        ja.simulate(S, HB, 10, NM, (1.0, 1.0))
    with pytest.raises(ValueError, match="scalar"):
        ja.propagator_sums(S, HB, ja.NoiseModel(np.full(10, 4.0)))
    with pytest.raises(ValueError, match="batch_size must be a positive number"):
        ja.noisy_stability(S, HB, ja.NoiseModel(None))
    with pytest.raises(ValueError, match="need >= steps"):
        ja.simulate(S, HB, 10, ja.NoiseModel(np.full(5, 4.0)))


def test_noise_model_is_a_pytree_and_vmaps():
    leaves, tree = jax.tree_util.tree_flatten(NM)
    assert len(leaves) == 4  # batch_size, tau1, tau2, sigma2 (label noise)
    back = jax.tree_util.tree_unflatten(tree, leaves)
    assert float(back.batch_size) == 8.0 and float(back.tau2) == 0.5 and float(back.sigma2) == 0
    f = jax.vmap(lambda b: ja.simulate(S, HB, 20, ja.NoiseModel(b, 1.0, 0.5)).loss[-1])
    np.testing.assert_allclose(f(jnp.array([8.0, 16.0])),
                               [ja.simulate(S, HB, 20, b, (1.0, 0.5)).loss[-1] for b in (8.0, 16.0)],
                               rtol=1e-13)


# ------------------------------------------------------------------ one loss prediction
def test_predicted_loss_is_a_deprecated_alias_of_predict_loss():
    with pytest.warns(DeprecationWarning, match="predict_loss"):
        old = ja.predicted_loss(S, HB, 10.0)
    new = ja.predict_loss(S, HB, 10.0)
    assert old.phase == new.phase == "signal"
    assert old.exponent == new.exponent == -0.5  # one sign: negative, as fit_power_law
    np.testing.assert_array_equal(old.constant, new.constant)
    with pytest.warns(DeprecationWarning, match="LossAsymptotics"):
        assert ja.LossPrediction is ja.LossAsymptotics


def test_prediction_sign_matches_a_fit_of_the_simulated_curve():
    s = ja.power_law_continuum(2.0, 0.5, n_max=1e7)
    p = ja.predict_loss(s, HB, 10.0)
    r = ja.simulate(s, HB, 20_000, batch_size=10.0, record=("log", 60))
    fit = ja.fit_power_law(r.steps, r.loss, (5_000, 20_000))
    assert np.sign(fit.exponent) == np.sign(p.exponent) == -1
    assert abs(fit.exponent - p.exponent) < 0.03
    # and the constant of the map is the constant of predict_loss
    m = ja.stability_map(s, "heavy_ball", {"alpha": [0.4], "beta": [0.6]}, batch_size=10.0)
    np.testing.assert_allclose(float(m.C_L[0, 0]), float(p.constant), rtol=1e-12)
    assert m.loss_exponent == -p.exponent


# ------------------------------------------------------------------ the phase boundary
def test_phase_boundary_is_decided_in_one_place():
    """zeta = 2 - 1/nu (nu = 2: zeta = 1.5) is "boundary" everywhere, within 1e-12 relative;
    just off the line the side is decided by the sign of zeta - (2 - 1/nu)."""
    assert ja.loss_phase(2.0, 1.5) == "boundary"
    assert ja.loss_phase(2.0, 1.5 * (1 + 1e-13)) == "boundary"
    assert ja.loss_phase(2.0, 1.5 * (1 - 1e-9)) == "signal"
    assert ja.loss_phase(2.0, 1.5 * (1 + 1e-9)) == "noise"
    pd = ja.phase_diagram([2.0], [1.0, 1.5, 2.0])
    assert [ja.PHASES[k] for k in pd.phase[:, 0]] == ["signal", "boundary", "noise"]
    np.testing.assert_allclose(pd.sgd_exponent[:, 0], [1.0, 1.5, 1.5])
    assert np.isnan(pd.am1_exponent[1:, 0]).all()
    s = ja.power_law_spectrum(300, nu=2.0, zeta=1.5)
    p = ja.predict_loss(s, HB, 10.0)
    assert p.phase == "boundary" and p.exponent == -1.5 and np.isnan(float(p.constant))
    m = ja.stability_map(s, "heavy_ball", {"alpha": [0.4], "beta": [0.6]}, batch_size=10.0)
    assert m.phase == "boundary" and m.loss_exponent == 1.5 and np.isnan(float(m.C_L[0, 0]))
    for bad in (0.0, -1.0, np.nan, "2"):
        with pytest.raises(ValueError, match="nu"):
            ja.loss_phase(bad, 1.0)


# ------------------------------------------------------------------ pytrees
def test_one_pytree_mechanism_with_static_fields():
    """Spectrum, MemoryAlgorithm, NoiseModel and the data models flatten to their array fields;
    static fields (power-law metadata, zero-shift flag, sampling mode) travel as metadata, and
    rebuilding never re-validates (so JAX may put tracers or sentinels in the leaves)."""
    cases = [(S, 3, S.power_law), (HB, 5, True), (ja.gaussian_data(S.eigenvalues), 1, None),
             (ja.finite_data(np.random.default_rng(0).normal(size=(8, 3))), 3, True)]
    for obj, n_leaves, meta in cases:
        leaves, tree = jax.tree_util.tree_flatten(obj)
        assert len(leaves) == n_leaves, type(obj)
        back = jax.tree_util.tree_unflatten(tree, [object()] * n_leaves)  # no validation
        assert type(back) is type(obj)
        if meta is not None:
            assert meta in jax.tree_util.tree_structure(obj).node_data()[1]
    doubled = jax.tree_util.tree_map(lambda x: 2 * x, S)
    assert doubled.power_law == S.power_law and float(doubled.eigenvalues[0]) == 2.0
    assert jax.jit(lambda a: a.alpha * 2)(HB) == 0.8


# ------------------------------------------------------------------ deprecated names
def test_renamed_names_warn_and_resolve(tmp_path):
    with pytest.warns(DeprecationWarning, match="propagator_sequences"):
        assert ja.propagators.propagators is ja.propagator_sequences
    with pytest.warns(DeprecationWarning, match="digits_split"):
        assert stacking.load_digits_data is stacking.digits_split
    with pytest.warns(DeprecationWarning, match="block_init"):
        assert stacking.mlp_init is stacking.block_init
    import matplotlib

    matplotlib.use("Agg")
    fig, _ = plotting.new_figure(size=(1.0, 1.0))
    with pytest.warns(DeprecationWarning, match="save_figure"):
        plotting.save(fig, str(tmp_path / "x.png"), dpi=20)


def test_depth_divergence_factor_is_the_old_name_of_divergence_threshold():
    from jaxaccel import depth

    prob = depth.two_point_problem(4)
    layers = depth.init_balanced(jax.random.PRNGKey(0), [2, 2, 1], 0.1)
    a = depth.train_network(layers, prob, 0.01, 20, divergence_threshold=1e3)
    with pytest.warns(DeprecationWarning, match="divergence_threshold"):
        b = depth.train_network(layers, prob, 0.01, 20, divergence_factor=1e3)
    np.testing.assert_array_equal(a.loss, b.loss)
    with pytest.raises(ValueError, match="divergence_threshold"):
        depth.train_network(layers, prob, 0.01, 20, divergence_threshold=0.5)
