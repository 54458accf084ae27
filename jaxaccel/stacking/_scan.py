"""Post-processing shared by the stagewise kernels: divergence flagging (theory §C6.1)."""

from __future__ import annotations

import warnings

import jax.numpy as jnp

from jaxaccel import _validation as V


def flag_divergence(gaps, threshold):
    """Flag the first stage whose gap is non-finite or exceeds ``threshold * max(gap_0, tiny)``.

    Args:
        gaps: ``(T + 1,)`` suboptimality gaps, ``gaps[0]`` at the start.
        threshold: ``float`` relative divergence threshold.

    Returns:
        ``(gaps, diverged, diverged_at)`` where later gaps (and a non-finite one at the flagged
        stage) are set to ``+inf`` so that a diverged run never reports a silent NaN;
        ``diverged_at = -1`` when nothing was flagged.
    """
    g0 = jnp.maximum(gaps[0], jnp.finfo(gaps.dtype).tiny)
    bad = ~jnp.isfinite(gaps) | (gaps > threshold * g0)
    diverged = jnp.any(bad)
    at = jnp.where(diverged, jnp.argmax(bad), -1)
    idx = jnp.arange(gaps.shape[0])
    hide = (diverged & (idx > at)) | ~jnp.isfinite(gaps)
    return jnp.where(hide, jnp.inf, gaps), diverged, at


def warn_if_diverged(name: str, diverged, at, stacklevel: int = 3) -> None:
    if V.is_concrete(diverged) and jnp.ndim(diverged) == 0 and bool(diverged):
        warnings.warn(f"{name}: the run diverged at stage {int(at)}", RuntimeWarning,
                      stacklevel=stacklevel)
