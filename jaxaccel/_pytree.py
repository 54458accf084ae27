"""One mechanism for the package's pytree classes: dataclasses whose fields are the leaves.

:func:`pytree_dataclass` turns a class with annotated fields into a dataclass registered with
JAX: fields are children unless declared with ``static_field()``, which makes them auxiliary
(static, hashed into the compiled program). JAX rebuilds instances without calling
``__init__``, so a class may validate its arguments in ``__init__`` (the public constructor)
while tracers, sentinels and transformed leaves pass through untouched, as with optax's
NamedTuple states and equinox modules.
"""

from __future__ import annotations

import dataclasses

import jax


def static_field(default=dataclasses.MISSING):
    """A dataclass field that is static pytree metadata (not a leaf)."""
    return dataclasses.field(default=default, metadata={"static": True})


def rebuild(cls, children, aux):
    """An instance from its leaves and metadata, bypassing ``__init__``."""
    obj = object.__new__(cls)
    for n, x in zip(cls._data_fields, children):
        object.__setattr__(obj, n, x)
    for n, x in zip(cls._meta_fields, aux):
        object.__setattr__(obj, n, x)
    return obj


def pytree_dataclass(cls):
    """Register ``cls`` (made a dataclass with a user-written ``__init__``) as a pytree."""
    cls = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)
    fields = dataclasses.fields(cls)
    cls._data_fields = tuple(f.name for f in fields if not f.metadata.get("static", False))
    cls._meta_fields = tuple(f.name for f in fields if f.metadata.get("static", False))

    def flatten(obj):
        children = tuple((jax.tree_util.GetAttrKey(n), getattr(obj, n)) for n in cls._data_fields)
        return children, tuple(getattr(obj, n) for n in cls._meta_fields)

    jax.tree_util.register_pytree_with_keys(
        cls, flatten, lambda aux, children: rebuild(cls, children, aux))
    return cls


def replace(obj, **changes):
    """A copy of a pytree dataclass with some fields replaced (no validation, as in JAX's own
    rebuilds)."""
    cls = type(obj)
    return rebuild(cls, [changes.get(n, getattr(obj, n)) for n in cls._data_fields],
                    [changes.get(n, getattr(obj, n)) for n in cls._meta_fields])
