"""Network only when needed: the Hub probe goes through the configured proxy (`HTTPS_PROXY`, `NO_PROXY`),
and weights given as local paths never make a name lookup."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mapfree.cli import main
from mapfree.weights import fetch


class FakeSocket:
    def close(self) -> None:
        pass


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The addresses the code connects to (each connection succeeds); the Hub at its public endpoint; online."""
    from huggingface_hub import constants

    made: list[tuple[str, int]] = []

    def connect(address, timeout=None, *args, **kwargs):
        made.append(address)
        return FakeSocket()

    monkeypatch.setattr(socket, "create_connection", connect)
    monkeypatch.setattr(constants, "ENDPOINT", "https://huggingface.co")
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
                 "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    return made


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any name lookup or connection fails the test."""
    def refuse(*args, **kwargs):
        pytest.fail(f"network used: {args[:1]}")

    for name in ("getaddrinfo", "create_connection", "gethostbyname"):
        monkeypatch.setattr(socket, name, refuse)


def test_the_hub_probe_goes_through_the_configured_proxy(connections, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    assert fetch.hub_offline() is None
    assert connections == [("proxy.test", 3128)]


def test_no_proxy_sends_the_probe_straight_to_the_hub(connections, monkeypatch):
    monkeypatch.setenv("https_proxy", "proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.huggingface.co")
    assert fetch.hub_offline() is None
    assert connections == [("huggingface.co", 443)]


def test_an_unreachable_proxy_is_named(connections, monkeypatch):
    def refused(address, timeout=None, *args, **kwargs):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setenv("HTTPS_PROXY", "http://user:secret@proxy.test:3128")
    monkeypatch.setattr(socket, "create_connection", refused)
    reason = fetch.hub_offline()
    assert reason is not None and "huggingface.co unreachable through the proxy proxy.test:3128" in reason
    assert "secret" not in reason


def test_vismatch_weights_on_this_machine_need_no_probe(no_network, monkeypatch):
    from mapfree.baselines import vismatch_matcher

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert vismatch_matcher.check_weights("sift-nn") is not None  # built from the cache only, never the Hub


@pytest.fixture
def local_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory `tmp_path`, holding an empty `models/` folder."""
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return tmp_path


def command(name: str, data: Path) -> list[str]:
    """`mapfree NAME` given weights `models/missing`: a folder under the local `models/`, mistyped."""
    scene = next((data / "val").iterdir())
    frames = sorted(scene.glob("seq*/frame_*.jpg"))
    return {
        "pose": ["pose", str(frames[0]), str(frames[-1]), "--intrinsics", str(scene / "intrinsics.txt"),
                 "--checkpoint", "models/missing", "--device", "cpu"],
        "submit": ["submit", "--data-root", str(data), "--split", "val", "--out", "out", "--checkpoint",
                   "models/missing", "--device", "cpu"],
        "depth-prior": ["depth-prior", "--data-root", str(data), "--out", "store", "--teacher", "depth-anything",
                        "--weights", "models/missing", "--device", "cpu", "--workers", "0"],
    }[name]


@pytest.mark.parametrize("name", ["pose", "submit", "depth-prior"])
def test_weights_under_a_local_folder_are_a_local_path_and_never_looked_up(name, tiny_dataset, local_models,
                                                                           no_network, capsys):
    assert main(command(name, tiny_dataset)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "models/missing: " in err
    assert "(a local path: models is a local folder, so it is not taken as a Hugging Face Hub id)" in err
