"""Deterministic random MicKey weights in the released layouts, shared by the model tests.

`seeded_state(model, seed)` fills every tensor of a state dict from one seeded generator in
sorted key order, with magnitudes that keep activations in a sane range, so the same numbers
can be rebuilt anywhere (this is how the reference fixture was produced).
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from mapfree.models import MicKey, MicKeyConfig
from mapfree.models.checkpoints import to_released_state_dict


def _fill(name: str, like: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    if not like.is_floating_point():
        return torch.zeros_like(like)
    r = torch.randn(like.shape, generator=g, dtype=torch.float32)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_var":
        return 0.5 + torch.rand(like.shape, generator=g)
    if leaf in ("running_mean", "bias") or name.endswith(("pos_embed", "cls_token", "mask_token")):
        return 0.05 * r
    if like.ndim >= 2:
        return r / like[0].numel() ** 0.5
    if leaf == "dustbin":
        return torch.tensor(0.7)
    return 1.0 + 0.1 * r  # LayerNorm / BatchNorm weights and LayerScale gammas


def seeded_state(model: MicKey, seed: int = 0) -> dict[str, torch.Tensor]:
    """Our-layout state dict of `model` with reproducible random values."""
    g = torch.Generator().manual_seed(seed)
    return {k: _fill(k, v, g) for k, v in sorted(model.state_dict().items())}


def released_config(size: str = "vits14") -> MicKeyConfig:
    """The released MicKey configuration with another DINOv2 size and an fp32 backbone."""
    config = MicKeyConfig()
    config.backbone.size, config.backbone.dtype = size, "float32"
    return config


def small_released_config() -> MicKeyConfig:
    """ViT-S with narrow heads: the released layout at test size."""
    config = released_config("vits14")
    config.heads.dims, config.heads.descriptor_dim = (32, 32, 16, 16), 16
    return config


def released_yaml(config: MicKeyConfig) -> dict:
    """The released YAML sections for `config` (what `config/MicKey/*.yaml` holds)."""
    from mapfree.models.backbone import VIT_SPECS

    h = config.heads
    return {
        "MODEL": "MicKey",
        "MICKEY": {
            "DINOV2": {"DOWN_FACTOR": 14, "CHANNEL_DIM": VIT_SPECS[config.backbone.size].dim,
                       "FLOAT16": config.backbone.dtype == "float16"},
            "KP_HEADS": {"BLOCKS_DIM": list(h.dims), "BN": h.batch_norm, "USE_SOFTMAX": h.confidence_softmax,
                         "USE_DEPTHSIGMOID": h.depth_sigmoid, "MAX_DEPTH": h.max_depth,
                         "POS_ENCODING": h.position_encoding},
            "DSC_HEAD": {"LAST_DIM": h.descriptor_dim, "BLOCKS_DIM": list(h.dims[:3]), "BN": h.batch_norm,
                         "NORM_DSC": h.normalize_descriptors, "POS_ENCODING": h.descriptor_position_encoding},
        },
        "FEATURE_MATCHER": {"TYPE": "DualSoftmax", "DUAL_SOFTMAX": {"TEMPERATURE": config.matcher.temperature,
                                                                   "USE_DUSTBIN": config.matcher.dustbin}},
    }


def write_released_files(directory: Path, config: MicKeyConfig, seed: int = 0) -> tuple[Path, Path, Path, MicKey]:
    """Seeded model saved as released `mickey.ckpt` + `config.yaml` + `dinov2_*_pretrain.pth`."""
    model = MicKey(config)
    model.load_state_dict(seeded_state(model, seed))
    model.eval()
    ckpt = directory / "mickey.ckpt"
    torch.save({"state_dict": to_released_state_dict(model.state_dict()), "epoch": 0, "global_step": 0}, ckpt)
    cfg = directory / "config.yaml"
    cfg.write_text(yaml.safe_dump(released_yaml(config)))
    dino = directory / f"dinov2_{config.backbone.size}_pretrain.pth"
    torch.save({k[len("backbone."):]: v for k, v in model.state_dict().items() if k.startswith("backbone.")}, dino)
    return ckpt, cfg, dino, model


def randomise_layer_scales(model: torch.nn.Module) -> None:
    """LayerScale gammas away from their init of 1, so folding them into packed weights is exercised."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("gamma"):
                parameter.uniform_(0.2, 2.0)


def randomise_batch_norms(model: torch.nn.Module) -> None:
    """BatchNorm statistics and affine terms away from their identity init, so folding them is exercised."""
    with torch.no_grad():
        for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 2.0)
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.3, 0.3)
