"""Every notebook of ``notebooks/`` executes without a cell error (nbclient, fresh kernel)."""

import glob
import os

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks")
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "*.ipynb")))


def test_notebooks_exist():
    names = {os.path.basename(p) for p in NOTEBOOKS}
    for n in ("01_quickstart", "02_propagators_and_phases", "03_stability_maps", "04_schedules",
              "05_depth", "06_stacking"):
        assert f"{n}.ipynb" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_executes(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_is_committed_executed(path):
    """The committed notebook shows its results: every code cell ran (in order), there is at
    least one figure, no error output, and a text cell explains what the figures show."""
    import json

    with open(path) as f:
        nb = json.load(f)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in code), "re-execute the notebook before committing"
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert not any(o.get("output_type") == "error" for o in outputs)
    assert any("What" in "".join(c["source"]) and "show" in "".join(c["source"])
               for c in nb["cells"] if c["cell_type"] == "markdown")
