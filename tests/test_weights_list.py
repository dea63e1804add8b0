"""`mapfree weights list`: an aligned table (name, kind, size, licence, present/absent, path) and `--json`, in
the core install too (no torch, no huggingface_hub), at the cache paths those libraries use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mapfree.cli import main
from mapfree.weights.catalog import CATALOG
from weights_sources import empty_torch_hub, save_weights_file  # noqa: F401 (the fixture torch_hub)

CORE = ("torch", "huggingface_hub", "transformers", "safetensors", "kornia")
"""Modules the core install lacks."""


def mapfree_without(modules: tuple[str, ...], *argv: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`mapfree ARGV` in a fresh interpreter where `modules` cannot be imported (as in the core install)."""
    code = "\n".join((
        "import sys",
        "for m in filter(None, sys.argv[1].split(',')):",
        "    sys.modules[m] = None  # import m fails, importlib.util.find_spec(m) is None",
        "from mapfree.cli import main",
        "rc = main(sys.argv[2:])",
        "print('imported:' + ','.join(m for m in ('torch', 'huggingface_hub') if sys.modules.get(m)), file=sys.stderr)",
        "sys.exit(rc)",
    ))
    return subprocess.run([sys.executable, "-c", code, ",".join(modules), *argv], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60)


def test_the_table_is_aligned_with_size_licence_and_presence(torch_hub, tmp_path, capsys):
    torch_hub.mkdir(parents=True)
    data = save_weights_file(torch_hub / "dinov2_vits14_pretrain.pth")
    assert main(["weights", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[0], lines[1:]
    assert header.split() == ["name", "kind", "size", "licence", "present", "path"]
    assert len(rows) == len(CATALOG.names())
    starts = [header.index(column) for column in ("kind", "size", "licence", "present", "path")]
    for row in rows:
        assert all(row[s - 2:s] == "  " and row[s] != " " for s in starts), row
    by_name = {row.split()[0]: row for row in rows}
    present = by_name["dinov2-vits14"]
    assert present[starts[1]:starts[2]].strip() == f"{len(data) / 1000:.1f} kB" and " present " in present
    assert present[starts[4]:] == str(torch_hub / "dinov2_vits14_pretrain.pth")
    absent = by_name["mickey"]
    assert absent[starts[1]:starts[2]].strip() == "-" and " absent " in absent
    assert absent[starts[2]:starts[3]].strip() == "Niantic non-commercial"
    assert main(["weights", "list", "--json"]) == 0
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert list(listed) == list(CATALOG.names())
    assert listed["dinov2-vits14"]["size"] == len(data) and listed["dinov2-vits14"]["present"]
    assert listed["mickey"]["size"] is None and listed["mickey"]["source"] == CATALOG.get("mickey").source
    assert listed["depth-anything-v2-large"]["licence"] == "CC-BY-NC-4.0"


@pytest.mark.parametrize("variables, blocked", [(("TORCH_HOME", "HF_HOME"), (CORE, ())),
                                                (("XDG_CACHE_HOME",), (CORE,))])
def test_list_runs_without_torch_at_the_paths_the_libraries_use(tmp_path, variables, blocked):
    clean = {k: v for k, v in os.environ.items()
             if k not in ("TORCH_HOME", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME")}
    env = {**clean, **{name: str(tmp_path / name.lower()) for name in variables}}
    truth = subprocess.run(
        [sys.executable, "-c", "import torch, huggingface_hub.constants as c; print(torch.hub.get_dir()); "
                               "print(c.HF_HUB_CACHE)"],
        capture_output=True, text=True, env=env, check=True, timeout=120).stdout.split()
    assert all(path.startswith(str(tmp_path)) for path in truth)
    for modules in blocked:
        done = mapfree_without(modules, "weights", "list", "--json", env=env)
        assert done.returncode == 0, done.stderr
        assert "torch" not in done.stderr.strip().removeprefix("imported:").split(",")  # torch is never loaded
        paths = {row["name"]: row["path"] for row in json.loads(done.stdout)}
        assert paths["dinov2-vitl14"] == str(Path(truth[0]) / "checkpoints" / "dinov2_vitl14_pretrain.pth")
        assert paths["dpt-large"] == str(Path(truth[1]) / "models--Intel--dpt-large")


def test_fetching_without_torch_names_the_extra(tmp_path):
    env = {"TORCH_HOME": str(tmp_path / "torch"), "HF_HUB_CACHE": str(tmp_path / "hf")}
    for argv, missing, extra in ((("download", "mickey"), "torch", "baselines"),
                                 (("download", "depth-anything-v2-small"), "huggingface_hub", "depth"),
                                 (("import", "dinov2-vitl14", str(tmp_path)), "torch", "baselines")):
        done = mapfree_without(CORE, "weights", *argv, env=env)
        assert done.returncode == 2, done.stderr
        first = done.stderr.splitlines()[0]
        assert f"needs {missing} (not installed): pip install 'mapfree[{extra}]'" in first


def test_the_extra_named_installs_what_fetching_needs():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for name in CATALOG:
        entry = CATALOG.get(name)
        needed = "huggingface_hub" if entry.source_type == "hf" else "torch"
        assert any(dist.startswith(needed) for dist in extras[entry.extra]), (name, entry.extra)
