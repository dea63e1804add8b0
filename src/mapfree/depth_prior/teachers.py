"""The teachers by name (`TEACHERS`), and the device and precision they run at."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from mapfree.depth_prior.depth_anything import DepthAnythingTeacher, TransformersDepthTeacher
from mapfree.depth_prior.dpt import DPTTeacher
from mapfree.depth_prior.synthetic import MonocularErrors, SyntheticTeacher
from mapfree.depth_prior.teacher import Teacher
from mapfree.devices import checked_device
from mapfree.errors import InputError
from mapfree.registry import Registry

TeacherFactory = Callable[[str | None, str, str, int], Teacher]
"""(weights, device, precision, seed) -> teacher."""


def resolve_device(name: str) -> torch.device:
    """'auto' is this rank's GPU (`LOCAL_RANK`) when there is one, else the CPU."""
    if name != "auto":
        return checked_device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    return torch.device("cpu")


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """'auto' is float16 on GPU and float32 on CPU (half precision is slow or unsupported there)."""
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


TEACHERS: Registry[TeacherFactory] = Registry("teacher")


def transformers_factory(cls: type[TransformersDepthTeacher]) -> TeacherFactory:
    """A `transformers` teacher from `weights` (a local folder or a Hub id), on the device and precision asked."""

    def build(weights: str | None, device: str, precision: str, seed: int) -> Teacher:
        if not weights:
            raise InputError(f"--weights is required for the {cls.name} teacher (a local folder or a Hub id)")
        dev = resolve_device(device)
        return cls(weights, dev, resolve_dtype(precision, dev))

    return build


TEACHERS.add("depth-anything", transformers_factory(DepthAnythingTeacher))
"""Any Depth Anything V1/V2, relative or metric."""
TEACHERS.add("dpt", transformers_factory(DPTTeacher))
"""DPT-Large / Hybrid (relative inverse depth) or a metric DPT (see `mapfree.depth_prior.dpt`)."""


def synthetic_factory(metric: bool) -> TeacherFactory:
    """`synthetic` / `synthetic-metric`: rendered depth with monocular errors, no weights."""

    def build(weights: str | None, device: str, precision: str, seed: int) -> Teacher:
        if weights:
            name = "synthetic-metric" if metric else "synthetic"
            raise InputError(f"the {name} teacher is made from rendered depth and takes no --weights")
        return SyntheticTeacher(metric=metric, errors=MonocularErrors(seed=seed))

    return build


TEACHERS.add("synthetic", synthetic_factory(metric=False))
TEACHERS.add("synthetic-metric", synthetic_factory(metric=True))


def build_teacher(name: str, weights: str | None = None, device: str = "auto", precision: str = "auto",
                  seed: int = 0) -> Teacher:
    """A teacher by name (see `TEACHERS`); ValueError naming the choices for an unknown one."""
    return TEACHERS.get(name)(weights, device, precision, seed)
