"""Find and fetch the catalogue's weights, and files of Hugging Face Hub repos, failing fast when offline.

URL files go through `torch.hub.download_url_to_file` into a temporary sibling of their cache path,
are checked as an import is (`mapfree.weights.verify`: the published sha256 when there is one, else not
empty and `torch.load` reads them) and only then renamed into place (`mapfree.weights.install`); a file
that fails is deleted and reported in one line. Before a URL
download the host is probed with a short timeout, and Hub calls get a short `etag_timeout` and
`local_files_only` under `HF_HUB_OFFLINE`, so no network means a one-line `MissingWeightsError`
naming the fetch command within seconds, never a retry loop. The probe connects where the download
would: to the proxy the environment names (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, read as urllib and
the Hub's HTTP client read them) unless `NO_PROXY` exempts the host, else to the host itself.
"""

from __future__ import annotations

import os
import socket
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import URLError
from urllib.parse import ParseResult, urlparse

from mapfree.atomic import atomic_path
from mapfree.errors import InputError
from mapfree.weights.caches import hf_cache, hub_checkpoints, status
from mapfree.weights.catalog import CATALOG, HF, URL, WeightsEntry
from mapfree.weights.errors import DownloadError, MissingWeightsError, missing_weights
from mapfree.weights.install import install_folder
from mapfree.weights.verify import check_file, outcome, require

__all__ = ["download", "entry_for", "fetch_name", "hf_cache", "hub_checkpoints", "hub_errors", "hub_files",
           "hub_offline"]  # hf_cache and hub_checkpoints (mapfree.weights.caches) as the matchers import them

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a host (URL probe, Hub metadata) before calling the network unavailable."""
DEFAULT_PORTS = {"http": 80, "https": 443, "socks4": 1080, "socks5": 1080, "socks5h": 1080}
"""The port of a URL (a proxy's included) that names none."""


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


def entry_for(name: str) -> WeightsEntry:
    """A catalogue entry, or an ad-hoc one for a Hub repo id `org/name` (any Hub model repo)."""
    if name in CATALOG or name.count("/") != 1:
        return CATALOG.get(name)
    return WeightsEntry(name, "hub", HF, name, f"Hugging Face Hub repo {name}")


def fetch_name(source: str) -> str:
    """The name `mapfree weights download` takes for a source: its catalogue name, else the repo id itself."""
    return next((name for name in CATALOG if CATALOG.get(name).source == source), source)


def download(entry: WeightsEntry, cache_dir: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """Fetch an entry into its cache (see :func:`mapfree.weights.caches.status` for where); returns that path."""
    if entry.source_type == HF:
        require(entry, "download", "huggingface_hub")
        return _download_repo(entry, cache_dir)
    require(entry, "download", "torch")
    found = status(entry, cache_dir)
    location = found.location
    _probe(entry, found.folder)
    with outcome("deleted it"):
        if entry.source_type == URL:
            with atomic_path(location) as tmp:
                _download_to(entry, tmp, found.folder, progress)
                check_file(entry, tmp, entry.source)
            return location
        location.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=location.parent, prefix=f".{entry.name}.") as folder:
            archive = Path(folder) / "download.zip"
            _download_to(entry, archive, found.folder, progress)
            check_file(entry, archive, entry.source)
            return install_folder(entry, archive, location, entry.source)


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
    return missing_weights(entry.name, entry.what, where, entry.origin, f"cannot be fetched: {reason}")


def _reason(e: BaseException) -> str:
    reason = getattr(e, "reason", None) or e
    return " ".join(f"{type(reason).__name__}: {reason}".split())


def _download_to(entry: WeightsEntry, path: Path, where: Path, progress: bool) -> None:
    """The entry's URL into `path` (its folder created); no network is a MissingWeightsError naming `where`."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(entry.source, str(path), progress=progress)
    except (URLError, OSError) as e:
        raise _offline(entry, where, _reason(e)) from None


def _download_repo(entry: WeightsEntry, cache_dir: str | os.PathLike | None) -> Path:
    from huggingface_hub import snapshot_download

    offline = hub_offline()
    with hub_errors(entry.source, entry.what, hf_cache(cache_dir), entry.name, offline):
        return Path(snapshot_download(entry.source, cache_dir=cache_dir, etag_timeout=CONNECT_TIMEOUT,
                                      local_files_only=offline is not None))


def hub_files(repo_id: str, filenames: tuple[str, ...], revision: str | None = None,
              cache_dir: str | os.PathLike | None = None, local_files_only: bool = False) -> list[Path]:
    """Files of a Hub model repo through `hf_hub_download` (the cache first when offline); one-line errors."""
    from huggingface_hub import hf_hub_download

    offline = hub_offline(local_files_only)
    with hub_errors(repo_id, f"{', '.join(filenames)} of {repo_id}", hf_cache(cache_dir), fetch_name(repo_id),
                    offline):
        return [Path(hf_hub_download(repo_id, name, revision=revision, cache_dir=cache_dir,
                                     local_files_only=offline is not None, etag_timeout=CONNECT_TIMEOUT))
                for name in filenames]


@contextmanager
def hub_errors(repo_id: str, what: str, cache: Path, name: str, offline: str | None) -> Iterator[None]:
    """Hub failures as one line: `what` missing from the cache with no network (MissingWeightsError naming
    the two ways to get it), or a repo / revision / file the Hub does not have (InputError)."""
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
        why = f"the Hub was not asked: {offline}" if offline else "the Hub cannot be reached"
        raise missing_weights(name, what, f"the Hugging Face cache {cache}", f"the Hub repo {repo_id}",
                              f"{why}, {type(e).__name__}") from None
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as e:
        raise InputError(f"{repo_id}: {' '.join(str(e).split())}") from None
    except HfHubHTTPError as e:
        raise DownloadError(f"{repo_id}: the Hub refused the download ({' '.join(str(e).split())})") from None
