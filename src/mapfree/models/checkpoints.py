"""Checkpoint formats: original DINOv2 files, released MicKey Lightning checkpoints, and our own.

- DINOv2: `dinov2_vit{s,b,l,g}14_pretrain.pth`, a flat state dict in the layout of
  :class:`mapfree.models.backbone.DinoV2`.
- Released MicKey: a Lightning file whose `state_dict` holds the heads and matcher under
  `compute_matches.*` (no DINOv2), plus the released YAML config. Key names are translated to this
  project's module names by :func:`from_released_keys`; :func:`to_released_state_dict` is the inverse.
- This project: a directory with `model.safetensors` and `config.yaml` (the architecture and the input size
  it was trained at), plus `training.yaml` (the whole training config) for a model that training wrote
  (see :func:`save_weights`).

Functions here read and write state dicts and configs; building the model from them is
:meth:`mapfree.models.mickey.MicKey.from_pretrained`'s job, so this module never imports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mapfree.atomic import atomic_files
from mapfree.errors import InputError
from mapfree.models.config import MicKeyConfig
from mapfree.weights.caches import hub_checkpoints
from mapfree.weights.catalog import CATALOG, dinov2_entry
from mapfree.weights.errors import missing_weights
from mapfree.weights.loading import load_torch_file

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.yaml"
TRAINING_CONFIG_FILE = "training.yaml"
RELEASED_PREFIX = "compute_matches."

_HEADS = {
    "det_offset": "offset_head",
    "det_head": "confidence_head",
    "depth_head": "depth_head",
    "dsc_head": "descriptor_head",
}
_OLD_HEADS = {v: k for k, v in _HEADS.items()}
_OUT_CONV = {"det_offset": "xy_offset", "det_head": "score", "depth_head": "depth"}
_RELEASED_CONSTANTS = {  # non-trainable parameters the released confidence head stores but never learns
    "extractor.det_head.eps": torch.tensor(1e-16),
    "extractor.det_head.offset_par1": torch.tensor(0.5),
    "extractor.det_head.offset_par2": torch.tensor(2.0),
    "extractor.det_head.ones_kernel": torch.ones(1, 1, 3, 3),
}


def _released_to_ours(key: str) -> str | None:
    """Our parameter name for a released `compute_matches.*` key (prefix removed); None to drop it."""
    if key in _RELEASED_CONSTANTS:
        return None
    if key == "matcher.matching_mat.dustbin_score":
        return "matcher.dustbin"
    m = re.fullmatch(r"extractor\.dinov2_vit\w+?\.(.+)", key)
    if m:
        return f"backbone.{m.group(1)}"
    m = re.fullmatch(r"extractor\.(\w+?)\.(.+)", key)
    if not m or m.group(1) not in _HEADS:
        raise KeyError(key)
    head, rest = m.groups()
    rest = re.sub(r"^resblock(\d)\.", lambda r: f"blocks.{int(r.group(1)) - 1}.", rest)
    rest = re.sub(r"\.shortcut\.0\.", ".shortcut.", rest)
    rest = re.sub(r"^att_layer\.", "attention.", rest)
    if head in _OUT_CONV and rest == f"{_OUT_CONV[head]}.weight":
        rest = "out.weight"
    return f"{_HEADS[head]}.{rest}"


def from_released_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Translate a released `state_dict` (with or without the `compute_matches.` prefix) to our names."""
    out = {}
    for key, value in state.items():
        short = key[len(RELEASED_PREFIX):] if key.startswith(RELEASED_PREFIX) else key
        try:
            ours = _released_to_ours(short)
        except KeyError:
            raise ValueError(f"unexpected key in released MicKey checkpoint: {key!r}") from None
        if ours is not None:
            out[ours] = value
    return out


def _ours_to_released(name: str) -> str:
    """Released key (without prefix) for one of our parameter names; inverse of `_released_to_ours`."""
    if name == "matcher.dustbin":
        return "matcher.matching_mat.dustbin_score"
    head, rest = name.split(".", 1)
    if head == "backbone":
        return f"extractor.dinov2_vitl14.{rest}"  # the reference names the attribute so for every size
    old = _OLD_HEADS[head]
    rest = re.sub(r"^blocks\.(\d)\.", lambda r: f"resblock{int(r.group(1)) + 1}.", rest)
    rest = re.sub(r"\.shortcut\.weight$", ".shortcut.0.weight", rest)
    rest = re.sub(r"^attention\.", "att_layer.", rest)
    if rest == "out.weight":
        rest = f"{_OUT_CONV[old]}.weight"
    return f"extractor.{old}.{rest}"


def to_released_state_dict(state: dict[str, torch.Tensor], include_backbone: bool = False) -> dict[str, torch.Tensor]:
    """A MicKey state dict's heads and matcher in the released `compute_matches.*` layout (inverse of the above)."""
    released = {k: v.clone() for k, v in _RELEASED_CONSTANTS.items()}
    for name, value in state.items():
        if include_backbone or not name.startswith("backbone."):
            released[_ours_to_released(name)] = value
    return {RELEASED_PREFIX + k: v for k, v in released.items()}


def load_dinov2_state_dict(path: str | Path, map_location="cpu") -> dict[str, torch.Tensor]:
    """The original DINOv2 `*_pretrain.pth` state dict (flat, keys like `blocks.0.attn.qkv.weight`)."""
    path = Path(path)
    state = load_torch_file(path, map_location)
    if not isinstance(state, dict) or "pos_embed" not in state or "patch_embed.proj.weight" not in state:
        raise InputError(f"{path}: not a DINOv2 checkpoint (no pos_embed / patch_embed.proj.weight)")
    return state


def find_dinov2_weights(size: str) -> Path | None:
    """`dinov2_{size}_pretrain.pth` in the torch hub cache, where `torch.hub` would have put it."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / f"dinov2_{size}_pretrain.pth"
    return path if path.is_file() else None


def read_released_checkpoint(path: str | Path, map_location="cpu") -> dict[str, torch.Tensor]:
    """Heads/matcher (and DINOv2 if present) of a released Lightning checkpoint, in our key names."""
    path = Path(path)
    obj = load_torch_file(path, map_location)
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not any(str(k).startswith(RELEASED_PREFIX) for k in state):
        raise InputError(f"{path}: not a released MicKey checkpoint (no '{RELEASED_PREFIX}*' keys in its state_dict)")
    try:
        return from_released_keys({k: v for k, v in state.items() if k.startswith(RELEASED_PREFIX)})
    except ValueError as e:
        raise InputError(f"{path}: {e}") from None


def save_weights(state: dict[str, torch.Tensor], config: MicKeyConfig, directory: str | Path,
                 keep_backbone: bool, training_config: dict[str, Any] | None = None) -> Path:
    """Write `model.safetensors` (without `backbone.*` unless `keep_backbone`) and `config.yaml` into `directory`,
    with `training_config` (plain data) as `training.yaml`: all files replaced together, and a `training.yaml`
    of an earlier model in the folder removed when none is given (it would describe other weights)."""
    import yaml
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    kept = {
        k: v.detach().contiguous().cpu() for k, v in state.items() if keep_backbone or not k.startswith("backbone.")
    }
    files = [directory / WEIGHTS_FILE, directory / CONFIG_FILE]
    with atomic_files(*files, *([directory / TRAINING_CONFIG_FILE] if training_config is not None else [])) as temps:
        save_file(kept, str(temps[0]), metadata={"format": "mapfree-mickey", "version": "1"})
        config.save(temps[1])
        if training_config is not None:
            temps[2].write_text(yaml.safe_dump(training_config, sort_keys=False))
    if training_config is None:
        (directory / TRAINING_CONFIG_FILE).unlink(missing_ok=True)
    return directory


def _read_safetensors(path: Path, device) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError) as e:
        raise InputError(f"{path}: not a readable safetensors file ({e})") from None


@dataclass
class Checkpoint:
    """A model's configuration and complete state dict; `source` names the files they came from."""

    config: MicKeyConfig
    state: dict[str, torch.Tensor]
    source: str


def read_checkpoint(
    checkpoint: str | Path,
    config: str | Path | MicKeyConfig | None = None,
    dinov2_weights: str | Path | None = None,
    map_location: str | torch.device = "cpu",
    backbone_dtype: str | None = None,
) -> Checkpoint:
    """Any supported checkpoint with its config, plus the DINOv2 weights when it leaves them out.

    `backbone_dtype` overrides the configured backbone precision before the weights are loaded
    (converting after loading would keep the rounding of the configured precision).
    """
    checkpoint = Path(checkpoint)
    weights = checkpoint / WEIGHTS_FILE if checkpoint.is_dir() else checkpoint
    if not weights.is_file():
        raise FileNotFoundError(f"checkpoint not found: {weights}")
    if not isinstance(config, MicKeyConfig):
        config_path = Path(config) if config is not None else weights.parent / CONFIG_FILE
        if not config_path.is_file():
            raise FileNotFoundError(f"config not found: {config_path} (pass the YAML that came with {weights.name})")
        config = MicKeyConfig.load(config_path)
    if backbone_dtype is not None:
        config = replace(config, backbone=replace(config.backbone, dtype=backbone_dtype))
    if weights.suffix == ".safetensors":
        state = _read_safetensors(weights, map_location)
    else:
        state = read_released_checkpoint(weights, map_location)
    if config.backbone.kind == "dinov2" and not any(k.startswith("backbone.") for k in state):
        path = Path(dinov2_weights) if dinov2_weights is not None else find_dinov2_weights(config.backbone.size)
        if path is None:
            entry = CATALOG.get(dinov2_entry(config.backbone.size))
            raise missing_weights(entry.name, f"{entry.target} (the backbone {weights} leaves out; or pass the file "
                                  "as --dinov2-weights)", hub_checkpoints(), entry.origin)
        state.update({f"backbone.{k}": v for k, v in load_dinov2_state_dict(path, map_location).items()})
        return Checkpoint(config, state, f"{weights} + {path}")
    return Checkpoint(config, state, str(weights))


def load_checkpoint_state(model: nn.Module, checkpoint: Checkpoint) -> None:
    """Load the state into a model built from `checkpoint.config`; ValueError naming the files if it does not fit."""
    config = checkpoint.config
    try:
        missing, unexpected = model.load_state_dict(checkpoint.state, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise InputError(f"{checkpoint.source} does not fit the configured model: {e}") from None
    if missing or unexpected:
        raise InputError(
            f"{checkpoint.source} does not fit the configured model ({config.backbone.kind} {config.backbone.size}): "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
