"""Weights: the real download code against a local HTTP server, Hub repo ids from a local cache, offline errors."""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from pathlib import Path

import pytest
import torch

from mapfree.cli import main
from mapfree.models import MicKey, MicKeyConfig
from mapfree.models.checkpoints import CONFIG_FILE, WEIGHTS_FILE, find_dinov2_weights
from mapfree.weights import fetch
from mapfree.weights.catalog import CATALOG
from mapfree.weights.errors import MissingWeightsError, WeightsNotFoundError
from mapfree.weights.local import resolve_local_or_repo
from weights_sources import (  # noqa: F401 (the fixtures served and torch_hub)
    closed_port,
    empty_torch_hub,
    hf_cache_with,
    point,
    save_weights_file,
    served_folder,
)


def listed(capsys, name: str) -> dict:
    capsys.readouterr()
    assert main(["weights", "list", "--json"]) == 0
    return next(row for row in json.loads(capsys.readouterr().out) if row["name"] == name)


def test_good_download_lands_in_the_torch_hub_cache_and_list_shows_it(served, torch_hub, monkeypatch, capsys):
    base, folder = served
    data = save_weights_file(folder / "dino.pth")
    point(monkeypatch, "dinov2-vits14", source=f"{base}/dino.pth", sha256=hashlib.sha256(data).hexdigest())
    assert not listed(capsys, "dinov2-vits14")["present"]
    assert main(["weights", "download", "dinov2-vits14"]) == 0
    path = torch_hub / "dinov2_vits14_pretrain.pth"
    assert path.read_bytes() == data and find_dinov2_weights("vits14") == path
    row = listed(capsys, "dinov2-vits14")
    assert (row["path"], row["present"], row["size"]) == (str(path), True, len(data))
    assert row["checksum"].startswith("sha256 ")
    assert sorted(p.name for p in torch_hub.iterdir()) == [path.name]  # no temporary left


@pytest.mark.parametrize("checksum, reason", [(True, "does not match its published sha256"),
                                              (False, "not a readable checkpoint")])
def test_corrupt_download_is_deleted_and_reported_in_one_line(served, torch_hub, monkeypatch, capsys,
                                                             checksum: bool, reason: str):
    base, folder = served
    good = save_weights_file(folder / "good.pth")
    (folder / "bad.pth").write_bytes(b"not the published bytes")
    sha = hashlib.sha256(good).hexdigest() if checksum else None
    point(monkeypatch, "loftr-outdoor", source=f"{base}/bad.pth", sha256=sha)
    assert main(["weights", "download", "loftr-outdoor"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and reason in err and "deleted" in err
    assert not any(torch_hub.iterdir())


def test_unreachable_source_is_a_quick_one_line_error_naming_the_fetch_command(torch_hub, monkeypatch, capsys):
    point(monkeypatch, "disk-depth", source=f"http://127.0.0.1:{closed_port()}/depth-save.pth")
    start = time.monotonic()
    assert main(["weights", "download", "disk-depth"]) == 2
    err = capsys.readouterr().err
    assert time.monotonic() - start < 5
    assert err.count("\n") == 1 and "`mapfree weights download disk-depth`" in err and str(torch_hub) in err


def test_zip_entry_unpacks_the_released_files(served, torch_hub, monkeypatch, capsys):
    base, folder = served
    ckpt = folder / "mickey.ckpt"
    torch.save({"state_dict": {"compute_matches.matcher.matching_mat.dustbin_score": torch.tensor(1.0)}}, ckpt)
    with zipfile.ZipFile(folder / "weights.zip", "w") as zf:
        zf.write(ckpt, "mickey_weights/mickey.ckpt")
        zf.writestr("mickey_weights/config.yaml", "MODEL: MicKey\n")
    point(monkeypatch, "mickey", source=f"{base}/weights.zip")
    assert main(["weights", "download", "mickey"]) == 0
    assert sorted(p.name for p in (torch_hub / "mickey").iterdir()) == ["config.yaml", "mickey.ckpt"]
    assert listed(capsys, "mickey")["present"]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return MicKey(MicKeyConfig.tiny()).save_pretrained(tmp_path_factory.mktemp("tiny"))


def test_repo_id_loads_from_the_hugging_face_cache_without_network(tiny_folder, tmp_path):
    hf_cache_with(tmp_path / "hf", "org/tiny-mickey", tiny_folder)
    model = MicKey.from_pretrained("org/tiny-mickey", local_files_only=True, cache_dir=tmp_path / "hf")
    reference = MicKey.from_pretrained(tiny_folder)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))


def test_repo_id_missing_from_the_cache_offline_is_one_line(tmp_path):
    with pytest.raises(MissingWeightsError) as err:
        MicKey.from_pretrained("org/name", local_files_only=True, cache_dir=tmp_path / "hf")
    message = str(err.value)
    assert "\n" not in message and "`mapfree weights download org/name`" in message
    assert str(tmp_path / "hf") in message and "local_files_only" in message


def test_unreachable_hub_uses_the_cache_only_and_fails_fast(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    start = time.monotonic()
    with pytest.raises(MissingWeightsError, match="unreachable"):
        MicKey.from_pretrained("org/name", cache_dir=tmp_path / "hf")
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("value", ["./no/such", "/no/such/folder", "~/no/such", "runs/x/model", "mickey.ckpt"])
def test_a_missing_local_path_is_never_a_repo_id(value: str, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: pytest.fail("went to the Hub"))
    with pytest.raises(WeightsNotFoundError, match="checkpoint not found"):
        MicKey.from_pretrained(value)


def test_local_or_repo_rule(tmp_path):
    assert resolve_local_or_repo(str(tmp_path)) == (str(tmp_path), True)
    assert resolve_local_or_repo("org/name") == ("org/name", False)
    with pytest.raises(WeightsNotFoundError):
        resolve_local_or_repo(tmp_path / "missing")  # a Path is always local


def test_push_to_hub_uploads_a_save_pretrained_folder(monkeypatch):
    import huggingface_hub

    calls: dict = {}

    class FakeApi:
        def __init__(self, token=None):
            calls["token"] = token

        def create_repo(self, repo_id, private=None, exist_ok=False):
            calls["created"] = (repo_id, exist_ok)

        def upload_folder(self, *, repo_id, folder_path, commit_message, revision):
            calls["uploaded"] = (repo_id, sorted(p.name for p in Path(folder_path).iterdir()), commit_message)
            return "https://huggingface.co/org/mine/commit/1"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    url = MicKey(MicKeyConfig.tiny()).push_to_hub("org/mine", commit_message="first")
    assert calls["created"] == ("org/mine", True) and url.endswith("/commit/1")
    assert calls["uploaded"] == ("org/mine", sorted([CONFIG_FILE, WEIGHTS_FILE]), "first")


def test_catalogue_entries_are_complete():
    for name in CATALOG:
        entry = CATALOG.get(name)
        assert entry.source_type in ("url", "zip", "hf") and entry.description and entry.licence
        assert (entry.target is not None) == (entry.source_type != "hf")
        assert fetch.fetch_name(entry.source) == name


def test_hub_entry_download_offline_is_a_quick_one_line_error(tmp_path, monkeypatch, capsys):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    start = time.monotonic()
    assert main(["weights", "download", "dpt-large", "--cache-dir", str(tmp_path / "hf")]) == 2
    err = capsys.readouterr().err
    assert time.monotonic() - start < 5
    assert err.count("\n") == 1 and "`mapfree weights download dpt-large`" in err and str(tmp_path / "hf") in err


def test_weights_modules_import_first_in_a_fresh_interpreter():
    """`mapfree.weights.fetch` and the models package import each other lazily; either may come first."""
    import subprocess
    import sys

    for module in ("mapfree.weights.fetch", "mapfree.models"):
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
