"""Lightning callbacks: atomic checkpoints, the validation history and a quieter progress bar."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from weakref import proxy

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint, TQDMProgressBar

TMP_SUFFIX = ".partial"


class AtomicCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that writes to a temporary file and renames it: a crash mid-write never
    leaves a truncated checkpoint under the final name (which `resume: last` would then load)."""

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        tmp = f"{filepath}{TMP_SUFFIX}"
        trainer.save_checkpoint(tmp, self.save_weights_only)
        if trainer.is_global_zero:
            os.replace(tmp, filepath)
        trainer.strategy.barrier("atomic_checkpoint")
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))


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


class ProgressBar(TQDMProgressBar):
    """TQDM bar showing the training loss terms and key validation metrics, without `v_num`."""

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics


def last_checkpoint(directory: str | Path) -> Path | None:
    """`last.ckpt` of a run's checkpoint folder if it exists (partial files are ignored)."""
    path = Path(directory) / "last.ckpt"
    return path if path.is_file() else None
