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


@pytest.mark.slow
def test_identity_factorised_convnet_equals_the_plain_one():
    k = jax.random.PRNGKey(3)
    imgs = jax.random.normal(jax.random.PRNGKey(5), (4, 8, 8))
    a = jd.init_convnet(k, channels=4, hidden=6)
    b = jd.init_convnet(k, channels=4, hidden=6, factorised=True, factor_init="identity")
    np.testing.assert_array_equal(jd.convnet_apply(a, imgs), jd.convnet_apply(b, imgs))


def test_parameter_counts_give_about_15_percent():
    k = jax.random.PRNGKey(0)
    plain, fac = (jd.convnet_size(jax.eval_shape(lambda: jd.init_convnet(k, factorised=f)))
                  for f in (False, True))
    assert plain == 9 * 32 + 32 + 512 * 80 + 80 + 80 * 10 + 10 == 42170
    assert fac - plain == 80 * 80 + 10 * 10 and round((fac - plain) / plain, 3) == 0.154


def _fd_check(f, params, pick, replace, rng, h=1e-5):
    """jax.grad of ``f`` against central differences on 12 random entries of each factor."""
    g = jax.grad(f)(params)
    for q, (F, gF) in enumerate(zip(pick(params), pick(g))):
        for flat in rng.choice(F.size, min(12, F.size), replace=False):
            idx = np.unravel_index(flat, F.shape)
            fd = (f(replace(params, q, F.at[idx].add(h))) - f(replace(params, q, F.at[idx].add(-h)))) / (2 * h)
            assert float(gF[idx]) == pytest.approx(float(fd), rel=1e-6, abs=1e-9), (q, idx)


def _swap(layer, q, F):
    fs = list(layer.factors)
    fs[q] = F
    return jd.Dense(tuple(fs), layer.bias)


def test_factorised_gradient_matches_finite_differences():
    """Gradient of cross-entropy + L2 through a factorised dense layer w.r.t. both factors, against
    central differences (float64, h = 1e-5: round-off ~ 1e-16 L / h ~ 1e-11; agreement to 1e-6
    relative or 1e-9 absolute)."""
    layer = jd.init_dense(jax.random.PRNGKey(1), 9, 4, factorised=True, std=0.5)
    x = jax.random.normal(jax.random.PRNGKey(2), (6, 9))
    labels = jnp.arange(6) % 4

    @jax.jit
    def f(lay):
        logits = jd.dense_apply(lay, jnp.tanh(x))
        ce = -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(6), labels])
        return ce + 5e-4 * sum(jnp.sum(F**2) for F in lay.factors)

    _fd_check(f, layer, lambda lay: lay.factors, _swap, np.random.default_rng(0))


@pytest.mark.slow
def test_convnet_gradient_matches_finite_differences():
    """The same check through the whole (small) convnet, both dense layers factorised."""
    params = jd.init_convnet(jax.random.PRNGKey(1), channels=2, hidden=3, factorised=True)
    imgs = jax.random.normal(jax.random.PRNGKey(2), (6, 8, 8))
    labels = jnp.arange(6) % 10
    f = jax.jit(lambda p: jd.convnet_loss(p, imgs, labels)[0])

    def pick(p):
        return p.fc1.factors + p.fc2.factors

    def replace(p, q, F):
        if q < 2:
            return p._replace(fc1=_swap(p.fc1, q, F))
        return p._replace(fc2=_swap(p.fc2, q - 2, F))

    _fd_check(f, params, pick, replace, np.random.default_rng(0))


def test_convnet_bad_input():
    k = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="factor_init"):
        jd.init_dense(k, 3, 2, factorised=True, factor_init="zeros")
    with pytest.raises(ValueError, match="inner"):
        jd.init_dense(k, 3, 2, factorised=True, inner=4, factor_init="identity")
    shapes = jax.eval_shape(lambda: jd.init_convnet(k))      # validation needs no real params
    with pytest.raises(ValueError, match="steps"):
        jd.train_convnet(shapes, k, 0)
    with pytest.raises(ValueError, match="dropout"):
        jd.train_convnet(shapes, k, 5, dropout=1.0)
