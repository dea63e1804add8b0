"""Putting weights into their cache: a verified copy takes the place of what was there in one rename
(`mapfree.atomic`), whether it comes from a download or from a path fetched elsewhere
(`mapfree weights import NAME PATH`, `mapfree weights download NAME --from PATH`).

An import passes the checks of a download (`mapfree.weights.verify`) and refuses to replace weights
already in the cache unless asked (`overwrite`). A Hub repo imported from a folder goes into the Hugging
Face cache layout (`snapshots/REVISION`, `refs/main`) under a revision made from its files' hashes, so
`transformers` and the catalogue find it as they find a download.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path

from mapfree.atomic import atomic_dir, atomic_path, refuse_existing, write_text_atomic
from mapfree.errors import InputError
from mapfree.weights.caches import hf_repo_folder, status
from mapfree.weights.catalog import HF, URL, WeightsEntry
from mapfree.weights.errors import DownloadError, WeightsNotFoundError
from mapfree.weights.verify import check_file, check_folder, check_snapshot, outcome, require, sha256_of

OVERWRITE_HINT = "pass --overwrite to replace it"


def import_weights(entry: WeightsEntry, path: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
                   overwrite: bool = False) -> Path:
    """Check a copy of `entry` fetched elsewhere (a file, a zip or folder for MicKey, a model folder for a Hub
    repo) as a download is checked and place it where a download would go; returns that place."""
    source = Path(path).expanduser()
    if not source.exists():
        raise WeightsNotFoundError(f"{path}: no such file or folder")
    current = status(entry, cache_dir)
    if not overwrite and (entry.source_type != HF or current.present):
        refuse_existing(current.location, OVERWRITE_HINT)
    with outcome(f"{current.location} is unchanged"):
        return _install(entry, source, current.location, cache_dir, str(path))


def _install(entry: WeightsEntry, source: Path, location: Path, cache_dir: str | os.PathLike | None,
             origin: str) -> Path:
    if entry.source_type == HF:
        if not source.is_dir():
            raise InputError(f"{origin}: a file; {entry.name} is a Hugging Face model folder holding config.json")
        return install_snapshot(entry, source, cache_dir)
    require(entry, "import", "torch")
    if entry.source_type == URL:
        if not source.is_file():
            raise InputError(f"{origin}: a folder; {entry.name} is one file ({entry.target})")
        with atomic_path(location) as tmp:
            shutil.copyfile(source, tmp)
            check_file(entry, tmp, origin)
        return location
    if source.is_file():
        check_file(entry, source, origin)
    return install_folder(entry, source, location, origin)


def install_folder(entry: WeightsEntry, source: Path, folder: Path, origin: str) -> Path:
    """A `zip` entry's files, from an archive or a folder (subfolders flattened, hidden names skipped), checked
    in a temporary sibling of `folder` that then replaces it."""
    with atomic_dir(folder) as staging:
        if source.is_dir():
            for relative in members(source):
                shutil.copyfile(source / relative, staging / relative.name)
        else:
            _unzip(entry, source, staging, origin)
        check_folder(entry, staging, origin)
    return folder


def _unzip(entry: WeightsEntry, archive: Path, staging: Path, origin: str) -> None:
    if not zipfile.is_zipfile(archive):
        raise DownloadError(f"{entry.name}: the file from {origin} is not a zip archive")
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = Path(info.filename).name
            if info.is_dir() or not name or name.startswith("."):
                continue
            with zf.open(info) as src, open(staging / name, "wb") as dst:
                shutil.copyfileobj(src, dst)


def members(folder: Path) -> list[Path]:
    """The files under `folder`, relative to it, leaving out hidden ones (`.git`, `.cache`, ...)."""
    return [p.relative_to(folder) for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)]


def install_snapshot(entry: WeightsEntry, source: Path, cache_dir: str | os.PathLike | None) -> Path:
    """A Hub model folder as a snapshot of the Hugging Face cache, `refs/main` pointing at it."""
    files = members(source)
    check_snapshot(entry, source, files, str(source))
    digest = hashlib.sha1(usedforsecurity=False)
    for relative in files:
        digest.update(f"{relative.as_posix()}\0{sha256_of(source / relative)}\n".encode())
    repo = hf_repo_folder(entry.source, cache_dir)
    snapshot = repo / "snapshots" / digest.hexdigest()
    with atomic_dir(snapshot) as staging:
        for relative in files:
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / relative, staging / relative)
    write_text_atomic(repo / "refs" / "main", snapshot.name)
    return snapshot

