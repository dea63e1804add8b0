"""Weights sources for the weights tests: a local HTTP server, an empty torch hub cache, catalogue entries
pointed at them, and tiny files in the published layouts (no network, no real weights)."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import socket
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mapfree.weights.catalog import CATALOG

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(name="served")
def served_folder(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, folder) of an HTTP server on 127.0.0.1 serving the folder."""
    folder = tmp_path / "served"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()


@pytest.fixture(name="torch_hub")
def empty_torch_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache; returns its checkpoints folder."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch-hub"))
    return tmp_path / "torch-hub" / "checkpoints"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def point(monkeypatch: pytest.MonkeyPatch, name: str, **changes) -> None:
    """Make catalogue entry `name` use another source or checksum for this test."""
    monkeypatch.setitem(CATALOG._entries, name, replace(CATALOG.get(name), **changes))


def save_weights_file(path: Path) -> bytes:
    """A tiny file in the DINOv2 layout; returns its bytes."""
    torch.save({"pos_embed": torch.zeros(1, 2, 3), "patch_embed.proj.weight": torch.ones(2)}, path)
    return path.read_bytes()


def mickey_zip(path: Path, files: dict[str, Path]) -> Path:
    """An archive in the released layout: `files` (name in the archive -> file) under `mickey_weights/`."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, file in files.items():
            zf.write(file, f"mickey_weights/{name}")
    return path


def hub_model_folder(folder: Path, model_type: str = "depth_anything") -> Path:
    """A folder as a Hub model repo holds it: config.json and a tiny model.safetensors."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
    save_file({"weight": torch.arange(6.0).reshape(2, 3)}, str(folder / "model.safetensors"))
    return folder


def hf_cache_with(cache: Path, repo_id: str, folder: Path) -> Path:
    """The Hugging Face Hub cache layout holding `folder`'s files at revision main; returns the snapshot."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return Path(shutil.copytree(folder, repo / "snapshots" / COMMIT))
