"""Notebooks are committed without outputs: executed copies are pipeline outputs under build/."""
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped_and_parameterised(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: code cells {dirty} carry outputs; strip them (see README)"
    missing = [i for i, c in enumerate(nb.cells) if "id" not in c]
    assert not missing, f"{path.name}: cells {missing} have no id (nbformat 4.5 requires one)"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "params_file" in tagged[0].source, f"{path.name}: needs one 'parameters' cell with params_file"


def test_nbstripout_has_nothing_to_strip():
    """The README's stripping tool agrees: committed notebooks are already in its normal form."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "nbstripout", "--verify", *map(str, NOTEBOOKS)], capture_output=True, text=True)
    assert out.returncode == 0, f"run `nbstripout notebooks/*.ipynb`:\n{out.stdout}{out.stderr}"
