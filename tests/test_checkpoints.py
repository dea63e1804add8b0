"""Checkpoint formats: released MicKey (+ YAML + DINOv2 file), our safetensors format, configs."""

import pytest
import torch
import yaml

from mapfree.models import MicKey, MicKeyConfig
from mapfree.models.checkpoints import from_released_keys, to_released_state_dict
from mickey_weights import released_yaml, seeded_state, small_released_config, write_released_files


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    return write_released_files(tmp_path_factory.mktemp("released"), small_released_config(), seed=3)


def outputs(model, image):
    with torch.no_grad():
        f = model.extract(image)
        return torch.cat([f.kpts.flatten(), f.depth.flatten(), f.scr.flatten(), f.dsc.flatten()])


IMAGE = torch.rand(1, 3, 100, 128, generator=torch.Generator().manual_seed(0))


def test_released_checkpoint_round_trip(released):
    ckpt, _, dino, model = released
    loaded = MicKey.from_pretrained(ckpt, dinov2_weights=dino)  # config.yaml next to the checkpoint
    assert loaded.config == model.config
    assert torch.equal(outputs(loaded, IMAGE), outputs(model, IMAGE))


def test_released_keys_translate_both_ways(released):
    model = released[3]
    state = to_released_state_dict(model.state_dict())
    assert "compute_matches.extractor.det_offset.resblock1.shortcut.0.weight" in state
    assert "compute_matches.extractor.dsc_head.att_layer.layers.0.mlp.2.weight" in state
    assert "compute_matches.matcher.matching_mat.dustbin_score" in state
    assert "compute_matches.extractor.det_head.eps" in state
    ours = from_released_keys(state)
    heads = {k: v for k, v in model.state_dict().items() if not k.startswith("backbone.")}
    assert ours.keys() == heads.keys() and all(torch.equal(ours[k], heads[k]) for k in heads)


def test_released_checkpoint_with_backbone_inside_needs_no_dinov2_file(released, tmp_path):
    _, cfg, _, model = released
    path = tmp_path / "with_backbone.ckpt"
    torch.save({"state_dict": to_released_state_dict(model.state_dict(), include_backbone=True)}, path)
    assert torch.equal(outputs(MicKey.from_pretrained(path, cfg), IMAGE), outputs(model, IMAGE))


def test_missing_dinov2_weights_is_a_clear_error(released, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match="dinov2_vits14_pretrain.pth"):
        MicKey.from_pretrained(released[0], released[1])


def test_dinov2_of_another_size_is_rejected(released, tmp_path):
    ckpt, _, dino, model = released
    cfg = tmp_path / "config.yaml"
    data = released_yaml(model.config)
    data["MICKEY"]["DINOV2"]["CHANNEL_DIM"] = 768
    cfg.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match="does not fit"):
        MicKey.from_pretrained(ckpt, cfg, dino)


def test_corrupt_and_foreign_checkpoints_are_rejected(released, tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.ckpt: not a readable PyTorch checkpoint"):
        MicKey.from_pretrained(bad, released[1], released[2])
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"model.weight": torch.zeros(1)}}, foreign)
    with pytest.raises(ValueError, match="not a released MicKey checkpoint"):
        MicKey.from_pretrained(foreign, released[1], released[2])
    with pytest.raises(FileNotFoundError, match="config not found"):
        MicKey.from_pretrained(foreign, tmp_path / "nope.yaml")


def test_own_format_round_trip_trainable_model(tmp_path):
    model = MicKey(MicKeyConfig.tiny())
    model.load_state_dict(seeded_state(model, 5))
    model.eval()
    model.save_pretrained(tmp_path / "tiny")
    assert (tmp_path / "tiny" / "model.safetensors").is_file() and (tmp_path / "tiny" / "config.yaml").is_file()
    for source in (tmp_path / "tiny", tmp_path / "tiny" / "model.safetensors"):
        loaded = MicKey.from_pretrained(source)
        assert loaded.config == model.config
        assert torch.equal(outputs(loaded, IMAGE), outputs(model, IMAGE))


def test_own_format_leaves_frozen_dinov2_out(released, tmp_path):
    _, _, dino, model = released
    model.save_pretrained(tmp_path / "ours")
    from safetensors.torch import load_file

    assert not any(k.startswith("backbone.") for k in load_file(str(tmp_path / "ours" / "model.safetensors")))
    loaded = MicKey.from_pretrained(tmp_path / "ours", dinov2_weights=dino)
    assert torch.equal(outputs(loaded, IMAGE), outputs(model, IMAGE))


def test_corrupt_safetensors_is_rejected(tmp_path):
    MicKeyConfig.tiny().save(tmp_path / "config.yaml")
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        MicKey.from_pretrained(tmp_path)


def test_config_yaml_round_trip_and_released_translation(tmp_path):
    config = MicKeyConfig.tiny()
    assert MicKeyConfig.load(config.save(tmp_path / "c.yaml")) == config
    released = tmp_path / "released.yaml"
    released.write_text(yaml.safe_dump(released_yaml(MicKeyConfig())) .replace("FLOAT16: false", "FLOAT16: true"))
    loaded = MicKeyConfig.load(released)
    assert loaded.backbone.size == "vitl14" and loaded.backbone.dtype == "float16"
    assert loaded.heads.dims == (512, 256, 128, 64) and loaded.matcher.temperature == 0.1


def test_bad_configs_name_the_problem(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("mickey:\n  heads:\n    colour: blue\n")
    with pytest.raises(ValueError, match=r"c.yaml: mickey.heads.colour: unknown key"):
        MicKeyConfig.load(path)
    path.write_text("something: 1\n")
    with pytest.raises(ValueError, match="top-level 'mickey' or 'MICKEY'"):
        MicKeyConfig.load(path)
