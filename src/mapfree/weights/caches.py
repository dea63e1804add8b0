"""Where the catalogue's weights are cached and whether they are there, read without torch or huggingface_hub.

The two caches are the libraries' own: the torch hub checkpoints folder (`torch.hub.get_dir()/checkpoints`,
where the MicKey reference and kornia look) and the Hugging Face Hub cache (`models--ORG--NAME/refs/main`
naming a folder of `snapshots/`). Their locations follow the libraries' rules (`TORCH_HOME`,
`XDG_CACHE_HOME`, `HF_HUB_CACHE`, `HF_HOME`); a library that is loaded is asked instead, so
`torch.hub.set_dir` and a patched `huggingface_hub.constants.HF_HUB_CACHE` are honoured. Stdlib only, so
`mapfree weights list` runs in the core install.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from mapfree.weights.catalog import URL, ZIP, WeightsEntry


def torch_hub_dir() -> Path:
    """`torch.hub.get_dir()`: asked of torch when it is imported, else its rule from the environment."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return Path(torch.hub.get_dir())
    cache = os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return Path(os.path.expanduser(os.environ.get("TORCH_HOME", os.path.join(cache, "torch")))) / "hub"


def hub_checkpoints(cache_dir: str | os.PathLike | None = None) -> Path:
    """The torch hub checkpoints folder (`torch.hub.get_dir()/checkpoints`) or `cache_dir`."""
    return Path(cache_dir) if cache_dir is not None else torch_hub_dir() / "checkpoints"


def hf_cache(cache_dir: str | os.PathLike | None = None) -> Path:
    """The Hugging Face Hub cache (`huggingface_hub.constants.HF_HUB_CACHE` when installed) or `cache_dir`."""
    if cache_dir is not None:
        return Path(cache_dir)
    try:
        from huggingface_hub import constants
    except ImportError:
        cache = os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache"))
        home = os.path.expanduser(os.environ.get("HF_HOME", os.path.join(cache, "huggingface")))
        return Path(os.environ.get("HF_HUB_CACHE", os.environ.get("HUGGINGFACE_HUB_CACHE",
                                                                   os.path.join(home, "hub"))))
    return Path(constants.HF_HUB_CACHE)


def hf_repo_folder(repo_id: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache folder of a Hub model repo (`models--ORG--NAME`)."""
    return hf_cache(cache_dir) / f"models--{repo_id.replace('/', '--')}"


def hf_snapshot(repo_id: str, cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The snapshot folder `refs/main` names when it holds `config.json` (as `try_to_load_from_cache` finds it)."""
    repo = hf_repo_folder(repo_id, cache_dir)
    try:
        revision = (repo / "refs" / "main").read_text().strip()
    except OSError:
        return None
    snapshot = repo / "snapshots" / revision
    return snapshot if revision and (snapshot / "config.json").is_file() else None


@dataclass(frozen=True)
class Status:
    """Where an entry is (or would be) cached and whether it is there."""

    entry: WeightsEntry
    location: Path
    present: bool

    @property
    def folder(self) -> Path:
        """The folder the entry's files are looked for in."""
        return self.location.parent if self.entry.source_type == URL else self.location

    @property
    def size(self) -> int | None:
        """Bytes the entry takes in the cache (links followed), None when absent."""
        if not self.present:
            return None
        if self.location.is_file():
            return self.location.stat().st_size
        return sum(p.stat().st_size for p in self.location.rglob("*") if p.is_file())


def status(entry: WeightsEntry, cache_dir: str | os.PathLike | None = None) -> Status:
    """Look in the cache only (never the network)."""
    if entry.source_type == URL:
        path = hub_checkpoints(cache_dir) / entry.target
        return Status(entry, path, path.is_file())
    if entry.source_type == ZIP:
        folder = hub_checkpoints(cache_dir) / entry.target
        return Status(entry, folder, all((folder / f).is_file() for f in entry.files))
    snapshot = hf_snapshot(entry.source, cache_dir)
    return Status(entry, snapshot or hf_repo_folder(entry.source, cache_dir), snapshot is not None)

