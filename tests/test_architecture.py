"""The import order of the features holds (DESIGN.md, "Where code lives"): the contracts are in
pyproject.toml and checked by import-linter, exactly as `lint-imports` reports them."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_features_import_only_downwards_and_the_kernel_imports_no_feature():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout
