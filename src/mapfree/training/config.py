"""Training configuration: one typed dataclass tree read from YAML, with `section.key=value` overrides.

A config file holds the sections of :class:`TrainConfig` (every key optional) and may name
bases it changes (`base: mickey`, see :mod:`mapfree.configs.loader`). Values are checked
against the field types when the file is read; a wrong type or an unknown key is a
:class:`~mapfree.configs.typed.ConfigError` naming the file and the key.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from mapfree.atomic import write_text_atomic
from mapfree.configs import loader
from mapfree.configs.typed import build, to_plain
from mapfree.errors import InputError
from mapfree.evaluation.aggregate import BENCHMARK_IMAGE_WIDTH, Thresholds
from mapfree.models.config import MicKeyConfig
from mapfree.robust.ransac_config import ProcrustesRansacConfig

DepthLossKind = Literal["ssi", "l2", "silog", "seed_mse"]
"""The depth losses (`training.losses.depth.DEPTH_LOSSES` holds one of each)."""


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
    cache_mb: int = 0
    """Decoded training frames kept in memory, MiB per loading process (0: decode every time), so that
    later epochs decode none (`MapFreePairs(cache_mb=...)`)."""


@dataclass
class DepthConfig:
    """Depth supervision: total loss = pose loss + lambda(step) * depth loss on all patches."""

    enabled: bool = False
    source: str = "prior"
    """`prior`: a depth-prior store (`prior_root`); `gt`: patch means of the dataset's depth maps (`gt_suffix`)."""
    prior_root: str | None = None
    gt_suffix: str = "depth"
    missing: str = "error"
    """A frame without a prior: `error` stops training, `mask` trains it without depth loss, `zeros` gives it
    an all-zero target (the seed's published loader; it teaches depth 0, never use it but to reproduce that)."""
    loss: DepthLossKind = "ssi"
    weight: float = 1.0
    gradient: bool = True
    """False reproduces the seed's published code: the depth loss is added to the logged total as a value
    without gradient, so it changes no weight (a run trains the same bits as with depth disabled)."""
    warmup_steps: int = 0
    start_step: int = 0
    silog_lambda: float = 0.5
    min_valid_fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.source not in ("prior", "gt"):
            raise ValueError(f"depth.source must be 'prior' or 'gt', got {self.source!r}")
        if self.missing not in ("error", "mask", "zeros"):
            raise ValueError(f"depth.missing must be 'error', 'mask' or 'zeros', got {self.missing!r}")
        if self.enabled and self.source == "prior" and not self.prior_root:
            raise ValueError("depth.source 'prior' needs depth.prior_root (a `mapfree depth-prior` store)")


@dataclass
class ValidationConfig:
    """VCRE thresholds of validation; `best-vcre` keeps the model of the highest AUC at the first one."""

    vcre_px: tuple[float, ...] | None = None
    """Pixels of the val frames as stored; None: the benchmark's thresholds scaled to `image_width`."""
    image_width: int | None = None
    """Width of the val frames as stored (validation measures VCRE with their native intrinsics, whatever
    `data.resize` feeds the network, like the benchmark); None: read from the val split when training starts
    (:meth:`TrainConfig.with_val_width`), Map-free's 540 px until then."""

    def thresholds(self) -> Thresholds:
        """The benchmark's thresholds for val frames `image_width` pixels wide (the rule `evaluate` and `compare`
        score by, :meth:`Thresholds.for_image_width`), or `vcre_px` as given."""
        if self.vcre_px:
            return Thresholds(vcre_px=self.vcre_px)
        return Thresholds.for_image_width(self.image_width or BENCHMARK_IMAGE_WIDTH)


@dataclass
class PretrainConfig:
    """Feature pretraining (`mapfree pretrain`): steps, batch, the kind of views and their
    distribution (see :mod:`mapfree.training.pretrain`)."""

    steps: int = 250
    batch_size: int = 8
    """Images per step for homographies (each with its warp), pairs per step for pairs."""
    lr: float = 1e-3
    views: Literal["pairs", "homography"] = "pairs"
    min_overlap: float = 0.1
    """pairs: the lowest overlap score of a training pair; wide baselines are what the benchmark asks for."""
    depth_suffix: str = "depth"
    """pairs: the dataset's depth maps are `frame_NNNNN.<depth_suffix>.png` beside the frames."""
    max_rotation_deg: float = 25.0
    """homography (as are the next two): in-plane rotations up to this."""
    max_log_scale: float = 0.8
    """Scales up to exp(0.4) = 1.5x either way: query-to-reference distance ratios reach 2 on the benchmark."""
    corner_jitter: float = 0.2
    min_patch_std: float = 0.01
    """Patches whose grey-level standard deviation is below this (sky, blank surfaces) have nothing to
    be matched by: they learn to match nothing (`no_match_nll`) instead of their warped position,
    which would teach the descriptors where a patch is in the image rather than what it shows."""
    gain_range: float = 0.3
    """Per-channel gains drawn from 1 +- gain_range, gamma from 1 +- gain_range (lighting changes)."""
    noise_std: float = 0.03
    seed: int = 0
    cache_mb: int = 1024
    """Decoded frames (images and depth maps) kept in memory, MiB: a pair is drawn many times."""
    backbone_precision: Literal["32-true", "bf16-mixed"] = "bf16-mixed"
    """`bf16-mixed`: the CNN backbone runs under bfloat16 autocast (its convolutions in bfloat16, outputs back
    in float32); the descriptor head, the dual softmax and the loss stay in float32 (`benchmarks/study_speed.py`
    prints the time and the held-out matching accuracy)."""
    channels_last: bool = True
    """Train in the channels-last memory layout (NHWC): the same network and float32 maths rounded in another
    order; the study's pretraining ran 1.38x faster on 2 CPU threads (`benchmarks/study_speed.py`)."""


@dataclass
class OptimConfig:
    lr: float = 1e-4
    eps: float = 1e-6
    grad_clip: float = 5.0
    lr_step_interval: int | None = None
    lr_step_gamma: float = 0.5
    frozen: list[str] = field(default_factory=list)
    """Model modules kept as they start (no gradient, fixed BatchNorm statistics), e.g.
    [backbone] after `mapfree pretrain` (a DINOv2 backbone is always frozen)."""
    cache_frozen: bool = False
    """Compute each frozen module's output once per input image and reuse it at later steps and epochs
    (see :mod:`mapfree.training.feature_cache`); the same values, without the repeated forward passes."""
    cache_frozen_mb: int = 1024
    """Memory the cached outputs may take, per frozen module (least recently used ones go first)."""

    def __post_init__(self) -> None:
        if self.cache_frozen_mb < 0:
            raise ValueError(f"optim.cache_frozen_mb must be >= 0, got {self.cache_frozen_mb}")

LoggerName = Literal["tensorboard", "csv", "wandb", "mlflow"]


@dataclass
class TrainerConfig:
    out_dir: str = "outputs/train"
    name: str = "mickey"
    max_epochs: int = 100
    max_steps: int = -1
    accelerator: str = "auto"
    devices: int | str | list[int] = "auto"
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
    logger: LoggerName | list[LoggerName] = "tensorboard"
    """Experiment logger(s): tensorboard (`RUN/tb/`), csv (`RUN/csv/metrics.csv`), wandb or mlflow (extras of
    the same name; see :mod:`mapfree.training.loggers`); a list for several, [] for none. A learning-rate
    monitor logs `lr-*` to them."""
    progress_bar: bool = True
    resume: str | None = None
    """`last` (the run's last checkpoint, if any) or a checkpoint path."""


@dataclass
class InitConfig:
    """Fine-tuning: start the heads from a released MicKey checkpoint or one of this project's."""

    checkpoint: str | None = None
    config: str | None = None
    dinov2_weights: str | None = None
    fresh: list[str] = field(default_factory=list)
    """Modules that start from a new initialisation instead of the checkpoint's weights, e.g. [descriptor_head]
    on the features of `mapfree pretrain`: the head is then learned by the pose loss, as MicKey's heads are."""


@dataclass(frozen=True)
class TopKCurriculum:
    """Fraction of pairs kept at an epoch: min(end, start + step * epoch); disabled keeps all."""

    enabled: bool = True
    start: float = 0.3
    end: float = 0.8
    step: float = 0.05

    def __post_init__(self) -> None:
        if not (0 < self.start <= 1 and 0 < self.end <= 1):
            raise ValueError(f"curriculum fractions must lie in (0, 1], got start={self.start}, end={self.end}")

    def fraction(self, epoch: int) -> float:
        if not self.enabled:
            return 1.0
        return min(self.end, self.start + self.step * epoch)


@dataclass(frozen=True)
class ReinforceConfig:
    """Sampling and robust-fitting sizes of MicKey's training loss (defaults: the released model)."""

    num_sets: int = 20
    set_size: int = 512
    num_hypotheses: int = 20
    min_set: int = 8
    refine_steps: int = 4
    refine_threshold: float = 0.15
    score_threshold: float = 0.3
    score_temperature: float = 20.0
    null_hypothesis: bool = True
    outlier_ratio: float = 0.35
    null_loss: float = 0.8
    clip_px: float | None = None
    """Soft clip of the VCRE, pixels; None: MicKey's 80 px at Map-free's 540 px width, scaled to the
    width of the images the VCRE is measured in (see :func:`mapfree.training.losses.vcre.soft_clip_px`)."""

    def __post_init__(self) -> None:
        if self.min_set < 3 or self.set_size < self.min_set:
            raise ValueError(f"need 3 <= min_set <= set_size, got min_set={self.min_set}, set_size={self.set_size}")
        if self.num_sets < 1 or self.num_hypotheses < 1:
            raise ValueError("num_sets and num_hypotheses must be positive")


@dataclass
class TrainConfig:
    model: MicKeyConfig | None = None
    """None: the architecture of `init.checkpoint` (its YAML), or MicKeyConfig's defaults without one."""
    init: InitConfig = field(default_factory=InitConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: ReinforceConfig = field(default_factory=ReinforceConfig)
    pose_loss: bool = True
    """False trains on the depth loss alone (depth-only training)."""
    curriculum: TopKCurriculum = field(default_factory=TopKCurriculum)
    depth: DepthConfig = field(default_factory=DepthConfig)
    solver: ProcrustesRansacConfig = field(default_factory=ProcrustesRansacConfig)
    """MicKey's inference solver during validation."""
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)

    def __post_init__(self) -> None:
        if self.model is not None and self.model.input_size not in (None, self.data.resize):
            raise ValueError(f"model.input_size {list(self.model.input_size)} differs from data.resize "
                             f"{self.data.resize and list(self.data.resize)}: training sets the model's input size "
                             "from data.resize, leave model.input_size out")
        if not self.pose_loss and not self.depth.enabled:
            raise ValueError("nothing to train: pose_loss is false and depth.enabled is false")
        if not self.pose_loss and not self.depth.gradient:
            raise ValueError("nothing to train: pose_loss is false and depth.gradient is false")

    @property
    def thresholds(self) -> Thresholds:
        """Validation's thresholds for the val frames' native width (they name the `val/vcre_*` metrics)."""
        return self.validation.thresholds()

    def with_val_width(self) -> TrainConfig:
        """This config with `validation.image_width` read from the val frames of `data.root` when neither it nor
        `validation.vcre_px` is given (so validation scores at the width of the frames it measures); as it is
        when the val split is absent (training then fails on it with its own message)."""
        from mapfree.data.scenes import frame_widths

        v = self.validation
        if v.vcre_px or v.image_width or not (Path(self.data.root) / "val").is_dir():
            return self
        widths = sorted(frame_widths(self.data.root, "val"))
        if len(widths) != 1:
            raise InputError(f"{self.data.root}/val: frames of {len(widths)} widths ({widths[:5]} px): give "
                             "validation.vcre_px (VCRE thresholds in pixels) or validation.image_width")
        return replace(self, validation=replace(v, image_width=widths[0]))

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-safe data (tuples become lists)."""
        return to_plain(self)

    def to_yaml(self) -> str:
        """The whole resolved tree as YAML, a config file that loads back to an equal config."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return build(cls, data)

    @classmethod
    def load(cls, path: str | Path, overrides: Iterable[str] = (), deltas: Iterable[dict[str, Any]] = ()
             ) -> TrainConfig:
        """Read a YAML file (or a packaged config by name, see :mod:`mapfree.configs`) with its bases, merge
        `deltas` (partial trees such as a study arm's `train:`) and apply `section.key=value` overrides (values
        parsed as YAML, typed by the field)."""
        return loader.load(cls, path, overrides, deltas)

    def save(self, path: str | Path) -> Path:
        return write_text_atomic(path, self.to_yaml())
