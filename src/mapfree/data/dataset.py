"""Torch datasets of Map-free pairs and a scene-balanced sampler."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from mapfree.data.images import read_depth, read_image
from mapfree.data.preprocess import prepare_view
from mapfree.data.scenes import Pair, Scene, list_scenes, split_pairs
from mapfree.geometry.camera import Camera


class MapFreePairs(Dataset):
    """Pairs of a split as dicts of tensors.

    Each item holds `image0`/`image1` (3, H, W) float in [0, 1], `K0`/`K1` (3, 3) for them,
    the frames' native intrinsics `K_full0`/`K_full1` (3, 3) and size `size_full0`/`size_full1`
    (2,) = (W, H) (where MicKey measures VCRE), `T_0to1` (4, 4; all NaN for the hidden test
    split), `scene`, `frame0`/`frame1`, `path0`/`path1`, `overlap`, and with `depth_suffix` also
    `depth0`/`depth1` (H, W) metres, NaN where unknown.
    """

    def __init__(
        self,
        data_root: str | Path,
        split: str,
        resize: tuple[int, int] | None = None,
        min_overlap: float = 0.0,
        max_overlap: float = 1.0,
        depth_suffix: str | None = None,
        pairs: Sequence[Pair] | None = None,
    ):
        self.data_root = Path(data_root)
        self.split = split
        self.resize = resize
        self.depth_suffix = depth_suffix
        self.scenes = {s.name: s for s in list_scenes(data_root, split)}
        self.pairs = list(pairs) if pairs is not None else split_pairs(data_root, split, min_overlap, max_overlap)

    def __len__(self) -> int:
        return len(self.pairs)

    def _view(self, scene: Scene, frame: str, i: int) -> dict[str, torch.Tensor]:
        """One frame's entries of an item, keys suffixed with its index `i` in the pair."""
        intrinsics = scene.intrinsics[frame]
        pixels = read_image(scene.image_path(frame))
        image, camera = prepare_view(pixels, Camera(intrinsics.K, pixels.shape[1], pixels.shape[0]), self.resize)
        view = {
            f"image{i}": image, f"K{i}": torch.from_numpy(camera.K).float(),
            f"K_full{i}": torch.from_numpy(intrinsics.K).float(),
            f"size_full{i}": torch.tensor([intrinsics.width, intrinsics.height], dtype=torch.float32),
        }
        if self.depth_suffix is not None:
            view[f"depth{i}"] = torch.from_numpy(read_depth(scene.depth_path(frame, self.depth_suffix), camera.size))
        return view

    def __getitem__(self, index: int) -> dict:
        pair = self.pairs[index]
        scene = self.scenes[pair.scene]
        if scene.poses:
            T = torch.from_numpy(scene.relative_pose(pair.frame0, pair.frame1)).float()
        else:
            T = torch.full((4, 4), float("nan"))
        return {
            **self._view(scene, pair.frame0, 0), **self._view(scene, pair.frame1, 1), "T_0to1": T,
            "scene": pair.scene, "frame0": pair.frame0, "frame1": pair.frame1,
            "path0": str(scene.image_path(pair.frame0)), "path1": str(scene.image_path(pair.frame1)),
            "overlap": torch.tensor(pair.overlap, dtype=torch.float32),
        }


class SceneBalancedSampler(Sampler[int]):
    """Draws `pairs_per_scene` pair indices from every scene each epoch, then shuffles them.

    Scenes with fewer pairs are sampled with replacement, so every scene weighs the same.
    Call :meth:`set_epoch` (Lightning does) for a new, reproducible draw per epoch.
    """

    def __init__(self, pairs: Sequence[Pair], pairs_per_scene: int = 100, seed: int = 0):
        by_scene: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(pairs):
            by_scene[p.scene].append(i)
        self.by_scene = [np.asarray(v) for _, v in sorted(by_scene.items())]
        self.pairs_per_scene = pairs_per_scene
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.by_scene) * self.pairs_per_scene

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng((self.seed, self.epoch))
        draws = [
            rng.choice(idx, self.pairs_per_scene, replace=len(idx) < self.pairs_per_scene) for idx in self.by_scene
        ]
        order = np.concatenate(draws) if draws else np.zeros(0, dtype=np.int64)
        return iter(rng.permutation(order).tolist())
