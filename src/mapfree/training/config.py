"""Training configuration: a dataclass tree read from YAML, with `section.key=value` overrides.

A config file has the sections below (every key optional, unknown keys are an error naming
the file); `model` is :class:`mapfree.models.MicKeyConfig`'s mapping.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

from mapfree.configs import config_path
from mapfree.training.curriculum import TopKCurriculum
from mapfree.training.losses.depth import DEPTH_LOSSES
from mapfree.training.losses.reinforce import ReinforceConfig


@dataclass
class DataConfig:
    """`root` a Map-free-format dataset; `resize` (W, H) or None for native frames."""

    root: str = "data/mapfree"
    resize: tuple[int, int] | None = None
    batch_size: int = 8
    val_batch_size: int = 8
    num_workers: int = 4
    pairs_per_scene: int = 100
    min_overlap: float = 0.0
    max_overlap: float = 1.0
    val_max_pairs: int | None = None
    """Validate on an evenly spaced subset of this many val pairs (None: all)."""
    val_depth_suffix: str | None = None
    """Per-frame depth maps of the val split (`depth` on the synthetic benchmark) for depth metrics."""


@dataclass
class DepthConfig:
    """Depth supervision: total loss = pose loss + lambda(step) * depth loss on all patches."""

    enabled: bool = False
    source: str = "prior"
    """`prior`: a depth-prior store (`prior_root`); `gt`: patch means of the dataset's depth maps (`gt_suffix`)."""
    prior_root: str | None = None
    gt_suffix: str = "depth"
    missing: str = "error"
    """A frame without a target: `error` stops training, `mask` trains it without depth loss."""
    loss: str = "ssi"
    weight: float = 1.0
    warmup_steps: int = 0
    start_step: int = 0
    silog_lambda: float = 0.5
    min_valid_fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.loss not in DEPTH_LOSSES:
            raise ValueError(f"depth.loss must be one of {DEPTH_LOSSES}, got {self.loss!r}")
        if self.source not in ("prior", "gt"):
            raise ValueError(f"depth.source must be 'prior' or 'gt', got {self.source!r}")
        if self.missing not in ("error", "mask"):
            raise ValueError(f"depth.missing must be 'error' or 'mask', got {self.missing!r}")
        if self.enabled and self.source == "prior" and not self.prior_root:
            raise ValueError("depth.source 'prior' needs depth.prior_root (a `mapfree depth-prior` store)")


@dataclass
class ValidationSolverConfig:
    """MicKey's inference solver during validation (released: 20 x 100, 2048 samples)."""

    rounds: int = 20
    hypotheses: int = 100
    samples: int = 2048
    refinements: int = 4
    inlier_threshold: float = 0.15
    soft_threshold: float = 0.3


@dataclass
class OptimConfig:
    lr: float = 1e-4
    eps: float = 1e-6
    grad_clip: float = 5.0
    lr_step_interval: int | None = None
    lr_step_gamma: float = 0.5
    frozen: list[str] = field(default_factory=list)
    """Model modules kept as they start (no gradient, fixed BatchNorm statistics), e.g.
    [backbone, descriptor_head] after `mapfree pretrain` (a DINOv2 backbone is always frozen)."""


@dataclass
class TrainerConfig:
    out_dir: str = "outputs/train"
    name: str = "mickey"
    max_epochs: int = 100
    max_steps: int = -1
    accelerator: str = "auto"
    devices: Any = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    seed: int = 0
    deterministic: bool = False
    val_check_interval: float | int = 1.0
    check_val_every_n_epoch: int = 1
    limit_val_batches: float | int = 1.0
    log_every_n_steps: int = 10
    image_log_every_n_steps: int = 200
    progress_bar: bool = True
    resume: str | None = None
    """`last` (the run's last checkpoint, if any) or a checkpoint path."""


@dataclass
class InitConfig:
    """Fine-tuning: start the heads from a released MicKey checkpoint or one of this project's."""

    checkpoint: str | None = None
    config: str | None = None
    dinov2_weights: str | None = None


@dataclass
class TrainConfig:
    model: dict[str, Any] = field(default_factory=dict)
    init: InitConfig = field(default_factory=InitConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: ReinforceConfig = field(default_factory=ReinforceConfig)
    pose_loss: bool = True
    """False trains on the depth loss alone (depth-only training)."""
    curriculum: TopKCurriculum = field(default_factory=TopKCurriculum)
    depth: DepthConfig = field(default_factory=DepthConfig)
    solver: ValidationSolverConfig = field(default_factory=ValidationSolverConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        if not self.pose_loss and not self.depth.enabled:
            raise ValueError("nothing to train: pose_loss is false and depth.enabled is false")

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-safe data (tuples become lists)."""
        return _plain(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> "TrainConfig":
        return _build(cls, data, where)

    @classmethod
    def load(cls, path: str | Path, overrides: Iterable[str] = ()) -> "TrainConfig":
        """Read a YAML file (or a packaged config by name, see :mod:`mapfree.configs`) and apply
        `section.key=value` overrides (values parsed as YAML)."""
        path = config_path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config not found: {path}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ValueError(f"{path}: not valid YAML: {e}") from None
        data = apply_overrides(data, overrides)
        try:
            return cls.from_dict(data, str(path))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: {e}") from None

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Set dotted keys, e.g. `trainer.max_epochs=3` or `data.resize=[360,480]`, in a nested dict."""
    data = dict(data)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override must look like section.key=value, got {item!r}")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ValueError(f"override {item!r}: value is not valid YAML: {e}") from None
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.get(part)
            node[part] = child = dict(child) if isinstance(child, dict) else {}
            node = child
        node[leaf] = value
    return data


def _number(value: int | str, where: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{where} must be a number, got {value!r}") from None


def _build(cls: type, data: Any, where: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a mapping, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown keys in {where}: {unknown}")
    kwargs = {}
    for name, value in data.items():
        f = known[name]
        default = f.default_factory() if callable(f.default_factory) else f.default
        if is_dataclass(default):
            kwargs[name] = _build(type(default), value, f"{where}.{name}")
        elif isinstance(value, list) and name == "resize":
            kwargs[name] = tuple(value)
        elif isinstance(default, float) and isinstance(value, (int, str)) and not isinstance(value, bool):
            kwargs[name] = _number(value, f"{where}.{name}")  # YAML reads `1e-3` as a string
        else:
            kwargs[name] = value
    return cls(**kwargs)
