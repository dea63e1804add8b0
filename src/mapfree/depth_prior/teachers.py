"""Teachers: what turns a frame into a dense depth map, and how they are chosen by name.

A teacher has two halves: `reader(frame, size)`, run in data-loader worker processes (NumPy,
picklable, no model), and `predict(batch)`, run on the device on a stacked batch of what the
reader returned, giving (B, H, W) float32 maps at the size MicKey sees.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from mapfree.depth_prior.frames import FrameRef

Reader = Callable[[FrameRef, tuple[int, int]], np.ndarray]
TEACHERS = ("depth-anything", "synthetic", "synthetic-metric")


class Teacher(ABC):
    """A source of dense depth maps; subclasses set the attributes and implement `predict`."""

    name: str
    quantity: str
    weights: str | None = None
    allows_missing: bool = False
    """Whether NaN pixels (no prediction there) are expected; otherwise a NaN marks a failed frame."""
    reader: Reader

    @abstractmethod
    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        """(B, ...) stacked reader outputs on the device to (B, H, W) float32 maps."""

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """What else determines the maps (model and preprocessing settings); saved in the store."""

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")


def resolve_device(name: str) -> torch.device:
    """'auto' is this rank's GPU (`LOCAL_RANK`) when there is one, else the CPU."""
    if name != "auto":
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"--device {name}: CUDA is not available here")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    return torch.device("cpu")


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """'auto' is float16 on GPU and float32 on CPU (half precision is slow or unsupported there)."""
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def build_teacher(name: str, weights: str | None = None, device: str = "auto", precision: str = "auto", seed: int = 0) -> Teacher:
    """A teacher by name: `depth-anything` (any V1/V2, relative or metric, from `weights`), or
    `synthetic` / `synthetic-metric` (rendered depth with monocular errors, no weights)."""
    if name == "depth-anything":
        from mapfree.depth_prior.depth_anything import DepthAnythingTeacher

        if not weights:
            raise ValueError("--weights is required for the depth-anything teacher (a local folder or a Hub id)")
        dev = resolve_device(device)
        return DepthAnythingTeacher(weights, dev, resolve_dtype(precision, dev))
    if name in ("synthetic", "synthetic-metric"):
        from mapfree.depth_prior.synthetic import MonocularErrors, SyntheticTeacher

        if weights:
            raise ValueError(f"the {name} teacher is made from rendered depth and takes no --weights")
        return SyntheticTeacher(metric=name == "synthetic-metric", errors=MonocularErrors(seed=seed))
    raise ValueError(f"unknown teacher {name!r}; choose one of {', '.join(TEACHERS)}")
