"""Catalogue names load what `mapfree weights download` fetched (API, --checkpoint, --dinov2-weights,
depth-prior --weights); a missing one is one line naming the files, the folder and both ways to get them."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mapfree.cli import main
from mapfree.errors import InputError
from mapfree.models import MicKey, MicKeyConfig
from mapfree.weights.catalog import CATALOG
from mapfree.weights.errors import MissingWeightsError
from mickey_weights import small_released_config, write_released_files
from weights_sources import (  # noqa: F401 (the fixtures served and torch_hub)
    empty_torch_hub,
    hf_cache_with,
    hub_model_folder,
    mickey_zip,
    point,
    served_folder,
)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        pytest.fail(f"network used: {args[:1]}")

    for name in ("getaddrinfo", "create_connection"):
        monkeypatch.setattr(socket, name, refuse)


@pytest.fixture
def downloaded(served, torch_hub, monkeypatch, tmp_path) -> MicKey:
    """`mapfree weights download mickey` and `dinov2-vits14` run against a local server holding a tiny
    random MicKey in the released layout; returns the model those files hold."""
    base, folder = served
    ckpt, cfg, dino, model = write_released_files(tmp_path, small_released_config(), seed=3)
    mickey_zip(folder / "mickey_weights.zip", {"mickey.ckpt": ckpt, "config.yaml": cfg})
    dino.rename(folder / dino.name)
    point(monkeypatch, "mickey", source=f"{base}/mickey_weights.zip")
    point(monkeypatch, "dinov2-vits14", source=f"{base}/{dino.name}")
    assert main(["weights", "download", "mickey"]) == 0
    assert main(["weights", "download", "dinov2-vits14"]) == 0
    return model


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_downloaded_mickey_loads_by_name(downloaded, no_network, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no folder named mickey here
    assert same_weights(MicKey.from_pretrained("mickey"), downloaded)
    released = str(Path(torch.hub.get_dir()) / "checkpoints" / "mickey" / "mickey.ckpt")
    assert same_weights(MicKey.from_pretrained(released, dinov2_weights="dinov2-vits14"), downloaded)


def test_pose_takes_catalogue_names(downloaded, no_network, tmp_path, capsys):
    rng = np.random.default_rng(0)
    for name in ("im0.png", "im1.png"):
        Image.fromarray(rng.integers(0, 255, (112, 84, 3), dtype=np.uint8)).save(tmp_path / name)
    (tmp_path / "intrinsics.txt").write_text("im0.png 60 60 42 56 84 112\nim1.png 60 60 42 56 84 112\n")
    capsys.readouterr()
    images = [str(tmp_path / "im0.png"), str(tmp_path / "im1.png")]
    args = ["pose", *images, "--intrinsics", str(tmp_path / "intrinsics.txt")]
    assert main([*args, "--checkpoint", "mickey", "--dinov2-weights", "dinov2-vits14"]) == 0
    assert "confidence" in capsys.readouterr().out


def test_a_local_folder_named_like_an_entry_is_the_folder(torch_hub, monkeypatch, tmp_path):
    model = MicKey(MicKeyConfig.tiny())
    model.save_pretrained(tmp_path / "mickey")
    monkeypatch.chdir(tmp_path)
    assert same_weights(MicKey.from_pretrained("mickey"), model)


def test_a_missing_name_is_one_line_with_the_file_the_folder_and_both_fixes(torch_hub, no_network, capsys):
    with pytest.raises(MissingWeightsError) as err:
        MicKey.from_pretrained("mickey")
    message = str(err.value)
    assert "\n" not in message
    for part in ("mickey.ckpt, config.yaml", str(torch_hub / "mickey"), "`mapfree weights download mickey`",
                 "`mapfree weights import mickey PATH`", "--from PATH", CATALOG.get("mickey").source):
        assert part in message
    assert main(["pose", "a.png", "b.png", "--intrinsics", "k.txt", "--checkpoint", "mickey"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(MissingWeightsError, match=f"^dinov2-vitb14: dinov2_vitb14_pretrain.pth not in {torch_hub};"):
        MicKey.from_pretrained("org/name", dinov2_weights="dinov2-vitb14")


def test_missing_dinov2_names_its_entry_and_both_fixes(downloaded, no_network, torch_hub):
    (torch_hub / "dinov2_vits14_pretrain.pth").unlink()
    with pytest.raises(MissingWeightsError) as err:
        MicKey.from_pretrained("mickey")
    message = str(err.value)
    assert "dinov2_vits14_pretrain.pth" in message and "`mapfree weights import dinov2-vits14 PATH`" in message
    assert str(torch_hub) in message and "--dinov2-weights" in message


def test_a_name_of_another_kind_is_one_line(torch_hub, no_network):
    with pytest.raises(InputError, match="^dinov2-vitl14: catalogue weights of kind dinov2 .*not mickey weights$"):
        MicKey.from_pretrained("dinov2-vitl14")
    with pytest.raises(InputError, match="^mickey: catalogue weights of kind mickey .*not dinov2 weights$"):
        MicKey.from_pretrained("org/name", dinov2_weights="mickey")


def test_depth_prior_weights_name_resolves_to_the_cached_snapshot(tmp_path, monkeypatch, no_network):
    from huggingface_hub import constants

    from mapfree.depth_prior.depth_anything import resolve_weights

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    repo = CATALOG.get("depth-anything-v2-small").source
    with pytest.raises(MissingWeightsError, match="import depth-anything-v2-small PATH") as err:
        resolve_weights("depth-anything-v2-small")
    assert str(tmp_path / "hf") in str(err.value) and f"the Hub repo {repo}" in str(err.value)
    snapshot = hf_cache_with(tmp_path / "hf", repo, hub_model_folder(tmp_path / "model"))
    assert resolve_weights("depth-anything-v2-small") == (str(snapshot), True)
    with pytest.raises(InputError, match="kind depth-anything"):
        resolve_weights("depth-anything-v2-small", "dpt")


def test_finetuning_takes_the_name(downloaded, no_network, torch_hub, monkeypatch, tmp_path):
    """`init.checkpoint: mickey` (`mapfree train --finetune mickey`) starts from the downloaded weights."""
    from mapfree.training.config import InitConfig, TrainConfig
    from mapfree.training.errors import CheckpointError
    from mapfree.training.module import build_model

    monkeypatch.chdir(tmp_path)
    heads = build_model(TrainConfig(init=InitConfig(checkpoint="mickey"))).state_dict()
    assert all(torch.equal(heads[k], v) for k, v in downloaded.state_dict().items())
    (torch_hub / "mickey" / "mickey.ckpt").unlink()
    with pytest.raises(CheckpointError, match="^init.checkpoint: .*`mapfree weights download mickey`"):
        build_model(TrainConfig(init=InitConfig(checkpoint="mickey")))
