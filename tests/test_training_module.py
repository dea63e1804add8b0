"""Training integration: depth gradients reach the depth head, overfitting, NaN skipping, resume, DDP."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from mapfree.data.items import views
from mapfree.depth_prior.patches import patch_average
from mapfree.training import TrainConfig, train
from mapfree.training.data import MapFreeDataModule, ShardedSampler
from mapfree.training.metric_names import best_metrics
from mapfree.training.module import MicKeyTraining

TINY_MODEL = {
    "backbone": {"kind": "cnn", "dtype": "float32", "cnn_channels": 16},
    "heads": {"dims": [32, 32, 16, 16], "descriptor_dim": 16, "attention_layers": 1, "attention_heads": 4, "border": 1},
}


def tiny_config(root: Path, out: Path, **sections) -> TrainConfig:
    data = {
        "model": TINY_MODEL,
        "data": {"root": str(root), "batch_size": 2, "val_batch_size": 2, "num_workers": 0, "pairs_per_scene": 2,
                 "val_max_pairs": 2, "val_depth_suffix": "depth"},
        "loss": {"num_sets": 4, "set_size": 32, "num_hypotheses": 8, "min_set": 4},
        "curriculum": {"enabled": False},
        "solver": {"rounds": 2, "hypotheses": 16, "samples": 64},
        "optim": {"lr": 1e-3},
        "trainer": {"out_dir": str(out), "name": "run", "max_epochs": 1, "accelerator": "cpu", "devices": 1,
                    "progress_bar": False, "log_every_n_steps": 1, "image_log_every_n_steps": 1},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values} if isinstance(values, dict) else values
    return TrainConfig.from_dict(data)


def train_batch(config: TrainConfig, n: int = 2) -> dict:
    dm = MapFreeDataModule(config.data, config.depth)
    dm.setup()
    return next(iter(DataLoader(dm.train_set, batch_size=n, shuffle=False)))


def depth_head_state(module: MicKeyTraining) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.model.depth_head.state_dict().items() if v.is_floating_point()}


@pytest.mark.parametrize("pose_loss", [True, False])
def test_depth_loss_updates_depth_head(tiny_dataset, tmp_path, pose_loss):
    """Fails if the depth loss were added as a float (the seed's `.item()` bug): with no pose
    loss nothing else reaches the depth head, and with it the depth loss must change the update."""
    torch.manual_seed(0)
    cfg = tiny_config(tiny_dataset, tmp_path, pose_loss=pose_loss,
                      depth={"enabled": True, "source": "gt", "loss": "l2", "weight": 1.0})
    batch = train_batch(cfg)
    assert torch.isfinite(batch["view0"]["target"]).any()
    module = MicKeyTraining(cfg)
    out = module.compute_losses(batch)
    assert out["depth"].requires_grad
    grads = torch.autograd.grad(out["depth"], list(module.model.depth_head.parameters()), allow_unused=True,
                                retain_graph=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)

    before = depth_head_state(module)
    opt = torch.optim.SGD(module.model.depth_head.parameters(), lr=0.1)
    opt.zero_grad()
    out["total"].backward()
    opt.step()
    changed = [not torch.equal(before[k], v) for k, v in depth_head_state(module).items() if k in before]
    assert any(changed)


def test_depth_only_training_lowers_depth_error(tiny_dataset, tmp_path):
    torch.manual_seed(0)
    cfg = tiny_config(tiny_dataset, tmp_path, pose_loss=False,
                      depth={"enabled": True, "source": "gt", "loss": "silog", "weight": 1.0})
    batch = train_batch(cfg, n=2)
    module = MicKeyTraining(cfg)
    opt = torch.optim.Adam(module.model.parameters(), lr=5e-3)
    truth = torch.cat([view["target"] for view in views(batch)])

    def abs_rel() -> float:
        module.eval()
        with torch.no_grad():
            f0, f1, _ = module.model(*(view["image"] for view in views(batch)))
        module.train()
        pred = torch.cat([f0.depth, f1.depth])
        ok = torch.isfinite(truth)
        return float(((pred - truth).abs() / truth)[ok].mean())

    start = abs_rel()
    for _ in range(25):
        opt.zero_grad()
        module.compute_losses(batch)["total"].backward()
        opt.step()
    assert abs_rel() < 0.5 * start


@pytest.mark.slow
def test_overfit_few_pairs_lowers_the_expected_loss(tiny_dataset, tmp_path):
    """On two fixed pairs the expected VCRE loss (what the objective estimates) goes down.

    The trained side is the mean over the last five checkpoints (every 10 steps from step 80): on two
    pairs, single REINFORCE checkpoints are jumpy. The inference solver's pose error is not asserted: on
    two pairs its change is seed-dependent (err1 / err0 from 0.77 to 1.01 over seeds 0-3 with MicKey's
    weighting, 0.74 to 0.91 with the earlier one); whether training helps the pose is the study's question.
    """
    torch.manual_seed(0)
    cfg = tiny_config(tiny_dataset, tmp_path, depth={"enabled": True, "source": "gt", "loss": "l2", "weight": 0.1},
                      loss={"num_sets": 8, "set_size": 48, "num_hypotheses": 16, "min_set": 4,
                            "null_hypothesis": False})
    batch = train_batch(cfg)
    module = MicKeyTraining(cfg)
    opt = torch.optim.Adam(module.model.parameters(), lr=2e-3)

    def expected_loss() -> float:
        module.eval()
        with torch.no_grad():
            torch.manual_seed(1)
            loss = float(module.compute_losses(batch)["expected_vcre_loss"])
        module.train()
        return loss

    loss0 = expected_loss()
    trained = []
    for step in range(1, 121):
        opt.zero_grad()
        module.compute_losses(batch)["total"].backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 5.0)
        opt.step()
        if step % 10 == 0 and step >= 80:
            trained.append(expected_loss())
    assert sum(trained) / len(trained) < loss0 - 0.05


class PoisonBatch(pl.Callback):
    """Turns one training batch into NaN images, so its loss and gradients are NaN."""

    def __init__(self, at: int):
        self.at = at
        self.params_before: dict[str, torch.Tensor] | None = None
        self.params_after: dict[str, torch.Tensor] | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.at:
            batch["view0"]["image"][:] = float("nan")
            self.params_before = copy.deepcopy(pl_module.model.state_dict())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx == self.at:
            self.params_after = copy.deepcopy(pl_module.model.state_dict())


def test_nan_step_is_skipped_and_training_resumes(tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, tmp_path, trainer={"max_epochs": 1})
    poison = PoisonBatch(at=1)
    result = train(cfg, extra_callbacks=[poison])
    assert result.skipped_steps == 1 and result.global_step == 1  # global_step counts applied updates
    for name, value in poison.params_before.items():
        if value.is_floating_point():  # weights and BatchNorm statistics alike
            assert torch.equal(value, poison.params_after[name]), name
    assert result.last_checkpoint is not None and not list(result.last_checkpoint.parent.glob("*.partial"))
    assert {"last", "best-vcre", "best-pose"} <= set(result.models)
    # validation scores at the benchmark's 90 px scaled to the 112-px-wide val frames, read from the data
    assert result.monitors == best_metrics(cfg.with_val_width().thresholds) == {"vcre": "val/vcre_auc_18.7",
                                                                               "pose": "val/pose_auc"}
    assert result.monitors["vcre"] in result.final_metrics and "val/depth_abs_rel" in result.final_metrics
    assert list((result.run_dir / "tb").rglob("events.*"))

    from mapfree.models import MicKey
    assert isinstance(MicKey.from_pretrained(result.models["last"]), MicKey)

    resumed = train(tiny_config(tiny_dataset, tmp_path, trainer={"max_epochs": 2, "resume": "last"}))
    assert resumed.skipped_steps == 1  # the skipped-step counter comes back with the checkpoint
    assert resumed.global_step == 3 and [int(h["epoch"]) for h in resumed.history] == [0, 1]  # epoch 0 kept


def test_shipped_configs_parse_by_name():
    from mapfree.configs import available

    names = available()
    assert {"mickey", "mickey_overlap", "mickey_depth", "synthetic_cpu", "synthetic_cpu_depth"} <= set(names)
    for name in names:
        assert TrainConfig.load(name).trainer.name


def test_missing_prior_is_an_error_or_masked(tiny_dataset, tmp_path):
    from mapfree.depth_prior import MissingPriorError
    from mapfree.depth_prior.meta import METRIC_DEPTH, PriorMeta, ensure_meta

    store = tmp_path / "prior"
    ensure_meta(store, PriorMeta(teacher="synthetic-metric", quantity=METRIC_DEPTH))
    cfg = tiny_config(tiny_dataset, tmp_path, depth={"enabled": True, "source": "prior", "prior_root": str(store),
                                                      "loss": "l2"})
    with pytest.raises(MissingPriorError):  # at setup, before any training
        MapFreeDataModule(cfg.data, cfg.depth).setup()
    cfg.depth.missing = "mask"
    dm = MapFreeDataModule(cfg.data, cfg.depth)
    dm.setup()
    assert torch.isnan(dm.train_set[0]["view0"]["target"]).all()


def test_gt_targets_are_patch_means(tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, tmp_path, depth={"enabled": True, "source": "gt", "loss": "l2"})
    dm = MapFreeDataModule(cfg.data, cfg.depth)
    dm.setup()
    item = dm.train_set[0]
    raw = dm.train_set.pairs[0]
    for view, raw_view in zip(views(item), views(raw)):
        assert "depth" not in view  # dense maps are dropped once the targets are made
        np.testing.assert_allclose(view["target"].numpy(), patch_average(raw_view["depth"]).flatten().numpy())


def test_sharded_sampler_partitions_each_epoch():
    from mapfree.data.dataset import SceneBalancedSampler
    from mapfree.data.scenes import Pair

    pairs = [Pair(f"s{i % 3}", "a", "b") for i in range(30)]
    shards = [ShardedSampler(SceneBalancedSampler(pairs, 4, seed=1), rank, 2) for rank in (0, 1)]
    for epoch in (0, 1):
        for s in shards:
            s.set_epoch(epoch)
        a, b = (list(s) for s in shards)
        assert len(a) == len(b) == 6
        full = list(SceneBalancedSampler(pairs, 4, seed=1).__iter__()) if epoch == 0 else None
        if full is not None:
            assert sorted(a + b) == sorted(full)
    odd = [ShardedSampler(range(7), rank, 2, even=False) for rank in (0, 1)]
    assert [len(s) for s in odd] == [4, 3] and sorted(list(odd[0]) + list(odd[1])) == list(range(7))


def test_gather_rows_handles_unequal_shards():
    from mapfree.training.metrics import gather_rows

    shards = [torch.arange(6.0).view(3, 2), torch.arange(10.0, 12.0).view(1, 2)]

    def fake_all_gather(t: torch.Tensor) -> torch.Tensor:
        """all_gather as rank 0 of two processes sees it: every rank passes a same-shaped tensor."""
        if not t.is_floating_point():  # the row counts
            return torch.stack([torch.tensor([len(x)]) for x in shards])
        padded = [torch.cat([x, x.new_full((len(t) - len(x), 2), float("nan"))]) for x in shards]
        return torch.stack(padded)

    assert torch.equal(gather_rows(shards[0], fake_all_gather), torch.cat(shards))


@pytest.mark.slow
def test_two_process_ddp_gloo(tiny_dataset, tmp_path):
    """Two CPU processes (gloo) train and validate together; checkpoints and metrics come back."""
    cfg = tiny_config(tiny_dataset, tmp_path, trainer={"devices": 2, "strategy": "ddp_spawn", "max_epochs": 1},
                      data={"pairs_per_scene": 4})
    result = train(cfg)  # spawned workers keep their counters: read them from the checkpoints
    assert torch.load(result.last_checkpoint, weights_only=False)["global_step"] == 2  # 2 scenes x 4 pairs / (2 x 2)
    assert result.best_checkpoints["vcre"] is not None and "last" in result.models
    best = torch.load(result.best_checkpoints["vcre"], weights_only=False)
    monitor = next(v for k, v in best["callbacks"].items() if result.monitors["vcre"] in k)
    assert monitor["best_model_score"] is not None


def test_finetune_starts_from_a_saved_model(tiny_dataset, tmp_path):
    from mapfree.models import MicKey, MicKeyConfig

    source = MicKey(MicKeyConfig.from_dict(TINY_MODEL))
    folder = source.save_pretrained(tmp_path / "pretrained")
    cfg = tiny_config(tiny_dataset, tmp_path, init={"checkpoint": str(folder)})
    module = MicKeyTraining(cfg)
    assert module.model.training
    for (name, a), b in zip(source.state_dict().items(), module.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_fresh_modules_start_new_on_a_saved_model(tiny_dataset, tmp_path):
    """init.fresh: the named modules get a new initialisation, every other weight is the checkpoint's."""
    from mapfree.models import MicKey, MicKeyConfig

    source = MicKey(MicKeyConfig.from_dict(TINY_MODEL))
    folder = source.save_pretrained(tmp_path / "pretrained")
    cfg = tiny_config(tiny_dataset, tmp_path, init={"checkpoint": str(folder), "fresh": ["descriptor_head"]})
    loaded = MicKeyTraining(cfg).model.state_dict()
    changed = {name for name, value in source.state_dict().items() if not torch.equal(value, loaded[name])}
    assert changed and all(name.startswith("descriptor_head.") for name in changed)
    with pytest.raises(ValueError, match="no module 'descriptor'"):
        MicKeyTraining(tiny_config(tiny_dataset, tmp_path, init={"checkpoint": str(folder), "fresh": ["descriptor"]}))
    with pytest.raises(ValueError, match="no checkpoint"):
        MicKeyTraining(tiny_config(tiny_dataset, tmp_path, init={"fresh": ["descriptor_head"]}))


def test_cli_trains_and_resumes(tiny_dataset, tmp_path, capsys):
    from mapfree.cli import main

    config = tiny_config(tiny_dataset, tmp_path, trainer={"max_epochs": 1}).save(tmp_path / "cfg.yaml")
    assert main(["train", "--config", str(config), "--set", "trainer.name=cli"]) == 0
    out = capsys.readouterr().out
    assert "model-last" in out and "vcre_auc_18.7" in out  # 90 px at 540 wide, for the 112-px-wide frames
    assert main(["train", "--config", str(config), "--set", "trainer.name=cli", "--set", "trainer.max_epochs=2",
                 "--resume"]) == 0
    assert "steps 4" in capsys.readouterr().out
    assert main(["train", "--config", str(config), "--set", "trainer.epochs=2"]) == 2  # unknown key: clear error


class Crash(pl.Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise RuntimeError("simulated crash")


def test_interrupted_training_resumes_from_last_epoch(tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, tmp_path, trainer={"max_epochs": 3, "resume": "last"})
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, extra_callbacks=[Crash()])
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, weights_only=False)["epoch"] == 0
    result = train(cfg)
    assert result.global_step == 6 and [int(h["epoch"]) for h in result.history] == [0, 1, 2]  # history kept


def test_map_panel_shares_the_metric_colour_range():
    from mapfree.viz.maps import map_panel

    image = torch.zeros(3, 28, 42)
    depth = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    panel = map_panel(image, (2, 3), depth, torch.ones(6), target=depth.clone())
    assert panel.shape == (28, 4 * 42, 3)
    np.testing.assert_array_equal(panel[:, 42:84], panel[:, 84:126])  # same metres, same colours
    relative = map_panel(image, (2, 3), depth, torch.ones(6), target=10 * depth, metric_target=False)
    np.testing.assert_allclose(relative[:, 42:84], relative[:, 84:126], atol=3)  # each map on its own range
