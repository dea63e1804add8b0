"""Torch datasets of Map-free pairs and a scene-balanced sampler."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from cachetools import LRUCache
from torch.utils.data import Dataset, Sampler

from mapfree.data.images import check_frame_images, check_image_size, check_pixels, read_depth, read_image
from mapfree.data.items import PairItem, View
from mapfree.data.preprocess import prepare_view
from mapfree.data.scenes import Pair, Scene, list_scenes, split_pairs
from mapfree.geometry.camera import Camera


class MapFreePairs(Dataset):
    """Pairs of a split as :class:`~mapfree.data.items.PairItem` dicts of tensors.

    Images are resized to `resize` = (W, H) (None: native size); with `depth_suffix` the views
    also carry their depth maps, resized alike. With `cache_mb` each decoded view (image, cameras,
    depth) is kept, up to that many MiB, least recently used first out: a dataset read for many
    epochs decodes a frame once. Items hold copies of the cached views' dicts (sharing their tensors),
    so adding or removing a key of an item's view leaves the cache as it was.
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
        cache_mb: int = 0,
    ):
        if cache_mb < 0:
            raise ValueError(f"cache_mb must be >= 0, got {cache_mb}")
        self.data_root = Path(data_root)
        self.split = split
        self.set_resize(resize)  # checked here, not in a loader worker
        self.depth_suffix = depth_suffix
        self.scenes = {s.name: s for s in list_scenes(data_root, split)}
        self.pairs = list(pairs) if pairs is not None else split_pairs(data_root, split, min_overlap, max_overlap)
        self._check(self.pairs)
        self.cache: LRUCache[tuple[str, str], View] | None = (
            LRUCache(cache_mb << 20, getsizeof=_view_bytes) if cache_mb else None)

    def _check(self, pairs: list[Pair]) -> None:
        """Up front, before any image is decoded: every scene's files and the headers of the images of `pairs`."""
        frames: dict[str, set[str]] = defaultdict(set)
        for pair in pairs:
            frames[pair.scene].update((pair.frame0, pair.frame1))
        for name, scene in self.scenes.items():
            scene.check_files()
            check_frame_images(scene, sorted(frames[name]))

    def __len__(self) -> int:
        return len(self.pairs)

    def frame_sizes(self) -> set[tuple[int, int]]:
        """The native (W, H) sizes of the pairs' frames, from the intrinsics (no image is read)."""
        return {(camera.width, camera.height) for pair in self.pairs for camera in
                (self.scenes[pair.scene].camera(pair.frame0), self.scenes[pair.scene].camera(pair.frame1))}

    def set_resize(self, resize: tuple[int, int] | None) -> None:
        """Resize every frame to `resize` = (W, H) from now on (None: native size)."""
        if resize is not None:
            check_pixels(resize, "resize")
        self.resize = resize

    def _view(self, scene: Scene, frame: str) -> View:
        """One frame of an item (:meth:`_read_view`), from the cache when it holds it."""
        if self.cache is None:
            return self._read_view(scene, frame)
        key = (scene.name, frame)
        view = self.cache.get(key)
        if view is None:
            view = self._read_view(scene, frame)
            if _view_bytes(view) <= self.cache.maxsize:
                self.cache[key] = view
        return View(**view)

    def _read_view(self, scene: Scene, frame: str) -> View:
        """One frame of an item: the network input, its camera, the native camera and the depth."""
        native = scene.camera(frame)
        path = scene.image_path(frame)
        pixels = read_image(path)
        check_image_size(path, (pixels.shape[1], pixels.shape[0]), (native.width, native.height))
        image, camera = prepare_view(pixels, native, self.resize)
        view = View(image=image, camera=camera.to(dtype=torch.float32), camera_full=native.to(dtype=torch.float32),
                    frame=frame, path=str(path))
        if self.depth_suffix is not None:
            size = (camera.width, camera.height)
            view["depth"] = torch.from_numpy(read_depth(scene.depth_path(frame, self.depth_suffix), size))
        return view

    def __getitem__(self, index: int) -> PairItem:
        pair = self.pairs[index]
        scene = self.scenes[pair.scene]
        if scene.poses:
            T = torch.from_numpy(scene.relative_pose(pair.frame0, pair.frame1)).float()
        else:
            T = torch.full((4, 4), float("nan"))
        return PairItem(view0=self._view(scene, pair.frame0), view1=self._view(scene, pair.frame1), T_0to1=T,
                        scene=pair.scene, overlap=torch.tensor(pair.overlap, dtype=torch.float32))


def _view_bytes(view: View) -> int:
    """Memory of a view's tensors, its cameras' included."""
    tensors = (part for value in view.values() for part in (value if isinstance(value, Camera) else (value,)))
    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


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
