"""Expected failures of a training run's set-up, reported by the CLI as one line (exit code 2)."""

from __future__ import annotations

from mapfree.errors import UserError


class CheckpointError(UserError, ValueError):
    """A checkpoint to resume or to start from is missing, truncated or corrupt."""


class DeviceError(UserError, RuntimeError):
    """The configured accelerator is not available on this machine."""


class NoTrainingStepError(UserError, RuntimeError):
    """A run ended without applying a single optimizer step (every one was skipped as non-finite)."""
