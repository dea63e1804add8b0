"""Atomic checkpoint files through Lightning's public CheckpointIO plugin: a crash mid-write never leaves a
truncated checkpoint under the final name, and runs checkpointed before the plugin still resume their state."""

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.plugins import TorchCheckpointIO

from mapfree.training import train
from mapfree.training.callbacks import TMP_SUFFIX, AtomicCheckpointIO, last_checkpoint, rename_legacy_callback_states
from test_training_module import tiny_config


def state(step: int) -> dict:
    return {"global_step": step, "state_dict": {"w": torch.full((3,), float(step))}}


def test_save_replaces_the_final_file_and_leaves_no_partial(tmp_path):
    io, path = AtomicCheckpointIO(), tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint(state(1), path)
    io.save_checkpoint(state(2), path)
    assert torch.equal(io.load_checkpoint(path, weights_only=True)["state_dict"]["w"], torch.full((3,), 2.0))
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]
    assert last_checkpoint(path.parent) == path
    io.remove_checkpoint(path)
    assert not path.exists() and last_checkpoint(path.parent) is None


def test_crash_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint(state(1), path)

    def crash_mid_write(self, checkpoint, target, storage_options=None):
        Path(target).write_bytes(b"PK\x03\x04 truncated")
        raise OSError("no space left on device")

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", crash_mid_write)
    with pytest.raises(OSError, match="no space left"):
        io.save_checkpoint(state(2), path)
    assert (tmp_path / f"last.ckpt{TMP_SUFFIX}").exists()  # the truncated bytes went to the partial file only
    assert last_checkpoint(tmp_path) == path
    assert torch.load(path, weights_only=True)["global_step"] == 1


def test_legacy_checkpoint_callback_states_are_renamed():
    kept = {"best_model_score": torch.tensor(0.5)}
    checkpoint = {"callbacks": {"AtomicCheckpoint{'monitor': 'val/pose_auc', 'mode': 'max'}": kept,
                                "ValidationHistory": {"history": []}}}
    rename_legacy_callback_states(checkpoint)
    assert checkpoint["callbacks"] == {"ModelCheckpoint{'monitor': 'val/pose_auc', 'mode': 'max'}": kept,
                                       "ValidationHistory": {"history": []}}
    rename_legacy_callback_states({"state_dict": {}})  # weights-only checkpoints have no callback states


class Seen(pl.Callback):
    """Records the trainer's checkpoint IO and the best-score checkpoint callbacks' restored scores."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.checkpoint_io = trainer.strategy.checkpoint_io
        self.best = {cb.monitor: cb.best_model_score for cb in trainer.checkpoint_callbacks
                     if isinstance(cb, ModelCheckpoint) and cb.monitor}


def test_training_writes_through_the_plugin_and_resumes_legacy_checkpoints(tiny_dataset, tmp_path):
    first = train(tiny_config(tiny_dataset, tmp_path, trainer={"max_epochs": 1}))
    # written by the last checkpoint callback, so holding both best scores
    checkpoint = torch.load(first.best_checkpoints["pose"], weights_only=True)
    written = {key: value["best_model_score"] for key, value in checkpoint["callbacks"].items()
               if key.startswith("ModelCheckpoint{") and value["best_model_score"] is not None}
    assert len(written) == 2
    checkpoint["callbacks"] = {key.replace("ModelCheckpoint{", "AtomicCheckpoint{"): value
                               for key, value in checkpoint["callbacks"].items()}
    legacy = tmp_path / "legacy.ckpt"
    torch.save(checkpoint, legacy)  # as the ModelCheckpoint subclass before the plugin wrote it

    seen = Seen()
    train(tiny_config(tiny_dataset, tmp_path, trainer={"max_epochs": 2, "resume": str(legacy)}),
          extra_callbacks=[seen])
    assert isinstance(seen.checkpoint_io, AtomicCheckpointIO)
    assert sorted(float(v) for v in seen.best.values()) == sorted(float(v) for v in written.values())
