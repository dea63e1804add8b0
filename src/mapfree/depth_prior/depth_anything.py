"""`transformers` depth-estimation teachers, batched on the device: the shared base
(`TransformersDepthTeacher`) and Depth Anything V1/V2 (relative or metric); DPT is in `dpt`.

The checkpoint's own preprocessing settings (`preprocessor_config.json`: target size, keep the
aspect ratio, sides multiple of 14, normalisation) are applied in torch on the device instead
of through the per-image PIL processor, and the prediction is resized back (bilinearly, which
cannot overshoot) to the image MicKey sees.

Sky, the rule of every teacher: teachers never mask; the sky gets the teacher's own output. Nothing
here masks or NaNs a pixel. Depth Anything's relative head ends in a ReLU (non-negative inverse
depth; the sky comes out near zero), its metric head in a sigmoid times the config's `max_depth`
(metres in [0, max_depth]: 20 m Indoor, 80 m Outdoor; the sky comes out near the top), so metric
output is bounded by the model itself and not clipped again here. A metric DPT (`mapfree.depth_prior.dpt`)
inverts an affine inverse depth clamped at 1e-8: finite, but its sky can be very far.
"""

from __future__ import annotations

import pickle
from abc import abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mapfree.data.images import check_image_size, read_image, resize_image
from mapfree.depth_prior.frames import FrameRef
from mapfree.depth_prior.meta import METRIC_DEPTH, RELATIVE_INVERSE_DEPTH
from mapfree.depth_prior.teacher import Teacher
from mapfree.errors import InputError
from mapfree.weights.caches import hf_cache
from mapfree.weights.errors import WeightsNotFoundError, missing_weights
from mapfree.weights.fetch import fetch_name, hub_offline
from mapfree.weights.loading import load_failure
from mapfree.weights.names import resolve_named


def resolve_weights(weights: str, kind: str = "depth-anything") -> tuple[str, bool]:
    """(what to load, whether it is local) by the shared rule of `mapfree.weights.names` (a catalogue name of
    `kind` is its folder in the Hugging Face cache); these weights are a folder (or a Hub id), never a file."""
    source, local = resolve_named(weights, (kind,), "no such folder")
    if local and not Path(source).is_dir():
        raise WeightsNotFoundError(f"{weights}: a file; these weights are a folder holding config.json")
    if local and not (Path(source) / "config.json").is_file():
        raise WeightsNotFoundError(f"{weights}: the folder holds no config.json (an empty or unfinished download?); "
                                   "these weights are a folder holding config.json and the model's weights")
    return source, local


def read_rgb(ref: FrameRef, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 image resized like MicKey's loader; its native size must match the intrinsics."""
    image = read_image(ref.image_path)
    check_image_size(ref.image_path, (image.shape[1], image.shape[0]), ref.native_size)
    return resize_image(image, size)  # the loader's resize


@dataclass(frozen=True)
class InputSpec:
    """The network's input resizing and normalisation (Depth Anything's defaults unless the
    checkpoint says otherwise)."""

    height: int = 518
    width: int = 518
    keep_aspect_ratio: bool = True
    multiple: int = 14
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def from_pretrained(self, weights: str, local_files_only: bool) -> InputSpec:
        """The checkpoint's settings, with this spec's values where it has none."""
        from transformers import ImageProcessingMixin

        try:
            config, _ = ImageProcessingMixin.get_image_processor_dict(weights, local_files_only=local_files_only)
        except OSError:
            return self
        size = config.get("size") or {}
        if isinstance(size, int):
            size = {"height": size, "width": size}
        default, cls = self, type(self)
        return cls(
            int(size.get("height", default.height)),
            int(size.get("width", default.width)),
            bool(config.get("keep_aspect_ratio", default.keep_aspect_ratio)),
            int(config.get("ensure_multiple_of", default.multiple)),
            tuple(config.get("image_mean", default.mean)),
            tuple(config.get("image_std", default.std)),
        )

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """Network input (height, width) for an image: scale as little as possible, sides multiples of `multiple`."""
        sh, sw = self.height / height, self.width / width
        if self.keep_aspect_ratio:
            sh = sw = sw if abs(1 - sw) < abs(1 - sh) else sh

        def snap(v: float) -> int:
            return max(self.multiple, round(v / self.multiple) * self.multiple)

        return snap(sh * height), snap(sw * width)


class TransformersDepthTeacher(Teacher):
    """A `transformers` depth-estimation model from a local folder (no network) or a Hub id.

    Subclasses name the model type and class, the preprocessing defaults of checkpoints without a
    `preprocessor_config.json`, whether a checkpoint is metric, and how its output becomes the map.
    """

    reader = staticmethod(read_rgb)
    label: str
    """The model family in messages."""
    model_type: str
    """`model_type` of the checkpoints' config.json."""
    model_class: str
    """The `transformers` class that loads them."""
    default_spec: InputSpec = InputSpec()

    def __init__(self, weights: str, device: torch.device, dtype: torch.dtype = torch.float32):
        import transformers
        from transformers import AutoConfig

        weights, local = resolve_weights(weights, self.name)
        cache_only = local or hub_offline() is not None
        try:
            config = AutoConfig.from_pretrained(weights, local_files_only=cache_only)
        except OSError as e:  # not on the Hub, no network, or a folder without config.json
            reason = " ".join(str(e).split())
            if local:
                raise WeightsNotFoundError(f"{weights}: cannot load {self.label} weights ({reason})") from e
            raise missing_weights(fetch_name(weights), f"{self.label} weights {weights}",
                                  f"the Hugging Face cache {hf_cache()}", f"the Hub repo {weights}", reason) from e
        if config.model_type != self.model_type:
            raise InputError(f"{weights}: a {config.model_type!r} model, not {self.label}")
        self.weights = str(Path(weights).resolve()) if local else str(weights)
        model_class = getattr(transformers, self.model_class)
        try:
            self.model = model_class.from_pretrained(weights, local_files_only=cache_only, dtype=dtype)
        except pickle.UnpicklingError as e:  # transformers reads pickled weights with torch.load(weights_only=True)
            raise InputError(f"{weights}: a pickled weights file in it holds Python objects, refused as code from "
                             f"data ({load_failure(e)}); use safetensors weights") from None
        self.model.to(device).eval()
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # the decoder's convolutions see one input size per dataset
        self.dtype = dtype
        self.spec = self.default_spec.from_pretrained(weights, cache_only)
        self.metric = self.is_metric(config)
        self.quantity = METRIC_DEPTH if self.metric else RELATIVE_INVERSE_DEPTH
        self._device = device
        self._mean = torch.tensor(self.spec.mean, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(self.spec.std, device=device).view(1, 3, 1, 1)

    @property
    def device(self) -> torch.device:
        return self._device

    @abstractmethod
    def is_metric(self, config: Any) -> bool:
        """Whether the checkpoint of `config` predicts metres (else relative inverse depth)."""

    def output(self, predicted: torch.Tensor) -> torch.Tensor:
        """The model's (B, h, w) float32 `predicted_depth` as this teacher's quantity (default: as is)."""
        return predicted

    def config(self) -> dict[str, Any]:
        return {"input": asdict(self.spec)}

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) uint8 to (B, H, W) float32 relative inverse depth or metres."""
        _, h, w, _ = batch.shape
        x = batch.permute(0, 3, 1, 2).float().div_(255.0)
        size = self.spec.input_size(h, w)
        if size != (h, w):
            x = F.interpolate(x, size, mode="bicubic", align_corners=False, antialias=True).clamp_(0.0, 1.0)
        x = (x - self._mean) / self._std
        depth = self.output(self.model(pixel_values=x.to(self.dtype)).predicted_depth.float())
        return F.interpolate(depth[:, None], (h, w), mode="bilinear", align_corners=False)[:, 0]


class DepthAnythingTeacher(TransformersDepthTeacher):
    """`DepthAnythingForDepthEstimation`, V1 or V2; metric when its config says `depth_estimation_type: metric`."""

    name = "depth-anything"
    label = "Depth Anything"
    model_type = "depth_anything"
    model_class = "DepthAnythingForDepthEstimation"

    def is_metric(self, config: Any) -> bool:
        return config.depth_estimation_type == "metric"

    def config(self) -> dict[str, Any]:
        c = self.model.config
        return {
            "depth_estimation_type": c.depth_estimation_type,
            "max_depth": c.max_depth if self.metric else None,
            "backbone_hidden_size": c.backbone_config.hidden_size,
            "backbone_layers": c.backbone_config.num_hidden_layers,
            **super().config(),
        }
