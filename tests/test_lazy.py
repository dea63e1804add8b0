"""Lazy package exports: a name is imported on first use, once; an unknown one is an AttributeError."""

from __future__ import annotations

import subprocess
import sys

import pytest

import mapfree.models
from mapfree.models.mickey import MicKey

LAZY_PACKAGES = ["mapfree", "mapfree.models", "mapfree.robust", "mapfree.training", "mapfree.study"]


def test_exports_resolve_to_the_defining_module_and_are_listed():
    assert mapfree.models.MicKey is MicKey and "MicKey" in dir(mapfree.models)
    assert "MicKey" in vars(mapfree.models)  # kept after the first lookup
    with pytest.raises(AttributeError, match="'mapfree.models' has no attribute 'Mickey'"):
        mapfree.models.Mickey  # noqa: B018


def test_reading_a_package_configuration_imports_no_torch():
    code = (f"import sys\nimport {', '.join(LAZY_PACKAGES)}\n"
            "from mapfree.training.config import TrainConfig\nTrainConfig.load('mickey')\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_no_lazy_export_shares_a_submodule_name(package):
    """Importing a submodule binds its name on the package, which would then shadow a lazy export of that name."""
    from test_imports import FILES, lazy_table

    assert lazy_table(package), f"{package} exports nothing lazily"
    assert not [name for name in lazy_table(package) if f"{package}.{name}" in FILES]
