"""The package's metadata: every third-party import is declared, the core install has no torch,
the CLI's extras table matches pyproject's extras, and the version has one source."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

import mapfree
from mapfree.extras import EXTRAS, MissingExtraError, require

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
MODULE_DISTRIBUTIONS = {"romatch": ["romatch"], **packages_distributions()}


def requirement_name(requirement: str) -> str:
    """'pytorch-lightning>=2.2' -> 'pytorch-lightning' (normalised: lower case, '-')."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)
    return re.sub(r"[._-]+", "-", name).lower()


def declared(requirements: list[str]) -> set[str]:
    """Distribution names of requirements, following self-references such as 'mapfree[train]'."""
    names: set[str] = set()
    for requirement in requirements:
        name = requirement_name(requirement)
        if name == "mapfree":
            for extra in re.search(r"\[(.*)\]", requirement).group(1).split(","):
                names |= declared(PROJECT["optional-dependencies"][extra.strip()])
        else:
            names.add(name)
    return names


CORE = declared(PROJECT["dependencies"])
EXTRA_DISTS = {extra: declared(reqs) for extra, reqs in PROJECT["optional-dependencies"].items()}


def distribution_of(module: str) -> set[str]:
    return {requirement_name(d) for d in MODULE_DISTRIBUTIONS.get(module, [module])}


def third_party_imports() -> dict[str, set[str]]:
    """{top-level module: files importing it} over src/mapfree, imports inside functions included."""
    found: dict[str, set[str]] = {}
    src = Path(mapfree.__file__).parent
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "mapfree" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(src)))
    return found


def test_every_third_party_import_is_declared():
    everything = CORE.union(*EXTRA_DISTS.values())
    undeclared = {module: sorted(files) for module, files in third_party_imports().items()
                  if not distribution_of(module) & everything}
    assert not undeclared, f"imported but in no dependency list of pyproject.toml: {undeclared}"


def test_core_install_has_no_torch_and_all_has_every_extra():
    assert not CORE & {"torch", "pytorch-lightning", "transformers", "kornia", "tensorboard"}
    assert EXTRA_DISTS["all"] == set().union(*(EXTRA_DISTS[e] for e in ("plots", "baselines", "depth", "train",
                                                                         "slurm")))


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_extras_table_matches_pyproject(extra: str):
    provided = set().union(*(distribution_of(module) for module in EXTRAS[extra]))
    assert provided <= EXTRA_DISTS[extra] | CORE


def test_require_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(EXTRAS, "train", ("numpy", "mapfree_missing_module"))
    with pytest.raises(MissingExtraError, match=r"mapfree train needs mapfree_missing_module .*'mapfree\[train\]'"):
        require("train", "mapfree train")
    require("plots", "--plots")  # installed here


def test_version_has_one_source():
    assert PROJECT["dynamic"] == ["version"] and "version" not in PROJECT
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "mapfree.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", mapfree.__version__)


def test_typed_marker_ships():
    assert (Path(mapfree.__file__).parent / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["mapfree"]


def test_missing_extra_is_one_line_exit_2():
    """A command whose extra is missing fails with one line naming it (torch hidden from find_spec)."""
    code = ("import importlib.util, sys; real = importlib.util.find_spec\n"
            "importlib.util.find_spec = lambda n, *a: None if n == 'torch' else real(n, *a)\n"
            "from mapfree.cli import main; sys.exit(main(['train', '--config', 'synthetic_cpu']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "mapfree train: error: mapfree train needs torch (not installed): pip install 'mapfree[train]'"]


def test_release_metadata_and_changelog_entry():
    """What PyPI and a reader of the changelog see: authors, keywords, classifiers, links, and an entry for this
    version with its date."""
    assert PROJECT["authors"] and PROJECT["keywords"] and PROJECT["urls"]
    assert "Typing :: Typed" in PROJECT["classifiers"]
    assert {c.split(" :: ")[0] for c in PROJECT["classifiers"]} >= {"Development Status", "Intended Audience",
                                                                     "Programming Language", "Topic"}
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(mapfree.__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M)
