"""The checks a weights file passes before it enters a cache, the same for a download and for a copy
fetched elsewhere (`mapfree weights import`): a failure is a one-line DownloadError naming the file.

- a file: the published sha256 where there is one, not empty, and (checkpoints) `torch.load` reads it
  with `weights_only=True`;
- a MicKey-style archive or folder: every file the entry lists, and each checkpoint in it loads;
- a Hugging Face model folder: `config.json` is a JSON object and every weights file reads in full
  (safetensors: its header and the byte range it declares; pickled weights: `torch.load`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mapfree.errors import InputError
from mapfree.extras import MissingExtraError
from mapfree.weights.catalog import URL, WeightsEntry
from mapfree.weights.errors import DownloadError
from mapfree.weights.loading import load_torch_file

CHECKPOINT_SUFFIXES = (".ckpt", ".pth", ".pt", ".bin")
"""Pickled weights, read with `torch.load`."""
SAFETENSORS = ".safetensors"


def require(entry: WeightsEntry, action: str, *modules: str) -> None:
    """MissingExtraError (one line) naming the entry's extra when one of `modules` is not installed
    (torch checks checkpoints and downloads URL files, huggingface_hub fetches Hub repos)."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(f"mapfree weights {action} {entry.name} needs {', '.join(missing)} (not installed): "
                                f"pip install 'mapfree[{entry.extra}]'")


@contextmanager
def outcome(note: str) -> Iterator[None]:
    """A failed check's DownloadError with `note` added: what became of the file ("deleted it")."""
    try:
        yield
    except DownloadError as e:
        raise DownloadError(f"{e}; {note}") from None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(entry: WeightsEntry, path: Path, origin: str) -> None:
    """A `url` entry's file (or a `zip` entry's archive) as it came from `origin`."""
    if entry.sha256 and sha256_of(path) != entry.sha256:
        raise DownloadError(f"{entry.name}: the file from {origin} does not match its published {entry.checksum}")
    if path.stat().st_size == 0:
        raise DownloadError(f"{entry.name}: {origin} is an empty file")
    if entry.source_type == URL:
        check_checkpoint(entry, path, origin)


def check_checkpoint(entry: WeightsEntry, path: Path, origin: str) -> None:
    try:
        load_torch_file(path)
    except InputError as e:
        raise DownloadError(f"{entry.name}: the file from {origin} is not a readable checkpoint "
                            f"({entry.checksum}; {e})") from None


def check_folder(entry: WeightsEntry, folder: Path, origin: str) -> None:
    """A `zip` entry's files, unpacked or copied into `folder`."""
    missing = [f for f in entry.files if not (folder / f).is_file()]
    if missing:
        raise DownloadError(f"{entry.name}: {origin} lacks {', '.join(missing)}")
    for path in sorted(folder.iterdir()):
        if path.suffix in CHECKPOINT_SUFFIXES:
            check_checkpoint(entry, path, origin)


def check_snapshot(entry: WeightsEntry, folder: Path, files: Iterable[Path], origin: str) -> None:
    """A Hugging Face model folder (`files` relative to `folder`)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DownloadError(f"{entry.name}: {origin} has no readable config.json ({type(e).__name__}: {e})") from None
    if not isinstance(config, dict):
        raise DownloadError(f"{entry.name}: {origin}/config.json is not a JSON object")
    weights = [f for f in files if f.suffix in (SAFETENSORS, *CHECKPOINT_SUFFIXES)]
    if not weights:
        raise DownloadError(f"{entry.name}: {origin} holds no weights file ({SAFETENSORS} or .bin)")
    for name in weights:
        if name.suffix == SAFETENSORS:
            check_safetensors(entry, folder / name, f"{origin}/{name}")
        else:
            require(entry, "import", "torch")
            check_checkpoint(entry, folder / name, f"{origin}/{name}")


def check_safetensors(entry: WeightsEntry, path: Path, origin: str) -> None:
    """The safetensors layout without reading the tensors: an 8-byte little-endian header length, a JSON
    header, and tensor data ending exactly at the end of the file (a truncated or LFS-pointer file fails)."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > size - 8:
                raise ValueError(f"header of {length} bytes in a file of {size}")
            header = json.loads(f.read(length))
        ends = [int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"]
    except (struct.error, ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise DownloadError(f"{entry.name}: {origin} is not a safetensors file ({type(e).__name__}: {e})") from None
    expected = 8 + length + max(ends, default=0)
    if expected != size:
        raise DownloadError(f"{entry.name}: {origin} is {size} bytes where its header describes {expected} "
                            "(truncated?)")
