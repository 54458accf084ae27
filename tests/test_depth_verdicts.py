"""E5's verdicts come from medians over seeds, never from one run (theory §C6.1, §A9.2)."""

import numpy as np
import pytest

import jaxaccel.depth as jd


def _t(hits, final=None):
    hits = np.asarray(hits, float)
    return jd.Tuned(0.1, 0, hits, np.full(hits.shape, 1e-3) if final is None else np.asarray(final), False)


def test_verdict_follows_the_median_not_the_best_or_a_single_seed():
    # a's best seed (5) beats every seed of b, and seed 0 of a beats seed 0 of b, yet its median
    # (40) is slower than b's (20): the verdict must be "a is not faster"
    a, b = _t([5, 40, 50, 45, 60]), _t([30, 20, 18, 22, 19])
    v = jd.median_verdict(a, b)
    assert not v.holds and v.a[0] == 45 and v.b[0] == 20 and v.by == "iterations"
    assert v.clear                           # IQR of b [19, 22] below a's [40, 50]
    assert jd.median_verdict(b, a).holds


def test_verdict_falls_back_to_final_loss_and_flags_overlap():
    inf = np.inf
    a = _t([inf, inf, inf], final=[1e-3, 2e-3, 5e-3])
    b = _t([inf, inf, 100], final=[3e-3, 1e-3, 4e-3])   # median never reached by either
    v = jd.median_verdict(a, b)
    assert v.by == "final loss" and v.holds and v.a[0] == 2e-3 and v.b[0] == 3e-3
    assert not v.clear                       # IQRs [1.5e-3, 3.5e-3] and [2e-3, 3.5e-3] overlap
    c = _t([inf, 10, 12, 11, 9])             # a median (11) that reaches the target wins
    a5 = _t([inf] * 5, final=[1e-3] * 5)
    assert jd.median_verdict(c, a5).holds and jd.median_verdict(c, a5).by == "iterations"


def test_tuned_uses_the_median_over_seeds_and_the_subgrid():
    steps = np.array([0, 10])
    # lr 0: seeds hit at 3, 50, 60 (median 50); lr 1: 20, 21, 22 (median 21); lr 2: 1, 99, 98
    hit = np.array([[[3], [50], [60]], [[20], [21], [22]], [[1], [99], [98]]])
    loss = np.full((3, 3, 2), 1e-4)
    run = jd.Run(steps, loss, np.zeros((3, 3), bool), -np.ones((3, 3), int), hit, None,
                 thresholds=np.array([1e-3]))
    t = jd.tuned(run, [0.1, 0.2, 0.4])
    assert t.index == 1 and t.lr == 0.2 and t.hits.tolist() == [20, 21, 22] and not t.at_edge
    sub = jd.tuned(run, [0.1, 0.2, 0.4], subset=[0, 2])
    assert sub.index == 0 and sub.at_edge
    fine, coarse = jd.nested_lr_grids(1e-4, 1.0, 5)
    assert fine.size == 9 and np.allclose(fine[coarse], jd.lr_grid(1e-4, 1.0, 5), rtol=1e-12)
    with pytest.raises(ValueError, match="num"):
        jd.nested_lr_grids(1e-3, 1e-1, 1)
