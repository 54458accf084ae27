"""Every public function documents itself: jaxtyping annotations on all arguments and the
result (resolvable by ``typing.get_type_hints``) and a doctest example (run by ``pytest``)."""

import importlib
import inspect
import typing

MODULES = [
    "jaxaccel", "jaxaccel.depth", "jaxaccel.stacking", "jaxaccel.optim", "jaxaccel.montecarlo",
    "jaxaccel.plotting", "jaxaccel.io", "jaxaccel.cli", "jaxaccel.data", "jaxaccel.grid",
    "jaxaccel.parallel", "jaxaccel.runner", "jaxaccel.continuum", "jaxaccel.schedules",
    "jaxaccel.propagators", "jaxaccel.stability", "jaxaccel.asymptotics",
    "jaxaccel.memory1_theory", "jaxaccel.spectra", "jaxaccel.algorithms", "jaxaccel.moments",
]


def _public_objects():
    seen = {}
    for mname in MODULES:
        m = importlib.import_module(mname)
        names = getattr(m, "__all__", None) or [n for n in dir(m) if not n.startswith("_")]
        for n in names:
            obj = getattr(m, n, None)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if not getattr(obj, "__module__", "").startswith("jaxaccel"):
                continue
            seen[(obj.__module__, obj.__qualname__)] = obj
    return seen


def test_every_public_function_is_annotated_and_has_an_example():
    objs = _public_objects()
    assert len(objs) > 200
    problems = []
    for (mod, name), obj in sorted(objs.items()):
        doc = inspect.getdoc(obj) or ""
        if not doc:
            problems.append(f"{mod}.{name}: no docstring")
        if not inspect.isfunction(obj):
            continue  # classes (NamedTuple results) document their fields
        if ">>>" not in doc:
            problems.append(f"{mod}.{name}: no doctest example")
        hints = typing.get_type_hints(obj)
        missing = [p for p in inspect.signature(obj).parameters if p not in hints]
        if missing or "return" not in hints:
            problems.append(f"{mod}.{name}: unannotated {missing + (['return'] if 'return' not in hints else [])}")
    assert not problems, "\n".join(problems)
