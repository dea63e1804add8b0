"""The teachers by name (`TEACHERS`), and the device and precision they run at."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from mapfree.depth_prior.depth_anything import DepthAnythingTeacher, TransformersDepthTeacher
from mapfree.depth_prior.dpt import DPTTeacher
from mapfree.depth_prior.synthetic import CALIBRATED, NEAR_TRUTH, MonocularErrors, SyntheticTeacher
from mapfree.depth_prior.teacher import Teacher
from mapfree.devices import checked_device
from mapfree.errors import InputError
from mapfree.registry import Registry

TeacherFactory = Callable[[str | None, str, str, int, Path | None], Teacher]
"""(weights, device, precision, seed, depth_root) -> teacher."""


def resolve_device(name: str) -> torch.device:
    """'auto' is this rank's GPU (`LOCAL_RANK`, or `SLURM_LOCALID` under srun) when there is one, else the CPU."""
    if name != "auto":
        return checked_device(name)
    if torch.cuda.is_available():
        local = os.environ.get("LOCAL_RANK", os.environ.get("SLURM_LOCALID", "0"))  # torchrun's, else srun's
        return torch.device("cuda", int(local) % torch.cuda.device_count())
    return torch.device("cpu")


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """'auto' is float16 on GPU and float32 on CPU (half precision is slow or unsupported there)."""
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


TEACHERS: Registry[TeacherFactory] = Registry("teacher")


def transformers_factory(cls: type[TransformersDepthTeacher]) -> TeacherFactory:
    """A `transformers` teacher from `weights` (a local folder or a Hub id), on the device and precision asked."""

    def build(weights: str | None, device: str, precision: str, seed: int, depth_root: Path | None) -> Teacher:
        if depth_root is not None:
            raise InputError(f"the {cls.name} teacher predicts from the images; a depth root is for synthetic teachers")
        if not weights:
            raise InputError(f"--weights is required for the {cls.name} teacher (a local folder or a Hub id)")
        dev = resolve_device(device)
        return cls(weights, dev, resolve_dtype(precision, dev))

    return build


TEACHERS.add("depth-anything", transformers_factory(DepthAnythingTeacher))
"""Any Depth Anything V1/V2, relative or metric."""
TEACHERS.add("dpt", transformers_factory(DPTTeacher))
"""DPT-Large / Hybrid (relative inverse depth) or a metric DPT (see `mapfree.depth_prior.dpt`)."""


def synthetic_factory(name: str, metric: bool, errors: MonocularErrors) -> TeacherFactory:
    """A teacher made from rendered depth with the errors of `errors` (its seed set per build), no weights."""

    def build(weights: str | None, device: str, precision: str, seed: int, depth_root: Path | None) -> Teacher:
        if weights:
            raise InputError(f"the {name} teacher is made from rendered depth and takes no --weights")
        return SyntheticTeacher(metric, replace(errors, seed=seed), name, depth_root)

    return build


SYNTHETIC_TEACHERS = {
    "synthetic": (False, CALIBRATED),
    "synthetic-metric": (True, CALIBRATED),
    "synthetic-near-truth": (True, NEAR_TRUTH),
}
"""Name -> (metric, error model): `synthetic` and `synthetic-metric` err like Depth Anything (relative,
metric; errors keyed by image content, see `mapfree.depth_prior.synthetic`); `synthetic-near-truth` is the
earlier, near-perfect metric model. None masks the sky (see `mapfree.depth_prior.depth_anything`)."""
for _name, (_metric, _errors) in SYNTHETIC_TEACHERS.items():
    TEACHERS.add(_name, synthetic_factory(_name, _metric, _errors))


def build_teacher(name: str, weights: str | None = None, device: str = "auto", precision: str = "auto",
                  seed: int = 0, depth_root: str | Path | None = None) -> Teacher:
    """A teacher by name (see `TEACHERS`); ValueError naming the choices for an unknown one.

    `depth_root` (synthetic teachers only): a Map-free-layout root whose `SPLIT/SCENE/seqK/frame_NNNNN.depth.png`
    is read instead of the depth beside each frame, e.g. held-out test truth kept apart from the dataset.
    """
    return TEACHERS.get(name)(weights, device, precision, seed, None if depth_root is None else Path(depth_root))
