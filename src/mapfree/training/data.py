"""Training and validation data: Map-free pairs with per-patch depth targets.

Each item is a :class:`mapfree.data.items.PairItem` (whose views carry the frames' native
cameras `camera_full`, where MicKey measures its VCRE loss) plus

- with depth supervision, each view's `target` (N,) patch targets on MicKey's grid (NaN = none)
  from a depth-prior store or from the dataset's own depth maps; a frame the store lacks is an
  error, all NaN or all zeros (`depth.missing`);
- `scene_index`: the scene's position in the split (stable across processes);
- with validation depth, each view's `true_depth` (N,) patch means of the true depth.

Dense depth maps are dropped once the targets are made.

Training draws `pairs_per_scene` pairs per scene and epoch (scene-balanced, as MicKey); every
process of a distributed run takes a disjoint share of each epoch's draw.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sized
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mapfree.data.dataset import MapFreePairs, SceneBalancedSampler
from mapfree.data.errors import DataFormatError
from mapfree.data.items import PairItem, View, views
from mapfree.depth_prior import MissingPriorError, PriorStore
from mapfree.depth_prior.meta import METRIC_DEPTH, RELATIVE_INVERSE_DEPTH
from mapfree.depth_prior.patches import patch_average
from mapfree.depth_prior.store import stored_frames
from mapfree.errors import InputError
from mapfree.training.config import DataConfig, DepthConfig


class TrainingPairs(Dataset):
    """MapFreePairs items extended with patch depth targets (see module doc)."""

    def __init__(self, pairs: MapFreePairs, depth: DepthConfig | None = None, true_depth: bool = False):
        self.pairs = pairs
        self.depth = depth if depth is not None and depth.enabled else None
        self.true_depth = true_depth
        self.scene_index = {name: i for i, name in enumerate(sorted(pairs.scenes))}
        self.store = None
        if self.depth is not None and self.depth.source == "prior":
            self.store = PriorStore(self.depth.prior_root, pairs.split)
            check_prior_quantity(self.store.meta.quantity, self.depth.loss, self.depth.prior_root)
            if self.depth.missing == "error":
                check_prior_coverage(self.store, pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def _target(self, view: View, scene: str) -> torch.Tensor:
        image_size = tuple(view["image"].shape[:0:-1])  # (W, H)
        if self.depth.source == "gt":
            return patch_average(view["depth"], self.depth.min_valid_fraction).flatten()
        frame = view["frame"]
        prior = self.store.load(scene, frame) if self.depth.missing == "error" else self.store.get(scene, frame)
        if prior is None:
            rows, cols = image_size[1] // 14, image_size[0] // 14
            return torch.full((rows * cols,), 0.0 if self.depth.missing == "zeros" else float("nan"))
        if tuple(prior.image_size) != image_size:
            raise InputError(
                f"{self.store.path(scene, frame)}: prior made for {prior.image_size[0]}x{prior.image_size[1]} images, "
                f"training on {image_size[0]}x{image_size[1]} (set data.resize to match the store's image_size)"
            )
        return torch.from_numpy(prior.values).flatten()

    def __getitem__(self, index: int) -> PairItem:
        item = self.pairs[index]
        item["scene_index"] = torch.tensor(self.scene_index[item["scene"]])
        for view in views(item):
            if self.depth is not None:
                view["target"] = self._target(view, item["scene"])
            if self.true_depth:
                view["true_depth"] = patch_average(view["depth"]).flatten()
            view.pop("depth", None)
        return item


def check_prior_quantity(quantity: str, loss: str, where: str) -> None:
    """Refuse a depth loss that does not fit the teacher's output (the seed's second defect); `seed_mse`
    takes anything, the seed's own 8-bit targets included."""
    if loss in ("l2", "silog") and quantity != METRIC_DEPTH:
        raise InputError(f"{where}: depth.loss {loss!r} needs metric depth targets, "
                         f"the store holds {quantity!r}; use 'ssi' (relative) or 'seed_mse' (the seed's)")
    if loss == "ssi" and quantity != RELATIVE_INVERSE_DEPTH:
        raise InputError(f"{where}: depth.loss 'ssi' needs relative inverse depth targets, "
                         f"the store holds {quantity!r}; use 'silog' or 'l2' (metric) or 'seed_mse' (the seed's)")


def check_prior_coverage(store: PriorStore, pairs: MapFreePairs) -> None:
    """MissingPriorError naming the store and a frame of `pairs` it has no file for (one listing per scene)."""
    frames: dict[str, set[str]] = defaultdict(set)
    for pair in pairs.pairs:
        frames[pair.scene].update((pair.frame0, pair.frame1))
    missing = [(scene, frame) for scene, wanted in sorted(frames.items())
               for frame in sorted(wanted - stored_frames(store.root / store.split / scene))]
    if missing:
        scene, frame = missing[0]
        total = sum(len(wanted) for wanted in frames.values())
        raise MissingPriorError(
            f"{store.root}: no depth prior for {len(missing)} of the {total} {store.split} frames the training pairs "
            f"use, e.g. {store.split}/{scene}/{frame} ({store.path(scene, frame)}); run `mapfree depth-prior` "
            f"for this split (see {store.root / 'failures'}) or set depth.missing=mask"
        )


def check_validation_truth(pairs: MapFreePairs) -> None:
    """DataFormatError naming the first depth map validation needs that a scene of `pairs` lacks (checked
    before training, not after an epoch; the dataset itself already refuses val scenes without poses)."""
    if pairs.depth_suffix is None:
        return
    used: dict[str, set[str]] = defaultdict(set)
    for pair in pairs.pairs:
        used[pair.scene].update((pair.frame0, pair.frame1))
    for name, frames in sorted(used.items()):
        scene = pairs.scenes[name]
        for frame in sorted(frames):
            path = scene.depth_path(frame, pairs.depth_suffix)
            if not path.is_file():
                raise DataFormatError(path, f"missing: data.val_depth_suffix={pairs.depth_suffix!r} needs "
                                      f"the depth map of every validation frame")


class ShardedSampler(Sampler[int]):
    """Every `world_size`-th index of an inner sampler's draw (or of range(len(dataset))), from `rank`.

    With `even` (training) every process gets the same number of items, the remainder is
    dropped, so all take the same number of optimizer steps; without it (validation) every
    item is visited exactly once.
    """

    def __init__(self, inner: Sampler[int] | Sized, rank: int = 0, world_size: int = 1, even: bool = True):
        self.inner, self.rank, self.world_size, self.even = inner, rank, world_size, even
        self.skip = 0  # leading indices the next iteration leaves out (a run resumed mid-epoch)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch)

    def __len__(self) -> int:
        n = len(self.inner)
        return n // self.world_size if self.even else len(range(self.rank, n, self.world_size))

    def __iter__(self) -> Iterator[int]:
        indices = list(iter(self.inner)) if isinstance(self.inner, Sampler) else list(range(len(self.inner)))
        stop = len(self) * self.world_size if self.even else len(indices)
        start, self.skip = self.skip, 0
        return iter(indices[self.rank : stop : self.world_size][start:])


class ResumableLoader(DataLoader):
    """A DataLoader that a resumed run iterates from where the interrupted one stood.

    Every new iterator draws the workers' base seed from the global torch generator; persistent
    workers keep their first iterator, so an uninterrupted run draws once per loader (without
    workers, once per epoch). A resumed run starts fresh loaders: those whose workers had started
    when the checkpoint was written (`continues`), and a training loader resumed mid-epoch, make
    their first iterator without drawing, so everything random after the checkpoint (REINFORCE
    sets, validation RANSAC) sees the same numbers as without the interruption.

    The training loader is stateful for Lightning: `trained` counts the current epoch's batches
    that took their step (not those the loader or its workers fetched ahead); Lightning keeps it in
    every checkpoint and hands it back to a run resumed mid-epoch, whose first iterator then
    continues the epoch's draw (a :class:`ShardedSampler`) after those batches.
    """

    continues = False

    def __init__(self, *args: Any, trained: Callable[[], int] = lambda: 0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.trained = trained

    @property
    def started(self) -> bool:
        """Whether persistent workers run (and the next epoch reuses them without drawing a seed)."""
        return self._iterator is not None

    def state_dict(self) -> dict[str, int]:
        return {"batches": self.trained()}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        """Called by Lightning only on a mid-epoch restart, before the first iterator."""
        batches = state_dict["batches"]
        self.sampler.skip = batches * self.batch_size
        self.continues |= batches > 0  # the epoch's iterator, and its seed, were made before the checkpoint

    def __iter__(self) -> Iterator:
        if not self.continues or self.started:
            return super().__iter__()
        self.continues = False
        state = torch.get_rng_state()
        try:
            return super().__iter__()
        finally:
            torch.set_rng_state(state)


class MapFreeDataModule(pl.LightningDataModule):
    """Scene-balanced training pairs and (optionally subsampled) benchmark validation pairs."""

    def __init__(self, data: DataConfig, depth: DepthConfig, seed: int = 0):
        super().__init__()
        self.cfg, self.depth, self.seed = data, depth, seed
        self.train_set: TrainingPairs | None = None
        self.val_set: TrainingPairs | None = None
        self.loaders: dict[str, ResumableLoader] = {}
        self.continuing: set[str] = set()

    def _pairs(self, split: str, depth_suffix: str | None, **kwargs) -> MapFreePairs:
        return MapFreePairs(self.cfg.root, split, resize=self.cfg.resize, depth_suffix=depth_suffix, **kwargs)

    def setup(self, stage: str | None = None) -> None:
        gt = self.depth.enabled and self.depth.source == "gt"
        train = self._pairs("train", self.depth.gt_suffix if gt else None, min_overlap=self.cfg.min_overlap,
                            max_overlap=self.cfg.max_overlap, cache_mb=self.cfg.cache_mb)
        if len(train) == 0:
            raise InputError(f"{self.cfg.root}/train: no training pairs with overlap in "
                             f"[{self.cfg.min_overlap}, {self.cfg.max_overlap}]")
        self.train_set = TrainingPairs(train, self.depth)
        val = self._pairs("val", self.cfg.val_depth_suffix)
        if self.cfg.val_max_pairs is not None and len(val) > self.cfg.val_max_pairs:
            keep = np.linspace(0, len(val) - 1, self.cfg.val_max_pairs).round().astype(int)
            val = self._pairs("val", self.cfg.val_depth_suffix, pairs=[val.pairs[i] for i in keep])
        check_validation_truth(val)
        self.val_set = TrainingPairs(val, None, true_depth=self.cfg.val_depth_suffix is not None)

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> DataLoader:
        inner = SceneBalancedSampler(self.train_set.pairs.pairs, self.cfg.pairs_per_scene, self.seed)
        if self.trainer is not None:
            # a resumed fit makes its first iterator before it sets the epoch, and workers draw indices
            # ahead: start at the epoch Lightning is about to set, not at 0
            inner.set_epoch(self.trainer.fit_loop.epoch_progress.current.processed)
        return self._loader("train", self.train_set, ShardedSampler(inner, *self._rank()), self.cfg.batch_size,
                            drop_last=True, trained=self._trained_batches)

    def _trained_batches(self) -> int:
        """Batches of the current epoch that took their step; 0 once all have (the next batch starts an epoch)."""
        trainer = self.trainer
        return trainer.fit_loop.epoch_loop.batch_progress.current.processed % trainer.num_training_batches

    def val_dataloader(self) -> DataLoader:
        rank, world = self._rank()
        return self._loader("val", self.val_set, ShardedSampler(self.val_set, rank, world, even=False),
                            self.cfg.val_batch_size)

    def _loader(self, name: str, dataset: Dataset, sampler: Sampler, batch_size: int, **kwargs: Any) -> DataLoader:
        workers = self.cfg.num_workers
        loader = ResumableLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                                 persistent_workers=workers > 0, pin_memory=torch.cuda.is_available(), **kwargs)
        loader.continues = name in self.continuing
        self.loaders[name] = loader
        return loader

    def state_dict(self) -> dict[str, Any]:
        """Which loaders' persistent workers had started (see :class:`ResumableLoader`)."""
        return {"started": sorted(name for name, loader in self.loaders.items() if loader.started)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.continuing = set(state_dict["started"])


__all__ = ["MapFreeDataModule", "MissingPriorError", "ResumableLoader", "ShardedSampler", "TrainingPairs",
           "check_prior_coverage", "check_prior_quantity", "check_validation_truth"]
