"""Fidelity to MicKey's loss weighting and the seed paper's two depth-loss variants as configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mapfree.depth_prior.meta import METRIC_DEPTH, PriorMeta, ensure_meta
from mapfree.training import TrainConfig, train
from mapfree.training.data import MapFreeDataModule
from mapfree.training.losses.reinforce import ReinforceResult
from mapfree.training.module import MicKeyTraining
from test_training_module import tiny_config, train_batch


def test_module_sums_reinforce_over_kept_pairs_and_averages_the_direct_term(tiny_dataset, tmp_path, monkeypatch):
    """The training step's pose loss: with the curriculum keeping 2 of 4 pairs, each kept pair's REINFORCE
    surrogate has gradient 1 (summed, not averaged) and each kept pair's direct term 1/2 (averaged)."""
    cfg = tiny_config(tiny_dataset, tmp_path, curriculum={"enabled": True, "start": 0.5, "end": 0.5})
    batch = train_batch(cfg, n=4)
    module = MicKeyTraining(cfg)
    direct = torch.tensor([0.4, 0.1, 0.3, 0.2], requires_grad=True)
    estimate = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    zeros = torch.zeros(4)

    def pose_objective(*args) -> ReinforceResult:
        return ReinforceResult(direct=direct, score_function=estimate - estimate.detach(),
                               expected_loss=direct.detach(), valid=torch.ones(4, dtype=torch.bool),
                               null_weight=zeros, inlier_ratio=zeros)

    monkeypatch.setattr(module, "pose_objective", pose_objective)
    out = module.compute_losses(batch)
    grad_direct, grad_estimate = torch.autograd.grad(out["_trained"], [direct, estimate])
    kept = torch.tensor([0.0, 1.0, 0.0, 1.0])  # the two lowest expected losses
    assert torch.equal(grad_estimate, kept)
    assert torch.equal(grad_direct, kept / 2)
    assert out["pose"].item() == pytest.approx(0.15)


def empty_store(tmp_path: Path) -> Path:
    """A metric depth-prior store without a single frame."""
    store = tmp_path / "prior"
    ensure_meta(store, PriorMeta(teacher="synthetic-metric", quantity=METRIC_DEPTH))
    return store


def test_missing_prior_as_zeros_is_the_seeds_all_zero_target(tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, tmp_path, depth={"enabled": True, "source": "prior", "loss": "seed_mse",
                                                      "prior_root": str(empty_store(tmp_path)), "missing": "zeros"})
    dm = MapFreeDataModule(cfg.data, cfg.depth)
    dm.setup()  # no coverage check: the seed trained on whatever was there
    target = dm.train_set[0]["view0"]["target"]
    assert target.numel() > 0 and torch.equal(target, torch.zeros_like(target))


SEED_PUBLISHED = {"source": "prior", "loss": "seed_mse", "missing": "zeros"}
GT_L2 = {"source": "gt", "loss": "l2"}


def trained_state(config: TrainConfig) -> dict[str, torch.Tensor]:
    result = train(config)
    assert result.global_step == 3 and result.skipped_steps == 0
    return torch.load(result.last_checkpoint, weights_only=False)["state_dict"]


@pytest.mark.parametrize("depth", [SEED_PUBLISHED, GT_L2], ids=["seed-published", "gt-l2"])
def test_depth_loss_without_gradient_trains_the_same_bits_as_no_depth_loss(tiny_dataset, tmp_path, depth):
    """depth.gradient=false (the seed's `.item()`): same data order, same random draws, same weights as a
    run without depth supervision; with the gradient the same run trains other weights."""
    depth = {**depth, "prior_root": str(empty_store(tmp_path))} if depth["source"] == "prior" else depth

    def config(name: str, **depth_changes) -> TrainConfig:
        trainer = {"name": name, "logger": [], "limit_val_batches": 0, "max_steps": 3, "max_epochs": 3}
        return tiny_config(tiny_dataset, tmp_path, trainer=trainer, data={"val_depth_suffix": None},
                           depth=depth_changes)

    without = trained_state(config("without"))
    logged_only = trained_state(config("logged_only", enabled=True, gradient=False, weight=1.0, **depth))
    trained = trained_state(config("trained", enabled=True, gradient=True, weight=1.0, **depth))
    assert without.keys() == logged_only.keys() == trained.keys()
    for name, value in without.items():
        assert torch.equal(value, logged_only[name]), name
    assert any(not torch.equal(value, trained[name]) for name, value in without.items())


def test_depth_loss_without_gradient_is_logged_in_the_total(tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, tmp_path, depth={"enabled": True, "gradient": False, "weight": 2.0, **GT_L2})
    torch.manual_seed(0)
    out = MicKeyTraining(cfg).compute_losses(train_batch(cfg))
    assert out["depth"].item() > 0
    assert out["total"].item() == pytest.approx(out["_trained"].item() + 2.0 * out["depth"].item(), rel=1e-6)


def test_nothing_to_train_without_pose_loss_and_depth_gradient(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="depth.gradient is false"):
        tiny_config(tiny_dataset, tmp_path, pose_loss=False, depth={"enabled": True, "gradient": False, **GT_L2})
