"""The dependency rules of DESIGN.md: edge and calibration never import torch or trainer."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["edge", "calibration"])
def test_package_imports_without_torch_or_trainer(package: str) -> None:
    code = f"""
import importlib, pkgutil, sys
import {package}
for info in pkgutil.walk_packages({package}.__path__, "{package}."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "trainer"))
assert not bad, bad
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_walk_finds_the_cli_modules() -> None:
    import edge

    assert "edge.cli" in {info.name for info in pkgutil.walk_packages(edge.__path__, "edge.")}
