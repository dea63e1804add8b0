"""`mapfree weights import NAME PATH` and `download NAME --from PATH`: a copy fetched elsewhere passes the checks
a download passes, lands where a download lands (so names load it) and never replaces cached weights unasked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from mapfree.cli import main
from mapfree.models import MicKey
from mapfree.weights.caches import hf_snapshot
from mapfree.weights.catalog import CATALOG
from mickey_weights import small_released_config, write_released_files
from weights_sources import (  # noqa: F401 (the fixture torch_hub)
    empty_torch_hub,
    hub_model_folder,
    mickey_zip,
    point,
    save_weights_file,
)

FORMS = {"import": lambda name, path: ["weights", "import", name, str(path)],
         "download --from": lambda name, path: ["weights", "download", name, "--from", str(path)]}


@pytest.fixture(params=sorted(FORMS))
def place(request):
    """The command line of each of the two ways to place a copy."""
    return FORMS[request.param]


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> tuple[Path, Path, Path, MicKey]:
    """A tiny random MicKey as released: `mickey_weights/{mickey.ckpt,config.yaml}` and the DINOv2 file beside."""
    folder = tmp_path_factory.mktemp("released") / "mickey_weights"
    folder.mkdir()
    ckpt, cfg, dino, model = write_released_files(folder, small_released_config(), seed=5)
    return ckpt, cfg, dino.rename(folder.parent / dino.name), model


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_a_file_is_placed_where_a_download_goes_and_kept_unless_overwrite(torch_hub, place, tmp_path, capsys):
    first = save_weights_file(tmp_path / "first.pth")
    assert main(place("dinov2-vits14", tmp_path / "first.pth")) == 0
    target = torch_hub / "dinov2_vits14_pretrain.pth"
    assert target.read_bytes() == first and str(target) in capsys.readouterr().out
    torch.save({"pos_embed": torch.ones(1, 2, 3), "patch_embed.proj.weight": torch.ones(2)}, tmp_path / "second.pth")
    assert main(place("dinov2-vits14", tmp_path / "second.pth")) == 2
    assert "--overwrite" in one_line_error(capsys) and target.read_bytes() == first
    assert main([*place("dinov2-vits14", tmp_path / "second.pth"), "--overwrite"]) == 0
    assert target.read_bytes() == (tmp_path / "second.pth").read_bytes()
    assert sorted(p.name for p in torch_hub.iterdir()) == [target.name]  # no temporary left


@pytest.mark.parametrize("checksum, reason", [(True, "does not match its published sha256"),
                                              (False, "not a readable checkpoint")])
def test_a_bad_file_fails_the_checks_of_a_download(torch_hub, place, monkeypatch, tmp_path, capsys,
                                                    checksum: bool, reason: str):
    good = save_weights_file(tmp_path / "good.pth")
    (tmp_path / "bad.pth").write_bytes(b"not the published bytes")
    point(monkeypatch, "loftr-outdoor", sha256=hashlib.sha256(good).hexdigest() if checksum else None)
    assert main(place("loftr-outdoor", tmp_path / "bad.pth")) == 2
    err = one_line_error(capsys)
    assert reason in err and "is unchanged" in err and str(tmp_path / "bad.pth") in err
    assert not torch_hub.exists() or not any(torch_hub.iterdir())
    assert (tmp_path / "bad.pth").exists()  # the user's file is left alone
    if checksum:
        assert main(place("loftr-outdoor", tmp_path / "good.pth")) == 0


@pytest.mark.parametrize("layout, form", [("zip", "download --from"), ("folder", "import")])
def test_released_mickey_from_its_zip_or_folder_loads_by_name(torch_hub, released, tmp_path, layout: str,
                                                                form: str):
    place = FORMS[form]
    ckpt, cfg, dino, model = released
    source = (mickey_zip(tmp_path / "mickey_weights.zip", {"mickey.ckpt": ckpt, "config.yaml": cfg}) if layout == "zip"
              else ckpt.parent)
    assert main(place("mickey", source)) == 0
    assert main(place("dinov2-vits14", dino)) == 0
    assert (torch_hub / "mickey" / "mickey.ckpt").read_bytes() == ckpt.read_bytes()
    loaded = MicKey.from_pretrained("mickey")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))


def test_a_mickey_zip_without_its_config_is_refused(torch_hub, released, tmp_path, capsys):
    ckpt = released[0]
    archive = mickey_zip(tmp_path / "partial.zip", {"mickey.ckpt": ckpt})
    assert main(["weights", "import", "mickey", str(archive)]) == 2
    assert "lacks config.yaml" in one_line_error(capsys)
    assert not (torch_hub / "mickey").exists()


def test_a_hub_model_folder_enters_the_hugging_face_cache(tmp_path, monkeypatch, capsys):
    from huggingface_hub import constants, hf_hub_download

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = hub_model_folder(tmp_path / "Depth-Anything-V2-Small-hf")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    assert main(["weights", "import", "depth-anything-v2-small", str(folder)]) == 0
    repo = CATALOG.get("depth-anything-v2-small").source
    snapshot = hf_snapshot(repo)
    assert snapshot is not None and sorted(p.name for p in snapshot.iterdir()) == ["config.json", "model.safetensors"]
    found = hf_hub_download(repo, "model.safetensors", local_files_only=True)  # as transformers looks it up
    assert Path(found).read_bytes() == (folder / "model.safetensors").read_bytes()
    capsys.readouterr()
    assert main(["weights", "list", "--json"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "depth-anything-v2-small")
    assert row["present"] and row["path"] == str(snapshot)
    assert main(["weights", "import", "depth-anything-v2-small", str(folder)]) == 2
    assert "--overwrite" in one_line_error(capsys)


def test_a_truncated_safetensors_file_is_refused(tmp_path, monkeypatch, capsys):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    folder = hub_model_folder(tmp_path / "model")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:-4])
    assert main(["weights", "import", "dpt-large", str(folder)]) == 2
    assert "truncated" in one_line_error(capsys)
    assert hf_snapshot(CATALOG.get("dpt-large").source) is None


def test_a_missing_path_and_a_wrong_shape_are_one_line(torch_hub, tmp_path, capsys):
    assert main(["weights", "import", "dinov2-vits14", str(tmp_path / "nothing.pth")]) == 2
    assert "no such file or folder" in one_line_error(capsys)
    assert main(["weights", "import", "dinov2-vits14", str(tmp_path)]) == 2
    assert "a folder; dinov2-vits14 is one file" in one_line_error(capsys)
    assert main(["weights", "download", "dinov2-vits14", "--overwrite"]) == 2
    assert "--overwrite goes with --from" in one_line_error(capsys)
