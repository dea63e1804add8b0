"""Configuration of the map-free-reloc regression network (RPR) and of FAR built on it.

The released checkpoints come with map-free-reloc's YAML files (`config/regression/mapfree/*.yaml`,
the same in FAR's repository); :meth:`RegressionConfig.from_released` reads the keys that shape the
network and refuses options this port does not build, so a checkpoint never loads into the wrong
architecture. The defaults are the released `rot6d_trans.yaml`, which both RPR and FAR use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mapfree.configs.safe_yaml import read_yaml_file
from mapfree.errors import InputError
from mapfree.robust.far_essential import PriorRansacConfig

HEADS = {"DirectDeepResBlockMLP": "rot6d", "ProcrustesDeepResBlock": "3d3d"}
"""Released head types this port builds: a 6D rotation + translation, or 3D-3D correspondences aligned by Procrustes."""
OFF_BY_DEFAULT = ("POSITION_ENCODER_IM1", "NORMALISE_DOT", "RESIDUAL_ATT", "CV_OUTLAYERS", "CV_HALF_CHANNELS",
                  "UPSAMPLE_POS_ENC", "DUSTBIN")
"""Aggregator options of the released code that this port does not build (all off in the released configs)."""


@dataclass(frozen=True)
class RegressionConfig:
    """ResUNet encoder, correlation-volume warping aggregator and residual head at the input size.

    `bottleneck`: pre-activation bottleneck blocks (the YAML's BLOCK_TYPE 1) instead of basic ones;
    `blocks`: blocks per encoder stage; `channels`: encoder output channels; `head`: "rot6d"
    (rot6d_trans) or "3d3d" (three 3D points in each camera, `add_basis` adding the unit axes to them);
    `height`, `width`: the size both images are resized to (the YAML's DATASET.HEIGHT / WIDTH).
    """

    bottleneck: bool = True
    blocks: tuple[int, int, int] = (3, 3, 3)
    channels: int = 32
    position_encoder: bool = True
    max_score_channel: bool = True
    head: str = "rot6d"
    head_batch_norm: bool = True
    avg_pool: bool = True
    add_basis: bool = True
    height: int = 360
    width: int = 270

    @classmethod
    def from_released(cls, released: dict[str, Any], source: str = "config") -> RegressionConfig:
        """The config of a released YAML (already parsed); InputError naming `source` for what this port lacks."""

        def section(name: str) -> dict[str, Any]:
            value = released.get(name) or {}
            if not isinstance(value, dict):
                raise InputError(f"{source}: {name} must be a mapping, got {value!r}")
            return value

        enc, agg, head, data = section("ENCODER"), section("AGGREGATOR"), section("HEAD"), section("DATASET")
        expected = {"MODEL": (released.get("MODEL"), "Regression"), "ENCODER.TYPE": (enc.get("TYPE"), "ResUNet"),
                    "AGGREGATOR.TYPE": (agg.get("TYPE"), "CorrelationVolumeWarping")}
        for key, (value, want) in expected.items():
            if value != want:
                raise InputError(f"{source}: {key} is {value!r}; this port builds {want!r} only")
        if head.get("TYPE") not in HEADS:
            raise InputError(f"{source}: HEAD.TYPE is {head.get('TYPE')!r}; this port builds {' or '.join(HEADS)}")
        if head["TYPE"] == "ProcrustesDeepResBlock" and head.get("NUM_PTS", 6) != 6:
            raise InputError(f"{source}: HEAD.NUM_PTS {head.get('NUM_PTS')!r} is not supported (6 only)")
        if enc.get("NOT_CONCAT"):
            raise InputError(f"{source}: ENCODER.NOT_CONCAT true is not supported")
        unsupported = [k for k in OFF_BY_DEFAULT if agg.get(k)]
        if unsupported:
            raise InputError(f"{source}: AGGREGATOR options {unsupported} are not supported")
        if enc.get("BLOCK_TYPE") not in (0, 1):
            raise InputError(f"{source}: ENCODER.BLOCK_TYPE must be 0 or 1, got {enc.get('BLOCK_TYPE')!r}")
        try:
            blocks = tuple(int(b) for b in str(enc.get("NUM_BLOCKS", "3-3-3")).strip().split("-"))
        except ValueError:
            blocks = ()
        if len(blocks) != 3:
            raise InputError(f"{source}: ENCODER.NUM_BLOCKS must be three numbers like '3-3-3', "
                             f"got {enc.get('NUM_BLOCKS')!r}")
        return cls(bottleneck=enc["BLOCK_TYPE"] == 1, blocks=blocks,  # type: ignore[arg-type]
                   channels=int(enc.get("NUM_OUT_LAYERS", 128)),
                   position_encoder=bool(agg.get("POSITION_ENCODER")),
                   max_score_channel=bool(agg.get("MAX_SCORE_CHANNEL")), head=HEADS[head["TYPE"]],
                   head_batch_norm=bool(head.get("BATCH_NORM", True)), avg_pool=bool(head.get("AVG_POOL")),
                   add_basis=bool(head.get("ADD_BASIS")),
                   height=int(data.get("HEIGHT", cls.height)), width=int(data.get("WIDTH", cls.width)))

    @classmethod
    def from_yaml(cls, path: str | Path) -> RegressionConfig:
        """The config of a released YAML file."""
        return cls.from_released(read_mapping(path), str(path))


def read_mapping(path: str | Path) -> dict[str, Any]:
    """A released YAML file's top-level mapping; InputError naming the file otherwise."""
    released = read_yaml_file(Path(path))
    if not isinstance(released, dict):
        raise InputError(f"{path}: not a YAML mapping")
    return released


def encoder_size(config: RegressionConfig) -> tuple[int, int]:
    """(height, width) of the encoder's features: down to 1/16 (halving, rounding up), then up x4, the
    decoder padding its skip connections to the upsampled size."""
    h, w = config.height, config.width
    for _ in range(4):
        h, w = (h + 1) // 2, (w + 1) // 2
    return 4 * h, 4 * w


@dataclass(frozen=True)
class FARConfig:
    """FAR's Map-free model: the regression trunk, a transformer over its last feature map, a pose MLP,
    and the MLP that weighs the regressed pose against the essential-matrix solver's.

    As released (`scripts/eval_mapfree_*.sh`: `--use_vanilla_transformer --d_model 256 --use_prior`): a
    6-layer, 8-head transformer on the 256 channels of the 12x9 map, hidden width 512, and a second
    pass whose RANSAC is guided by the first pass's pose. The solver settings are the YAML's SOLVER
    section (2 px, confidence 0.9999); `prior` holds the prior-guided RANSAC's fixed settings.
    """

    regression: RegressionConfig = field(default_factory=RegressionConfig)
    transformer_layers: int = 6
    transformer_heads: int = 8
    hidden: int = 512
    pixel_threshold: float = 2.0
    confidence: float = 0.9999
    corr_scale: float = 500.0
    """Inlier counts are divided by this before entering the blend MLP."""
    prior: PriorRansacConfig = field(default_factory=PriorRansacConfig)

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the head's last feature map: three stride-2 stages on the encoder's map."""
        h, w = encoder_size(self.regression)
        for _ in range(3):
            h, w = (h + 1) // 2, (w + 1) // 2
        return 256, h, w

    @classmethod
    def from_yaml(cls, path: str | Path) -> FARConfig:
        """FAR's config from its released YAML (`rot6d_trans_with_loftr.yaml`): the network and the SOLVER section."""
        released = read_mapping(path)
        ransac = (released.get("SOLVER") or {}).get("EMAT_RANSAC") or {}
        regression = RegressionConfig.from_released(released, str(path))
        if regression.head != "rot6d":
            raise InputError(f"{path}: FAR's HEAD.TYPE is DirectDeepResBlockMLP")
        return cls(regression=regression,
                   pixel_threshold=float(ransac.get("PIX_THRESHOLD", cls.pixel_threshold)),
                   confidence=float(ransac.get("CONFIDENCE", cls.confidence)))
