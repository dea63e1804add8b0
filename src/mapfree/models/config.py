"""MicKey configuration: dataclasses, YAML round trip, and translation of the released YAML."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mapfree.atomic import write_text_atomic
from mapfree.configs.safe_yaml import read_yaml_file
from mapfree.configs.typed import build, to_plain
from mapfree.errors import InputError

DTYPES = ("float32", "float16", "bfloat16")
ATTENTIONS = ("sdpa", "eager")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
"""`torch.compile` modes; `backbone.compile: true` is "default"."""


@dataclass
class BackboneConfig:
    """`kind` "dinov2" (frozen ViT, `size` vits14/vitb14/vitl14/vitg14) or "cnn" (small, trainable)."""

    kind: str = "dinov2"
    size: str = "vitl14"
    dtype: str = "float16"
    """Precision of the frozen ViT's weights and activations, whatever the trainer's autocast: float16 as
    released; bfloat16 (same speed on Ampere and later, no overflow); float32 for exact CPU numbers.
    The heads follow `trainer.precision` (32-true: float32; bf16-mixed: autocast)."""
    attention: str = "sdpa"
    """ViT attention: "sdpa" (fused kernel) or "eager" (explicit softmax(QK^T)V, the released code's
    path without xFormers). In float32 both agree to rounding; in float16 "eager" reproduces the
    reference's CPU numbers exactly, while on GPU the reference itself runs xFormers' fused kernel."""
    normalize: bool = False
    """ImageNet mean/std normalisation before the backbone; the released MicKey feeds raw [0, 1] RGB."""
    cnn_channels: int = 64
    compile: bool | str = False
    """`torch.compile` the backbone at its first call: false (eager), true or a mode name (COMPILE_MODES).
    Pays on a GPU for repeated calls at one image size (training, a benchmark's frames); each new input
    size or batch size compiles again, and the first call takes from seconds to minutes."""

    @property
    def compile_mode(self) -> str | None:
        """The `torch.compile` mode asked for; None: eager."""
        if self.compile is True:
            return "default"
        return self.compile or None


@dataclass
class HeadConfig:
    dims: tuple[int, int, int, int] = (512, 256, 128, 64)
    descriptor_dim: int = 128
    batch_norm: bool = True
    position_encoding: bool = True
    descriptor_position_encoding: bool = True
    normalize_descriptors: bool = True
    attention_layers: int = 3
    attention_heads: int = 8
    confidence_softmax: bool = True
    """Confidence = exp((x - mean) / temperature) normalised over the image; else a sigmoid."""
    confidence_temperature: float = 100.0
    border: int = 3
    """Patches this close to the image border get zero confidence."""
    depth_sigmoid: bool = False
    max_depth: float = 60.0


@dataclass
class MatcherConfig:
    temperature: float = 0.1
    dustbin: bool = True


@dataclass
class MicKeyConfig:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    heads: HeadConfig = field(default_factory=HeadConfig)
    matcher: MatcherConfig = field(default_factory=MatcherConfig)
    input_size: tuple[int, int] | None = None
    """(W, H) the images were resized to in training, which inference resizes to by default (`mapfree pose`,
    `submit`, `compare`, :func:`mapfree.estimate_pose`); None: frames as they come (the released model, trained
    on Map-free's native 540x720). Training sets it from `data.resize`."""

    def __post_init__(self) -> None:
        if self.backbone.kind not in ("dinov2", "cnn"):
            raise ValueError(f"backbone.kind must be 'dinov2' or 'cnn', got {self.backbone.kind!r}")
        if self.backbone.dtype not in DTYPES:
            raise ValueError(f"backbone.dtype must be one of {DTYPES}, got {self.backbone.dtype!r}")
        if self.backbone.attention not in ATTENTIONS:
            raise ValueError(f"backbone.attention must be one of {ATTENTIONS}, got {self.backbone.attention!r}")
        if isinstance(self.backbone.compile, str) and self.backbone.compile not in COMPILE_MODES:
            raise ValueError(f"backbone.compile must be true, false or one of {COMPILE_MODES}, "
                             f"got {self.backbone.compile!r}")
        if self.heads.dims[2] % self.heads.attention_heads:
            raise ValueError("heads.dims[2] (attention width) must be divisible by heads.attention_heads")
        self.heads.dims = tuple(self.heads.dims)
        if self.input_size is not None:
            if len(self.input_size) != 2 or min(self.input_size) < 14:
                raise ValueError(f"input_size must be (W, H), each at least 14, got {self.input_size}")
            self.input_size = tuple(int(v) for v in self.input_size)

    @classmethod
    def tiny(cls) -> MicKeyConfig:
        """A small trainable CPU configuration (CNN backbone, narrow heads)."""
        return cls(
            backbone=BackboneConfig(kind="cnn", dtype="float32", cnn_channels=64),
            heads=HeadConfig(dims=(64, 64, 32, 32), descriptor_dim=32, attention_layers=1, attention_heads=4),
        )

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MicKeyConfig:
        return build(cls, data)

    def save(self, path: str | Path) -> Path:
        return write_text_atomic(path, yaml.safe_dump({"mickey": self.to_dict()}, sort_keys=False))

    @classmethod
    def load(cls, path: str | Path) -> MicKeyConfig:
        """Read this project's YAML (top-level `mickey:`) or the released MicKey YAML (top-level `MICKEY:`)."""
        path = Path(path)
        data = read_yaml_file(path)
        if not isinstance(data, dict) or not ({"mickey", "MICKEY"} & data.keys()):
            raise InputError(f"{path}: expected a MicKey config with a top-level 'mickey' or 'MICKEY' section")
        try:
            return build(cls, data["mickey"], "mickey") if "mickey" in data else from_released_yaml(data)
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"{path}: {e}") from None


def from_released_yaml(data: dict[str, Any]) -> MicKeyConfig:
    """Translate the released MicKey YAML (`MICKEY`, `FEATURE_MATCHER` sections) to a config."""
    from mapfree.models.backbone import PATCH_SIZE, vit_size_from_channels

    m, matcher = data["MICKEY"], data.get("FEATURE_MATCHER", {})
    if m["DINOV2"].get("DOWN_FACTOR", PATCH_SIZE) != PATCH_SIZE:
        raise InputError(f"MICKEY.DINOV2.DOWN_FACTOR must be {PATCH_SIZE}")
    if matcher.get("TYPE", "DualSoftmax") != "DualSoftmax":
        raise InputError(f"only the DualSoftmax matcher is supported, got {matcher['TYPE']!r}")
    kp, dsc = m["KP_HEADS"], m["DSC_HEAD"]
    dual = matcher.get("DUAL_SOFTMAX", {})
    return MicKeyConfig(
        backbone=BackboneConfig(
            kind="dinov2", size=vit_size_from_channels(int(m["DINOV2"]["CHANNEL_DIM"])),
            dtype="float16" if m["DINOV2"].get("FLOAT16", False) else "float32",
        ),
        heads=HeadConfig(
            dims=tuple(kp["BLOCKS_DIM"]), descriptor_dim=int(dsc["LAST_DIM"]), batch_norm=bool(kp["BN"]),
            position_encoding=bool(kp["POS_ENCODING"]), descriptor_position_encoding=bool(dsc["POS_ENCODING"]),
            normalize_descriptors=bool(dsc["NORM_DSC"]), confidence_softmax=bool(kp["USE_SOFTMAX"]),
            depth_sigmoid=bool(kp["USE_DEPTHSIGMOID"]), max_depth=float(kp["MAX_DEPTH"]),
        ),
        matcher=MatcherConfig(temperature=float(dual.get("TEMPERATURE", 0.1)),
                              dustbin=bool(dual.get("USE_DUSTBIN", True))),
    )
