"""Deprecated module paths of the flat layout (before the subpackages), kept as thin proxies.

``jaxaccel.stability``, ``jaxaccel.schedules``, ``jaxaccel.montecarlo``, ... used to be modules;
their names now live in focused modules of the subpackages and are all re-exported by
``jaxaccel``. Each old path is a proxy module that resolves an attribute in the public namespace
(or, for the few names that were renamed, under its new name) and warns ``DeprecationWarning``.
"""

from __future__ import annotations

import importlib
import sys
import types
import warnings

#: old module -> (modules searched after the top-level namespace, {old name: new dotted path})
MOVED = {
    "asymptotics": ("jaxaccel.theory.asymptotics", {}),
    "memory1_theory": ("jaxaccel.theory.memory1", {"_shifted_roots": "theory.memory1.shifted_roots"}),
    "stability": ("jaxaccel.theory.maps", {"LossPrediction": "theory.asymptotics.LossAsymptotics"}),
    "schedules": ("jaxaccel.algorithms.schedules", {}),
    "grid": ("jaxaccel.moments.grid", {}),
    "parallel": ("jaxaccel.moments.sharded", {}),
    "runner": ("jaxaccel.moments.long", {}),
    "continuum": ("jaxaccel.moments.convergence", {}),
    "montecarlo": ("jaxaccel.reference.data", {}),
    "data": ("jaxaccel.reference.digits", {"mlp_init": "reference.digits.ntk_mlp_init",
                                           "mlp_apply": "reference.digits.ntk_mlp_apply"}),
}


def _resolve(path: str):
    module, _, name = ("jaxaccel." + path).rpartition(".")
    return getattr(importlib.import_module(module), name)


class _Moved(types.ModuleType):
    def __init__(self, old: str):
        super().__init__(f"jaxaccel.{old}", f"Deprecated: the names of jaxaccel.{old} are in jaxaccel.")
        self._old = old

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        extra, renamed = MOVED[self._old]
        warnings.warn(f"jaxaccel.{self._old} is deprecated: use jaxaccel.{name} (or its new module)",
                      DeprecationWarning, stacklevel=2)
        if name in renamed:
            return _resolve(renamed[name])
        top = sys.modules["jaxaccel"]
        if name in vars(top):
            return vars(top)[name]
        mod = importlib.import_module(extra)
        if hasattr(mod, name):
            return getattr(mod, name)
        raise AttributeError(f"module 'jaxaccel.{self._old}' has no attribute {name!r}")


def install() -> dict:
    """Register the proxies in ``sys.modules``; returns ``{old name: proxy}``."""
    out = {}
    for old in MOVED:
        proxy = sys.modules.setdefault(f"jaxaccel.{old}", _Moved(old))
        out[old] = proxy
    return out
