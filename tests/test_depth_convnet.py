"""Factorised dense layers and the digits convnet of E7 (theory §A9.2)."""

import numpy as np
import jax
import jax.numpy as jnp
import pytest

import jaxaccel.depth as jd


def test_factorised_layer_is_the_product_at_init():
    """The factorised layer computes x F_1 F_2 + b (the plain layer with matrix F_1 F_2); with an
    identity second factor it is exactly the plain layer drawn from the same key."""
    k = jax.random.PRNGKey(3)
    x = jax.random.normal(jax.random.PRNGKey(4), (5, 12))
    fac = jd.init_dense(k, 12, 7, factorised=True)
    assert [F.shape for F in fac.factors] == [(12, 7), (7, 7)]
    plain = jd.Dense((jd.dense_matrix(fac),), fac.bias)
    np.testing.assert_allclose(jd.dense_apply(fac, x), jd.dense_apply(plain, x), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(jd.dense_apply(fac, x), x @ fac.factors[0] @ fac.factors[1] + 0.1,
                               rtol=1e-13, atol=1e-15)
    ident = jd.init_dense(k, 12, 7, factorised=True, factor_init="identity")
    np.testing.assert_array_equal(jd.dense_apply(ident, x), jd.dense_apply(jd.init_dense(k, 12, 7), x))
    imgs = jax.random.normal(jax.random.PRNGKey(5), (4, 8, 8))
    a = jd.init_convnet(k, channels=4, hidden=6)
    b = jd.init_convnet(k, channels=4, hidden=6, factorised=True, factor_init="identity")
    np.testing.assert_array_equal(jd.convnet_apply(a, imgs), jd.convnet_apply(b, imgs))


def test_parameter_counts_give_about_15_percent():
    k = jax.random.PRNGKey(0)
    plain, fac = jd.convnet_size(jd.init_convnet(k)), jd.convnet_size(jd.init_convnet(k, factorised=True))
    assert plain == 9 * 32 + 32 + 512 * 80 + 80 + 80 * 10 + 10 == 42170
    assert fac - plain == 80 * 80 + 10 * 10 and round((fac - plain) / plain, 3) == 0.154


def test_factorised_gradient_matches_finite_differences():
    """jax.grad of the regularised loss w.r.t. every factor entry against central differences
    (float64, h = 1e-5: round-off ~ 1e-16 L / h ~ 1e-11; agreement to 1e-6 relative or 1e-9
    absolute), on 12 random entries of each factor."""
    params = jd.init_convnet(jax.random.PRNGKey(1), channels=2, hidden=3, factorised=True)
    imgs = jax.random.normal(jax.random.PRNGKey(2), (6, 8, 8))
    labels = jnp.arange(6) % 10

    @jax.jit
    def f(p):
        return jd.convnet_loss(p, imgs, labels)[0]

    rng = np.random.default_rng(0)

    g = jax.grad(f)(params)
    h = 1e-5
    for layer, glayer in ((params.fc1, g.fc1), (params.fc2, g.fc2)):
        for q, (F, gF) in enumerate(zip(layer.factors, glayer.factors)):
            for flat in rng.choice(F.size, 12, replace=False):
                idx = np.unravel_index(flat, F.shape)
                def shifted(d):
                    fs = list(layer.factors)
                    fs[q] = F.at[idx].add(d)
                    new = jd.Dense(tuple(fs), layer.bias)
                    return f(params._replace(fc1=new) if layer is params.fc1 else params._replace(fc2=new))
                fd = (shifted(h) - shifted(-h)) / (2 * h)
                assert float(gF[idx]) == pytest.approx(float(fd), rel=1e-6, abs=1e-9), (q, idx)


def test_convnet_bad_input():
    k = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="factor_init"):
        jd.init_dense(k, 3, 2, factorised=True, factor_init="zeros")
    with pytest.raises(ValueError, match="inner"):
        jd.init_dense(k, 3, 2, factorised=True, inner=4, factor_init="identity")
    with pytest.raises(ValueError, match="steps"):
        jd.train_convnet(jd.init_convnet(k), k, 0)
    with pytest.raises(ValueError, match="dropout"):
        jd.train_convnet(jd.init_convnet(k), k, 5, dropout=1.0)
