"""`train(config) -> TrainResult`: one training run, from the CLI or from Python (a study's runs)."""

from __future__ import annotations

import logging
import shutil
import warnings
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_only

from mapfree import logs
from mapfree.atomic import OutputExistsError, folder_lock, path_inside, refuse_existing, write_json_atomic
from mapfree.models import MicKey
from mapfree.training.callbacks import (
    AtomicCheckpointIO,
    ProgressBar,
    RandomStates,
    ValidationHistory,
    last_checkpoint,
)
from mapfree.training.config import TrainConfig
from mapfree.training.data import MapFreeDataModule
from mapfree.training.errors import CheckpointError, DeviceError, NoTrainingStepError
from mapfree.training.loggers import LOG_DIRS, build_loggers
from mapfree.training.metric_names import best_metrics
from mapfree.training.module import MicKeyTraining
from mapfree.training.slurm import REQUEUE_CHECKPOINT, SlurmRequeue, allocation, cluster_plugins, in_slurm_job, requeued
from mapfree.weights.loading import load_torch_file

MODEL_PREFIX = "model."
RUN_CONFIG = "config.yaml"
"""The resolved configuration a run writes into its folder."""
RUN_LOG = "train.log"
"""The run's log file in its folder: every info line and warning, also those the console hides."""

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """Where a run wrote its outputs, and the validation metrics after every validation.

    `models` maps `last` and `best-vcre` / `best-pose` to `save_pretrained` folders that
    `MicKey.from_pretrained`, `mapfree pose` and `mapfree submit` load; `monitors` names the
    metric each `best-*` one maximises (at the configured thresholds).
    """

    run_dir: Path
    last_checkpoint: Path | None
    best_checkpoints: dict[str, Path | None]
    monitors: dict[str, str]
    models: dict[str, Path] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    skipped_steps: int = 0
    global_step: int = 0

    @property
    def final_metrics(self) -> dict[str, float]:
        return self.history[-1] if self.history else {}


def _checkpoints(ckpt_dir: Path, monitors: dict[str, str]) -> dict[str, ModelCheckpoint]:
    # no monitor + top-1 under a fixed name: `last.ckpt` is rewritten after every epoch (atomically: the
    # trainer writes files through AtomicCheckpointIO)
    callbacks = {"last": ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1,
                                         enable_version_counter=False)}
    for name, metric in monitors.items():
        callbacks[name] = ModelCheckpoint(dirpath=ckpt_dir, filename=f"best-{name}", monitor=metric, mode="max",
                                          save_top_k=1, auto_insert_metric_name=False, enable_version_counter=False)
    return callbacks


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def export_model(checkpoint: Path, model: MicKey, out_dir: Path, config: TrainConfig) -> Path:
    """Write the network of a training checkpoint as a `save_pretrained` folder (heads, CNN backbone, config, and
    the training config)."""
    state = load_torch_file(checkpoint)["state_dict"]
    own = {k.removeprefix(MODEL_PREFIX): v for k, v in state.items() if k.startswith(MODEL_PREFIX)}
    missing, unexpected = model.load_state_dict(own, strict=False)
    if unexpected or any(not (model.frozen_backbone and k.startswith("backbone.")) for k in missing):
        raise ValueError(f"{checkpoint}: does not fit the model (missing {missing[:5]}, unexpected {unexpected[:5]})")
    return model.save_pretrained(out_dir, training_config=config.to_dict())


def _resume_path(config: TrainConfig, ckpt_dir: Path) -> str | None:
    resume = config.trainer.resume
    if resume is None:
        return None
    if resume == "last":
        path = last_checkpoint(ckpt_dir)
        if path is None:
            log.info("no checkpoint in %s yet: starting from scratch", ckpt_dir)
            return None
    elif not Path(resume).is_file():
        raise CheckpointError(f"trainer.resume: checkpoint not found: {resume}")
    else:
        path = Path(resume)
    return str(readable_checkpoint(path))


def readable_checkpoint(path: Path) -> Path:
    """`path` if it opens as a Lightning training checkpoint; CheckpointError naming it if truncated or corrupt.

    Memory-mapped, so only the archive's index and the small pickled objects are read.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # truncated zips, bad pickles and foreign files fail in many types
        reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        raise CheckpointError(f"trainer.resume: {path} is not a readable checkpoint (truncated or corrupt; "
                              f"{reason})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "loops" not in checkpoint:
        raise CheckpointError(f"trainer.resume: {path} is not a training checkpoint of `mapfree train`")
    return path


def check_accelerator(accelerator: str) -> None:
    """DeviceError before any work when a GPU is asked for and none is usable."""
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise DeviceError(f"trainer.accelerator={accelerator}: no CUDA GPU is available here "
                          f"(use trainer.accelerator=cpu or auto)")


def _run_outputs(run_dir: Path) -> list[Path]:
    """What an earlier run left in `run_dir`: checkpoints, `history.json`, `model-*` folders, logger folders."""
    found = sorted((run_dir / "checkpoints").glob("*.ckpt")) + sorted(run_dir.glob("model-*"))
    return found + [p for p in (run_dir / "history.json", *map(run_dir.joinpath, LOG_DIRS)) if p.exists()]


def _holds(path: Path, text: str) -> bool:
    return path.is_file() and not path.is_symlink() and path.read_bytes() == text.encode()


def _claim_run_dir(run_dir: Path, resume: str | None, overwrite: bool, config_text: str) -> None:
    """Refuse to train into an earlier run unless resuming it or told to overwrite it (whose outputs then go).

    A `config.yaml` in the folder that this run would change (a hand-written config kept there, or an
    attempt's with other values) is replaced only with `overwrite` or by the run it records, resumed."""
    earlier = _run_outputs(run_dir)
    if not (overwrite or (earlier and resume is not None) or _holds(run_dir / RUN_CONFIG, config_text)):
        refuse_existing(run_dir / RUN_CONFIG, "pass --overwrite to replace it, or keep your configs outside the "
                                              "run folder")
    if not earlier or resume is not None:
        return
    if not overwrite:
        raise OutputExistsError(f"{run_dir} already holds a training run ({earlier[0].name}, ...); pass --resume to "
                                "continue it or --overwrite to replace it")
    for path in [run_dir / "checkpoints", run_dir / RUN_LOG, *earlier]:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


LAST_MODEL = "model-last"
"""The folder, in a run's folder, of the network as training left it."""


def train(
    config: TrainConfig | str | Path, overrides: Iterable[str] = (), extra_callbacks: Iterable[pl.Callback] = (),
    overwrite: bool = False,
) -> TrainResult:
    """Train MicKey as configured; returns checkpoints and the validation history.

    Outputs go to `trainer.out_dir/trainer.name/`: `config.yaml`, `checkpoints/` (`last.ckpt`,
    `best-vcre.ckpt`, `best-pose.ckpt`: Lightning files for resuming), the `trainer.logger` logs
    (TensorBoard's in `tb/` by default, with the learning rate), `history.json`, and the networks as
    `model-last/`, `model-best-vcre/`, `model-best-pose/`.
    A folder holding an earlier run is refused unless `trainer.resume` is set or `overwrite`,
    which deletes the earlier run's outputs first; so is a `config.yaml` there that differs (see
    `_claim_run_dir`). `trainer.name` is refused when it leaves `trainer.out_dir`. The run folder is
    locked while training writes into it (`mapfree.atomic.folder_lock`: a second writer is refused).
    Inside a Slurm job, Lightning's Slurm environment places the ranks; Slurm's warning signal checkpoints and
    requeues the job (:mod:`mapfree.training.slurm`), and the requeued job resumes its newest checkpoint.
    A run that applied no optimizer step (every one skipped as non-finite) raises NoTrainingStepError
    and exports nothing.
    """
    if not isinstance(config, TrainConfig):
        config = TrainConfig.load(config, overrides)
    elif overrides:
        raise ValueError("overrides apply to a config file; edit the TrainConfig object instead")
    config = config.with_val_width()
    t = config.trainer
    check_accelerator(t.accelerator)
    run_dir = path_inside(t.out_dir, t.name, "trainer.name")
    if t.resume is None and requeued() and _run_outputs(run_dir):  # this job's earlier attempt: continue it
        log.info("requeued Slurm job: resuming %s", last_checkpoint(run_dir / "checkpoints") or "from scratch")
        config = replace(config, trainer=replace(t, resume="last"))
    with nullcontext() if rank_zero_only.rank else folder_lock(run_dir):  # the other ranks write no files
        return _train_locked(config, run_dir, extra_callbacks, overwrite)


def _train_locked(
    config: TrainConfig, run_dir: Path, extra_callbacks: Iterable[pl.Callback], overwrite: bool
) -> TrainResult:
    """`train`, once this process holds the run folder; rank 0 keeps the run's log file from the claim on."""
    t = config.trainer
    loggers = build_loggers(t.logger, t.name, run_dir)
    log.debug("training into %s, logging to %s", run_dir, ", ".join(type(lg).__name__ for lg in loggers) or "nothing")
    _claim_run_dir(run_dir, t.resume, overwrite, config.to_yaml())
    run_dir.mkdir(parents=True, exist_ok=True)
    with nullcontext() if rank_zero_only.rank else logs.run_log(run_dir / RUN_LOG):
        return _fit(config, run_dir, loggers, extra_callbacks)


def _fit(config: TrainConfig, run_dir: Path, loggers: list, extra_callbacks: Iterable[pl.Callback]) -> TrainResult:
    t = config.trainer
    ckpt_dir = run_dir / "checkpoints"
    pl.seed_everything(t.seed, workers=True, verbose=False)

    module = MicKeyTraining(config)
    data = MapFreeDataModule(config.data, config.depth, seed=t.seed)
    monitors = best_metrics(config.thresholds) if t.limit_val_batches != 0 else {}
    checkpoints = _checkpoints(ckpt_dir, monitors)
    history = ValidationHistory()
    callbacks = [*checkpoints.values(), history, RandomStates(), *extra_callbacks]
    if loggers:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    if in_slurm_job():
        callbacks.append(SlurmRequeue(ckpt_dir / REQUEUE_CHECKPOINT))
    devices, num_nodes = allocation(t.devices, t.num_nodes)
    progress_bar = logs.progress(t.progress_bar)
    if progress_bar:
        callbacks.append(ProgressBar(refresh_rate=1))
    trainer = pl.Trainer(
        accelerator=t.accelerator, devices=devices, num_nodes=num_nodes, strategy=t.strategy,
        precision=t.precision, max_epochs=t.max_epochs, max_steps=t.max_steps, deterministic=t.deterministic,
        val_check_interval=t.val_check_interval, check_val_every_n_epoch=t.check_val_every_n_epoch,
        limit_val_batches=t.limit_val_batches, log_every_n_steps=t.log_every_n_steps,
        logger=loggers or False, callbacks=callbacks, enable_progress_bar=progress_bar, use_distributed_sampler=False,
        num_sanity_val_steps=0, enable_model_summary=False, plugins=[AtomicCheckpointIO(), *cluster_plugins()],
    )
    if trainer.is_global_zero:
        config.save(run_dir / RUN_CONFIG)
    with warnings.catch_warnings():
        if config.optim.frozen:  # frozen modules stay in eval mode on purpose
            warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode at the start of training")
        # Lightning's own use of a torch API torch deprecated; nothing a user can act on
        warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                                category=FutureWarning)
        trainer.fit(module, datamodule=data, ckpt_path=_resume_path(config, ckpt_dir), weights_only=True)
    if trainer.is_global_zero:  # the run went past it: `resume: last` must not go back to it
        (ckpt_dir / REQUEUE_CHECKPOINT).unlink(missing_ok=True)

    result = TrainResult(
        run_dir=run_dir,
        last_checkpoint=last_checkpoint(ckpt_dir),
        # read from disk: with spawn-based strategies the callbacks' own state stays in the workers
        best_checkpoints={name: _existing(ckpt_dir / f"best-{name}.ckpt") for name in monitors},
        monitors=monitors,
        history=history.history,
        skipped_steps=module.skipped_steps,
        global_step=trainer.global_step,
    )
    if result.global_step == 0 and result.skipped_steps:
        raise NoTrainingStepError(f"{run_dir}: all {result.skipped_steps} training steps were skipped as non-finite "
                                  "(NaN or Inf loss or gradients), so no model is exported; check the data and "
                                  "optim.lr")
    if trainer.is_global_zero:
        write_json_atomic(run_dir / "history.json", result.history, indent=1)
        # `last` is the network as training left it (also when max_steps stops mid-epoch, before
        # any checkpoint); the best ones come from their checkpoints.
        result.models = {"last": module.model.save_pretrained(run_dir / LAST_MODEL, training_config=config.to_dict())}
        result.models.update({f"best-{name}": export_model(path, module.model, run_dir / f"model-best-{name}",
                                                           config)
                              for name, path in result.best_checkpoints.items() if path is not None})
    return result
