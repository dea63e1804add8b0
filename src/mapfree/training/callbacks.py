"""Lightning callbacks and plugins: atomic checkpoint files, the validation history, random states and a quieter
progress bar."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.plugins import TorchCheckpointIO

from mapfree.errors import DISK_FULL_ERRNOS, DiskFullError

TMP_SUFFIX = ".partial"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's `torch.save` checkpoint IO, writing each file as `<name>.partial` beside its final name and then
    renaming it (`os.replace`, atomic within a folder): a crash mid-write never leaves a truncated checkpoint under
    the final name (which `resume: last` would then load).

    Pass it as `pl.Trainer(plugins=[AtomicCheckpointIO()])`; strategies call it on rank 0 only. Loading and removing
    are `TorchCheckpointIO`'s own (loading keeps its `weights_only` handling).
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike[str],
                        storage_options: Any | None = None) -> None:
        """`checkpoint` written to `<path>.partial`, then renamed onto `path`; a full disk is a DiskFullError naming
        `path` (the partial file removed)."""
        tmp = f"{path}{TMP_SUFFIX}"
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
        except OSError as e:
            if e.errno not in DISK_FULL_ERRNOS:
                raise
            Path(tmp).unlink(missing_ok=True)
            raise DiskFullError.writing(path) from e
        os.replace(tmp, path)


def rename_legacy_callback_states(checkpoint: dict[str, Any]) -> None:
    """Rename the checkpoint-callback states of checkpoints written before `AtomicCheckpointIO`.

    Those runs used a `ModelCheckpoint` subclass named `AtomicCheckpoint`, and Lightning keys a callback's state by
    its class name; renamed to `ModelCheckpoint{...}`, resuming such a run keeps its best scores and paths.
    """
    states = checkpoint.get("callbacks") or {}
    for key in [k for k in states if isinstance(k, str) and k.startswith("AtomicCheckpoint{")]:
        states["ModelCheckpoint" + key.removeprefix("AtomicCheckpoint")] = states.pop(key)


class ValidationHistory(pl.Callback):
    """Keeps every validation's logged `val/*` metrics (plus epoch and step) as plain floats."""

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        row = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        row.update(epoch=float(trainer.current_epoch), step=float(trainer.global_step))
        self.history.append(row)

    def state_dict(self) -> dict[str, Any]:
        """The rows so far go into every checkpoint, so a resumed run keeps the epochs before the interruption."""
        return {"history": [dict(row) for row in self.history]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [dict(row) for row in state_dict["history"]]


class RandomStates(pl.Callback):
    """Checkpoints the global random states (python, NumPy, torch CPU and CUDA) and restores them on resume.

    Everything random in training draws from them (REINFORCE sets and minimal sets, validation
    RANSAC, the loaders' base seeds and so their workers' seeds), so a run resumed from a checkpoint
    continues exactly as the uninterrupted run did after writing it. A checkpoint written at the start of a
    training batch (`at_batch_start`, Slurm's requeue) restores them at the start of the resumed run's first
    batch instead: Lightning draws on its way there (a validation iterator it makes to skip the validation
    already done) where the uninterrupted run did not.
    """

    def __init__(self) -> None:
        self.at_batch_start = False
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        kind, keys, *rest = np.random.get_state()  # keys as a tensor: checkpoints load with weights_only
        return {
            "python": random.getstate(),
            "numpy": (kind, torch.from_numpy(keys), *rest),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "at_batch_start": self.at_batch_start,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict.get("at_batch_start"):
            self._pending = state_dict
        else:
            self._restore(state_dict)

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        if self._pending is not None:
            self._restore(self._pending)
            self._pending = None

    @staticmethod
    def _restore(state_dict: dict[str, Any]) -> None:
        random.setstate(state_dict["python"])
        kind, keys, *rest = state_dict["numpy"]
        np.random.set_state((kind, keys.numpy(), *rest))
        torch.set_rng_state(state_dict["torch"])
        if state_dict["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])


class ProgressBar(TQDMProgressBar):
    """TQDM bar showing the training loss terms and key validation metrics, without `v_num`."""

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics


RESUMABLE = ("last.ckpt", "requeue.ckpt")
"""The checkpoints `resume: last` chooses from: the one after every epoch (or validation) and the one a requeued
Slurm job wrote when signalled (`mapfree.training.slurm`)."""


def last_checkpoint(directory: str | Path) -> Path | None:
    """The newest of :data:`RESUMABLE` in a run's checkpoint folder, if any (partial files are ignored)."""
    found = [path for path in map(Path(directory).joinpath, RESUMABLE) if path.is_file()]
    return max(found, key=lambda path: path.stat().st_mtime_ns, default=None)
