"""The engine depends on NumPy and the standard library only.

Two independent proofs: (1) importing every netcore module in a fresh interpreter loads no
third-party package besides NumPy; (2) no netcore source file has an import statement
naming one, not even inside a function (which the first check would not see).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NETCORE = ROOT / "netcore"
ALLOWED_THIRD_PARTY = {"numpy"}
FORBIDDEN = ("streamlit", "plotly", "pandas", "scipy", "PIL", "matplotlib", "torch",
             "sklearn", "pooch", "requests", "tornado", "pyarrow")  # fmt: skip


def test_importing_every_module_loads_only_numpy():
    # Compared with what the bare interpreter already had loaded (site hooks may preload
    # packages of their own before any of our code runs).
    script = """
import importlib, json, pkgutil, sys
before = {m.split(".")[0] for m in sys.modules}
import netcore
names = [m.name for m in pkgutil.walk_packages(netcore.__path__, "netcore.")]
for name in names:
    importlib.import_module(name)
loaded = {m.split(".")[0] for m in sys.modules} - before
print(json.dumps({"modules": names, "loaded": sorted(loaded)}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert "netcore.train" in report["modules"] and "netcore.serialize" in report["modules"]
    loaded = set(report["loaded"])
    assert not loaded & set(FORBIDDEN), loaded & set(FORBIDDEN)
    third_party = {
        name for name in loaded
        if name not in sys.stdlib_module_names and not name.startswith("_")
        and name != "netcore"
    }  # fmt: skip
    assert third_party <= ALLOWED_THIRD_PARTY, third_party


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            roots.add(str(node.args[0].value).split(".")[0])
    return roots


def test_no_source_file_imports_another_package():
    files = sorted(NETCORE.rglob("*.py"))
    assert len(files) > 10
    for path in files:
        outside = {
            r for r in imported_roots(path)
            if r not in sys.stdlib_module_names and r not in ALLOWED_THIRD_PARTY
            and r != "netcore"
        }  # fmt: skip
        assert not outside, f"{path.relative_to(ROOT)} imports {sorted(outside)}"
