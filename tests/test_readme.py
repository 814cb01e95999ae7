"""The README's example runs as printed (with one epoch, to keep the test short)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_readme_example_trains_a_network(capsys):
    blocks = python_blocks(README.read_text())
    assert blocks, "the README has a Python example"
    code = blocks[0].replace("epochs=3", "epochs=1")
    exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
    printed = capsys.readouterr().out
    assert "val_accuracy" in printed


def test_the_readme_commands_are_the_ones_ci_runs():
    text = README.read_text()
    assert "pip install -r requirements.txt && streamlit run dashboard.py" in text
    assert "pip install -r requirements-dev.txt && python -m pytest" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "requirements-dev.txt" in ci and "pytest" in ci
