"""Training inside a Slurm job: Lightning's Slurm environment for ranks and addresses, the allocation's tasks as
devices and nodes, and requeue on Slurm's warning signal with an exact checkpoint.

Lightning's own requeue handler saves its checkpoint inside the signal handler, wherever the step is (between
backward and the optimizer, say); :class:`SlurmRequeue` only notes the signal and checkpoints at the start of the
next step (the last one's validation and scheduler step done), once every rank has seen it, so the requeued job
resumes (`resume: last`, which takes the newest checkpoint) to the same weights as an uninterrupted run.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import pytorch_lightning as pl
from lightning_fabric.plugins.environments import SLURMEnvironment

from mapfree.errors import UserError
from mapfree.training.callbacks import RESUMABLE, RandomStates

REQUEUE_SIGNAL = signal.SIGUSR1
"""What `sbatch --signal=USR1@SECONDS` sends before the time limit (and what a preempting scheduler is told to)."""
REQUEUE_CHECKPOINT = RESUMABLE[1]
"""The checkpoint, in a run's checkpoint folder, written when the job is requeued."""

log = logging.getLogger(__name__)


class RequeuedError(UserError, RuntimeError):
    """The run checkpointed and asked Slurm to requeue its job; this attempt ends here."""


def in_slurm_job(env: Mapping[str, str] = os.environ) -> bool:
    """Inside a Slurm job started by `sbatch` or `srun` (not an interactive `salloc` shell): Lightning's own test
    (`SLURMEnvironment.detect`) on `env`."""
    return "SLURM_NTASKS" in env and env.get("SLURM_JOB_NAME") not in ("bash", "interactive")


def requeued(env: Mapping[str, str] = os.environ) -> bool:
    """This is a restart of a requeued Slurm job (`SLURM_RESTART_COUNT` > 0)."""
    return int(env.get("SLURM_RESTART_COUNT", "0") or 0) > 0


def allocation(devices: Any, num_nodes: int, env: Mapping[str, str] = os.environ) -> tuple[Any, int]:
    """(devices, num_nodes) for the Trainer: the config's, except `devices: auto` becomes the step's tasks per node
    and `num_nodes: 1` the step's node count when `srun` started several (one task per device)."""
    if not in_slurm_job(env):
        return devices, num_nodes
    per_node = env.get("SLURM_NTASKS_PER_NODE", "").split("(")[0]  # "4(x2)" on a homogeneous allocation
    if devices == "auto" and per_node.isdigit():
        devices = int(per_node)
    nodes = int(env.get("SLURM_NNODES", "1"))
    return devices, nodes if num_nodes == 1 and nodes > 1 else num_nodes


def cluster_plugins() -> list[Any]:
    """Lightning's Slurm environment (ranks, master address and port from Slurm) without its own requeue handler,
    inside a Slurm job; nothing elsewhere."""
    return [SLURMEnvironment(auto_requeue=False)] if in_slurm_job() else []


class SlurmRequeue(pl.Callback):
    """On :data:`REQUEUE_SIGNAL`: once the current training step and what follows it (validation) are done, an
    exact checkpoint (`path`), `scontrol requeue` of this job by rank 0, and :class:`RequeuedError` on every rank.
    Active inside a Slurm job only."""

    def __init__(self, path: str | Path, env: Mapping[str, str] = os.environ) -> None:
        array = env.get("SLURM_ARRAY_JOB_ID")
        self.job_id = f"{array}_{env['SLURM_ARRAY_TASK_ID']}" if array else env["SLURM_JOB_ID"]
        self.path = Path(path)
        self.signalled = False
        self._previous: Any = None

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.signalled = True

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._previous = signal.signal(REQUEUE_SIGNAL, self._note)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """The handler before training, except the default one (terminate): a signal after training (the models
        are being written) is ignored, the requeue having no work left to save."""
        keep = self._previous not in (None, signal.SIG_DFL)
        signal.signal(REQUEUE_SIGNAL, self._previous if keep else signal.SIG_IGN)

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        """Before the next step, once the last one's validation and scheduler step are done: restarting from
        here redoes nothing and skips nothing (a checkpoint at the end of a step would skip what follows it)."""
        if not trainer.strategy.reduce_boolean_decision(self.signalled, all=False):
            return
        for callback in trainer.callbacks:
            if isinstance(callback, RandomStates):
                callback.at_batch_start = True
        trainer.save_checkpoint(self.path)
        if trainer.is_global_zero:
            done = subprocess.run(["scontrol", "requeue", self.job_id], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise UserError(f"checkpointed at step {trainer.global_step} ({self.path}) but `scontrol requeue "
                                f"{self.job_id}` failed: {done.stderr.strip()}; resubmit the job to resume")
            log.warning("Slurm's signal: checkpointed at step %d (%s) and requeued job %s", trainer.global_step,
                        self.path, self.job_id)
        raise RequeuedError(f"job {self.job_id} requeued at step {trainer.global_step}; it resumes from {self.path}")
