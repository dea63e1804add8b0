"""Find and fetch the catalogue's weights, and files of Hugging Face Hub repos, failing fast when offline.

URL files go through `torch.hub.download_url_to_file` into a temporary sibling of their cache path,
are checked (published sha256 when there is one, else: not empty and `torch.load` reads them) and
only then renamed into place; a file that fails is deleted and reported in one line. Before a URL
download the host is probed with a short timeout, and Hub calls get a short `etag_timeout` and
`local_files_only` under `HF_HUB_OFFLINE`, so no network means a one-line `MissingWeightsError`
naming the fetch command within seconds, never a retry loop. The probe connects where the download
would: to the proxy the environment names (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, read as urllib and
the Hub's HTTP client read them) unless `NO_PROXY` exempts the host, else to the host itself.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError
from urllib.parse import ParseResult, urlparse

from mapfree.errors import InputError
from mapfree.weights.catalog import CATALOG, HF, URL, ZIP, WeightsEntry
from mapfree.weights.errors import DownloadError, MissingWeightsError, fetch_command
from mapfree.weights.loading import load_torch_file

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a host (URL probe, Hub metadata) before calling the network unavailable."""
DEFAULT_PORTS = {"http": 80, "https": 443, "socks4": 1080, "socks5": 1080, "socks5h": 1080}
"""The port of a URL (a proxy's included) that names none."""


def hub_checkpoints(cache_dir: str | os.PathLike | None = None) -> Path:
    """The torch hub checkpoints folder (`torch.hub.get_dir()/checkpoints`) or `cache_dir`."""
    import torch

    return Path(cache_dir) if cache_dir is not None else Path(torch.hub.get_dir()) / "checkpoints"


def hf_cache(cache_dir: str | os.PathLike | None = None) -> Path:
    from huggingface_hub import constants

    return Path(cache_dir) if cache_dir is not None else Path(constants.HF_HUB_CACHE)


def hub_offline(local_files_only: bool = False) -> str | None:
    """Why Hub calls must stay in the cache, or None: asked to, `HF_HUB_OFFLINE` / `TRANSFORMERS_OFFLINE`
    set, or the Hub endpoint not answering within CONNECT_TIMEOUT (huggingface_hub would retry for half
    a minute)."""
    from huggingface_hub import constants

    if local_files_only:
        return "local_files_only"
    if constants.is_offline_mode() or any(os.environ.get(k, "").upper() in {"1", "ON", "YES", "TRUE"}
                                          for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return "HF_HUB_OFFLINE is set"
    return _unreachable(constants.ENDPOINT)


@dataclass(frozen=True)
class Status:
    """Where an entry is (or would be) cached and whether it is there."""

    entry: WeightsEntry
    location: Path
    present: bool


def status(entry: WeightsEntry, cache_dir: str | os.PathLike | None = None) -> Status:
    """Look in the cache only (never the network)."""
    if entry.source_type == URL:
        path = hub_checkpoints(cache_dir) / entry.target
        return Status(entry, path, path.is_file())
    if entry.source_type == ZIP:
        folder = hub_checkpoints(cache_dir) / entry.target
        return Status(entry, folder, all((folder / f).is_file() for f in entry.files))
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(entry.source, "config.json", cache_dir=cache_dir)
    if isinstance(config, str):
        return Status(entry, Path(config).parent, True)
    return Status(entry, hf_cache(cache_dir) / f"models--{entry.source.replace('/', '--')}", False)


def entry_for(name: str) -> WeightsEntry:
    """A catalogue entry, or an ad-hoc one for a Hub repo id `org/name` (any Hub model repo)."""
    if name in CATALOG or name.count("/") != 1:
        return CATALOG.get(name)
    return WeightsEntry(name, "hub", HF, name, f"Hugging Face Hub repo {name}")


def fetch_name(source: str) -> str:
    """The name `mapfree weights download` takes for a source: its catalogue name, else the repo id itself."""
    return next((name for name in CATALOG if CATALOG.get(name).source == source), source)


def download(entry: WeightsEntry, cache_dir: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Fetch an entry into its cache (see :func:`status` for where); returns that path."""
    if entry.source_type == HF:
        return _download_repo(entry, cache_dir)
    _probe(entry, hub_checkpoints(cache_dir))
    if entry.source_type == URL:
        dst = hub_checkpoints(cache_dir) / entry.target
        with _fetched(entry, dst.parent, progress) as tmp:
            os.replace(tmp, dst)
        return dst
    folder = hub_checkpoints(cache_dir) / entry.target
    with _fetched(entry, folder.parent, progress) as tmp:
        _unpack(entry, tmp, folder)
    return folder


def _unreachable(address: str) -> str | None:
    """None when a request for URL `address` gets a connection within CONNECT_TIMEOUT (to its proxy, if it
    has one), else why not."""
    url = urlparse(address)
    proxy = _proxy(url.scheme, url.hostname or "")
    hop = proxy or url
    try:
        socket.create_connection((hop.hostname, hop.port or DEFAULT_PORTS.get(hop.scheme, 80)),
                                 timeout=CONNECT_TIMEOUT).close()
    except OSError as e:
        via = f" through the proxy {proxy.netloc.rpartition('@')[2]}" if proxy else ""  # no credentials
        return f"{url.netloc} unreachable{via}: {_reason(e)}"
    return None


def _proxy(scheme: str, host: str) -> ParseResult | None:
    """The proxy the environment names for a `scheme` request to `host`, or None (none, or `NO_PROXY`)."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return urlparse(proxy if "://" in proxy else f"http://{proxy}")


def _probe(entry: WeightsEntry, where: Path) -> None:
    """MissingWeightsError at once when the entry's host does not answer."""
    reason = _unreachable(entry.source)
    if reason is not None:
        raise _offline(entry, where, reason)


def _offline(entry: WeightsEntry, where: Path, reason: str) -> MissingWeightsError:
    return MissingWeightsError(
        f"{entry.name} ({entry.description}) is not in {where} and cannot be fetched from {entry.source} "
        f"({reason}); run `{fetch_command(entry.name)}` where the network is available"
    )


def _reason(e: BaseException) -> str:
    reason = getattr(e, "reason", None) or e
    return " ".join(f"{type(reason).__name__}: {reason}".split())


@contextmanager
def _fetched(entry: WeightsEntry, folder: Path, progress: bool) -> Iterator[Path]:
    """A verified download in a temporary file of `folder`; the file is gone afterwards unless moved."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{entry.name}.{uuid.uuid4().hex}.download"
    try:
        try:
            torch.hub.download_url_to_file(entry.source, str(tmp), hash_prefix=entry.sha256, progress=progress)
        except RuntimeError as e:  # torch's hash mismatch
            raise DownloadError(f"{entry.name}: the file from {entry.source} does not match its published "
                                f"{entry.checksum}; deleted it ({' '.join(str(e).split())})") from None
        except (URLError, OSError) as e:
            raise _offline(entry, folder, _reason(e)) from None
        if tmp.stat().st_size == 0:
            raise DownloadError(f"{entry.name}: {entry.source} sent an empty file; deleted it")
        if entry.source_type == URL:
            _check_loads(entry, tmp)
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _check_loads(entry: WeightsEntry, path: Path) -> None:
    try:
        load_torch_file(path)
    except InputError as e:
        raise DownloadError(f"{entry.name}: the file from {entry.source} is not a readable checkpoint "
                            f"({entry.checksum}); deleted it ({e})") from None


def _unpack(entry: WeightsEntry, archive: Path, folder: Path) -> None:
    """The archive's files (directories inside it flattened) into `folder`, each renamed into place
    once all are unpacked and the checkpoints among them load."""
    if not zipfile.is_zipfile(archive):
        raise DownloadError(f"{entry.name}: the file from {entry.source} is not a zip archive; deleted it")
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{entry.name}.") as staging, \
            zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = Path(info.filename).name
            if info.is_dir() or not name or name.startswith("."):
                continue
            with zf.open(info) as src, open(Path(staging) / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
        missing = [f for f in entry.files if not (Path(staging) / f).is_file()]
        if missing:
            raise DownloadError(f"{entry.name}: the archive from {entry.source} lacks {', '.join(missing)}")
        for path in sorted(Path(staging).iterdir()):
            if path.suffix in (".ckpt", ".pth"):
                _check_loads(entry, path)
        folder.mkdir(parents=True, exist_ok=True)
        for path in sorted(Path(staging).iterdir()):
            os.replace(path, folder / path.name)


def _download_repo(entry: WeightsEntry, cache_dir: str | os.PathLike | None) -> Path:
    from huggingface_hub import snapshot_download

    offline = hub_offline()
    with hub_errors(entry.source, hf_cache(cache_dir), entry.name, offline):
        return Path(snapshot_download(entry.source, cache_dir=cache_dir, etag_timeout=CONNECT_TIMEOUT,
                                      local_files_only=offline is not None))


def hub_files(repo_id: str, filenames: tuple[str, ...], revision: str | None = None,
              cache_dir: str | os.PathLike | None = None, local_files_only: bool = False) -> list[Path]:
    """Files of a Hub model repo through `hf_hub_download` (the cache first when offline); one-line errors."""
    from huggingface_hub import hf_hub_download

    offline = hub_offline(local_files_only)
    with hub_errors(repo_id, hf_cache(cache_dir), fetch_name(repo_id), offline):
        return [Path(hf_hub_download(repo_id, name, revision=revision, cache_dir=cache_dir,
                                     local_files_only=offline is not None, etag_timeout=CONNECT_TIMEOUT))
                for name in filenames]


@contextmanager
def hub_errors(repo_id: str, cache: Path, name: str, offline: str | None) -> Iterator[None]:
    """Hub failures as one line: missing from the cache with no network (MissingWeightsError naming
    the fetch command), or a repo / revision / file the Hub does not have (InputError)."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as e:
        why = f"the Hub was not asked ({offline})" if offline else "the Hub cannot be reached"
        raise MissingWeightsError(
            f"{repo_id}: not in the Hugging Face cache {cache} and {why} ({type(e).__name__}); "
            f"run `{fetch_command(name)}` where the network is available"
        ) from None
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as e:
        raise InputError(f"{repo_id}: {' '.join(str(e).split())}") from None
    except HfHubHTTPError as e:
        raise DownloadError(f"{repo_id}: the Hub refused the download ({' '.join(str(e).split())})") from None
