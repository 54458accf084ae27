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
