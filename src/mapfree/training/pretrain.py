"""Feature pretraining of a small MicKey (CNN backbone + descriptor head) before its pose training.

The released MicKey learns on a frozen DINOv2 whose patch features already match across
views, so its pose loss starts from correspondence probabilities with real matches in them.
A randomly initialised CNN has no such start: on the synthetic benchmark its descriptors put
1-4% of the probability on true matches, too little for the REINFORCE gradient of the pose
loss to bootstrap from in a CPU budget. This stage gives the small network what pretraining
gives DINOv2. Two kinds of views (`PretrainConfig.views`):

- ``pairs``: training pairs of the dataset whose frames have depth maps (the synthetic
  benchmark renders one for every frame): each patch centre of one view is moved into the
  other with its depth and the relative pose. These are the view changes the benchmark
  poses: other sides of 3D objects, occlusions, lighting that changes between sequences.
- ``homography``: no poses or depths; every image is paired with a random homography warp
  of itself under photometric changes (planar view changes only).

Either way the dual-softmax probability of the patch each textured patch centre lands in is
maximised, and patches with nothing to match (flat ones such as sky, those that land outside
the other view and, in pairs, those hidden there) learn to match nothing. The pose (and depth) training that follows
keeps the backbone frozen (`optim.frozen`), as it keeps DINOv2 frozen, and can start the descriptor head afresh
(`init.fresh`) so that matching is learned by the pose loss, as MicKey learns it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from kornia.geometry.transform import warp_perspective
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, RandomSampler
from tqdm import tqdm

from mapfree import logs
from mapfree.atomic import folder_lock, write_json_atomic
from mapfree.data.dataset import MapFreePairs
from mapfree.data.images import read_image, resize_image
from mapfree.data.items import views
from mapfree.data.preprocess import image_tensor
from mapfree.data.scenes import list_scenes
from mapfree.depth_prior.patches import patch_average
from mapfree.errors import InputError
from mapfree.geometry.homography import patch_targets, random_homographies
from mapfree.geometry.reprojection import reprojected_patch_targets
from mapfree.models.backbone import PATCH_SIZE
from mapfree.models.checkpoints import CONFIG_FILE, WEIGHTS_FILE
from mapfree.models.config import MicKeyConfig
from mapfree.models.mickey import MicKey, crop_to_patches
from mapfree.registry import Registry
from mapfree.training.config import PretrainConfig, TrainConfig

log = logging.getLogger(__name__)
PRETRAINED_MODULES = ("backbone", "descriptor_head")
"""The modules this stage trains (training can keep them fixed, `optim.frozen`, or start some afresh, `init.fresh`)."""
HISTORY_FILE = "pretrain_history.json"
OUTPUT_FILES = (WEIGHTS_FILE, CONFIG_FILE, HISTORY_FILE)
"""What `pretrain_model` writes into its folder (`mapfree pretrain` replaces them only with --overwrite)."""


class FrameImages(Dataset):
    """Every frame of a split as a (3, H, W) float image in [0, 1], resized to `resize` (W, H)."""

    def __init__(self, data_root: str | Path, split: str, resize: tuple[int, int] | None = None):
        self.paths = [scene.image_path(frame) for scene in list_scenes(data_root, split) for frame in scene.frames()]
        if not self.paths:
            raise FileNotFoundError(f"no frames in {Path(data_root) / split}")
        self.resize = resize

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Tensor:
        return image_tensor(resize_image(read_image(self.paths[index]), self.resize))


def photometric_jitter(images: Tensor, cfg: PretrainConfig, generator: torch.Generator | None = None) -> Tensor:
    """Random per-image channel gains, gamma and Gaussian noise on (B, 3, H, W) images in [0, 1]."""
    b = len(images)
    rand = lambda *shape: 2 * torch.rand(*shape, generator=generator) - 1  # noqa: E731
    gains = 1 + cfg.gain_range * rand(b, 3, 1, 1)
    gamma = 1 + cfg.gain_range * rand(b, 1, 1, 1)
    out = (images * gains).clamp(1e-4, 1) ** gamma
    return (out + cfg.noise_std * torch.randn(out.shape, generator=generator)).clamp(0, 1)


def textured_patches(images: Tensor, min_std: float) -> Tensor:
    """(B, h * w) row-major mask of the patches of (B, 3, H, W) images whose grey-level std exceeds `min_std`."""
    grey = images.mean(1)
    mean = patch_average(grey)
    variance = (patch_average(grey * grey) - mean * mean).clamp_min(0)
    return (variance.sqrt() > min_std).flatten(1)


def matching_nll(matching: Tensor, target: Tensor, inside: Tensor) -> Tensor:
    """Mean -log P[i, target_i] over the patches i that land inside the other image."""
    picked = matching.gather(2, target[..., None])[..., 0]
    nll = -torch.log(picked.clamp_min(1e-12))
    return (nll * inside).sum() / inside.sum().clamp_min(1)


def no_match_nll(matching: Tensor, flat: Tensor) -> Tensor:
    """Mean -log(1 - sum_j P[i, j]) over the `flat` patches i: their matching probability should go to no patch."""
    matched = matching.sum(-1).clamp(max=1 - 1e-6)
    return (-torch.log1p(-matched) * flat).sum() / flat.sum().clamp_min(1)


def match_views(model: MicKey, images0: Tensor, images1: Tensor, cfg: PretrainConfig,
                generator: torch.Generator) -> Tensor:
    """(B, N0, N1) dual-softmax matching of two image batches under independent photometric jitter."""
    both = torch.cat([photometric_jitter(images0, cfg, generator), photometric_jitter(images1, cfg, generator)])
    with torch.autocast(both.device.type, torch.bfloat16, enabled=cfg.backbone_precision == "bf16-mixed"):
        features = model.backbone_features(both)
    dsc = model.describe(features.float())
    return model.matcher(*dsc.split(len(images0)))


def matching_loss(matching: Tensor, target: Tensor, scored: Tensor) -> tuple[Tensor, Tensor]:
    """Loss and top-1 accuracy of the rows of `matching`: `scored` patches should match their
    `target` patch, all others nothing."""
    accuracy = (matching.argmax(-1) == target)[scored].float().mean().nan_to_num(0.0)
    return matching_nll(matching, target, scored) + no_match_nll(matching, ~scored), accuracy


def homography_step(model: MicKey, images: Tensor, cfg: PretrainConfig,
                    generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """:func:`matching_loss` of `images` against random homography warps of themselves."""
    images = crop_to_patches(images)
    height, width = images.shape[-2:]
    grid = (height // PATCH_SIZE, width // PATCH_SIZE)
    homographies = random_homographies(len(images), (height, width), cfg.max_rotation_deg, cfg.max_log_scale,
                                       cfg.corner_jitter, generator)
    warped = warp_perspective(images, homographies, (height, width), padding_mode="zeros")
    target, inside = patch_targets(homographies, grid, PATCH_SIZE)
    matching = match_views(model, images, warped, cfg, generator)
    return matching_loss(matching, target, inside & textured_patches(images, cfg.min_patch_std))


def pair_step(model: MicKey, batch: dict, cfg: PretrainConfig, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """:func:`matching_loss` of a batch of `MapFreePairs` items with depths, in both directions:
    each textured patch centre should match where its depth and the relative pose move it."""
    images = [crop_to_patches(view["image"]) for view in views(batch)]
    grid = (images[0].shape[-2] // PATCH_SIZE, images[0].shape[-1] // PATCH_SIZE)
    depths = [view["depth"] for view in views(batch)]
    cameras = [view["camera"].to(dtype=torch.float32) for view in views(batch)]
    poses = [batch["T_0to1"].float(), torch.linalg.inv(batch["T_0to1"].float())]
    matching = match_views(model, *images, cfg, generator)
    losses, accuracies = [], []
    for a, rows in enumerate((matching, matching.transpose(1, 2))):
        target, visible = reprojected_patch_targets(depths[a], depths[1 - a], cameras[a], cameras[1 - a], poses[a],
                                                    grid, PATCH_SIZE)
        loss, accuracy = matching_loss(rows, target, visible & textured_patches(images[a], cfg.min_patch_std))
        losses.append(loss)
        accuracies.append(accuracy)
    return sum(losses) / 2, sum(accuracies) / 2


def frame_views(data_root: str | Path, split: str, cfg: PretrainConfig, resize: tuple[int, int] | None) -> Dataset:
    return FrameImages(data_root, split, resize)


def pair_views(data_root: str | Path, split: str, cfg: PretrainConfig, resize: tuple[int, int] | None) -> Dataset:
    pairs = MapFreePairs(data_root, split, resize=resize, min_overlap=cfg.min_overlap, depth_suffix=cfg.depth_suffix,
                         cache_mb=cfg.cache_mb)
    if not len(pairs):
        raise FileNotFoundError(f"no {split} pairs with overlap >= {cfg.min_overlap} in {data_root}")
    return pairs


@dataclass(frozen=True)
class Views:
    """A kind of views: the dataset its batches are drawn from and the training step they go through."""

    dataset: Callable[[str | Path, str, PretrainConfig, tuple[int, int] | None], Dataset]
    step: Callable[[MicKey, Any, PretrainConfig, torch.Generator], tuple[Tensor, Tensor]]


VIEWS: Registry[Views] = Registry("pretraining views")
VIEWS.add("pairs", Views(pair_views, pair_step))
VIEWS.add("homography", Views(frame_views, homography_step))


def pretraining_views(data_root: str | Path, split: str, cfg: PretrainConfig,
                      resize: tuple[int, int] | None) -> Dataset:
    """The dataset a `cfg.views` pretraining draws its batches from."""
    return VIEWS.get(cfg.views).dataset(data_root, split, cfg, resize)


def _require_cnn(config: MicKeyConfig) -> None:
    if config.backbone.kind != "cnn":
        raise InputError("feature pretraining is for the small CNN backbone; DINOv2 comes pretrained")


def pretrain_features(
    model: MicKey,
    data_root: str | Path,
    split: str = "train",
    cfg: PretrainConfig = PretrainConfig(),
    resize: tuple[int, int] | None = None,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train `model`'s CNN backbone and descriptor head in place; returns loss/accuracy per step.

    With `cfg.channels_last` the model trains in that layout and is handed back contiguous."""
    _require_cnn(model.config)
    generator = torch.Generator().manual_seed(cfg.seed)
    dataset = pretraining_views(data_root, split, cfg, resize)
    step = VIEWS.get(cfg.views).step
    sampler = RandomSampler(dataset, replacement=True, num_samples=cfg.steps * cfg.batch_size, generator=generator)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler)
    params = [p for name in PRETRAINED_MODULES for p in getattr(model, name).parameters()]
    model.to(memory_format=torch.channels_last if cfg.channels_last else torch.contiguous_format)
    optimizer = torch.optim.Adam(params, lr=cfg.lr)
    model.train()
    history = []
    with tqdm(loader, desc="pretrain features", unit="step", disable=not logs.progress(progress)) as bar:
        for batch in bar:
            loss, accuracy = step(model, batch, cfg, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            history.append({"loss": loss.item(), "accuracy": accuracy.item()})
            bar.set_postfix(loss=f"{loss.item():.2f}", acc=f"{accuracy.item():.2f}")
    model.eval().to(memory_format=torch.contiguous_format)  # the layout every other user of the model expects
    log.info("feature pretraining: %d steps, final loss %.3f, accuracy %.3f", len(history),
             history[-1]["loss"], history[-1]["accuracy"])
    return history


@torch.inference_mode()
def matching_accuracy(model: MicKey, data_root: str | Path, split: str, cfg: PretrainConfig = PretrainConfig(),
                      resize: tuple[int, int] | None = None, batch_size: int = 8) -> float:
    """Top-1 matching accuracy of pretrained features on every view pair of a split (e.g. val, held out from
    pretraining), scored as pretraining scores its batches, in eval mode under a fixed (seed 0) photometric
    jitter, in float32 (as training uses the features); batches weigh by their size."""
    _require_cnn(model.config)
    cfg = replace(cfg, backbone_precision="32-true")
    views = VIEWS.get(cfg.views)
    dataset = views.dataset(data_root, split, cfg, resize)
    generator = torch.Generator().manual_seed(0)
    model.eval()
    total = 0.0
    for batch in DataLoader(dataset, batch_size=batch_size):
        _, accuracy = views.step(model, batch, cfg, generator)
        total += float(accuracy) * (len(batch) if isinstance(batch, Tensor) else len(batch["T_0to1"]))
    return total / len(dataset)


def pretrain_model(
    config: TrainConfig | str | Path,
    out_dir: str | Path,
    cfg: PretrainConfig | None = None,
    progress: bool = True,
) -> Path:
    """A fresh MicKey of the training config's `model`, feature-pretrained (as its `pretrain`
    section says, unless `cfg` is given) on the train split of its `data.root` at its
    `data.resize`, saved as a model folder for `init.checkpoint` (with `pretrain_history.json`), the folder
    locked meanwhile (`mapfree.atomic.folder_lock`: a second writer is refused)."""
    if not isinstance(config, TrainConfig):
        config = TrainConfig.load(config)
    cfg = cfg or config.pretrain
    mickey_config = replace(config.model or MicKeyConfig(), input_size=config.data.resize)
    _require_cnn(mickey_config)
    torch.manual_seed(cfg.seed)
    model = MicKey(mickey_config)
    with folder_lock(out_dir):
        history = pretrain_features(model, config.data.root, "train", cfg, config.data.resize, progress)
        out = model.save_pretrained(out_dir, training_config=replace(config, pretrain=cfg).to_dict())
        write_json_atomic(out / HISTORY_FILE, history)
    return out
