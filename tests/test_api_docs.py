"""Every public function documents itself: jaxtyping annotations on all arguments and the
result (resolvable by ``typing.get_type_hints``) and a doctest example (run by ``pytest``)."""

import importlib
import inspect
import pkgutil
import typing

def _modules():
    """Every public module of the package (private ``_x`` modules excluded)."""
    import jaxaccel

    names = ["jaxaccel"]
    for info in pkgutil.walk_packages(jaxaccel.__path__, "jaxaccel."):
        parts = info.name.split(".")
        # depth/ and stacking/ are checked through their package namespaces
        if any(p.startswith("_") for p in parts) or (parts[1] in ("depth", "stacking")
                                                     and len(parts) > 2):
            continue
        names.append(info.name)
    return names


MODULES = _modules()


def _public_objects():
    seen = {}
    for mname in MODULES:
        m = importlib.import_module(mname)
        names = getattr(m, "__all__", None) or [n for n in dir(m) if not n.startswith("_")]
        is_package = hasattr(m, "__path__")
        for n in names:
            obj = getattr(m, n, None)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if not getattr(obj, "__module__", "").startswith("jaxaccel"):
                continue
            if not is_package and obj.__module__ != mname:
                continue  # a module's own names; packages are checked for what they re-export
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
