"""The house rules, checked on every run: layers, no cycles, no private imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "suppliers", "stores", "transport")


def test_layers_and_cycles_hold() -> None:
    # The contracts live in pyproject.toml ([tool.importlinter]); their names say the rules.
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def _modules() -> list[Path]:
    return [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]


def test_no_module_imports_another_modules_private_names() -> None:
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                top = node.module.split(".")[0]
                private = [a.name for a in node.names if a.name.startswith("_")]
                if top in PACKAGES and private:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module}")
    assert offenders == []


def test_no_folder_grows_past_about_a_dozen_modules() -> None:
    crowded = {}
    for folder in {path.parent for path in _modules()}:
        count = len([p for p in folder.glob("*.py") if p.name != "__init__.py"])
        if count > 15 and "migrations" not in folder.parts:
            crowded[str(folder.relative_to(ROOT))] = count
    assert crowded == {}
