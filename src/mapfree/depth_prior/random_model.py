"""Randomly initialised Depth Anything and DPT checkpoints, built offline, for tests and speed figures.

They have the real architecture and go through the same `from_pretrained` folder loading as
released weights; `small`/`base`/`large` have the released sizes (so timings are realistic),
`tiny` is a few hundred thousand parameters for tests. `save_random_dpt` writes a tiny DPT.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from mapfree.atomic import write_json_atomic

ARCHS = {
    # name: (hidden, layers, heads, out_indices, reassemble/neck sizes, fusion, head hidden)
    "tiny": (32, 4, 2, [1, 2, 3, 4], [8, 16, 32, 32], 16, 8),
    "small": (384, 12, 6, [3, 6, 9, 12], [48, 96, 192, 384], 64, 32),
    "base": (768, 12, 12, [3, 6, 9, 12], [96, 192, 384, 768], 128, 32),
    "large": (1024, 24, 16, [5, 12, 18, 24], [256, 512, 1024, 1024], 256, 32),
}


def save_random_depth_anything(
    folder: str | Path, arch: str = "tiny", metric: bool = False, input_size: int = 518, seed: int = 0
) -> Path:
    """Write `config.json`, `model.safetensors` and `preprocessor_config.json` of a random model."""
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
    )

    hidden, layers, heads, out_indices, neck, fusion, head = ARCHS[arch]
    backbone = Dinov2Config(
        image_size=518, patch_size=14, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * hidden, out_indices=out_indices, reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone, reassemble_hidden_size=hidden, neck_hidden_sizes=neck, fusion_hidden_size=fusion,
        head_hidden_size=head, depth_estimation_type="metric" if metric else "relative", max_depth=80 if metric else 1,
    )
    torch.manual_seed(seed)
    processor = {"size": {"height": input_size, "width": input_size}, "keep_aspect_ratio": True,
                 "ensure_multiple_of": 14, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
    return _save(DepthAnythingForDepthEstimation(config), Path(folder), processor)


def save_random_dpt(folder: str | Path, metric: bool = False, input_size: int = 64, seed: int = 0) -> Path:
    """A tiny random DPT (ViT backbone) in the released layout; `metric` adds DPT-KITTI's inverse-depth affine map."""
    from transformers import DPTConfig, DPTForDepthEstimation

    extra = {"inverse_depth_scale": 6.016e-5, "inverse_depth_shift": 5.79e-3} if metric else {}
    config = DPTConfig(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, image_size=input_size,
        patch_size=16, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
        use_auxiliary_head=False, **extra,
    )
    torch.manual_seed(seed)
    processor = {"size": {"height": input_size, "width": input_size}, "keep_aspect_ratio": False,
                 "ensure_multiple_of": 1, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
    return _save(DPTForDepthEstimation(config), Path(folder), processor)


def _save(model: nn.Module, folder: Path, processor: dict) -> Path:
    """Save a random model with varied weights and a `DPTImageProcessor` config (the processor both families use)."""
    model.eval()
    for module in model.modules():  # the default init gives a nearly constant output: make it vary
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.kaiming_uniform_(module.weight, a=5**0.5)
    model.save_pretrained(folder)
    processor = {"image_processor_type": "DPTImageProcessor", "do_resize": True, "resample": 3, "do_rescale": True,
                 "rescale_factor": 1 / 255, "do_normalize": True, "do_pad": False, **processor}
    write_json_atomic(folder / "preprocessor_config.json", processor, indent=2)
    return folder
