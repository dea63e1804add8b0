"""The configuration tree: typed values and overrides, errors at load time, bases, printing."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from mapfree.cli import main
from mapfree.configs.typed import ConfigError
from mapfree.models.config import HeadConfig
from mapfree.training import TrainConfig
from mapfree.training.config import DepthConfig, ValidationConfig
from mapfree.training.metric_names import best_metrics

# The packaged files as they were before they became differences from their bases (comments dropped).
OLD_MICKEY = """
model:
  backbone: {kind: dinov2, size: vitl14, dtype: float16}
  heads: {dims: [512, 256, 128, 64], descriptor_dim: 128}
  matcher: {temperature: 0.1, dustbin: true}
data: {root: data/mapfree, resize: null, batch_size: 8, val_batch_size: 8, num_workers: 8, pairs_per_scene: 100,
       min_overlap: 0.0, max_overlap: 1.0}
loss: {num_sets: 20, set_size: 512, num_hypotheses: 20, min_set: 8, refine_steps: 4, refine_threshold: 0.15,
       score_threshold: 0.3, score_temperature: 20.0, null_hypothesis: true, outlier_ratio: 0.35, null_loss: 0.8,
       clip_px: null}
curriculum: {enabled: true, start: 0.3, end: 0.8, step: 0.05}
solver: {rounds: 20, hypotheses: 100, samples: 2048, refinements: 4, inlier_threshold: 0.15, soft_threshold: 0.3}
optim: {lr: 1.0e-4, eps: 1.0e-6, grad_clip: 5.0}
trainer: {out_dir: outputs/train, name: mickey, max_epochs: 100, accelerator: gpu, devices: 4, strategy: ddp,
          precision: 32-true, val_check_interval: 0.5, limit_val_batches: 100, log_every_n_steps: 50,
          image_log_every_n_steps: 500}
"""
OLD_SYNTHETIC_CPU = """
model:
  backbone: {kind: cnn, dtype: float32, cnn_channels: 64}
  heads: {dims: [64, 64, 32, 32], descriptor_dim: 32, attention_layers: 1, attention_heads: 4,
          border: 1, depth_sigmoid: true, max_depth: 12.0}
  matcher: {temperature: 0.01}
data: {root: outputs/synthetic, resize: [240, 320], batch_size: 4, val_batch_size: 4, num_workers: 1,
       pairs_per_scene: 16, min_overlap: 0.3, val_max_pairs: 48, val_depth_suffix: depth}
loss: {num_sets: 8, set_size: 64, num_hypotheses: 32, min_set: 3, null_hypothesis: false}
curriculum: {enabled: true, start: 0.5, end: 0.8, step: 0.1}
solver: {rounds: 4, hypotheses: 50, samples: 512}
init: {checkpoint: outputs/pretrained_features}
optim: {lr: 3.0e-4, frozen: [backbone, descriptor_head]}
trainer: {out_dir: outputs/train, name: synthetic_cpu, max_epochs: 10, check_val_every_n_epoch: 5, accelerator: cpu,
          devices: 1, log_every_n_steps: 5, image_log_every_n_steps: 50}
"""


def old(text: str) -> TrainConfig:
    return TrainConfig.from_dict(yaml.safe_load(text))


def renamed(config: TrainConfig, name: str, **changes) -> TrainConfig:
    return replace(config, trainer=replace(config.trainer, name=name), **changes)


def test_delta_files_load_as_the_old_full_files():
    mickey, synthetic = old(OLD_MICKEY), old(OLD_SYNTHETIC_CPU)
    assert TrainConfig.load("mickey") == mickey
    # ... but for the val frames' width, which the old file left to `data.resize` (VCRE is in native pixels)
    synthetic = replace(synthetic, validation=ValidationConfig(image_width=360))
    # ... and for its frozen-feature cache, which computes the same values faster
    synthetic = replace(synthetic, optim=replace(synthetic.optim, cache_frozen=True))
    # ... and for its decoded-frame cache, which reads the same frames once
    synthetic = replace(synthetic, data=replace(synthetic.data, cache_mb=1024))
    # ... and for MicKey's split of what learns: only the backbone frozen, a fresh descriptor head, raw depth
    heads = replace(synthetic.model.heads, depth_sigmoid=False, max_depth=HeadConfig().max_depth)
    synthetic = replace(synthetic, model=replace(synthetic.model, heads=heads),
                        init=replace(synthetic.init, fresh=["descriptor_head"]),
                        optim=replace(synthetic.optim, frozen=["backbone"]))
    assert TrainConfig.load("synthetic_cpu") == synthetic
    assert TrainConfig.load("mickey_depth") == renamed(mickey, "mickey_depth", depth=DepthConfig(
        enabled=True, source="prior", prior_root="outputs/depth_prior/depth_anything_v2", missing="error", loss="ssi",
        weight=1.0, warmup_steps=1000))
    assert TrainConfig.load("mickey_overlap") == renamed(
        mickey, "mickey_overlap", data=replace(mickey.data, min_overlap=0.4, max_overlap=0.8),
        curriculum=replace(mickey.curriculum, enabled=False))
    assert TrainConfig.load("synthetic_cpu_depth") == renamed(synthetic, "synthetic_cpu_depth", depth=DepthConfig(
        enabled=True, source="prior", prior_root="outputs/depth_prior/synthetic_metric", loss="silog", weight=1.0))


def test_overrides_are_typed_by_the_field():
    cfg = TrainConfig.load("synthetic_cpu", [
        "model.matcher.temperature=1e-2", "optim.lr=1e-3", "data.resize=[360, 480]", "trainer.val_check_interval=100",
        "trainer.limit_val_batches=0.5", "data.val_max_pairs=null", "optim.frozen=[backbone]",
        "pretrain.views=homography", "loss.null_loss=1", "trainer.devices=2",
    ])
    assert cfg.model.matcher.temperature == 0.01 and isinstance(cfg.model.matcher.temperature, float)
    assert cfg.optim.lr == 1e-3 and cfg.data.resize == (360, 480) and cfg.data.val_max_pairs is None
    assert type(cfg.trainer.val_check_interval) is int and type(cfg.trainer.limit_val_batches) is float
    assert cfg.optim.frozen == ["backbone"] and cfg.pretrain.views == "homography"
    assert cfg.loss.null_loss == 1.0 and isinstance(cfg.loss.null_loss, float) and cfg.trainer.devices == 2


@pytest.mark.parametrize("override, message", [
    ("trainer.max_epochs=abc", "trainer.max_epochs: expected int, got 'abc'"),
    ("trainer.max_epochs=true", "trainer.max_epochs: expected int, got True"),
    ("optim.lr=fast", "optim.lr: expected float, got 'fast'"),
    ("data.resize=[1, 2, 3]", r"data.resize: expected \[int, int\] or null"),
    ("pretrain.views=stereo", "pretrain.views: expected one of 'pairs', 'homography'"),
    ("model.heads.dimz=3", r"model.heads.dimz: unknown key \(did you mean dims\?\)"),
    ("trainer.max_epoch=3", "did you mean max_epochs"),
    ("trainer.max_epochs.x=1", "trainer.max_epochs: not a section"),
    ("max_epochs", "section.key=value"),
])
def test_bad_overrides_fail_at_load_naming_key_and_type(override, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.load("synthetic_cpu", [override])


def test_bad_values_in_files_name_the_file(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("trainer: {max_epochs: 1, colour: red}\n")
    child = tmp_path / "child.yaml"
    child.write_text("base: base\noptim: {lr: 1e-3}\n")
    with pytest.raises(ConfigError, match=f"{base}: trainer.colour: unknown key"):
        TrainConfig.load(child)
    child.write_text("base: mickey\ndata: {batch_size: 2.5}\n")
    with pytest.raises(ConfigError, match=f"{child}: data.batch_size: expected int, got 2.5"):
        TrainConfig.load(child)
    child.write_text("depth: {enabled: true}\n")  # a dataclass's own check, on the merged tree
    with pytest.raises(ConfigError, match=f"{child}: depth: .*prior_root"):
        TrainConfig.load(child)
    child.write_text("base: child\n")
    with pytest.raises(ConfigError, match="base cycle"):
        TrainConfig.load(child)


def test_bases_merge_in_order_relative_paths_first(tmp_path):
    (tmp_path / "fast.yaml").write_text("optim: {lr: 1.0e-2}\ntrainer: {max_epochs: 2}\n")
    mine = tmp_path / "mine.yaml"
    mine.write_text("base: [synthetic_cpu_depth, fast]\ntrainer: {max_epochs: 3}\n")
    cfg = TrainConfig.load(mine)
    assert cfg.depth.loss == "silog" and cfg.model.matcher.temperature == 0.01  # both packaged levels
    assert cfg.optim.lr == 1e-2 and cfg.optim.frozen == ["backbone"]  # mappings merge
    assert cfg.trainer.max_epochs == 3 and cfg.trainer.name == "synthetic_cpu_depth"


def test_thresholds_and_metric_names_follow_the_image_width():
    assert TrainConfig.load("mickey").thresholds.vcre_px == (90, 45)
    synthetic = TrainConfig.load("synthetic_cpu")  # 360-px-wide frames as `mapfree synth` writes them
    assert synthetic.thresholds.vcre_px == (60.0, 30.0)
    assert best_metrics(synthetic.thresholds) == {"vcre": "val/vcre_auc_60", "pose": "val/pose_auc"}
    # the network's input size does not move them: VCRE is measured in the frames' own pixels
    assert TrainConfig.load("synthetic_cpu", ["data.resize=[120, 160]"]).thresholds.vcre_px == (60.0, 30.0)
    assert TrainConfig.load("mickey", ["data.resize=[270, 360]"]).thresholds.vcre_px == (90, 45)
    assert TrainConfig.load("synthetic_cpu", ["validation.image_width=270"]).thresholds.vcre_px == (45.0, 22.5)
    assert TrainConfig.load("synthetic_cpu", ["validation.vcre_px=[30, 10]"]).thresholds.vcre_px == (30.0, 10.0)


def test_print_config_round_trips(tmp_path, capsys):
    overrides = ["--set", "model.matcher.temperature=1e-2", "--set", "validation.vcre_px=[50]",
                 "--set", "pretrain.steps=7"]
    assert main(["train", "--config", "synthetic_cpu_depth", *overrides, "--print-config"]) == 0
    printed = tmp_path / "printed.yaml"
    printed.write_text(capsys.readouterr().out)
    expected = TrainConfig.load("synthetic_cpu_depth", [o for o in overrides if o != "--set"])
    assert TrainConfig.load(printed) == expected and expected.pretrain.steps == 7
    assert main(["train", "--config", "mickey", "--print-config"]) == 0
    printed.write_text(capsys.readouterr().out)
    assert TrainConfig.load(printed) == TrainConfig.load("mickey")


@pytest.mark.parametrize("command, override, words", [
    ("train", "trainer.max_epochs=abc", ["trainer.max_epochs", "int"]),
    ("train", "model.heads.dimz=3", ["model.heads.dimz", "dims"]),
    ("pretrain", "pretrain.stepz=3", ["pretrain.stepz", "steps"]),
])
def test_cli_exits_2_with_one_line(tmp_path, capsys, command, override, words):
    out = ["--out", str(tmp_path)] if command == "pretrain" else []
    assert main([command, "--config", "synthetic_cpu", "--set", override, *out]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and all(w in err for w in words)


def test_released_model_section_types():
    from mapfree.models import MicKeyConfig

    with pytest.raises(ConfigError, match="heads.dims: expected"):
        MicKeyConfig.from_dict({"heads": {"dims": [1, 2]}})
    assert MicKeyConfig.from_dict({"matcher": {"temperature": "1e-2"}}).matcher.temperature == 0.01
