"""The experiment loggers of a run (`trainer.logger`) and the map images each of them can show.

- `tensorboard`: `RUN/tb/` (the default);
- `csv`: `RUN/csv/metrics.csv` (one row per logging step, one column per metric);
- `wandb` (`pip install 'mapfree[wandb]'`): project and run name `trainer.name`, files in `RUN/wandb/`;
  offline (`wandb sync RUN/wandb/offline-run-*` uploads later) unless `WANDB_MODE` or
  `WANDB_API_KEY` is set, so a run never waits on a login prompt;
- `mlflow` (`pip install 'mapfree[mlflow]'`): experiment `trainer.name`, at `MLFLOW_TRACKING_URI`
  if set, else in the local store `RUN/mlruns/`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from pytorch_lightning.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger, WandbLogger

from mapfree.extras import require
from mapfree.registry import Registry
from mapfree.training.config import LoggerName

LOG_DIRS = ("tb", "csv", "wandb", "mlruns")
"""The folders of a run the loggers write into (an overwritten run loses them)."""

LOGGERS: Registry[Callable[[str, Path], Logger]] = Registry("logger")
"""Logger factories by `trainer.logger` name: (run name, run folder) -> logger."""


@LOGGERS.register("tensorboard")
def _tensorboard(name: str, run_dir: Path) -> Logger:
    return TensorBoardLogger(str(run_dir), name="tb", version="")


@LOGGERS.register("csv")
def _csv(name: str, run_dir: Path) -> Logger:
    return CSVLogger(str(run_dir), name="csv", version="")


@LOGGERS.register("wandb")
def _wandb(name: str, run_dir: Path) -> Logger:
    online = "WANDB_MODE" in os.environ or "WANDB_API_KEY" in os.environ
    return WandbLogger(name=name, project=name, save_dir=str(run_dir), offline=not online)


@LOGGERS.register("mlflow")
def _mlflow(name: str, run_dir: Path) -> Logger:
    return MLFlowLogger(experiment_name=name, run_name=name, save_dir=str(run_dir / "mlruns"))


OPTIONAL = ("wandb", "mlflow")
"""Loggers whose package is an extra of the same name."""


def build_loggers(names: LoggerName | list[LoggerName], run_name: str, run_dir: Path) -> list[Logger]:
    """The loggers `names` (`trainer.logger`) for a run; a one-line MissingExtraError when one's package is missing."""
    names = list(dict.fromkeys([names] if isinstance(names, str) else names))
    for name in names:
        if name in OPTIONAL:
            require(name, f"trainer.logger={name}")
    return [LOGGERS.get(name)(run_name, run_dir) for name in names]


def shows_images(logger: Logger) -> bool:
    """Whether :func:`log_image` can show an image on `logger` (the CSV logger cannot)."""
    return isinstance(logger, (TensorBoardLogger, WandbLogger, MLFlowLogger))


def to_chw(image: np.ndarray) -> torch.Tensor:
    """HWC uint8 to the CHW float tensor TensorBoard's add_image expects."""
    return torch.from_numpy(image).permute(2, 0, 1).float() / 255.0


def log_image(logger: Logger, tag: str, image: np.ndarray, step: int) -> None:
    """Show an (H, W, 3) uint8 image on a logger for which :func:`shows_images` holds."""
    if isinstance(logger, TensorBoardLogger):
        logger.experiment.add_image(tag, to_chw(image), global_step=step)
    elif isinstance(logger, WandbLogger):
        logger.log_image(key=tag, images=[image], step=step)
    else:
        logger.experiment.log_image(logger.run_id, image, artifact_file=f"{tag}/step_{step:07d}.png")
