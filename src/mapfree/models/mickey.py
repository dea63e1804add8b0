"""The MicKey network: backbone patch features -> keypoints, metric depth, confidence, descriptors.

Per 14x14 patch MicKey predicts a 2D offset inside the patch (the keypoint), a confidence, a
depth in metres and a descriptor; a dual-softmax matcher turns two descriptor sets into matching
probabilities, and multiplying them by the outer product of the confidences gives the
correspondence probability matrix sampled by the pose solver.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mapfree.errors import InputError
from mapfree.models.backbone import PATCH_SIZE, ConvBackbone, DinoV2
from mapfree.models.checkpoints import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    load_checkpoint_state,
    read_checkpoint,
    save_weights,
)
from mapfree.models.config import MicKeyConfig
from mapfree.models.heads import PatchHead
from mapfree.models.matcher import DualSoftmaxMatcher
from mapfree.weights.fetch import hub_files
from mapfree.weights.names import resolve_named

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_EPS = 1e-16  # the released model's epsilon in the confidence softmax


@dataclass
class Features:
    """MicKey outputs for a batch of images; patches are in row-major grid order (N = h * w).

    kpts (B, N, 2) keypoints in pixels of the input image; depth (B, N) metres; scr (B, N)
    confidence (sums to 1 per image with the softmax confidence); dsc (B, N, D) descriptors.
    The raw maps before activations (for training): offset_logits (B, 2, h, w),
    depth_map (B, 1, h, w), score_logits (B, 1, h, w).
    """

    kpts: torch.Tensor
    depth: torch.Tensor
    scr: torch.Tensor
    dsc: torch.Tensor
    offset_logits: torch.Tensor
    depth_map: torch.Tensor
    score_logits: torch.Tensor

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(self.depth_map.shape[-2:])

    def split(self, sizes: list[int]) -> list[Features]:
        """Split along the batch dimension (e.g. back into image0 / image1 after one backbone pass)."""
        parts = [torch.split(getattr(self, name), sizes) for name in self.__dataclass_fields__]
        return [Features(*chunk) for chunk in zip(*parts)]

    @classmethod
    def cat(cls, batches: list[Features]) -> Features:
        """One batch of several (the inverse of :meth:`split`); all must come from images of one size."""
        return cls(*(torch.cat([getattr(f, name) for f in batches]) for name in cls.__dataclass_fields__))


@dataclass
class MatchMatrix:
    """Dense match probabilities between every patch of image 0 and of image 1.

    matching (B, N0, N1): dual-softmax probabilities; scores: correspondence probabilities
    = matching * (scr0 outer scr1), the matrix the pose solver samples from. (Sparse
    correspondences are :class:`mapfree.baselines.matches.Matches`.)
    """

    matching: torch.Tensor
    scores: torch.Tensor


def crop_to_patches(images: torch.Tensor) -> torch.Tensor:
    """Drop right/bottom pixels so both sides are multiples of the patch size (pixels keep their coordinates)."""
    h, w = images.shape[-2:]
    if h < PATCH_SIZE or w < PATCH_SIZE:
        raise InputError(f"image of {w}x{h} pixels is smaller than one {PATCH_SIZE}x{PATCH_SIZE} patch")
    return images[..., : h - h % PATCH_SIZE, : w - w % PATCH_SIZE]


class MicKey(nn.Module):
    """MicKey: metric keypoints from a frozen DINOv2 (or a small trainable CNN) and four heads."""

    def __init__(self, config: MicKeyConfig | None = None):
        super().__init__()
        self.config = config = config or MicKeyConfig()
        b, h = config.backbone, config.heads
        if b.kind == "dinov2":
            self.backbone = DinoV2(b.size, b.attention)
            self.backbone.requires_grad_(False)
        else:
            self.backbone = ConvBackbone(b.cnn_channels)
        self.backbone_dtype = getattr(torch, b.dtype)
        self.backbone.to(self.backbone_dtype)
        if b.compile_mode is not None:  # in place: the state-dict keys stay those of the released files
            self.backbone.compile(mode=b.compile_mode)
        c = self.backbone.channels
        # attention "eager" stands for the released code's op-by-op path, so the heads keep plain ops too.
        common = dict(batch_norm=h.batch_norm, attention_layers=h.attention_layers, attention_heads=h.attention_heads,
                      fused=b.attention != "eager")
        self.offset_head = PatchHead(c, h.dims, 2, position_encoding=h.position_encoding, **common)
        self.confidence_head = PatchHead(c, h.dims, 1, position_encoding=h.position_encoding, **common)
        self.depth_head = PatchHead(c, h.dims, 1, position_encoding=h.position_encoding, **common)
        self.descriptor_head = PatchHead(
            c, (*h.dims[:3], h.descriptor_dim), None, position_encoding=h.descriptor_position_encoding, **common
        )
        self.matcher = DualSoftmaxMatcher(config.matcher.temperature, config.matcher.dustbin)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def frozen_backbone(self) -> bool:
        return self.config.backbone.kind == "dinov2"

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def train(self, mode: bool = True) -> MicKey:
        super().train(mode)
        if self.frozen_backbone:
            self.backbone.eval()
        return self

    def backbone_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 1] (H, W multiples of 14) to float32 (B, C, H/14, W/14) features."""
        if self.config.backbone.normalize:
            images = (images - self.mean) / self.std
        if not self.frozen_backbone:
            return self.backbone(images.to(self.backbone_dtype)).float()
        # a frozen backbone runs in its own precision: a trainer's autocast (bf16-mixed) is for the heads
        with torch.no_grad(), torch.autocast(images.device.type, enabled=False):
            return self.backbone(images.to(self.backbone_dtype)).float()

    def extract(self, images: torch.Tensor) -> Features:
        """Keypoints, depths, confidences and descriptors for (B, 3, H, W) RGB images in [0, 1].

        Images are cropped at the right/bottom to multiples of 14; keypoints are in the pixel
        coordinates of the given images. Differentiable w.r.t. the heads (and a CNN backbone).
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise InputError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        feats = self.backbone_features(crop_to_patches(images))
        offset_logits = self.offset_head(feats)
        score_logits = self.confidence_head(feats)
        depth_map = self.depth_head(feats)
        h, w = feats.shape[-2:]

        grid = torch.stack(torch.meshgrid(torch.arange(w, device=feats.device), torch.arange(h, device=feats.device),
                                          indexing="xy"), dim=0)
        kpts = (torch.sigmoid(offset_logits) + grid) * PATCH_SIZE
        depth = self.config.heads.max_depth * torch.sigmoid(depth_map) if self.config.heads.depth_sigmoid else depth_map
        return Features(
            kpts=kpts.flatten(2).transpose(1, 2),
            depth=depth.flatten(1),
            scr=self._confidence(score_logits).flatten(1),
            dsc=self.describe(feats),
            offset_logits=offset_logits, depth_map=depth_map, score_logits=score_logits,
        )

    def describe(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) backbone features to (B, h * w, D) descriptors, unit length unless configured otherwise."""
        dsc = self.descriptor_head(feats)
        if self.config.heads.normalize_descriptors:
            dsc = dsc / dsc.pow(2).sum(dim=1, keepdim=True).add(1e-10).sqrt()
        return dsc.flatten(2).transpose(1, 2)

    def _confidence(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-patch confidence maps with a zeroed border; softmax-normalised per image by default."""
        h = self.config.heads
        if h.confidence_softmax:
            mean = logits.flatten(1).mean(1).view(-1, 1, 1, 1)
            scores = torch.exp((logits - (mean + _EPS).detach()) / h.confidence_temperature)
        else:
            scores = torch.sigmoid(logits)
        border = torch.zeros_like(scores)
        b = h.border
        border[..., b: scores.shape[-2] - b, b: scores.shape[-1] - b] = 1
        scores = scores * border
        if h.confidence_softmax:
            scores = scores / (scores.flatten(1).sum(1).view(-1, 1, 1, 1) + _EPS)
        return scores

    def match(self, feats0: Features, feats1: Features) -> MatchMatrix:
        """Matching and correspondence probability matrices between two feature batches."""
        matching = self.matcher(feats0.dsc, feats1.dsc)
        return MatchMatrix(matching, matching * (feats0.scr[:, :, None] * feats1.scr[:, None, :]))

    def forward(self, image0: torch.Tensor, image1: torch.Tensor) -> tuple[Features, Features, MatchMatrix]:
        """Extract both images (in one backbone batch when their sizes agree) and match them."""
        if image0.shape[-2:] == image1.shape[-2:]:
            feats0, feats1 = self.extract(torch.cat([image0, image1])).split([len(image0), len(image1)])
        else:
            feats0, feats1 = self.extract(image0), self.extract(image1)
        return feats0, feats1, self.match(feats0, feats1)

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo_id: str | Path,
        config: str | Path | MicKeyConfig | None = None,
        dinov2_weights: str | Path | None = None,
        map_location: str | torch.device = "cpu",
        backbone_dtype: str | None = None,
        *,
        revision: str | None = None,
        local_files_only: bool = False,
        cache_dir: str | Path | None = None,
    ) -> MicKey:
        """Load a released MicKey Lightning checkpoint (+ its YAML), a folder of this project, the catalogue's
        `mickey` (the released weights `mapfree weights download mickey` fetched), or a Hugging Face Hub repo id
        holding this project's `model.safetensors` + `config.yaml`.

        A local path that is not there is a one-line error, never a repo id; a catalogue name is read from the
        cache only (see `mapfree.weights.names`). `revision`, `local_files_only` and `cache_dir` apply to repo
        ids (`HF_HUB_OFFLINE` implies `local_files_only`); `cache_dir` also replaces the cache of catalogue
        names. `config` defaults to `config.yaml` next to the checkpoint; `dinov2_weights` is the original
        `dinov2_vit*14_pretrain.pth` or its catalogue name (`dinov2-vitl14`; searched in the torch hub cache
        when omitted); `backbone_dtype` ("float32", "float16", "bfloat16") overrides the configured precision.
        """
        checkpoint, local = resolve_named(path_or_repo_id, ("mickey",), "checkpoint not found", cache_dir)
        if isinstance(dinov2_weights, str):
            dinov2_weights = resolve_named(dinov2_weights, ("dinov2",), "checkpoint not found", cache_dir)[0]
        if not local:
            names = (WEIGHTS_FILE,) if config is not None else (WEIGHTS_FILE, CONFIG_FILE)
            checkpoint = hub_files(checkpoint, names, revision, cache_dir, local_files_only)[0]
        loaded = read_checkpoint(checkpoint, config, dinov2_weights, map_location, backbone_dtype)
        model = cls(loaded.config)
        load_checkpoint_state(model, loaded)
        return model.to(map_location).eval()

    def save_pretrained(self, directory: str | Path, include_backbone: bool | None = None,
                        training_config: dict[str, Any] | None = None) -> Path:
        """Write `model.safetensors` + `config.yaml` (the architecture and `config.input_size`; the frozen
        DINOv2 is left out unless asked, a trainable CNN backbone is always saved), and the training config the
        weights came from (plain data, e.g. `TrainConfig.to_dict()`) as `training.yaml`."""
        keep_backbone = not self.frozen_backbone if include_backbone is None else include_backbone
        return save_weights(self.state_dict(), self.config, directory, keep_backbone, training_config)

    @property
    def input_size(self) -> tuple[int, int] | None:
        """(W, H) the model was trained at and inference resizes to by default; None: frames as they come."""
        return self.config.input_size

    def push_to_hub(self, repo_id: str, commit_message: str = "Upload MicKey", private: bool | None = None,
                    token: str | None = None, revision: str | None = None,
                    include_backbone: bool | None = None) -> str:
        """Upload a :meth:`save_pretrained` folder to a Hub model repo (created if needed); returns the commit URL."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="mickey-") as folder:
            self.save_pretrained(folder, include_backbone)
            info = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=commit_message,
                                     revision=revision)
        return str(info)
