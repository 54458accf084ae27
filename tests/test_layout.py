"""The package layout: floors, no hidden imports, no private names across packages, and every
``§`` citation resolving to a heading of ``docs/theory/``.

These read the source (AST and text); they are the guard rails of the layout described in the
README ("What is where").
"""

import ast
import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PKG = ROOT / "jaxaccel"

#: each module may import only from its own floor or below (top-level name -> floor)
FLOORS = {
    "_config": 0, "_typing": 0, "_validation": 0, "_pytree": 0, "noise": 0, "record": 0,
    "fitting": 0, "io": 0,
    "spectra": 1,
    "algorithms": 2,
    "moments": 3,
    "propagators": 4,
    "theory": 5,
    "reference": 6,
    "plotting": 7, "cli": 7, "depth": 7, "stacking": 7, "_legacy": 8, "__init__": 8,
}


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        yield ".".join(rel.parts), path


def _top(modname):
    parts = modname.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(tree):
    """``(node, imported module, names, inside a function)`` for every import."""
    out = []

    def visit(node, in_func):
        for child in ast.iter_child_nodes(node):
            f = in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for a in child.names:
                    out.append((child, a.name, [], f))
            elif isinstance(child, ast.ImportFrom) and child.module:
                out.append((child, child.module, [a.name for a in child.names], f))
            visit(child, f)

    visit(tree, False)
    return out


def test_floors_and_no_function_level_imports_of_the_package():
    problems = []
    for modname, path in _modules():
        tree = ast.parse(path.read_text())
        me = _top(modname)
        for node, target, names, in_func in _imports(tree):
            if target != "jaxaccel" and not target.startswith("jaxaccel."):
                continue
            if in_func:
                problems.append(f"{modname}:{node.lineno} imports {target} inside a function")
            if target == "jaxaccel":
                deps = names
            else:
                deps = [target.split(".")[1]]
            for dep in deps:
                if dep in FLOORS and FLOORS[dep] > FLOORS[me] and me != "__init__":
                    problems.append(f"{modname}:{node.lineno} imports {target} ({dep}) from a "
                                    f"lower floor ({me})")
    assert not problems, "\n".join(problems)


_PRIVATE_FROM = re.compile(r"from\s+(jaxaccel(?:\.\w+)*)\s+import\s+\(?([^)\n]*)")
_PRIVATE_ATTR = re.compile(r"\b(?:ja|jaxaccel|jn|jc|jd|st|dp|sk|jp)(?:\.\w+)*\._[a-z]\w*")


def _user_sources():
    for folder in ("tests", "sims", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield path, path.read_text()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        yield path, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_no_private_name_is_imported_across_packages():
    """Tests, sims, notebooks and benchmarks use public (or internal-interface) names only, and
    inside the package no module takes a ``_name`` from another subpackage."""
    problems = []
    for path, text in _user_sources():
        for m in _PRIVATE_FROM.finditer(text):
            names = [n.strip().split(" as ")[0] for n in m.group(2).split(",")]
            bad = [n for n in names if n.startswith("_") and n != "__version__"]
            if bad:
                problems.append(f"{path.relative_to(ROOT)}: from {m.group(1)} import {bad}")
        for m in _PRIVATE_ATTR.finditer(text):
            problems.append(f"{path.relative_to(ROOT)}: {m.group(0)}")
    for modname, path in _modules():
        me = _top(modname)
        for node, target, names, _ in _imports(ast.parse(path.read_text())):
            if not target.startswith("jaxaccel."):
                continue
            dep = target.split(".")[1]
            if dep.startswith("_"):
                continue  # the shared private helpers (_validation, _typing, ...) are for all
            bad = [n for n in names if n.startswith("_")]
            if bad and dep != me:
                problems.append(f"{modname}: from {target} import {bad}")
    assert not problems, "\n".join(problems)


def _theory_headings():
    heads = set()
    for path in (ROOT / "docs" / "theory").glob("*.md"):
        for line in path.read_text().splitlines():
            m = re.match(r"^#+ §([A-Z]?\d+(?:\.\d+)*|[A-Z])\s", line)
            if m:
                heads.add(m.group(1))
    return heads


def test_every_theory_citation_resolves():
    heads = _theory_headings()
    assert {"1", "3.4", "5.2", "A8", "B2", "C6.1"} <= heads
    missing = []
    files = [p for p in PKG.rglob("*") if p.suffix in (".py", ".cc", ".cu", ".h")]
    files += list((ROOT / "sims").rglob("*.py"))
    for path in files:
        for m in re.finditer(r"§([A-Z]?\d+(?:\.\d+)*)", path.read_text()):
            if m.group(1) not in heads:
                missing.append(f"{path.relative_to(ROOT)}: §{m.group(1)}")
    assert not missing, "\n".join(sorted(set(missing)))


def test_docstrings_cite_the_repository_not_the_internal_spec():
    """Citations point to ``docs/theory`` (shipped with the code), not to a spec users lack."""
    bad = []
    for path in PKG.rglob("*.py"):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bspec(?:ification)? §|shared/spec|``sgd_memory\.md``|"
                         r"``depth_stacking\.md``", line):
                bad.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("old, name", [("stability", "stability_map"), ("schedules", "am1"),
                                       ("montecarlo", "fourier_features"),
                                       ("data", "mlp_init"), ("runner", "run_long")])
def test_old_module_paths_warn_and_resolve(old, name):
    import importlib

    import jaxaccel as ja

    mod = importlib.import_module(f"jaxaccel.{old}")
    with pytest.warns(DeprecationWarning, match=f"jaxaccel.{old} is deprecated"):
        obj = getattr(mod, name)
    new = {"mlp_init": ja.ntk_mlp_init, "fourier_features": ja.reference.fourier_features}
    assert obj is new.get(name, getattr(ja, name, None))
