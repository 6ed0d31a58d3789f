"""Repository-level checks: the README's commands are what CI runs; the notebook executes."""
import os
import re

import pytest

from .conftest import REPO


def test_ci_runs_the_readme_commands_verbatim():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n(.+?)\n```", readme.split("## Worked example")[0], flags=re.S)
    assert len(commands) == 2
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    for command in commands:
        assert command in ci


def test_error_analysis_notebook_executes_on_small_data():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(REPO / "notebooks" / "error_analysis.ipynb", as_version=4)
    os.environ["NLPGUARD_LIMIT"] = "120"
    try:
        nbclient.NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    finally:
        os.environ.pop("NLPGUARD_LIMIT")
    outputs = "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", []))
    assert "120 examples" in outputs and "macro-F1" in outputs and "intimidation" in outputs
