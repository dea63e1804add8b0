"""Feature pretraining: homography targets, the matching loss, pairs and warps as views, frozen modules."""

from __future__ import annotations

import json
import math

import pytest
import torch

from mapfree.geometry.homography import patch_centres, patch_targets, random_homographies
from mapfree.models import MicKey, MicKeyConfig
from mapfree.training.module import MicKeyTraining
from mapfree.training.pretrain import (
    PRETRAINED_MODULES,
    FrameImages,
    PretrainConfig,
    homography_step,
    matching_nll,
    no_match_nll,
    pretrain_features,
    pretrain_model,
    pretraining_views,
    textured_patches,
)
from test_training_module import TINY_MODEL, tiny_config


def translation(dx: float, dy: float) -> torch.Tensor:
    return torch.tensor([[[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]]])


def test_identity_homography_targets_every_patch_itself():
    target, inside = patch_targets(torch.eye(3)[None], (3, 4), 14)
    assert inside.all()
    assert torch.equal(target[0], torch.arange(12))


def test_one_patch_shift_targets_the_next_column_and_drops_the_last():
    target, inside = patch_targets(translation(14.0, 0.0), (2, 3), 14)
    assert inside[0].tolist() == [True, True, False, True, True, False]
    assert target[0][inside[0]].tolist() == [1, 2, 4, 5]


def test_patch_centres_are_pixel_centres_of_the_patches():
    centres = patch_centres((2, 2), 14)
    assert centres.tolist() == [[6.5, 6.5], [20.5, 6.5], [6.5, 20.5], [20.5, 20.5]]


def test_random_homographies_are_seeded_and_bounded():
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    a = random_homographies(5, (60, 80), generator=g())
    assert torch.equal(a, random_homographies(5, (60, 80), generator=g()))
    identity = random_homographies(2, (60, 80), max_rotation_deg=0, max_log_scale=0, corner_jitter=0, generator=g())
    assert torch.allclose(identity / identity[:, 2:, 2:], torch.eye(3).expand(2, 3, 3), atol=1e-4)
    # without rotation and scale, every image corner moves by at most corner_jitter of its side
    shifted = random_homographies(50, (60, 80), max_rotation_deg=0, max_log_scale=0, corner_jitter=0.1, generator=g())
    corners = torch.tensor([[0.0, 0.0, 1.0], [79.0, 0.0, 1.0], [79.0, 59.0, 1.0], [0.0, 59.0, 1.0]])
    moved = corners @ shifted.transpose(1, 2)
    moved = moved[..., :2] / moved[..., 2:]
    offset = (moved - corners[:, :2]).abs().flatten(0, 1)
    assert (offset <= torch.tensor([8.0, 6.0]) + 1e-3).all() and (offset > 4).any()


def test_matching_nll_is_zero_for_certain_correct_matches_and_ignores_outside():
    matching = torch.eye(4)[None]
    target = torch.tensor([[0, 1, 2, 0]])
    inside = torch.tensor([[True, True, True, False]])
    assert matching_nll(matching, target, inside).item() == pytest.approx(0.0, abs=1e-6)
    wrong = torch.tensor([[1, 1, 2, 0]])
    assert matching_nll(matching, wrong, inside).item() > 5


def test_textured_patches_leave_out_flat_regions():
    """A flat (sky-like) half and a checkered half: only the checkered patches are scored."""
    images = torch.full((1, 3, 28, 56), 0.6)
    images[..., 28:] = ((torch.arange(28)[:, None] + torch.arange(28)[None]) % 2).float()
    images[..., :28] += 0.003 * torch.randn(1, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    assert textured_patches(images, 0.01).tolist() == [[False, False, True, True, False, False, True, True]]


def test_no_match_nll_penalises_confident_matches_of_flat_patches():
    certain = torch.eye(3)[None]
    spread = torch.full((1, 3, 3), 1 / 9)
    flat = torch.tensor([[True, True, False]])
    assert no_match_nll(certain, flat).item() > 10
    assert no_match_nll(spread, flat).item() == pytest.approx(-math.log(1 - 1 / 3), rel=1e-5)
    assert no_match_nll(certain, torch.zeros(1, 3, dtype=torch.bool)).item() == 0.0


def test_flat_images_are_trained_to_match_nothing():
    """Nothing textured: no patch is scored for its warped position (no push towards matching by position);
    the whole loss is the no-match term."""
    torch.manual_seed(0)
    model = MicKey(MicKeyConfig.from_dict(TINY_MODEL))
    images = torch.full((2, 3, 56, 70), 0.5)
    still = PretrainConfig(max_rotation_deg=0, max_log_scale=0, corner_jitter=0, gain_range=0, noise_std=0,
                           backbone_precision="32-true")
    loss, accuracy = homography_step(model, images, still, torch.Generator().manual_seed(0))
    assert accuracy.item() == 0.0
    dsc = model.describe(model.backbone_features(torch.cat([images, images])))
    expected = no_match_nll(model.matcher(*dsc.split(2)), torch.ones(2, 20, dtype=torch.bool))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)


@pytest.mark.parametrize("views", ["pairs", "homography"])
def test_pretraining_learns_to_match_and_touches_only_its_modules(tiny_dataset, views):
    torch.manual_seed(0)
    model = MicKey(MicKeyConfig.from_dict(TINY_MODEL))
    others = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(PRETRAINED_MODULES)}
    history = pretrain_features(model, tiny_dataset, "train", PretrainConfig(steps=30, batch_size=4, views=views),
                                progress=False)
    assert len(history) == 30
    first = sum(h["loss"] for h in history[:5]) / 5
    last = sum(h["loss"] for h in history[-5:]) / 5
    assert last < 0.7 * first
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in others.items())


def test_pretraining_refuses_dinov2():
    model = MicKey(MicKeyConfig.from_dict({**TINY_MODEL, "backbone": {"kind": "dinov2", "size": "vits14",
                                                                       "dtype": "float32"}}))
    with pytest.raises(ValueError, match="CNN"):
        pretrain_features(model, "unused", progress=False)


def test_frame_images_names_an_empty_split(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError, match="no frames"):
        FrameImages(tmp_path, "train")


def test_pair_views_need_pairs_and_unknown_views_are_named(tiny_dataset):
    with pytest.raises(FileNotFoundError, match="overlap >= 1.01"):
        pretraining_views(tiny_dataset, "train", PretrainConfig(min_overlap=1.01), None)
    with pytest.raises(ValueError, match="'stereo'"):
        pretraining_views(tiny_dataset, "train", PretrainConfig(views="stereo"), None)
    item = pretraining_views(tiny_dataset, "train", PretrainConfig(), None)[0]
    view = item["view0"]
    assert view["depth"].shape == view["image"].shape[1:]  # pairs come with their depth maps


def test_pretrained_folder_starts_training_with_frozen_features(tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, tmp_path)
    folder = pretrain_model(cfg, tmp_path / "features", PretrainConfig(steps=2, batch_size=2), progress=False)
    assert len(json.loads((folder / "pretrain_history.json").read_text())) == 2

    cfg = tiny_config(tiny_dataset, tmp_path, init={"checkpoint": str(folder)},
                      optim={"lr": 1e-2, "frozen": list(PRETRAINED_MODULES)})
    module = MicKeyTraining(cfg).train()
    assert not module.model.backbone.training and not module.model.descriptor_head.training
    assert module.model.depth_head.training
    frozen = {k: v.clone() for k, v in module.model.state_dict().items() if k.startswith(PRETRAINED_MODULES)}
    pretrained = MicKey.from_pretrained(folder).state_dict()
    assert all(torch.equal(v, pretrained[k]) for k, v in frozen.items())

    from mapfree.training import train

    result = train(cfg)
    trained = MicKey.from_pretrained(result.models["last"]).state_dict()
    assert [k for k, v in frozen.items() if not torch.equal(v, trained[k])] == []  # weights and BatchNorm statistics
    assert not torch.equal(trained["depth_head.out.weight"], pretrained["depth_head.out.weight"])


def test_unknown_frozen_module_is_named(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="no module 'backbon'"):
        MicKeyTraining(tiny_config(tiny_dataset, tmp_path, optim={"frozen": ["backbon"]}))


def test_cli_pretrains_a_model_folder(tiny_dataset, tmp_path, capsys):
    from mapfree.cli import main

    config = tiny_config(tiny_dataset, tmp_path).save(tmp_path / "cfg.yaml")
    out = tmp_path / "features"
    assert main(["pretrain", "--config", str(config), "--out", str(out), "--steps", "2", "--batch-size", "2",
                 "--views", "homography"]) == 0
    assert f"init.checkpoint={out}" in capsys.readouterr().out
    assert MicKey.from_pretrained(out).config.backbone.kind == "cnn"
    assert main(["pretrain", "--config", "mickey", "--out", str(tmp_path / "no")]) == 2  # DINOv2: a clear error
