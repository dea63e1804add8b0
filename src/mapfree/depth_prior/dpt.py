"""DPT (`DPTForDepthEstimation`) through `transformers`: the depth network of Map-free's "DPT & ..." rows.

What a checkpoint gives:

- `Intel/dpt-large` and `Intel/dpt-hybrid-midas` (MiDaS 3.0) predict relative inverse depth (unknown
  scale and shift): the store's quantity is `relative_inverse_depth`, usable as a training target
  but not for metric poses.
- DPT fine-tuned on KITTI or NYU (the original DPT release; Map-free's `dptkitti` / `dptnyu` depth
  PNGs were made with them) predicts an inverse depth that a fixed affine map turns into metres:
  depth = 1 / (scale * output + shift), with (scale, shift) = (6.016e-5, 5.79e-3) for KITTI and
  (3.05e-4, 0.1378) for NYU. A checkpoint converted to the `transformers` layout is metric when its
  config.json holds `inverse_depth_scale` and `inverse_depth_shift`; the store's quantity is then
  `metric_depth`.

Preprocessing defaults to DPT's processor (384x384, aspect ratio not kept, mean = std = 0.5) unless
the checkpoint's `preprocessor_config.json` says otherwise.
"""

from __future__ import annotations

from typing import Any

import torch

from mapfree.depth_prior.depth_anything import InputSpec, TransformersDepthTeacher

MIN_INVERSE_DEPTH = 1e-8
"""Metric DPT: the affine inverse depth is clamped here before inverting (as the original DPT code does)."""


class DPTTeacher(TransformersDepthTeacher):
    """DPT-Large / DPT-Hybrid, relative, or metric through the config's `inverse_depth_scale` / `_shift`."""

    name = "dpt"
    label = "DPT"
    model_type = "dpt"
    model_class = "DPTForDepthEstimation"
    default_spec = InputSpec(384, 384, keep_aspect_ratio=False, multiple=1, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))

    def is_metric(self, config: Any) -> bool:
        return hasattr(config, "inverse_depth_scale") and hasattr(config, "inverse_depth_shift")

    def output(self, predicted: torch.Tensor) -> torch.Tensor:
        if not self.metric:
            return predicted
        c = self.model.config
        return 1.0 / (c.inverse_depth_scale * predicted + c.inverse_depth_shift).clamp_min(MIN_INVERSE_DEPTH)

    def config(self) -> dict[str, Any]:
        c = self.model.config
        return {
            "is_hybrid": c.is_hybrid,
            "hidden_size": c.hidden_size,
            "layers": c.num_hidden_layers,
            "inverse_depth_affine": [c.inverse_depth_scale, c.inverse_depth_shift] if self.metric else None,
            **super().config(),
        }
