"""The LightningModule: MicKey's VCRE REINFORCE objective plus depth supervision, with safe steps.

Optimisation is manual so that a step whose loss or gradients are NaN/Inf is skipped (and
counted) instead of applied, BatchNorm statistics included; in a distributed run the check runs
on the all-reduced gradients, so every process skips the same steps. Pose losses run in float32
even under bf16/fp16 autocast: SVDs and the soft inlier counts are not safe in half precision.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from mapfree.data.items import views
from mapfree.errors import InputError
from mapfree.models import MicKey, MicKeyConfig
from mapfree.training.callbacks import rename_legacy_callback_states
from mapfree.training.config import TrainConfig
from mapfree.training.curriculum import topk_mask
from mapfree.training.errors import CheckpointError
from mapfree.training.feature_cache import cache_outputs
from mapfree.training.loggers import log_image, shows_images
from mapfree.training.losses.depth import depth_loss, depth_weight
from mapfree.training.losses.reinforce import ReinforceResult, batch_pose_loss, reinforce_objective, vcre_pose_loss
from mapfree.training.metric_names import best_metrics
from mapfree.training.metrics import ValidationAccumulator
from mapfree.viz.maps import map_panel
from mapfree.weights.catalog import CATALOG

log = logging.getLogger(__name__)
BACKBONE_PREFIX = "model.backbone."


def build_model(config: TrainConfig) -> MicKey:
    """A fresh MicKey from `config.model`, or the heads of `config.init.checkpoint` for fine-tuning; either way
    its `input_size` is the `data.resize` it trains at, which inference then resizes to."""
    model = _initial_model(config)
    model.config = replace(model.config, input_size=config.data.resize)
    return model


def _initial_model(config: TrainConfig) -> MicKey:
    if config.init.checkpoint:
        checkpoint = config.init.checkpoint
        if not Path(checkpoint).exists() and checkpoint not in CATALOG:  # a catalogue name: `mickey`
            raise CheckpointError(f"init.checkpoint: not found: {checkpoint}")
        try:  # the architecture: init.config, else the `model` section, else the YAML beside the checkpoint
            model = MicKey.from_pretrained(checkpoint, config.init.config or config.model,
                                           config.init.dinov2_weights)
        except (OSError, ValueError) as e:  # unreadable, corrupt or not fitting: name the setting
            raise CheckpointError(f"init.checkpoint: {e}") from None
        reinitialise(model, config.init.fresh)
        return model.train()
    if config.init.fresh:
        raise InputError("init.fresh: names modules of init.checkpoint, but no checkpoint is given")
    return MicKey(config.model or MicKeyConfig())


def reinitialise(model: MicKey, names: list[str]) -> None:
    """Give the named modules of `model` the initialisation of a new MicKey of its configuration."""
    if not names:
        return
    fresh = MicKey(model.config)
    for name in names:
        module = getattr(fresh, name, None)
        if not isinstance(module, torch.nn.Module):
            raise InputError(f"init.fresh: the model has no module {name!r}")
        getattr(model, name).load_state_dict(module.state_dict())


def gradients_finite(module: torch.nn.Module) -> bool:
    """True when every existing gradient is finite (one fused reduction, one host sync)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return True
    return bool(torch.stack([g.isfinite().all() for g in grads]).all())


class MicKeyTraining(pl.LightningModule):
    """Trains MicKey's heads (and a CNN backbone) on Map-free pairs; validates pose and depth."""

    def __init__(self, config: TrainConfig | dict[str, Any], model: MicKey | None = None):
        super().__init__()
        self.config = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
        self.save_hyperparameters({"config": self.config.to_dict()})
        self.model = model if model is not None else build_model(self.config)
        self.frozen_modules = [self._module(name) for name in self.config.optim.frozen]
        for module in self.frozen_modules:
            module.requires_grad_(False).eval()
            if self.config.optim.cache_frozen:
                cache_outputs(module, self.config.optim.cache_frozen_mb << 20)
        self.automatic_optimization = False
        self.skipped_steps = 0
        self.validation = ValidationAccumulator(self.config.solver, self.config.thresholds)
        self.headline_metrics = {name.removeprefix("val/") for name in best_metrics(self.config.thresholds).values()}

    def _module(self, name: str) -> torch.nn.Module:
        module = getattr(self.model, name, None)
        if not isinstance(module, torch.nn.Module):
            children = [n for n, _ in self.model.named_children()]
            raise InputError(f"optim.frozen: the model has no module {name!r}; it has {children}")
        return module

    def train(self, mode: bool = True) -> MicKeyTraining:
        """Frozen modules stay in eval mode (their BatchNorm statistics are part of what is frozen)."""
        super().train(mode)
        for module in self.frozen_modules:
            module.eval()
        return self

    # ------------------------------------------------------------------ losses
    def pose_objective(self, batch: dict[str, Any], feats0: Any, feats1: Any, matches: Any) -> ReinforceResult:
        """MicKey's REINFORCE/VCRE objective for a batch, in float32 whatever the autocast."""
        cfg = self.config
        view0, view1 = views(batch)
        with torch.autocast(self.device.type, enabled=False):
            pose_loss = vcre_pose_loss(batch["T_0to1"].float(), view0["camera_full"], view1["camera_full"],
                                       cfg.loss.clip_px)
            X, Y = (view["camera"].backproject(feats.kpts.float(), feats.depth.float())
                    for view, feats in ((view0, feats0), (view1, feats1)))
            return reinforce_objective(matches.scores.float(), X, Y, pose_loss, cfg.loss)

    def compute_losses(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Forward both images and return `total` plus the terms it is made of (for logging), and
        `_trained`: the part of `total` that carries gradients (all of it unless depth.gradient is false)."""
        feats0, feats1, matches = self.model(*(view["image"] for view in views(batch)))
        cfg = self.config
        out: dict[str, Tensor] = {}
        trained = feats0.depth.new_zeros(())  # what the backward pass differentiates
        logged_only = feats0.depth.new_zeros(())
        if cfg.pose_loss:
            res = self.pose_objective(batch, feats0, feats1, matches)
            keep = topk_mask(res.expected_loss, cfg.curriculum.fraction(self.current_epoch), res.valid)
            out["pose"] = batch_pose_loss(res, keep)
            out["expected_vcre_loss"] = torch.where(res.valid, res.expected_loss, torch.nan).nanmean()
            out["null_weight"] = res.null_weight.mean()
            out["inlier_ratio"] = res.inlier_ratio.mean()
            out["invalid_pairs"] = (~res.valid).sum().float()
            trained = trained + out["pose"]
        if cfg.depth.enabled:
            pred = torch.cat([feats0.depth, feats1.depth]).float()
            target = torch.cat([view["target"] for view in views(batch)]).to(pred)
            if target.shape != pred.shape:
                raise InputError(f"depth targets have {target.shape[-1]} patches per image, the model predicts "
                                 f"{pred.shape[-1]} (grid {feats0.grid}): prior and training image sizes differ")
            out["depth"] = depth_loss(pred, target, cfg.depth.loss, silog_lambda=cfg.depth.silog_lambda)
            d = cfg.depth
            weight = depth_weight(self.global_step, d.weight, d.warmup_steps, d.start_step)
            out["depth_weight"] = trained.new_tensor(weight)
            weighted = out["depth_weight"] * out["depth"]
            if d.gradient:
                trained = trained + weighted
            else:  # the seed's published code: the value is logged, no gradient reaches a weight
                logged_only = weighted.detach()
        out["total"] = trained + logged_only
        out["_trained"] = trained
        out["_features"] = (feats0, feats1)
        return out

    # ------------------------------------------------------------------ training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        opt = self.optimizers()
        # a NaN batch would also poison BatchNorm running statistics: keep them to restore on a skip
        buffers = [(b, b.detach().clone()) for b in self.model.buffers() if b.is_floating_point()]
        out = self.compute_losses(batch)
        opt.zero_grad(set_to_none=True)
        self.manual_backward(out["_trained"])
        finite = gradients_finite(self.model) and bool(torch.isfinite(out["_trained"].detach()))
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        if finite or scaler is not None:
            opt.step()  # an fp16 GradScaler skips non-finite steps itself and lowers its scale
        if not finite:
            for buffer, saved in buffers:
                buffer.copy_(saved)
            self.skipped_steps += 1
            log.warning("step %d: non-finite loss or gradients, update skipped (%d so far)",
                        self.global_step, self.skipped_steps)
        else:
            sched = self.lr_schedulers()
            if sched is not None:
                sched.step()
        bs = len(batch["T_0to1"])
        for key, value in out.items():
            if not key.startswith("_"):
                self.log(f"train/{key}", value.detach(), batch_size=bs, prog_bar=key in ("total", "depth"))
        self.log("train/skipped_steps", float(self.skipped_steps), batch_size=bs)
        self.log("train/topk_fraction", self.config.curriculum.fraction(self.current_epoch), batch_size=bs)
        every = self.config.trainer.image_log_every_n_steps
        if every and self.global_step % every == 0:
            feats0 = out["_features"][0]
            view = batch["view0"]
            target = view["target"][0] if "target" in view else None
            self._log_panel("train/maps", view["image"][0], feats0, target, self.config.depth.loss != "ssi")

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # gradients are unscaled here under fp16, so the clip norm means the same in every precision
        if self.config.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip)

    def configure_optimizers(self) -> Any:
        o = self.config.optim
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=o.lr, eps=o.eps)
        if not o.lr_step_interval:
            return opt
        sched = torch.optim.lr_scheduler.StepLR(opt, o.lr_step_interval, o.lr_step_gamma)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # ------------------------------------------------------------------ validation
    def on_validation_epoch_start(self) -> None:
        self.validation.reset()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        feats0, feats1, matches = self.model(*(view["image"] for view in views(batch)))
        self.validation.add(batch, feats0, feats1, matches)
        if self.config.pose_loss:  # the training objective's expected loss on all val pairs (no curriculum)
            res = self.pose_objective(batch, feats0, feats1, matches)
            self.validation.add_loss(torch.where(res.valid, res.expected_loss, float("nan")))
        if batch_idx == 0:
            view = batch["view0"]
            target = view["true_depth"][0] if "true_depth" in view else None
            self._log_panel("val/maps", view["image"][0], feats0, target)

    def on_validation_epoch_end(self) -> None:
        metrics = self.validation.compute(self.all_gather if self.trainer.world_size > 1 else None)
        for key, value in metrics.items():
            if math.isfinite(value):
                self.log(f"val/{key}", value, prog_bar=key in self.headline_metrics)  # same on every rank

    # ------------------------------------------------------------------ logging and checkpoints
    def _log_panel(self, tag: str, image: Tensor, feats: Any, target: Tensor | None, metric: bool = True) -> None:
        loggers = [logger for logger in self.loggers if shows_images(logger)]
        if self.trainer.sanity_checking or not self.trainer.is_global_zero or not loggers:
            return
        panel = map_panel(image, feats.grid, feats.depth[0], feats.scr[0], target, metric)
        for logger in loggers:
            log_image(logger, tag, panel, self.global_step)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Leave a frozen backbone's weights out (they come from the pretrained file)."""
        if self.model.frozen_backbone:
            state = checkpoint["state_dict"]
            for key in [k for k in state if k.startswith(BACKBONE_PREFIX)]:
                del state[key]
        checkpoint["skipped_steps"] = self.skipped_steps

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        rename_legacy_callback_states(checkpoint)
        if self.model.frozen_backbone:
            own = self.state_dict()
            checkpoint["state_dict"].update({k: v for k, v in own.items() if k.startswith(BACKBONE_PREFIX)})
        self.skipped_steps = checkpoint.get("skipped_steps", 0)
