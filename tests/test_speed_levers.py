"""The speed levers of the configuration against float32 eager on CPU: attention kernel, backbone precision,
torch.compile, trainer precision and batch size, on a ViT-S with random weights at 140x112 (8 x 10 patches).

Tolerances are relative L2 errors ||x - x_fp32|| / ||x_fp32||. A half-precision backbone rounds every
activation to its unit roundoff u (2^-8 for bfloat16's 8 significand bits, 2^-11 for float16's 11); the
ViT-S adds a few such roundings per block to its residual stream over 12 blocks, which as independent
errors grow to about sqrt(12 x 4) u = 7u: the bound is 8u. Reordered float32 sums (SDPA, compiled kernels)
differ by a few float32 roundings per block, far below 1e-5.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from mapfree.configs.typed import ConfigError
from mapfree.models import MicKey, MicKeyConfig
from mapfree.training import TrainConfig, train

FP32_TOL = 1e-5
HALF_TOL = {"bfloat16": 8 * 2.0**-8, "float16": 8 * 2.0**-11}


def vit_config(dtype: str = "float32", attention: str = "eager", compile_mode: bool | str = False) -> MicKeyConfig:
    config = MicKeyConfig()
    config.backbone.size, config.backbone.dtype = "vits14", dtype
    config.backbone.attention, config.backbone.compile = attention, compile_mode
    return config


def rel(x: torch.Tensor, ref: torch.Tensor) -> float:
    return float((x.float() - ref).norm() / ref.norm())


@pytest.fixture(scope="module")
def reference() -> MicKey:
    torch.manual_seed(0)
    return MicKey(vit_config()).eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(4, 3, 112, 140, generator=torch.Generator().manual_seed(1))


def like(reference: MicKey, config: MicKeyConfig) -> MicKey:
    model = MicKey(config).eval()
    model.load_state_dict(reference.state_dict())
    return model


def outputs(model: MicKey, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Backbone features and what the heads and matcher make of them for the pairs (images[:2], images[2:])."""
    with torch.no_grad():
        feats0, _, matches = model(images[:2], images[2:])
        return {"features": model.backbone_features(images), "kpts": feats0.kpts, "depth": feats0.depth,
                "dsc": feats0.dsc, "scores": matches.scores}


def test_sdpa_matches_eager_in_float32(reference, images):
    expected = outputs(reference, images)
    got = outputs(like(reference, vit_config(attention="sdpa")), images)
    assert expected["scores"].sum() > 0  # patches inside the confidence border, so the scores are compared
    for name, value in got.items():
        assert rel(value, expected[name]) < FP32_TOL, name


@pytest.mark.parametrize("dtype", sorted(HALF_TOL))
def test_half_precision_backbone_within_its_rounding(reference, images, dtype):
    model = like(reference, vit_config(dtype, attention="sdpa"))
    assert {p.dtype for p in model.backbone.parameters()} == {getattr(torch, dtype)}
    assert {p.dtype for p in model.depth_head.parameters()} == {torch.float32}
    expected, got = outputs(reference, images), outputs(model, images)
    assert got["features"].dtype == torch.float32  # the heads get float32 whatever the backbone
    assert rel(got["features"], expected["features"]) > 0  # the lever took effect
    for name, value in got.items():
        assert rel(value, expected[name]) < HALF_TOL[dtype], name


def test_trainer_autocast_leaves_the_frozen_backbone_in_its_own_precision(reference, images):
    """bf16-mixed is for the heads: a float32 backbone must give the same bits under autocast."""
    with torch.no_grad():
        plain = reference.backbone_features(images)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = reference.backbone_features(images)
            heads = reference.depth_head(mixed)
    assert torch.equal(plain, mixed)
    assert heads.dtype == torch.bfloat16  # while the heads do run under autocast


@pytest.mark.parametrize("value, mode", [(False, None), (True, "default"), ("max-autotune", "max-autotune")])
def test_compile_lever_reads_from_config_overrides(value, mode):
    override = f"model.backbone.compile={str(value).lower() if isinstance(value, bool) else value}"
    config = TrainConfig.load("mickey", [override])
    assert config.model.backbone.compile == value and config.model.backbone.compile_mode == mode


@pytest.mark.parametrize("override", ["model.backbone.compile=fastest", "model.backbone.compile=1",
                                      "model.backbone.attention=flash"])
def test_bad_lever_values_name_their_key(override):
    key = override.split("=")[0].removeprefix("model.")
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        TrainConfig.load("mickey", [override])


def test_compiled_model_keeps_the_released_state_dict_layout(reference):
    """Compiling in place: a compiled model saves and loads the same keys as an eager one (nothing runs yet)."""
    model = like(reference, vit_config(compile_mode=True))
    assert list(model.state_dict()) == list(reference.state_dict())
    assert model.backbone._compiled_call_impl is not None and reference.backbone._compiled_call_impl is None


@pytest.mark.slow
def test_compiled_backbone_matches_eager(reference, images):
    """torch.compile of a ViT-S takes about a minute on one shared CPU core, hence `slow`."""
    expected = outputs(reference, images)
    got = outputs(like(reference, vit_config(attention="sdpa", compile_mode=True)), images)
    for name, value in got.items():
        assert rel(value, expected[name]) < FP32_TOL, name


class Spy(pl.Callback):
    """Records, on the first training batch, what the step really runs."""

    def __init__(self) -> None:
        self.seen: dict[str, object] = {}

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        model = module.model
        self.seen.update(batch_size=len(batch["T_0to1"]), precision=trainer.precision,
                         backbone_weights={p.dtype for p in model.backbone.parameters()})
        self.seen["hooks"] = [model.backbone.register_forward_hook(self.recorder("backbone_out")),
                              model.offset_head.register_forward_hook(self.recorder("heads_out"))]

    def recorder(self, name: str):
        def hook(module, inputs, output) -> None:
            self.seen.setdefault(name, output.dtype)
        return hook

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        for hook in self.seen.pop("hooks", []):
            hook.remove()


@pytest.mark.parametrize("precision, heads_dtype", [("32-true", torch.float32), ("bf16-mixed", torch.bfloat16)])
def test_precision_and_batch_size_reach_a_training_step(tiny_dataset, tmp_path: Path, precision, heads_dtype):
    """A bfloat16 ViT backbone with float32 or autocast heads, 3 pairs a batch: one finite Lightning step."""
    config = TrainConfig.from_dict({
        "model": {"backbone": {"size": "vits14", "dtype": "bfloat16"},
                  "heads": {"dims": [32, 32, 16, 16], "descriptor_dim": 16, "attention_layers": 1,
                            "attention_heads": 4, "border": 1}},
        "data": {"root": str(tiny_dataset), "batch_size": 3, "num_workers": 0, "pairs_per_scene": 3},
        "loss": {"num_sets": 2, "set_size": 16, "num_hypotheses": 2, "min_set": 4},
        "curriculum": {"enabled": False},
        "trainer": {"out_dir": str(tmp_path), "name": "run", "max_steps": 1, "accelerator": "cpu", "devices": 1,
                    "precision": precision, "limit_val_batches": 0, "logger": [], "progress_bar": False},
    })
    spy = Spy()
    result = train(config, extra_callbacks=[spy])
    assert result.global_step == 1 and result.skipped_steps == 0
    assert spy.seen["batch_size"] == 3 and spy.seen["precision"] == precision
    assert spy.seen["backbone_weights"] == {torch.bfloat16} and spy.seen["backbone_out"] == torch.bfloat16
    assert spy.seen["heads_out"] == heads_dtype
